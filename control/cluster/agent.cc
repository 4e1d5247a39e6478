#include "control/cluster/agent.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>

namespace anvil::cluster {

agent::agent(const cluster_config& cfg, etcd_client& etcd, vip_lease& vip, health_source health,
             heartbeat_service* heartbeats, std::string data_address)
    : _cfg(cfg),
      _etcd(etcd),
      _store(etcd, cfg.etcd_prefix),
      _vip(vip),
      _health(std::move(health)),
      _heartbeats(heartbeats),
      _machine({.node = cfg.node_id,
                .lease_ttl_ms = cfg.lease_ttl_s * 1000,
                .fence_margin_ms = cfg.fence_margin_ms}),
      _data_address(std::move(data_address)),
      _read_interval_ms(cfg.heartbeat_interval_ms) {
  if (_cfg.vip_zone.empty()) _cfg.vip_zone = _cfg.zone;
}

void agent::note(const etcd_status& s) {
  ++_status.etcd_calls;
  if (s.code == etcd_code::unreachable) {
    ++_status.etcd_failures;
    if (_status.etcd_reachable || _status.etcd_error.empty())
      spdlog::warn("event=etcd_unreachable node={} detail=\"{}\"", _cfg.node_id, s.detail);
    _status.etcd_reachable = false;
    _status.etcd_error = s.detail;
  } else {
    if (!_status.etcd_reachable && !_status.etcd_error.empty())
      spdlog::info("event=etcd_reachable node={}", _cfg.node_id);
    _status.etcd_reachable = true;
    _status.etcd_error = s.ok() ? "" : s.detail;
    if (!s.ok()) spdlog::warn("event=etcd_error node={} detail=\"{}\"", _cfg.node_id, s.detail);
  }
}

etcd_status agent::join() {
  auto s = _store.register_member(
      {.id = _cfg.node_id,
       .zone = _cfg.zone,
       .management = _cfg.management_ip + ":" + std::to_string(_cfg.heartbeat_port),
       .data = _data_address},
      timeout());
  note(s);
  if (!s.ok()) return s;
  s = _store.ensure_shard({.id = _cfg.shard, .vip = _cfg.vip, .zone = _cfg.vip_zone}, timeout());
  note(s);
  _status.joined = s.ok();
  return s;
}

etcd_status agent::resign() {
  if (_machine.lease() == 0) return {};
  if (_vip.holds(vip_lease::now_ms()) || _machine.current() == role::primary) {
    _vip.release();  // stop answering first: never two owners
    if (_vip_hook) _vip_hook(false, _machine.epoch());
  }
  auto s = _etcd.lease_revoke(_machine.lease(), timeout());
  if (s.code != etcd_code::not_found) note(s);
  spdlog::info("event=cluster_resign node={} shard={} role={} epoch={} lease={} revoked={}",
               _cfg.node_id, _cfg.shard, to_string(_machine.current()), _machine.epoch(),
               _machine.lease(), s.ok() || s.code == etcd_code::not_found);
  return s.code == etcd_code::not_found ? etcd_status{} : s;
}

agent::primary_seen agent::primary_heartbeat(time_ms now) const {
  // The last position the shard's primary (at its highest epoch) heartbeated, alive or
  // not: a replica far behind a primary that just died is still far behind.
  primary_seen out;
  if (_heartbeats == nullptr) return out;
  std::uint64_t best_epoch = 0;
  const peer_table& t = _heartbeats->table();
  for (const auto& p : t.peers())
    if (p.seen && p.last.shard == _cfg.shard && p.last.node_role == role::primary &&
        p.last.epoch >= best_epoch) {
      best_epoch = p.last.epoch;
      out.position = p.last.replication_position;
      out.alive = t.state(p, now) == liveness::alive;
    }
  return out;
}

local_inputs agent::inputs(time_ms now, const health_report& h) const {
  local_inputs in;
  in.health = h.level;
  in.caught_up = true;  // without a known primary position, a node holds what it holds
  in.in_shard_zone = !_shard_zone.empty() && _shard_zone == _cfg.zone;
  if (_heartbeats != nullptr) {
    const std::uint64_t position = this->position();
    const std::uint64_t primary_position = primary_heartbeat(now).position;
    in.caught_up =
        primary_position <= position || primary_position - position <= _cfg.max_replica_lag;
    in.healthy_peer_ready = _heartbeats->table().healthy_caught_up_replica(
        now, _cfg.shard, _shard_zone, position, _cfg.max_replica_lag);
  }
  if (_machine.handing_over())
    in.handover_target_ready =
        (_op && _op->skip_wait) ||
        handover_ready(facts_of(now, _machine.handover_target()), shard_now());
  return in;
}

void agent::step() {
  time_ms now = vip_lease::now_ms();
  const health_report h = _health ? _health() : health_report{};
  take_request(now, h);
  if (_heartbeats != nullptr) {
    heartbeat self;
    self.node = _cfg.node_id;
    self.zone = _cfg.zone;
    self.shard = _cfg.shard;
    self.node_role = _machine.current();
    self.health = h.level;
    for (const auto& r : h.reasons)
      if (self.reasons.size() < kMaxReasons && !r.empty())
        self.reasons.push_back(r.substr(0, kMaxReason));
    self.epoch = static_cast<std::uint64_t>(_machine.epoch());
    self.canary_latency_us = h.canary_latency_us;
    self.replication_position = position();
    _heartbeats->pump(now, self);
    const auto [epoch, node] = _heartbeats->table().highest_primary(now, _cfg.shard);
    if (epoch > 0) run(_machine.on_peer_primary(now, node, static_cast<std::int64_t>(epoch)));
  }
  _last_inputs = inputs(now, h);
  const primary_seen ps = primary_heartbeat(now);
  _status.primary_position = ps.position;
  _status.primary_alive = ps.alive;
  _status.caught_up = _last_inputs.caught_up;
  run(_machine.tick(now, _last_inputs));
  now = vip_lease::now_ms();
  if (now >= _next_read) {
    _next_read = now + _read_interval_ms;
    auto r = _store.read_shard(_cfg.shard, timeout());
    note(r.status);
    now = vip_lease::now_ms();
    if (r.status.ok()) {
      if (r.config) _shard_zone = r.config->zone;
      _last_view = r.view;
      _have_view = true;
      _status.shard_zone = _shard_zone;
      _status.primary = r.view.has_primary ? r.view.primary : "";
      _status.shard_epoch = r.view.epoch;
      _last_inputs = inputs(now, h);
      const primary_seen ps = primary_heartbeat(now);
      _status.primary_position = ps.position;
      _status.primary_alive = ps.alive;
      _status.caught_up = _last_inputs.caught_up;
      run(_machine.on_view(now, r.view, _last_inputs));
    } else if (r.status.code == etcd_code::unreachable) {
      run(_machine.on_etcd_unreachable(now));
    } else {
      spdlog::error("event=cluster_read_failed node={} detail=\"{}\"", _cfg.node_id,
                    r.status.detail);
    }
  }
  progress_op(vip_lease::now_ms());
}

void agent::log_transition() {
  if (_machine.transitions() == _logged_transitions) return;
  _logged_transitions = _machine.transitions();
  spdlog::info("event=cluster_role node={} shard={} role={} epoch={} reason=\"{}\"", _cfg.node_id,
               _cfg.shard, to_string(_machine.current()), _machine.epoch(), _machine.reason());
}

void agent::run(std::vector<action> first) {
  log_transition();  // the event that produced `first` may have changed the role
  std::deque<action> todo(first.begin(), first.end());
  while (!todo.empty()) {
    const action a = todo.front();
    todo.pop_front();
    std::vector<action> more;
    switch (a.what) {
      case action::kind::grant_lease: {
        const time_ms sent = vip_lease::now_ms();
        auto r = _etcd.lease_grant(_cfg.lease_ttl_s, timeout());
        note(r.status);
        more = r.status.ok()
                   ? _machine.on_lease_granted(vip_lease::now_ms(), sent, r.id, r.ttl_s * 1000)
                   : _machine.on_lease_grant_failed(vip_lease::now_ms());
        break;
      }
      case action::kind::claim: {
        auto r = _store.claim(_cfg.shard, _cfg.node_id, _cfg.vip, a.epoch, a.mod_revision, a.lease,
                              timeout(), a.handover_revision);
        note(r.status);
        // A claim whose reply was lost may have won: the machine then revokes the lease,
        // which deletes the key. Safe either way; nobody serves until a clean win.
        more = _machine.on_claim_result(vip_lease::now_ms(), r.status.ok() && r.won,
                                        r.status.ok() ? r.epoch : 0);
        break;
      }
      case action::kind::renew_lease: {
        const time_ms sent = vip_lease::now_ms();
        // Never wait past the fencing deadline for a keepalive, if there is one to meet.
        time_ms wait = _cfg.etcd_timeout_ms;
        if (_machine.current() == role::primary)
          wait = std::clamp<time_ms>(_machine.fence_deadline() - sent, 1, wait);
        auto r = _etcd.lease_keepalive(a.lease, etcd_client::duration(wait));
        note(r.status);
        const time_ms now = vip_lease::now_ms();
        if (r.alive())
          more = _machine.on_renewed(now, sent, r.ttl_s * 1000);
        else if (r.status.ok())
          more = _machine.on_lease_gone(now);
        else
          more = _machine.on_renew_failed(now);
        break;
      }
      case action::kind::revoke_lease: {
        auto s = _etcd.lease_revoke(a.lease, timeout());
        if (s.code != etcd_code::not_found) note(s);  // already gone is fine
        break;
      }
      case action::kind::take_vip:
        _vip.take(a.epoch, a.until);
        if (_vip_hook) _vip_hook(true, a.epoch);
        break;
      case action::kind::extend_vip:
        _vip.extend(a.until, vip_lease::now_ms());
        break;
      case action::kind::release_vip:
        _vip.release();
        if (_vip_hook) _vip_hook(false, _machine.epoch());
        break;
      case action::kind::pause_writes:
        _vip.pause_writes();
        spdlog::info("event=writes_paused node={} shard={} target={}", _cfg.node_id, _cfg.shard,
                     _machine.handover_target());
        break;
      case action::kind::resume_writes:
        _vip.resume_writes();
        spdlog::info("event=writes_resumed node={} shard={} why=\"{}\"", _cfg.node_id, _cfg.shard,
                     _machine.handover_end_reason());
        break;
      case action::kind::hand_over: {
        // The handover key lives on its own lease: if the target never claims, it expires
        // and an ordinary election follows.
        auto g = _etcd.lease_grant(handover_ttl_ms() / 1000, timeout());
        note(g.status);
        handover_outcome out = handover_outcome::unknown;
        if (g.status.ok()) {
          auto r = _store.hand_over(_cfg.shard, _cfg.node_id, _cfg.vip, a.epoch, a.node, a.force,
                                    g.id, timeout());
          note(r.status);
          if (r.status.ok()) out = r.committed ? handover_outcome::done : handover_outcome::refused;
          if (out == handover_outcome::refused) (void)_etcd.lease_revoke(g.id, timeout());
        }
        spdlog::info("event=handover node={} shard={} target={} epoch={} outcome={}", _cfg.node_id,
                     _cfg.shard, a.node, a.epoch,
                     out == handover_outcome::done      ? "done"
                     : out == handover_outcome::refused ? "refused"
                                                        : "unknown");
        more = _machine.on_handover_result(vip_lease::now_ms(), out);
        break;
      }
    }
    log_transition();
    todo.insert(todo.end(), more.begin(), more.end());
  }
  _status.current = _machine.current();
  _status.epoch = _machine.epoch();
  _status.lease = _machine.lease();
  _status.reason = _machine.reason();
  _status.transitions = _machine.transitions();
}

}  // namespace anvil::cluster
