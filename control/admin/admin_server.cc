// The admin API over cpp-httplib: routing, auth, limits, the watchdog, /metrics.
// Endpoint bodies read node_view (node_stats.cc, node_metrics.cc); docs/admin.md is the
// reference for every path and shape.
#include "control/admin/admin_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <httplib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <set>
#include <stdexcept>

#include "control/admin/node_metrics.h"
#include "control/admin/token.h"
#include "io/snapshot_files.h"

namespace anvil::control::admin {
namespace {

using clk = std::chrono::steady_clock;
using json = nlohmann::json;

// Set on the listener thread while it answers a connection over the cap.
thread_local bool tl_over_cap = false;

// Connections in the pool (queued or being served) are capped; one past the cap is
// answered 503 on the listener thread itself (bounded by the watchdog like any other).
class capped_queue : public httplib::TaskQueue {
 public:
  capped_queue(unsigned threads, unsigned cap, std::atomic<std::uint64_t>& rejected)
      : _pool(threads), _cap(cap), _rejected(rejected) {}
  void enqueue(std::function<void()> fn) override {
    if (_inflight.load(std::memory_order_acquire) >= _cap) {
      _rejected.fetch_add(1, std::memory_order_relaxed);
      tl_over_cap = true;
      fn();
      tl_over_cap = false;
      return;
    }
    _inflight.fetch_add(1, std::memory_order_acq_rel);
    _pool.enqueue([this, fn = std::move(fn)] {
      fn();
      _inflight.fetch_sub(1, std::memory_order_acq_rel);
    });
  }
  void shutdown() override { _pool.shutdown(); }

