// The metrics and health endpoint, on civetweb (libcivetweb-dev).
//
// Handlers run on civetweb's own threads, never on a dataplane lcore; they
// must only read state (relaxed atomic loads of counters).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

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
};

class HttpServer {
 public:
  // listen: "ADDR:PORT" ("0.0.0.0:9469", "127.0.0.1:0" picks a free port).
  // Throws std::runtime_error naming the address when it cannot listen.
  HttpServer(const std::string& listen, HttpRoutes routes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;  // the bound port
};

}  // namespace vxc
