// The metrics endpoint on real sockets: a small HTTP/1.1 client written here
// with plain sockets, and curl as an independent client.
#include "collector/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace vxc {
namespace {

struct Reply {
  int status = 0;                              // 0: no parsable reply
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// Sends one request and reads until the server closes the connection.
Reply request(uint16_t port, const std::string& method, const std::string& target,
              const std::string& body = "", int family = AF_INET) {
  Reply reply;
  const int fd = socket(family, SOCK_STREAM, 0);
  if (fd < 0) return reply;
  timeval timeout{20, 0};  // above the server's 10 s request timeout
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_storage addr{};
  socklen_t addr_len;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr_len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    a->sin6_addr = in6addr_loopback;
    addr_len = sizeof(*a);
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
    close(fd);
    return reply;
  }
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
  if (!body.empty() || method == "POST") {
    out += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  out += "\r\n" + body;
  if (send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
    close(fd);
    return reply;
  }
  std::string in;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) in.append(buf, n);
  close(fd);

  const size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos || in.compare(0, 9, "HTTP/1.1 ") != 0) return reply;
  reply.status = std::stoi(in.substr(9, 3));
  size_t line = in.find("\r\n") + 2;
  while (line < end) {
    const size_t next = in.find("\r\n", line);
    const std::string header = in.substr(line, next - line);
    const size_t colon = header.find(':');
    std::string name = header.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    reply.headers[name] = header.substr(header.find_first_not_of(' ', colon + 1));
    line = next + 2;
  }
  reply.body = in.substr(end + 4);
  return reply;
}

// One server for the fixture's tests: civetweb takes up to 2 s to stop.
class HttpServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    HttpRoutes routes;
    routes.get["/metrics"] = [] {
      ++metrics_calls_;
      return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", "vxc_up 1\n"};
    };
    routes.get["/health"] = [] { return HttpResponse{.body = "ok\n"}; };
    routes.get["/boom"] = []() -> HttpResponse { throw std::runtime_error("lane table gone"); };
    routes.get["/throws_int"] = []() -> HttpResponse { throw 7; };
    routes.get["/bad_status"] = [] { return HttpResponse{.status = 0, .body = "x"}; };
    routes.post["/reload"] = [] {
      ++reload_calls_;
      return HttpResponse{.body = "reloaded\n"};
    };
    routes.get["/both"] = [] { return HttpResponse{.body = "get\n"}; };
    routes.post["/both"] = [] { return HttpResponse{.body = "post\n"}; };
    server_ = new HttpServer("127.0.0.1:0", std::move(routes));
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    metrics_calls_ = 0;
    reload_calls_ = 0;
  }

  static inline std::atomic<int> metrics_calls_{0};
  static inline std::atomic<int> reload_calls_{0};
  static inline HttpServer* server_ = nullptr;
};

TEST_F(HttpServerTest, PortZeroBindsAFreePort) { EXPECT_NE(server_->port(), 0); }

TEST_F(HttpServerTest, GetRoute) {
  Reply r = request(server_->port(), "GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.headers["content-length"], "9");
  EXPECT_EQ(r.body, "vxc_up 1\n");
  EXPECT_EQ(metrics_calls_, 1);
}

TEST_F(HttpServerTest, DefaultContentTypeAndQueryStringIgnored) {
  Reply r = request(server_->port(), "GET", "/health?verbose=1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_EQ(r.body, "ok\n");
}

TEST_F(HttpServerTest, CurlAsClient) {
  ASSERT_EQ(access("/usr/bin/curl", X_OK), 0) << "curl not installed (deploy/setup-debian.sh)";
  const std::string command =
      "/usr/bin/curl -sS --max-time 5 -o - -w '|%{http_code}|%{content_type}' "
      "http://127.0.0.1:" +
      std::to_string(server_->port()) + "/metrics";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_EQ(out, "vxc_up 1\n|200|text/plain; version=0.0.4; charset=utf-8");
}

TEST_F(HttpServerTest, HeadAnswersWithoutBody) {
  Reply r = request(server_->port(), "HEAD", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-length"], "9");
  EXPECT_EQ(r.body, "");
}

TEST_F(HttpServerTest, UnknownPathIs404) {
  for (const char* path : {"/", "/metric", "/metrics/", "/metricsx", "/nope/deeper"}) {
    Reply r = request(server_->port(), "GET", path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size())) << path;
  }
  EXPECT_EQ(request(server_->port(), "POST", "/nope", "x").status, 404);
  EXPECT_EQ(metrics_calls_, 0);
}

TEST_F(HttpServerTest, WrongMethodIs405WithAllow) {
  Reply r = request(server_->port(), "POST", "/metrics", "x=1");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "GET, HEAD");
  EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size()));

  r = request(server_->port(), "GET", "/reload");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "POST");

  r = request(server_->port(), "PUT", "/both", "x");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "GET, HEAD, POST");

  EXPECT_EQ(metrics_calls_, 0);
  EXPECT_EQ(reload_calls_, 0);
}

