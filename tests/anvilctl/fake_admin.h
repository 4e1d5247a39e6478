// A stand-in admin API for the anvilctl tests: a real cpp-httplib server on a free
// loopback port whose answers each test sets ("GET /v1/status" -> status, body), so the
// client's handling of timeouts, 401/403, malformed JSON and odd shapes is tested over
// real HTTP. Records every request (method, path, Authorization header, body).
#pragma once

#include <httplib.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace anvil::test {

class fake_admin {
 public:
  struct answer {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::chrono::milliseconds delay{0};
  };
  struct request_seen {
    std::string method, path, authorization, body;
  };
  using responder = std::function<answer(const httplib::Request&)>;

  // Listens on `host` (a loopback address), at `port` (0: any free one).
  explicit fake_admin(const std::string& host = "127.0.0.1", int port = 0) : _host(host) {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      answer a;
      {
        std::lock_guard<std::mutex> g(_m);
        _seen.push_back({req.method, req.path, req.get_header_value("Authorization"), req.body});
        auto it = _routes.find(req.method + " " + req.path);
        if (it == _routes.end()) {
          a = {404, R"({"error": "not_found", "reason": "no such path"})"};
        } else {
          a = it->second(req);
        }
      }
      if (a.delay.count() > 0) std::this_thread::sleep_for(a.delay);
      res.status = a.status;
      res.set_content(a.body, a.content_type.c_str());
    };
    for (const char* p : {"/v1/status", "/v1/health", "/v1/stats", "/v1/config", "/v1/snapshots",
                          "/v1/drain", "/metrics", "/v1/cluster"})
      _srv.Get(p, handler);
    for (const char* p : {"/v1/snapshots", "/v1/drain", "/v1/flush", "/v1/cluster/failover",
                          "/v1/cluster/promote", "/v1/cluster/demote"})
      _srv.Post(p, handler);
    _srv.Put("/v1/log-level", handler);
    _port = port == 0 ? _srv.bind_to_any_port(host) : (_srv.bind_to_port(host, port) ? port : -1);
    // bind_to_any_port() has bound and listened: connections queue until the thread
    // accepts them.
    _thread = std::thread([this] { _srv.listen_after_bind(); });
    // Until the thread runs its loop, stop() would not stop it (httplib's stop() acts only
    // on a running server) and the destructor's join would hang.
    for (int i = 0; i < 5000 && _port > 0 && !_srv.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~fake_admin() {
    _srv.stop();
    _thread.join();
  }
  fake_admin(const fake_admin&) = delete;
  fake_admin& operator=(const fake_admin&) = delete;

  void on(const std::string& method_path, responder r) {
    std::lock_guard<std::mutex> g(_m);
    _routes[method_path] = std::move(r);
  }
  void on(const std::string& method_path, answer a) {
    on(method_path, [a](const httplib::Request&) { return a; });
  }
  std::vector<request_seen> seen() {
    std::lock_guard<std::mutex> g(_m);
    return _seen;
  }
  std::string address() const { return _host + ":" + std::to_string(_port); }
  int port() const { return _port; }

 private:
  httplib::Server _srv;
  std::string _host;
  int _port = 0;  // -1: the port asked for could not be bound
  std::thread _thread;
  std::mutex _m;
  std::map<std::string, responder> _routes;
  std::vector<request_seen> _seen;
};

}  // namespace anvil::test
