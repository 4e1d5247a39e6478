// The cluster agent's operator actions (failover, promote, demote): requests arrive from
// the admin API on other threads (submit), run on the agent's thread in step(), and are
// answered through a future. Checks are in operator_checks.h; the switchover itself is
// the role machine's (begin_handover).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "control/cluster/agent.h"

namespace anvil::cluster {

using code = operator_result::code;

const char* to_string(operator_request::kind k) {
  switch (k) {
    case operator_request::kind::failover:
      return "failover";
    case operator_request::kind::promote:
      return "promote";
    case operator_request::kind::demote:
      return "demote";
  }
  return "?";
}

const char* to_string(operator_result::code c) {
  switch (c) {
    case code::done:
      return "done";
    case code::refused:
      return "refused";
    case code::not_here:
      return "not_here";
    case code::busy:
      return "busy";
    case code::timed_out:
      return "timed_out";
    case code::failed:
      return "failed";
  }
  return "failed";
}

std::future<operator_result> agent::submit(operator_request r) {
  running_op op;
  op.req = std::move(r);
  auto f = op.done.get_future();
  std::lock_guard g(_requests_m);
  if (_incoming) {
    op.done.set_value({.outcome = code::busy, .message = "another operator action is queued"});
    return f;
  }
  _incoming = std::move(op);
  return f;
}

time_ms agent::handover_ttl_ms() const {
  return std::max<std::int64_t>(2, 2 * _cfg.lease_ttl_s) * 1000;
}

shard_facts agent::shard_now() const {
  return {.shard = _cfg.shard,
          .shard_zone = _shard_zone.empty() ? _cfg.zone : _shard_zone,
          .own_position = position(),
          .max_lag = _cfg.max_replica_lag};
}

peer_facts agent::facts_of(time_ms now, const std::string& node) const {
  peer_facts f;
  f.node = node;
  if (_heartbeats == nullptr) return f;
  for (const auto& p : _heartbeats->table().peers()) {
    if (p.address.node != node) continue;
    f.configured = true;
    f.live = _heartbeats->table().state(p, now);
    f.last = p.last;
  }
  return f;
}

void agent::take_request(time_ms now, const health_report& h) {
  std::optional<running_op> op;
  {
    std::lock_guard g(_requests_m);
    op.swap(_incoming);
  }
  if (!op) return;
  if (_op) {
    op->done.set_value({.outcome = code::busy,
                        .message = std::string("a ") + to_string(_op->req.what) + " to " +
                                   _op->target + " is running"});
    return;
  }
  start_op(now, h, std::move(*op));
}

namespace {

std::string describe(const peer_facts& p, std::uint64_t own_position) {
  if (!p.configured) return p.node + " is not a configured peer";
  if (p.live == liveness::unknown) return p.node + " never sent a heartbeat";
  std::string s = p.node + " is " + to_string(p.live) + ", " + to_string(p.last.node_role) + ", " +
                  to_string(p.last.health) + ", at position " +
                  std::to_string(p.last.replication_position) + " (ours " +
                  std::to_string(own_position) + ")";
  return s;
}

}  // namespace

void agent::start_op(time_ms now, const health_report& h, running_op op) {
  const operator_request& q = op.req;
  const bool primary = _machine.current() == role::primary;
  const std::string& self = _cfg.node_id;
  auto answer = [&](code c, std::string msg, check_result checks = {}) {
    operator_result r{.outcome = c, .message = std::move(msg)};
    r.problems = std::move(checks.problems);
    r.risks = c == code::refused ? std::vector<std::string>{} : std::move(checks.risks);
    if (primary) {
      r.primary = self;
      r.epoch = _machine.epoch();
    } else if (_have_view && _last_view.has_primary) {
      r.primary = _last_view.primary;
      r.epoch = _last_view.primary_epoch;
    }
    spdlog::info("event=operator_action node={} action={} target={} outcome={} detail=\"{}\"", self,
                 to_string(q.what), q.node, to_string(c), r.message);
    op.done.set_value(std::move(r));
  };
  auto elsewhere = [&](const std::string& what) {
    std::string where = _have_view && _last_view.has_primary
                            ? "the primary is " + _last_view.primary
                            : std::string("the shard has no primary now");
    answer(code::not_here, what + " (" + where + ")");
  };
  if (q.node.empty()) return answer(code::refused, "no node named");
  if (!q.shard.empty() && q.shard != _cfg.shard)
    return answer(code::refused, "this node serves shard " + _cfg.shard + ", not " + q.shard);
  const time_ms wait = std::max<time_ms>(1, q.timeout_ms);
  if (q.node == self && q.what != operator_request::kind::demote && primary)
    return answer(code::done, self + " is already primary");

  std::string target;
  bool force_target = false;
  check_result checks;
  switch (q.what) {
    case operator_request::kind::failover:
      if (q.node == self) return elsewhere("a switchover runs on the current primary");
      if (!primary) return elsewhere(self + " is not the primary; a switchover runs on it");
      checks = check_failover_target(facts_of(now, q.node), shard_now());
      if (!checks.ok() && !q.force)
        return answer(code::refused, "switchover to " + q.node + " refused", checks);
      target = q.node;
      force_target = !checks.ok();
      break;
    case operator_request::kind::promote:
      if (q.node == self) {
        if (_have_view && _last_view.has_primary)
          return elsewhere("the shard has a primary: promote runs on it");
        checks = check_promote_self(h.level, h.reasons, true, _cfg.zone, shard_now());
        if (!checks.ok() && !q.force)
          return answer(code::refused, "promoting " + self + " refused", checks);
        _machine.force_candidacy(now + wait);
        op.now = running_op::phase::awaiting_self;
        op.target = self;
        op.deadline = now + wait;
        op.problems = checks.problems;
        op.risks = checks.risks;
        _op = std::move(op);
        return;
      }
      if (!primary) return elsewhere(self + " is not the primary; promote runs on it");
      checks = check_promote_target(facts_of(now, q.node), shard_now());
      if (!checks.ok() && !q.force)
        return answer(code::refused, "promoting " + q.node + " refused", checks);
      target = q.node;
      force_target = !checks.ok();
      op.skip_wait = !checks.ok();  // forced: whatever it has not replicated is lost
      break;
    case operator_request::kind::demote: {
      if (q.node != self) return elsewhere("demote runs on the node being demoted");
      if (!primary)
        return answer(code::refused, self + " is " + to_string(_machine.current()) +
                                         ", not primary: nothing to demote");
      std::vector<peer_facts> peers;
      if (_heartbeats != nullptr)
        for (const auto& p : _heartbeats->table().peers())
          peers.push_back(facts_of(now, p.address.node));
      auto best = best_replica(peers, shard_now());
      if (!best) {
        for (const auto& p : peers)
          for (auto& why : check_promote_target(p, shard_now()).problems)
            checks.problems.push_back(why);
        if (peers.empty()) checks.problems.push_back("no peers configured");
        return answer(code::refused, "no healthy, caught-up replica in the VIP's zone", checks);
      }
      target = *best;
      break;
    }
  }
  std::vector<action> acts;
  if (!_machine.begin_handover(now, target, now + wait, force_target, acts))
    return answer(code::failed,
                  "could not start a switchover as " + std::string(to_string(_machine.current())));
  op.now = running_op::phase::handing_over;
  op.target = target;
  op.from_epoch = _machine.epoch();
  op.deadline = now + wait + handover_ttl_ms();
  op.problems = std::move(checks.problems);
  op.risks = std::move(checks.risks);
  _op = std::move(op);
  run(std::move(acts));
}

void agent::finish_op(operator_result r) {
  r.problems = std::move(_op->problems);
  r.risks = std::move(_op->risks);
  spdlog::info("event=operator_action node={} action={} target={} outcome={} detail=\"{}\"",
               _cfg.node_id, to_string(_op->req.what), _op->target, to_string(r.outcome),
               r.message);
  _op->done.set_value(std::move(r));
  _op.reset();
}

void agent::progress_op(time_ms now) {
  if (!_op) return;
  switch (_op->now) {
    case running_op::phase::handing_over: {
      if (_machine.handing_over()) return;  // the machine bounds the wait
      const handover_end how = _machine.handover_ending();
      if (how == handover_end::handed_over) {
        _op->now = running_op::phase::awaiting_claim;
        return;
      }
      std::string msg = _machine.handover_end_reason();
      if (how == handover_end::timed_out)
        msg += " (" + describe(facts_of(now, _op->target), position()) + ")";
      return finish_op({.outcome = how == handover_end::timed_out ? code::timed_out : code::failed,
                        .message = msg,
                        .primary = _machine.current() == role::primary ? _cfg.node_id : "",
                        .epoch = _machine.epoch()});
    }
    case running_op::phase::awaiting_claim:
      if (_have_view && _last_view.has_primary && _last_view.primary_epoch > _op->from_epoch) {
        const bool ok = _last_view.primary == _op->target;
        return finish_op({.outcome = ok ? code::done : code::failed,
                          .message = ok ? _op->target + " is primary at epoch " +
                                              std::to_string(_last_view.primary_epoch)
                                        : _last_view.primary + " won epoch " +
                                              std::to_string(_last_view.primary_epoch) +
                                              " instead of " + _op->target,
                          .primary = _last_view.primary,
                          .epoch = _last_view.primary_epoch});
      }
      if (now >= _op->deadline)
        return finish_op({.outcome = code::failed,
                          .message = _op->target +
                                     " did not claim the shard; the handover key expires and an "
                                     "ordinary election follows"});
      return;
    case running_op::phase::awaiting_self:
      if (_machine.current() == role::primary)
        return finish_op(
            {.outcome = code::done,
             .message = _cfg.node_id + " is primary at epoch " + std::to_string(_machine.epoch()),
             .primary = _cfg.node_id,
             .epoch = _machine.epoch()});
      if (now >= _op->deadline)
        return finish_op(
            {.outcome = code::failed,
             .message = _cfg.node_id + " was not elected in time (" + _machine.reason() + ")"});
      return;
  }
}

}  // namespace anvil::cluster
