#include "collector/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace vxc {
namespace {

constexpr const char* kWorkerThreads = "2";
constexpr const char* kRequestTimeoutMs = "10000";
constexpr const char* kTextPlain = "text/plain; charset=utf-8";

void init_civetweb_once() {
  static std::once_flag once;
  // Feature 0: no TLS; the endpoint is plain HTTP.
  std::call_once(once, [] { mg_init_library(0); });
}

// Collects what civetweb logs while mg_start2 runs on this thread: it names
// the cause ("cannot bind to ...: Address already in use") better than
// mg_error_data's last line.
thread_local std::string* startup_log = nullptr;

int log_civetweb(const mg_connection*, const char* message) {
  try {
    if (startup_log != nullptr) {
      if (!startup_log->empty()) *startup_log += "; ";
      *startup_log += message;
    } else {
      spdlog::warn("http: {}", message);
    }
  } catch (...) {
    // Out of memory: drop the message rather than throw into C.
  }
  return 1;  // handled: civetweb prints nothing itself
}

// Accepts "IPV4:PORT" or "[IPV6]:PORT" and none of civetweb's other
// listening_ports syntax (lists, bare ports, 's'/'r' suffixes, host names).
void check_listen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  const std::string addr = colon == std::string::npos ? "" : listen.substr(0, colon);
  const std::string port = colon == std::string::npos ? "" : listen.substr(colon + 1);
  bool ok = !port.empty() && port.size() <= 5;
  for (const char c : port) ok = ok && c >= '0' && c <= '9';
  ok = ok && std::stoul(port) <= 65535;
  const bool v6 = addr.size() > 2 && addr.front() == '[' && addr.back() == ']';
  in6_addr parsed;
  if (v6) {
    ok = ok && inet_pton(AF_INET6, addr.substr(1, addr.size() - 2).c_str(), &parsed) == 1;
  } else {
    ok = ok && inet_pton(AF_INET, addr.c_str(), &parsed) == 1;
  }
  if (!ok) {
    throw std::runtime_error("http: invalid listen address '" + listen +
                             "' (expected IPV4:PORT or [IPV6]:PORT)");
  }
  // Debian 12's libcivetweb is built without IPv6: say so instead of
  // civetweb's "invalid port spec".
  if (v6 && mg_check_feature(MG_FEATURES_IPV6) == 0) {
    throw std::runtime_error("http: cannot listen on " + listen +
                             ": the civetweb library was built without IPv6");
  }
}

// Writes one whole response. Allocates nothing beyond the short length text.
int send(mg_connection* conn, int status, const char* content_type, std::string_view body,
         const char* allow, bool with_body) noexcept {
  char length[24];
  std::snprintf(length, sizeof(length), "%zu", body.size());
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", content_type, -1);
  mg_response_header_add(conn, "Content-Length", length, -1);
  if (allow != nullptr) mg_response_header_add(conn, "Allow", allow, -1);
  mg_response_header_send(conn);
  if (with_body && !body.empty()) mg_write(conn, body.data(), body.size());
  return status;
}

}  // namespace

HttpServer::HttpServer(const std::string& listen, HttpRoutes routes) : routes_(std::move(routes)) {
  check_listen(listen);
  init_civetweb_once();

  mg_callbacks callbacks{};
  callbacks.log_message = log_civetweb;
  // clang-format off
  const char* options[] = {
      "listening_ports", listen.c_str(),
      "num_threads", kWorkerThreads,
      "request_timeout_ms", kRequestTimeoutMs,
      "enable_keep_alive", "no",  // a kept-alive scraper would hold one of the two workers
      nullptr,
  };
  // clang-format on
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = options;
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error{};
  error.code = &error_code;
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);

  std::string log;
  startup_log = &log;
  context_ = mg_start2(&init, &error);
  startup_log = nullptr;
  if (context_ == nullptr) {
    throw std::runtime_error("http: cannot listen on " + listen + ": " +
                             (log.empty() ? std::string(error_text) : log));
  }
  // "/" is a prefix of every path, so one handler sees every request.
  mg_set_request_handler(context_, "/", &HttpServer::on_request, this);

  mg_server_port bound{};
  if (mg_get_server_ports(context_, 1, &bound) != 1 || bound.port <= 0 || bound.port > 65535) {
    mg_stop(context_);
    throw std::runtime_error("http: cannot read the bound port of " + listen);
  }
  port_ = static_cast<uint16_t>(bound.port);
}

HttpServer::~HttpServer() { mg_stop(context_); }  // waits for running handlers

uint16_t HttpServer::port() const { return port_; }

int HttpServer::on_request(mg_connection* conn, void* self) {
  return static_cast<HttpServer*>(self)->handle(conn);
}

int HttpServer::handle(mg_connection* conn) noexcept {
  try {
    const mg_request_info* request = mg_get_request_info(conn);
    const std::string_view method = request->request_method;
    const std::string path = request->local_uri != nullptr ? request->local_uri : "";
    const bool head = method == "HEAD";

    const std::map<std::string, HttpHandler>* table = nullptr;
    if (method == "GET" || head) table = &routes_.get;
    if (method == "POST") table = &routes_.post;
    const HttpHandler* handler = nullptr;
    if (table != nullptr) {
      const auto route = table->find(path);
      if (route != table->end()) handler = &route->second;
    }

    if (handler == nullptr) {
      const bool get = routes_.get.count(path) > 0;
      const bool post = routes_.post.count(path) > 0;
      if (!get && !post) return send(conn, 404, kTextPlain, "not found\n", nullptr, !head);
      const char* allow = get && post ? "GET, HEAD, POST" : get ? "GET, HEAD" : "POST";
      return send(conn, 405, kTextPlain, "method not allowed\n", allow, !head);
    }

    if (routes_.loopback_only.count(path) > 0) {
      const std::string_view peer = request->remote_addr;
      if (peer.substr(0, 4) != "127." && peer != "::1")
        return send(conn, 403, kTextPlain, "only from the host itself\n", nullptr, !head);
    }

    HttpResponse response;
    try {
      response = (*handler)();
    } catch (const std::exception& e) {
      response = {.status = 500, .body = std::string("error: ") + e.what() + "\n"};
    } catch (...) {
      response = {.status = 500, .body = "error: unknown exception\n"};
    }
    if (response.status < 100 || response.status > 599) {
      response = {
          .status = 500,
          .body = "error: handler returned HTTP status " + std::to_string(response.status) + "\n"};
    }
    return send(conn, response.status, response.content_type.c_str(), response.body, nullptr,
                !head);
  } catch (...) {
    // Out of memory while building a reply: answer without allocating.
    return send(conn, 500, kTextPlain, "", nullptr, false);
  }
}

}  // namespace vxc
