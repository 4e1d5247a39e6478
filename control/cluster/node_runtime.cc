#include "control/cluster/node_runtime.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <random>

namespace anvil::cluster {

namespace {

std::uint64_t random_incarnation() {
  std::random_device rd;
  return (std::uint64_t{rd()} << 32) ^ rd();
}

}  // namespace

node_runtime::node_runtime(cluster_config cfg, std::string data_address, health_source health,
                           runtime_hooks hooks)
    : _cfg(std::move(cfg)),
      _data_address(std::move(data_address)),
      _health(std::move(health)),
      _hooks(std::move(hooks)) {}

// Going away (an error path of start-up, a test) gives a held lease up like a clean stop.
node_runtime::~node_runtime() { stop(true); }

std::future<operator_result> node_runtime::submit(operator_request r) {
  if (_agent) return _agent->submit(std::move(r));
  std::promise<operator_result> p;
  p.set_value(
      {.outcome = operator_result::code::failed, .message = "the cluster agent is not running"});
  return p.get_future();
}

std::string node_runtime::management_ip_of(const std::string& node) const {
  if (node.empty()) return "";
  if (node == _cfg.node_id) return _cfg.management_ip;
  for (const auto& p : _cfg.peers)
    if (p.node == node) return p.host;
  return "";
}

std::string node_runtime::start() {
  try {
    _heartbeats = std::make_unique<heartbeat_service>(
        _cfg.node_id, _cfg.management_ip, _cfg.heartbeat_port, _cfg.peers,
        _cfg.heartbeat_interval_ms, _cfg.suspect_after, _cfg.dead_after, random_incarnation());
  } catch (const std::exception& e) {
    return std::string("heartbeats on ") + _cfg.management_ip + ":" +
           std::to_string(_cfg.heartbeat_port) + ": " + e.what();
  }
  _etcd = std::make_unique<etcd_client>(_cfg.etcd_endpoints);
  _agent = std::make_unique<agent>(
      _cfg, *_etcd, _vip, [this] { return _last_health; }, _heartbeats.get(), _data_address);
  if (_hooks.replication_position)
    _agent->set_replication_position([this] { return _last_position; });
  const etcd_status s = _agent->join();
  if (s.code == etcd_code::error)  // etcd answered and refused: never serve as this member
    return "joining the cluster in etcd: " + s.detail;
  if (!s.ok())
    spdlog::warn("event=cluster_join_deferred node={} shard={} reason=\"{}; retrying every {} ms\"",
                 _cfg.node_id, _cfg.shard, s.detail, kJoinRetryMs);
  else
    spdlog::info("event=cluster_joined node={} zone={} shard={} vip={} management={}:{} data={}",
                 _cfg.node_id, _cfg.zone, _cfg.shard, _cfg.vip, _cfg.management_ip,
                 _cfg.heartbeat_port, _data_address);
  publish();
  _thread = std::thread([this] { run(); });
  return "";
}

void node_runtime::stop(bool resign) {
  {
    std::lock_guard lock(_mu);
    if (_stopping && !_thread.joinable()) return;
    _stopping = true;
  }
  _cv.notify_all();
  if (_thread.joinable()) _thread.join();
  if (resign && _agent) {
    _agent->resign();
    publish();
  }
}

void node_runtime::run() {
  using namespace std::chrono;
  std::int64_t next_join = vip_lease::now_ms() + kJoinRetryMs;
  std::unique_lock lock(_mu);
  while (!_stopping) {
    lock.unlock();
    const std::int64_t now = vip_lease::now_ms();
    if (now >= _next_health_ms) {
      _last_health = _health ? _health() : health_report{};
      _next_health_ms = now + kHealthEveryMs;
    }
    if (_hooks.replication_position) _last_position = _hooks.replication_position();
    if (!_agent->status().joined) {
      if (now >= next_join) {
        next_join = now + kJoinRetryMs;
        const etcd_status s = _agent->join();
        if (s.ok())
          spdlog::info("event=cluster_joined node={} shard={} vip={}", _cfg.node_id, _cfg.shard,
                       _cfg.vip);
        else if (s.code == etcd_code::error)
          spdlog::error("event=cluster_join_refused node={} shard={} reason=\"{}\"", _cfg.node_id,
                        _cfg.shard, s.detail);
      }
    } else {
      _agent->step();
      ++_steps;
      notify_role();
    }
    publish();
    lock.lock();
    _cv.wait_for(lock, milliseconds(kStepMs), [this] { return _stopping; });
  }
}

void node_runtime::notify_role() {
  const agent_status& st = _agent->status();
  const std::int64_t epoch = st.current == role::replica ? st.shard_epoch : st.epoch;
  if (st.current == _told_role && epoch == _told_epoch && st.primary == _told_primary) return;
  _told_role = st.current;
  _told_epoch = epoch;
  _told_primary = st.primary;
  if (_hooks.on_role_change) _hooks.on_role_change(st.current, epoch, management_ip_of(st.primary));
}

void node_runtime::publish() {
  runtime_snapshot s;
  s.node = _cfg.node_id;
  s.zone = _cfg.zone;
  s.shard = _cfg.shard;
  s.vip = _cfg.vip;
  s.management_ip = _cfg.management_ip;
  s.data_address = _data_address;
  s.etcd_endpoints = _cfg.etcd_endpoints;
  s.lease_ttl_s = _cfg.lease_ttl_s;
  s.fence_margin_ms = _cfg.fence_margin_ms;
  s.max_replica_lag = _cfg.max_replica_lag;
  const std::int64_t now = vip_lease::now_ms();
  s.taken_ms = now;
  if (_agent) s.status = _agent->status();
  s.vip_held = _vip.holds(now);
  s.vip_remaining_ms = s.vip_held ? _vip.until_ms() - now : 0;
  s.vip_takes = _vip.takes();
  s.replication_position = _last_position;
  s.health = _last_health;
  s.steps = _steps;
  if (_heartbeats) {
    const peer_table& t = _heartbeats->table();
    for (const auto& p : t.peers()) {
      peer_view v;
      v.node = p.address.node;
      v.host = p.address.host;
      v.port = p.address.port;
      v.state = t.state(p, now);
      v.seen = p.seen;
      v.last = p.last;
      v.age_ms = p.seen ? now - p.last_seen : -1;
      v.received = p.received;
      s.peers.push_back(std::move(v));
    }
    s.heartbeats = _heartbeats->counters();
    s.peer_stats = t.counters();
  }
  std::lock_guard lock(_mu);
  _snap = std::move(s);
}

runtime_snapshot node_runtime::snapshot() const {
  std::lock_guard lock(_mu);
  return _snap;
}

}  // namespace anvil::cluster