 private:
  httplib::ThreadPool _pool;
  unsigned _cap;
  std::atomic<std::uint64_t>& _rejected;
  std::atomic<unsigned> _inflight{0};
};

void pin_to(const std::vector<unsigned>& cpus) {
  if (cpus.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (unsigned c : cpus) CPU_SET(c, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void error(httplib::Response& res, int status, const char* code, const std::string& reason) {
  reply(res, status, {{"error", code}, {"reason", reason}});
}

std::string peer_key(const std::string& addr, int port) {
  return addr + ":" + std::to_string(port);
}

constexpr const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};

}  // namespace

class admin_server::impl {
 public:
  impl(admin_server& s) : _s(s) {}

  void start(const std::vector<unsigned>& cpus) {
    auto& cfg = _s._cfg;
    _http.new_task_queue = [this, &cfg] {
      return new capped_queue(cfg.threads, cfg.max_connections, _s._counters.rejected_connections);
    };
    const auto to = std::chrono::duration<double>(cfg.read_timeout_s);
    _http.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(to));
    _http.set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::duration<double>(cfg.write_timeout_s)));
    _http.set_keep_alive_timeout(std::max<time_t>(1, static_cast<time_t>(cfg.read_timeout_s)));
    _http.set_keep_alive_max_count(100);
    _http.set_payload_max_length(cfg.max_body_bytes);
    _http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      mark_busy(req, true);
      if (tl_over_cap) {
        res.set_header("Connection", "close");
        error(res, 503, "too_many_connections",
              "more than [admin] max_connections = " + std::to_string(_s._cfg.max_connections) +
                  " admin connections are open");
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    auto route = [this](const httplib::Request& req, httplib::Response& res) {
      dispatch(req, res);
    };
    _http.Get(".*", route);
    _http.Post(".*", route);
    _http.Put(".*", route);
    _http.Delete(".*", route);
    _http.Patch(".*", route);
    _http.Options(".*", route);
    _http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;  // ours already
      switch (res.status) {
        case 404:
          error(res, 404, "not_found", "no such path");
          break;
        case 413:
          error(res, 413, "payload_too_large", "the request body is over [admin] max_body_bytes");
          break;
        case 414:
          error(res, 414, "uri_too_long", "the request target is too long");
          break;
        default:
          error(res, res.status, res.status >= 500 ? "internal_error" : "bad_request",
                "the request could not be parsed as HTTP/1.1");
      }
    });
    _http.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "unknown";
          try {
            if (ep) std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          spdlog::error("event=admin_handler_failed reason=\"{}\"", what);
          error(res, 500, "internal_error", what);
        });
    _http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      mark_busy(req, false);
      count(req, res);
    });
    const int port = _s._cfg.port == 0
                         ? _http.bind_to_any_port(_s._cfg.address)
                         : (_http.bind_to_port(_s._cfg.address, _s._cfg.port) ? _s._cfg.port : -1);
    if (port <= 0)
      throw std::runtime_error("cannot listen on " + _s._cfg.listen_text() + ": " +
                               std::strerror(errno));
    _s._port = static_cast<std::uint16_t>(port);
    _listener = std::thread([this, cpus] {
      pin_to(cpus);
      if (_s._before_listen) _s._before_listen();
      _http.listen_after_bind();
      {
        std::lock_guard lock(_mu);
        _listener_done = true;
      }
      _cv.notify_all();
    });
    _watchdog = std::thread([this, cpus] {
      pin_to(cpus);
      watch();
    });
  }

  void stop() {
    if (!_listener.joinable()) return;
    {
      std::lock_guard lock(_mu);
      _stopping = true;
    }
    _cv.notify_all();
    // httplib's stop() only acts once the listener thread has entered its accept loop
    // (it sets is_running_ there); a stop() before that is a no-op and the loop would
    // then run forever (cpp-httplib issues 1371, 1645; a shutdown right after start on
    // a loaded machine hung here). So stop again until the listener has returned.
    {
      std::unique_lock lock(_mu);
      while (!_listener_done) {
        lock.unlock();
        _http.stop();
        lock.lock();
        _cv.wait_for(lock, std::chrono::milliseconds(10), [this] { return _listener_done; });
      }
    }
    _listener.join();
    _watchdog.join();
  }

  health_source health;

 private:
  using handler = void (impl::*)(const httplib::Request&, httplib::Response&);
  struct route_entry {
    const char* path;
    const char* method;
    bool mutating;
    handler fn;
  };
  static const std::vector<route_entry>& routes() {
    static const std::vector<route_entry> r = {
        {"/v1/status", "GET", false, &impl::get_status},
        {"/v1/health", "GET", false, &impl::get_health},
        {"/v1/stats", "GET", false, &impl::get_stats},
        {"/v1/config", "GET", false, &impl::get_config},
        {"/v1/snapshots", "GET", false, &impl::get_snapshots},
        {"/v1/snapshots", "POST", true, &impl::post_snapshots},
        {"/v1/drain", "GET", false, &impl::get_drain},
        {"/v1/drain", "POST", true, &impl::post_drain},
        {"/v1/flush", "POST", true, &impl::post_flush},
        {"/v1/log-level", "PUT", true, &impl::put_log_level},
        {"/metrics", "GET", false, &impl::get_metrics},
    };
    return r;
  }

  void dispatch(const httplib::Request& req, httplib::Response& res) {
    std::string allow;
    const route_entry* hit = nullptr;
    auto method_matches = [&](std::string_view m) {
      return req.method == m || (req.method == "HEAD" && m == "GET");
    };
    for (const auto& r : routes()) {
      if (req.path != r.path) continue;
      allow += (allow.empty() ? "" : ", ") + std::string(r.method);
      if (method_matches(r.method)) hit = &r;
    }
    const admin_server::endpoint* extra = nullptr;
    for (const auto& e : _s._endpoints) {
      if (req.path != e.path) continue;
      allow += (allow.empty() ? "" : ", ") + e.method;
      if (method_matches(e.method)) extra = &e;
    }
    if (allow.empty()) return error(res, 404, "not_found", "no such path: " + req.path);
    if (hit == nullptr && extra == nullptr) {
      res.set_header("Allow", allow);
      return error(res, 405, "method_not_allowed",
                   req.method + " is not allowed on " + req.path + " (allowed: " + allow + ")");
    }
    if ((hit != nullptr ? hit->mutating : extra->mutating) && !authorized(req, res)) return;
    if (hit != nullptr) return (this->*hit->fn)(req, res);
    const json_reply r = extra->fn(req.body);
    reply(res, r.status, r.body);
  }

  bool authorized(const httplib::Request& req, httplib::Response& res) {
    if (!_s._token) {
      error(res, 403, "forbidden",
            "no [admin] token_file is configured: mutating endpoints are disabled");
      return false;
    }
    const std::string header = req.get_header_value("Authorization");
    const std::string_view given = bearer_token(header);
    if (!given.empty() && token_equals(given, *_s._token)) return true;
    _s._counters.unauthorized.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("event=admin_unauthorized method={} path={} remote={} reason=\"{}\"", req.method,
                 req.path, peer_key(req.remote_addr, req.remote_port),
                 given.empty() ? "no bearer token" : "wrong bearer token");
    res.set_header("WWW-Authenticate", "Bearer");
    error(res, 401, "unauthorized",
          given.empty() ? "this endpoint needs Authorization: Bearer <token>" : "wrong token");
    return false;
  }

  // The request body as a JSON object ({} when empty); false after answering 400.
  static bool body_object(const httplib::Request& req, httplib::Response& res, json& out) {
    if (req.body.empty()) {
      out = json::object();
      return true;
    }
    out = json::parse(req.body, nullptr, false);
    if (out.is_discarded()) {
      error(res, 400, "bad_request", "the body is not valid JSON");
      return false;
    }
    if (!out.is_object()) {
      error(res, 400, "bad_request", "the body must be a JSON object");
      return false;
    }
    return true;
  }

  void get_status(const httplib::Request&, httplib::Response& res) {
    reply(res, 200, status_json(_s._node, draining(), _s.listen_text(), _s._token.has_value()));
  }

  void get_health(const httplib::Request&, httplib::Response& res) {
    const health_report r = health();
    json reasons = json::array();
    for (const auto& x : r.reasons)
      reasons.push_back({{"code", x.code}, {"detail", x.detail}, {"since_unix", x.since_unix}});
    reply(res, r.state == health_state::failing ? 503 : 200,
          {{"state", to_string(r.state)}, {"since_unix", r.since_unix}, {"reasons", reasons}});
  }

  void get_stats(const httplib::Request&, httplib::Response& res) {
    reply(res, 200, stats_json(_s._node));
  }

  void get_config(const httplib::Request&, httplib::Response& res) {
    reply(res, 200, _s._node.effective_config);
  }

  void get_snapshots(const httplib::Request&, httplib::Response& res) {
    json j = snapshots_json(_s._node);
    if (_s._node.snapshots != nullptr) {
      const auto listing =
          io::list_snapshots_within(_s._node.snapshot_dir, std::chrono::seconds(2), nullptr);
      if (!listing)
        return error(res, 504, "storage_timeout",
                     "listing " + _s._node.snapshot_dir + " did not finish within 2 s");
      json list = json::array();
      if (!listing->ok) {
        j["listing_error"] = std::strerror(listing->err);
      } else {
        for (const auto& e : listing->entries)
          if (e.data || e.manifest)
            list.push_back({{"id", e.id}, {"complete", e.data && e.manifest}});
      }
      j["snapshots"] = std::move(list);
    }
    reply(res, 200, j);
  }

  void post_snapshots(const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!body_object(req, res, body)) return;
    double wait_s = 0;
    if (body.contains("wait_seconds")) {
      const auto& w = body["wait_seconds"];
      if (!w.is_number() || w.get<double>() < 0 || w.get<double>() > 60)
        return error(res, 400, "bad_request", "wait_seconds must be a number 0..60");
      wait_s = w.get<double>();
    }
    if (_s._node.snapshots == nullptr)
      return error(res, 409, "snapshots_off",
                   "snapshots are off: set [snapshot] dir in the configuration");
    const auto ticket = _s._node.snapshots->request_snapshot();
    spdlog::info("event=snapshot_requested source=admin_api ticket={}", ticket);
    if (wait_s > 0) {
      io::snapshot_result r;
      if (_s._node.snapshots->wait(ticket,
                                   std::chrono::milliseconds(static_cast<long>(wait_s * 1000)), &r))
        return reply(res, 200,
                     {{"ticket", ticket},
                      {"done", true},
                      {"ok", r.ok},
                      {"snapshot_id", r.snapshot_id},
                      {"reason", r.reason}});
    }
    reply(res, 202, {{"ticket", ticket}, {"done", false}});
  }

  json drain_state() {
    return {{"draining", draining()}, {"remaining_connections", open_connections(_s._node)}};
  }
  bool draining() const {
    return _s._node.shared->control.draining.load(std::memory_order_relaxed);
  }

  void get_drain(const httplib::Request&, httplib::Response& res) {
    reply(res, 200, drain_state());
  }

  void post_drain(const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!body_object(req, res, body)) return;
    bool on = true;
    if (body.contains("drain")) {
      if (!body["drain"].is_boolean())
        return error(res, 400, "bad_request", "drain must be true or false");
      on = body["drain"].get<bool>();
    }
    const bool was = _s._node.shared->control.draining.exchange(on, std::memory_order_relaxed);
    if (was != on)
      spdlog::info("event={} open_connections={} reason=\"admin API POST /v1/drain\"",
                   on ? "drain_begin" : "drain_end", open_connections(_s._node));
    reply(res, 200, drain_state());
  }

  void post_flush(const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!body_object(req, res, body)) return;
    std::uint64_t delay = 0;
    if (body.contains("delay_seconds")) {
      const auto& d = body["delay_seconds"];
      if (!d.is_number_unsigned() || d.get<std::uint64_t>() > 0xffffffffull)
        return error(res, 400, "bad_request", "delay_seconds must be a whole number 0..4294967295");
      delay = d.get<std::uint64_t>();
    }
    auto& ctl = _s._node.shared->control;
    std::uint32_t seq;
    {
      std::lock_guard lock(_flush_mu);  // one producer at a time
      seq = ++_flush_seq;
      if (seq == 0) seq = ++_flush_seq;  // 0 means "none yet"
      ctl.flush_request.store((std::uint64_t{seq} << 32) | delay, std::memory_order_release);
    }
    spdlog::info("event=flush_requested source=admin_api delay_s={} sequence={}", delay, seq);
    const auto deadline = clk::now() + std::chrono::seconds(2);
    while (clk::now() < deadline) {
      const std::uint32_t done = ctl.flush_done.load(std::memory_order_acquire);
      if (static_cast<std::int32_t>(done - seq) >= 0)
        return reply(res, 200, {{"flushed", true}, {"delay_seconds", delay}});
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    reply(res, 202, {{"flushed", false}, {"queued", true}, {"delay_seconds", delay}});
  }

  void put_log_level(const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!body_object(req, res, body)) return;
    if (!body.contains("level") || !body["level"].is_string())
      return error(res, 400, "bad_request", "level must be a string");
    const std::string level = body["level"].get<std::string>();
    bool known = false;
    for (const char* l : kLevels) known = known || level == l;
    if (!known)
      return error(
          res, 400, "bad_request",
          "unknown level '" + level + "' (trace, debug, info, warn, error, critical, off)");
    const auto previous = spdlog::get_level();
    spdlog::set_level(spdlog::level::from_str(level));
    const std::string prev(spdlog::level::to_string_view(previous).data(),
                           spdlog::level::to_string_view(previous).size());
    spdlog::warn("event=log_level level={} previous={} source=admin_api", level, prev);
    reply(res, 200, {{"level", level}, {"previous", prev}});
  }

  void get_metrics(const httplib::Request&, httplib::Response& res) {
    exposition x;
    collect_node(_s._node, x);
    collect_health(health(), x);
    collect_admin(x);
    _s._collectors.collect(x);
    res.status = 200;
    res.set_content(x.text(), "text/plain; version=0.0.4; charset=utf-8");
  }

  void collect_admin(exposition& x) {
    x.family("anvil_admin_requests_total", "counter", "Admin API requests answered");
    {
      std::lock_guard lock(_mu);
      for (const auto& [k, n] : _requests)
        x.sample("anvil_admin_requests_total",
                 {{"path", k.first}, {"code", std::to_string(k.second)}}, n);
    }
    auto one = [&](const char* n, const char* help, const std::atomic<std::uint64_t>& v) {
      x.family(n, "counter", help);
      x.sample(n, {}, v.load(std::memory_order_relaxed));
    };
    one("anvil_admin_unauthorized_total",
        "Admin API requests refused 401 (missing or wrong bearer token)",
        _s._counters.unauthorized);
    one("anvil_admin_connections_rejected_total",
        "Admin connections answered 503: over [admin] max_connections",
        _s._counters.rejected_connections);
    one("anvil_admin_connections_timed_out_total",
        "Admin connections closed: no complete request within [admin] read_timeout_s",
        _s._counters.timed_out_connections);
  }

  void count(const httplib::Request& req, const httplib::Response& res) {
    std::string path = "other";
    for (const auto& r : routes())
      if (req.path == r.path) path = r.path;
    for (const auto& e : _s._endpoints)
      if (req.path == e.path) path = e.path;
    std::lock_guard lock(_mu);
    ++_requests[{path, res.status}];
  }

  // ---- the watchdog: a connection must complete a request within read_timeout_s ----
  struct conn_state {
    clk::time_point progress;  // accepted, or its last request answered
    bool busy = false;         // inside a handler (its time is the handler's)
  };

  void mark_busy(const httplib::Request& req, bool busy) {
    std::lock_guard lock(_mu);
    auto& c = _conns[peer_key(req.remote_addr, req.remote_port)];
    c.busy = busy;
    c.progress = clk::now();
  }

  // Admin connections open now: peer "ip:port" -> fd. Reads /proc/self/fd (the
  // watchdog thread only, a few times a second).
  std::map<std::string, int> open_admin_sockets() {
    std::map<std::string, int> out;
    DIR* d = ::opendir("/proc/self/fd");
    if (d == nullptr) return out;
    while (const dirent* e = ::readdir(d)) {
      const int fd = std::atoi(e->d_name);
      if (fd <= 2 || fd == ::dirfd(d)) continue;
      sockaddr_in local{}, peer{};
      socklen_t ll = sizeof local, pl = sizeof peer;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0 ||
          local.sin_family != AF_INET || ntohs(local.sin_port) != _s._port)
        continue;
      if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0) continue;  // listener
      char ip[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
      out[peer_key(ip, ntohs(peer.sin_port))] = fd;
    }
    ::closedir(d);
    return out;
  }

  void watch() {
    const auto limit = std::chrono::duration_cast<clk::duration>(
        std::chrono::duration<double>(_s._cfg.read_timeout_s));
    std::unique_lock lock(_mu);
    while (!_stopping) {
      _cv.wait_for(lock, std::chrono::milliseconds(100));
      if (_stopping) break;
      lock.unlock();
      const auto open = open_admin_sockets();
      lock.lock();
      const auto now = clk::now();
      for (auto it = _conns.begin(); it != _conns.end();)  // forget closed connections
        it = open.count(it->first) ? std::next(it) : _conns.erase(it);
      for (const auto& [peer, fd] : open) {
        auto [it, fresh] = _conns.try_emplace(peer, conn_state{now, false});
        if (fresh || it->second.busy || now - it->second.progress < limit) continue;
        ::shutdown(fd, SHUT_RDWR);  // the worker's read returns: it closes the connection
        _s._counters.timed_out_connections.fetch_add(1, std::memory_order_relaxed);
        spdlog::info("event=admin_connection_timeout remote={} timeout_s={} reason=\"{}\"", peer,
                     _s._cfg.read_timeout_s, "no complete request within [admin] read_timeout_s");
        _conns.erase(it);
      }
    }
  }

  admin_server& _s;
  httplib::Server _http;
  std::thread _listener, _watchdog;
  std::mutex _mu;  // admin threads only: _conns, _requests, _stopping, _listener_done
  std::condition_variable _cv;
  bool _stopping = false;
  bool _listener_done = false;  // listen_after_bind() returned
  std::map<std::string, conn_state> _conns;
  std::map<std::pair<std::string, int>, std::uint64_t> _requests;
  std::mutex _flush_mu;
  std::uint32_t _flush_seq = 0;
};

admin_server::admin_server(admin_config cfg, node_view& node, std::optional<std::string> token)
    : _cfg(std::move(cfg)), _node(node), _token(std::move(token)), _impl(new impl(*this)) {
  auto storage = std::make_shared<storage_health_source>(node.snapshots);
  _impl->health = [storage] { return (*storage)(); };
}

admin_server::~admin_server() { stop(); }

void admin_server::start(const std::vector<unsigned>& cpus) { _impl->start(cpus); }
void admin_server::stop() { _impl->stop(); }

std::string admin_server::listen_text() const { return _cfg.address + ":" + std::to_string(_port); }

void admin_server::set_health_source(health_source s) { _impl->health = std::move(s); }

bool admin_server::add_endpoint(std::string method, std::string path, bool mutating,
                                json_endpoint fn) {
  for (const auto& e : _endpoints)
    if (e.method == method && e.path == path) return false;
  _endpoints.push_back({std::move(method), std::move(path), mutating, std::move(fn)});
  return true;
}

}  // namespace anvil::control::admin
