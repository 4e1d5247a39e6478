// The admin API server (docs/admin.md): HTTP/JSON and /metrics on the management
// address, with kernel sockets, on cpp-httplib. Runs on its own threads (a listener, a
// worker pool, a watchdog) pinned to the housekeeping cpus; reads the node through
// node_view (relaxed loads) and acts on lcores only through server_shared::control.
//
// Bounds: at most [admin] max_connections connections are served at once; one more is
// answered 503 by the listener and closed. A request must arrive whole within
// read_timeout_s (the watchdog shuts down a connection that has not completed a request
// in that long and is not inside a handler: a client trickling bytes cannot hold a
// worker), bodies are capped at max_body_bytes (413), and every malformed input gets a
// 4xx JSON error.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control/admin/admin_config.h"
#include "control/admin/health_source.h"
#include "control/admin/metrics.h"
#include "control/admin/node_view.h"

namespace anvil::control::admin {

// An endpoint another control room serves through this server (e.g. /v1/cluster):
// given the request body (may be empty), it answers a status and a JSON body. It runs
// on the admin worker threads (possibly several at once) and must not wait on an lcore.
struct json_reply {
  int status = 200;
  nlohmann::json body;
};
using json_endpoint = std::function<json_reply(const std::string& body)>;

struct admin_counters {
  std::atomic<std::uint64_t> unauthorized{0};
  std::atomic<std::uint64_t> rejected_connections{0};   // over max_connections
  std::atomic<std::uint64_t> timed_out_connections{0};  // closed by the watchdog
};

class admin_server {
 public:
  // `token`: the bearer token (load_token_file); nullopt: mutating endpoints answer 403.
  admin_server(admin_config cfg, node_view& node, std::optional<std::string> token);
  ~admin_server();
  admin_server(const admin_server&) = delete;
  admin_server& operator=(const admin_server&) = delete;

  // Binds the listening socket (throws std::runtime_error naming the address on
  // failure) and starts the threads, pinned to `cpus` when not empty.
  void start(const std::vector<unsigned>& cpus);
  // Stops accepting, finishes or cuts open connections, joins the threads. Idempotent.
  void stop();

  std::uint16_t port() const { return _port; }  // the bound port (config port 0: chosen)
  std::string listen_text() const;

  // The health provider (health_source.h); by default storage_health_source.
  void set_health_source(health_source s);
  // Extra /metrics families (metrics.h); the server's own are always there.
  collector_list& collectors() { return _collectors; }
  // Registers `method path` (before start()); `mutating` ones need the bearer token like
  // the server's own POSTs. A path and method already served are refused (false).
  bool add_endpoint(std::string method, std::string path, bool mutating, json_endpoint fn);
  const admin_counters& counters() const { return _counters; }
  // For tests: runs on the listener thread just before it starts listening (set before
  // start()), e.g. to hold it back and show that stop() still ends it.
  void set_before_listen_hook(std::function<void()> fn) { _before_listen = std::move(fn); }

 private:
  class impl;
  admin_config _cfg;
  node_view& _node;
  std::optional<std::string> _token;
  std::function<void()> _before_listen;
  std::uint16_t _port = 0;
  collector_list _collectors;
  struct endpoint {
    std::string method, path;
    bool mutating = false;
    json_endpoint fn;
  };
  std::vector<endpoint> _endpoints;
  admin_counters _counters;
  std::unique_ptr<impl> _impl;
};

}  // namespace anvil::control::admin
