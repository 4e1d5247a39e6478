// Test harness for cluster agents against a real etcd (failover_test.cc,
// switchover_test.cc): a node is an agent stepping in its own thread as the control
// thread would; a monitor samples every node's vip_lease every millisecond and counts
// instants with two owners. Outcomes are waited for with a bound, never timed.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "control/cluster/agent.h"
#include "tests/support/etcd_process.h"

namespace anvil::cluster::test_harness {

using namespace std::chrono_literals;

inline cluster_config config(const std::string& node, const std::vector<std::string>& endpoints,
                             const std::string& prefix) {
  cluster_config c;
  c.node_id = node;
  c.zone = "dc1";
  c.vip_zone = "dc1";
  c.shard = "s1";
  c.vip = "198.18.0.100";
  c.management_ip = "127.0.0.1";
  c.etcd_endpoints = endpoints;
  c.etcd_prefix = prefix;
  c.lease_ttl_s = 1;  // etcd's minimum with --election-timeout=500: 750 ms, granted as 1 s
  c.fence_margin_ms = 300;
  c.etcd_timeout_ms = 200;  // <= (1000 - 300) / 3
  c.heartbeat_interval_ms = 20;
  c.suspect_after = 5;
  c.dead_after = 20;
  return c;
}

// One node: its agent stepping in its own thread every few ms while not paused.
class node {
 public:
  node(cluster_config cfg, bool heartbeats = false)
      : _cfg(std::move(cfg)), _etcd(_cfg.etcd_endpoints) {
    if (heartbeats)
      _hb = std::make_unique<heartbeat_service>(
          _cfg.node_id, _cfg.management_ip, _cfg.heartbeat_port, _cfg.peers,
          _cfg.heartbeat_interval_ms, _cfg.suspect_after, _cfg.dead_after, 1);
    _agent = std::make_unique<agent>(
        _cfg, _etcd, _vip,
        [this] {
          health_report h;
          h.level = static_cast<health_level>(_health.load());
          if (h.level != health_level::ok) h.reasons = {"canary_slow"};
          return h;
        },
        _hb.get(), "198.18.0.1");
    _agent->set_read_interval_ms(20);
    _agent->set_replication_position([this] { return _position.load(); });
  }
  ~node() { stop(); }

  void start() {
    EXPECT_TRUE(_agent->join().ok()) << _cfg.node_id;
    _thread = std::thread([this] {
      while (!_stop.load()) {
        if (!_paused.load()) {
          _agent->step();
          std::lock_guard g(_m);
          _status = _agent->status();
          _alive = 0;
          if (_hb)
            for (const auto& p : _hb->table().peers())
              _alive += _hb->table().state(p, vip_lease::now_ms()) == liveness::alive ? 1 : 0;
        }
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  void stop() {
    _stop = true;
    if (_thread.joinable()) _thread.join();
  }
  void pause(bool p) { _paused = p; }
  void set_health(health_level h) { _health = static_cast<int>(h); }
  void set_position(std::uint64_t p) { _position = p; }
  // An operator action, as the admin API submits it (thread-safe).
  std::future<operator_result> submit(operator_request r) { return _agent->submit(std::move(r)); }
  agent_status status() const {
    std::lock_guard g(_m);
    return _status;
  }
  role current() const { return status().current; }
  const vip_lease& vip() const { return _vip; }
  // Peers this node hears as alive (0 without heartbeats).
  std::size_t peers_alive() const {
    std::lock_guard g(_m);
    return _alive;
  }
  const std::string& id() const { return _cfg.node_id; }

 private:
  cluster_config _cfg;
  etcd_client _etcd;
  vip_lease _vip;
  std::unique_ptr<heartbeat_service> _hb;
  std::unique_ptr<agent> _agent;
  std::atomic<int> _health{0};
  std::atomic<std::uint64_t> _position{0};
  std::atomic<bool> _stop{false}, _paused{false};
  std::thread _thread;
  mutable std::mutex _m;
  agent_status _status;
  std::size_t _alive = 0;
};

// Samples every node's VIP ownership until destroyed; counts instants with two owners.
class dual_owner_monitor {
 public:
  explicit dual_owner_monitor(std::vector<const node*> nodes) : _nodes(std::move(nodes)) {
    _thread = std::thread([this] {
      while (!_stop.load()) {
        // Read every deadline first, then the clock: an owner that took the VIP after
        // the clock was read cannot be mistaken for an overlap.
        std::vector<std::int64_t> until;
        for (const auto* n : _nodes) until.push_back(n->vip().until_ms());
        const auto now = vip_lease::now_ms();
        int owners = 0;
        for (auto u : until) owners += now < u ? 1 : 0;
        if (owners > 1) ++_dual;
        // The client gate (vip_lease::client_gate): open on at most one node, or two
        // nodes would take writes on their own addresses.
        int open = 0;
        for (const auto* n : _nodes) open += n->vip().serves_as_primary() ? 1 : 0;
        if (open > 1) ++_dual_gates;
        if (owners == 1) ++_owned;
        ++_samples;
        std::this_thread::sleep_for(1ms);
      }
    });
  }
  ~dual_owner_monitor() {
    _stop = true;
    _thread.join();
  }
  std::uint64_t dual() const { return _dual.load(); }
  // Samples in which more than one node's client gate was open (no time lapse here: a
  // gate closes only when its agent releases the VIP).
  std::uint64_t dual_gates() const { return _dual_gates.load(); }
  std::uint64_t samples() const { return _samples.load(); }

 private:
  std::vector<const node*> _nodes;
  std::atomic<bool> _stop{false};
  std::atomic<std::uint64_t> _dual{0}, _owned{0}, _samples{0}, _dual_gates{0};
  std::thread _thread;
};

template <class F>
inline bool eventually(F f, std::chrono::milliseconds bound = 10s) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return f();
}

inline int primaries(const std::vector<node*>& nodes) {
  int n = 0;
  for (auto* x : nodes) n += x->current() == role::primary ? 1 : 0;
  return n;
}

// Configs for `names` that heartbeat each other on free loopback UDP ports.
inline std::vector<cluster_config> mesh(const std::vector<std::string>& names,
                                        const std::vector<std::string>& endpoints,
                                        const std::string& prefix) {
  std::vector<cluster_config> out;
  for (const auto& n : names) {
    out.push_back(config(n, endpoints, prefix));
    out.back().heartbeat_port =
        static_cast<std::uint16_t>(test::memcached_process::free_port(SOCK_DGRAM));
  }
  for (auto& c : out)
    for (const auto& o : out)
      if (o.node_id != c.node_id) c.peers.push_back({o.node_id, "127.0.0.1", o.heartbeat_port});
  return out;
}

}  // namespace anvil::cluster::test_harness
