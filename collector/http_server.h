// The metrics and health endpoint, on civetweb (libcivetweb-dev).
//
// Handlers run on civetweb's own threads, never on a dataplane lcore, and
// two may run at once; they must only read state (relaxed atomic loads of
// counters).
//
// Paths match exactly (the query string is ignored). A GET route also answers
// HEAD. An unknown path gets 404, a known path with another method 405 with an
// Allow header, and a handler that throws gets 500 with the exception's
// message. Every response carries Content-Type and Content-Length and closes
// the connection. Two worker threads serve requests; a client that stalls is
// dropped after a 10 s request timeout so it cannot hold a worker.
//
// Note: civetweb's mg_start ignores SIGPIPE and SIGCHLD for the process.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>

struct mg_connection;
struct mg_context;

namespace vxc {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse()>;

struct HttpRoutes {
  std::map<std::string, HttpHandler> get;   // exact path -> handler
  std::map<std::string, HttpHandler> post;  // exact path -> handler
  // Paths that only loopback peers (127.0.0.0/8, ::1) may use; others get 403.
  // For actions such as POST /drain, which only the host itself should ask for.
  std::set<std::string> loopback_only;
};

class HttpServer {
 public:
  // listen: "ADDR:PORT" ("0.0.0.0:9469", "127.0.0.1:0" picks a free port).
  // IPv6 is written "[::]:9469" and needs a civetweb built with IPv6, which
  // Debian 12's is not. Throws std::runtime_error naming the address when it
  // cannot listen.
  HttpServer(const std::string& listen, HttpRoutes routes);
  // Waits for running handlers; civetweb's accept loop may take up to 2 s to
  // notice the stop.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;  // the bound port

 private:
  static int on_request(mg_connection* conn, void* self);  // civetweb callback
  int handle(mg_connection* conn) noexcept;

  const HttpRoutes routes_;  // read-only while the server runs
  mg_context* context_ = nullptr;
  uint16_t port_ = 0;
};

}  // namespace vxc