TEST_F(HttpServerTest, PostRoute) {
  Reply r = request(server_->port(), "POST", "/reload", "lanes=2\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "reloaded\n");
  r = request(server_->port(), "POST", "/reload");  // no body
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(reload_calls_, 2);

  EXPECT_EQ(request(server_->port(), "GET", "/both").body, "get\n");
  EXPECT_EQ(request(server_->port(), "POST", "/both", "x").body, "post\n");
}

TEST_F(HttpServerTest, HandlerFailuresAre500AndServerKeepsServing) {
  Reply r = request(server_->port(), "GET", "/boom");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("lane table gone"), std::string::npos) << r.body;
  EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size()));

  r = request(server_->port(), "GET", "/throws_int");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("unknown exception"), std::string::npos) << r.body;

  r = request(server_->port(), "GET", "/bad_status");
  EXPECT_EQ(r.status, 500);

  EXPECT_EQ(request(server_->port(), "GET", "/metrics").status, 200);
}

// Sends raw bytes on a new connection; returns the connected socket (or -1).
int connect_raw(uint16_t port, const std::string& bytes) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  if (!bytes.empty()) send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  return fd;
}

TEST_F(HttpServerTest, GarbageAndAbortedClientsDoNotHurt) {
  for (const std::string& bytes :
       {std::string("NOT HTTP AT ALL\r\n\r\n"), std::string("GET /metrics HTTP/1.1\r\nHost"),
        std::string(20000, 'A') + "\r\n\r\n"}) {
    const int fd = connect_raw(server_->port(), bytes);
    ASSERT_GE(fd, 0);
    close(fd);  // without reading the reply
  }
  EXPECT_EQ(request(server_->port(), "GET", "/metrics").status, 200);
}

// Both workers held by clients that never send a request: the request timeout
// frees them, so a scrape waits at most about 10 s instead of forever.
TEST_F(HttpServerTest, StalledClientsAreTimedOut) {
  const int idle1 = connect_raw(server_->port(), "");
  const int idle2 = connect_raw(server_->port(), "");
  ASSERT_GE(idle1, 0);
  ASSERT_GE(idle2, 0);
  const auto start = std::chrono::steady_clock::now();
  Reply r = request(server_->port(), "GET", "/health");
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 200);
  EXPECT_LT(waited, std::chrono::seconds(15));
  close(idle1);
  close(idle2);
}

TEST_F(HttpServerTest, ConcurrentRequests) {
  constexpr int kThreads = 8;
  constexpr int kRequestsEach = 25;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequestsEach; ++i) {
        const bool post = (t + i) % 5 == 0;
        Reply r = post ? request(server_->port(), "POST", "/reload", "x")
                       : request(server_->port(), "GET", "/metrics");
        if (r.status == 200 && r.body == (post ? "reloaded\n" : "vxc_up 1\n")) ++good;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(good, kThreads * kRequestsEach);
  EXPECT_EQ(metrics_calls_ + reload_calls_, kThreads * kRequestsEach);
}

TEST(HttpServer, PortInUseThrowsNamingTheAddress) {
  HttpServer first("127.0.0.1:0", {});
  const std::string address = "127.0.0.1:" + std::to_string(first.port());
  try {
    HttpServer second(address, {});
    FAIL() << "second server listened on " << address;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(address), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
  // The first server is unaffected.
  EXPECT_EQ(request(first.port(), "GET", "/").status, 404);
}

TEST(HttpServer, TwoServersOnPortZeroGetDifferentPorts) {
  HttpServer a("127.0.0.1:0", {});
  HttpServer b("127.0.0.1:0", {});
  EXPECT_NE(a.port(), b.port());
}

TEST(HttpServer, InvalidListenAddressThrows) {
  for (const char* listen :
       {"", "9469", ":9469", "127.0.0.1", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:65536",
        "127.0.0.1:9469s", "127.0.0.1:1,127.0.0.1:2", "::1:9469", "999.0.0.1:9469",
        "localhost:9469", "[::1]", "[::1:9469", "[]:9469", "[127.0.0.1]:9469"}) {
    try {
      HttpServer server(listen, {});
      ADD_FAILURE() << "listened on '" << listen << "' (port " << server.port() << ")";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(listen), std::string::npos) << e.what();
    }
  }
}

// Debian 12's civetweb has no IPv6: then the error must say so. Where it has,
// the server must answer on ::1.
TEST(HttpServer, Ipv6LoopbackOrClearError) {
  HttpRoutes routes;
  routes.get["/health"] = [] { return HttpResponse{.body = "ok\n"}; };
  if (mg_check_feature(MG_FEATURES_IPV6) == 0) {
    try {
      HttpServer server("[::1]:0", std::move(routes));
      FAIL() << "listened on IPv6 without civetweb IPv6 support";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("[::1]:0"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("IPv6"), std::string::npos) << e.what();
    }
    return;
  }
  HttpServer server("[::1]:0", std::move(routes));
  Reply r = request(server.port(), "GET", "/health", "", AF_INET6);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
}

TEST(HttpServer, StopsWhileIdleAndRestartsOnSamePort) {
  uint16_t port;
  {
    HttpServer server("127.0.0.1:0", {});
    port = server.port();
  }
  HttpServer again("127.0.0.1:" + std::to_string(port), {});
  EXPECT_EQ(again.port(), port);
}

}  // namespace
}  // namespace vxc
