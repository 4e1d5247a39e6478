#include "control/cluster/role_machine.h"

#include <algorithm>
#include <utility>

namespace anvil::cluster {

const char* to_string(health_level h) {
  switch (h) {
    case health_level::ok:
      return "ok";
    case health_level::degraded:
      return "degraded";
    case health_level::failing:
      return "failing";
  }
  return "failing";
}

const char* to_string(role r) {
  switch (r) {
    case role::replica:
      return "replica";
    case role::candidate:
      return "candidate";
    case role::primary:
      return "primary";
    case role::fenced:
      return "fenced";
  }
  return "replica";
}

const char* to_string(action::kind k) {
  switch (k) {
    case action::kind::grant_lease:
      return "grant_lease";
    case action::kind::claim:
      return "claim";
    case action::kind::renew_lease:
      return "renew_lease";
    case action::kind::revoke_lease:
      return "revoke_lease";
    case action::kind::take_vip:
      return "take_vip";
    case action::kind::extend_vip:
      return "extend_vip";
    case action::kind::release_vip:
      return "release_vip";
    case action::kind::pause_writes:
      return "pause_writes";
    case action::kind::resume_writes:
      return "resume_writes";
    case action::kind::hand_over:
      return "hand_over";
  }
  return "?";
}

time_ms machine_params::renew_interval_ms() const {
  return std::max<time_ms>(1, (lease_ttl_ms - fence_margin_ms) / 3);
}

role_machine::role_machine(machine_params p) : _p(std::move(p)) {}

void role_machine::end_handover(handover_end how, std::string why) {
  if (_handover_to.empty()) return;
  _handover_ending = how;
  _handover_end = std::move(why);
  _handover_to.clear();
  _handover_sent = false;
  _handover_force = false;
}

void role_machine::become(role r, std::string reason) {
  if (r != role::primary && !_handover_to.empty())
    end_handover(handover_end::abandoned,
                 "switchover to " + _handover_to + " abandoned: " + reason);
  if (r != _role) ++_transitions;
  _role = r;
  _reason = std::move(reason);
  if (r == role::replica || r == role::candidate) _epoch = 0;
}

void role_machine::drop_lease(std::vector<action>& out) {
  if (_lease != 0) out.push_back({.what = action::kind::revoke_lease, .lease = _lease});
  _lease = 0;
  _renew_pending = false;
  _confirm_needed = false;
}

std::vector<action> role_machine::on_view(time_ms now, const shard_view& v,
                                          const local_inputs& in) {
  std::vector<action> out;
  const bool mine = v.has_primary && v.primary == _p.node && v.primary_epoch == _epoch &&
                    v.primary_lease == _lease && _lease != 0;
  switch (_role) {
    case role::replica:
      if (v.has_primary && v.primary == _p.node && _lease == 0) {
        // A claim of a former incarnation (we restarted): nobody serves it, so give it up
        // now rather than make the shard wait for its TTL. No failback: we stay replica.
        out.push_back({.what = action::kind::revoke_lease, .lease = v.primary_lease});
        _reason = "revoked a stale claim of a previous run (epoch " +
                  std::to_string(v.primary_epoch) + ")";
        return out;
      }
      if (v.has_primary) return out;
      {
        // A switchover names its target: nobody else stands while its key lives.
        const bool to_us = !v.handover_to.empty() && v.handover_to == _p.node;
        if (!v.handover_to.empty() && !to_us) return out;
        const bool forced = now < _force_stand_until || (to_us && v.handover_force);
        const bool eligible = in.health == health_level::ok && in.caught_up && in.in_shard_zone;
        if (!eligible && !forced) return out;
        _seen_epoch = v.epoch;
        _seen_mod_revision = v.epoch_mod_revision;
        _seen_handover_revision = to_us ? v.handover_mod_revision : 0;
        _force_stand_until = 0;  // one forced candidacy per promote
        const std::string at = "(epoch " + std::to_string(v.epoch) + ")";
        become(role::candidate, to_us ? "the shard is being handed over to us " + at
                                : eligible
                                    ? "shard has no primary " + at
                                    : "promoted by an operator despite not being eligible " + at);
      }
      out.push_back({.what = action::kind::grant_lease});
      return out;
    case role::candidate:
      return out;  // waiting for the lease or the claim's result
    case role::primary:
      if (mine && v.epoch == _epoch) return out;
      out.push_back({.what = action::kind::release_vip});
      become(role::replica, v.has_primary ? "etcd shows " + v.primary + " primary at epoch " +
                                                std::to_string(v.primary_epoch)
                                          : "our primary key is gone from etcd");
      drop_lease(out);
      return out;
    case role::fenced:
      if (mine && v.epoch == _epoch) {
        if (!_confirm_needed || !lease_fresh(now)) return out;
        if (in.health != health_level::ok && in.healthy_peer_ready) {
          become(role::replica, "recovered lease while " + std::string(to_string(in.health)) +
                                    " with a healthy replica ready: stepping down");
          drop_lease(out);
          return out;
        }
        _confirm_needed = false;
        become(role::primary, "lease renewed and etcd shows us primary again");
        out.push_back({.what = action::kind::take_vip, .epoch = _epoch, .until = fence_deadline()});
        return out;
      }
      become(role::replica, v.has_primary ? "etcd shows " + v.primary + " primary at epoch " +
                                                std::to_string(v.primary_epoch)
                                          : "our primary key is gone from etcd");
      drop_lease(out);
      return out;
  }
  return out;
}

std::vector<action> role_machine::on_etcd_unreachable(time_ms) {
  std::vector<action> out;
  if (_role == role::candidate) {
    become(role::replica, "etcd unreachable during candidacy");
    drop_lease(out);
  }
  // A primary keeps serving while its lease holds: tick() fences it at the deadline.
  return out;
}

std::vector<action> role_machine::on_lease_granted(time_ms now, time_ms sent_at, std::int64_t lease,
                                                   time_ms ttl_ms) {
  std::vector<action> out;
  if (_role != role::candidate) {
    out.push_back({.what = action::kind::revoke_lease, .lease = lease});  // not needed any more
    return out;
  }
  _lease = lease;
  _lease_sent_at = sent_at;
  _ttl_ms = ttl_ms;
  if (!lease_fresh(now)) {
    become(role::replica, "lease grant took longer than TTL - margin");
    drop_lease(out);
    return out;
  }
  out.push_back({.what = action::kind::claim,
                 .lease = lease,
                 .epoch = _seen_epoch,
                 .mod_revision = _seen_mod_revision,
                 .handover_revision = _seen_handover_revision});
  return out;
}

std::vector<action> role_machine::on_lease_grant_failed(time_ms) {
  if (_role == role::candidate) become(role::replica, "lease grant failed");
  return {};
}

std::vector<action> role_machine::on_claim_result(time_ms now, bool won, std::int64_t epoch) {
  std::vector<action> out;
  if (_role != role::candidate) return out;
  if (!won) {
    become(role::replica, "another node won epoch " + std::to_string(_seen_epoch + 1));
    drop_lease(out);
    return out;
  }
  _epoch = epoch;
  if (!lease_fresh(now)) {
    // We hold the key but our lease may be about to expire: do not answer; keep renewing
    // and resume only once etcd confirms (as after any fencing).
    become(role::fenced, "won epoch " + std::to_string(epoch) + " too late to serve safely");
    _epoch = epoch;
    return out;
  }
  become(role::primary, "won epoch " + std::to_string(epoch));
  _epoch = epoch;
  out.push_back({.what = action::kind::take_vip, .epoch = epoch, .until = fence_deadline()});
  return out;
}

std::vector<action> role_machine::on_renewed(time_ms now, time_ms sent_at, time_ms ttl_ms) {
  std::vector<action> out;
  _renew_pending = false;
  if (_lease == 0 || (_role != role::primary && _role != role::fenced)) return out;
  if (_role == role::primary && now >= fence_deadline()) {
    // The reply came after our deadline (the process stalled): the VIP already lapsed
    // by time. Fence now; this renewal lets it resume through a confirming read.
    out.push_back({.what = action::kind::release_vip});
    become(role::fenced, "deadline passed before the keepalive reply (" +
                             std::to_string(now - _lease_sent_at) + " ms since the last renewal)");
  }
  if (sent_at > _lease_sent_at) _lease_sent_at = sent_at;
  _ttl_ms = ttl_ms;
  if (_role == role::primary) {
    if (lease_fresh(now))
      out.push_back({.what = action::kind::extend_vip, .until = fence_deadline()});
  } else {
    _confirm_needed = true;  // resume only once a read shows the key is still ours
  }
  return out;
}

std::vector<action> role_machine::on_renew_failed(time_ms) {
  _renew_pending = false;
  return {};
}

std::vector<action> role_machine::on_lease_gone(time_ms) {
  std::vector<action> out;
  _renew_pending = false;
  if (_role == role::primary) out.push_back({.what = action::kind::release_vip});
  if (_role == role::primary || _role == role::fenced || _role == role::candidate)
    become(role::replica, "etcd says our lease is gone (expired or revoked)");
  _lease = 0;
  _confirm_needed = false;
  return out;
}

std::vector<action> role_machine::on_peer_primary(time_ms, const std::string& node,
                                                  std::int64_t epoch) {
  std::vector<action> out;
  if (node == _p.node || epoch <= _epoch) return out;
  if (_role == role::primary) {
    out.push_back({.what = action::kind::release_vip});
    become(role::fenced, node + " is primary at epoch " + std::to_string(epoch) + " > ours (" +
                             std::to_string(_epoch) + ")");
  }
  return out;
}

std::vector<action> role_machine::tick(time_ms now, const local_inputs& in) {
  std::vector<action> out;
  if (_role != role::primary && _role != role::fenced) return out;
  if (_role == role::primary && now >= fence_deadline()) {
    out.push_back({.what = action::kind::release_vip});
    become(role::fenced, "lease not renewed for " + std::to_string(now - _lease_sent_at) + " ms");
    _confirm_needed = false;
  } else if (_role == role::primary && handing_over() && !_handover_sent) {
    if (now >= _handover_until) {
      out.push_back({.what = action::kind::resume_writes});
      end_handover(handover_end::timed_out,
                   "switchover to " + _handover_to +
                       " timed out: the target was not ready (alive, a replica, caught up)");
    } else if (in.handover_target_ready) {
      // Stop answering first; only then give the shard away (the txn deletes our key).
      _handover_sent = true;
      out.push_back({.what = action::kind::release_vip});
      out.push_back({.what = action::kind::hand_over,
                     .lease = _lease,
                     .epoch = _epoch,
                     .node = _handover_to,
                     .force = _handover_force});
    }
  } else if (_role == role::primary && in.health != health_level::ok && in.healthy_peer_ready) {
    out.push_back({.what = action::kind::release_vip});
    become(role::replica, std::string("stepping down: ") + to_string(in.health) +
                              " and a healthy caught-up replica exists");
    drop_lease(out);
    return out;
  }
  if (_lease != 0 && !_renew_pending && now - _lease_sent_at >= _p.renew_interval_ms()) {
    _renew_pending = true;
    out.push_back({.what = action::kind::renew_lease, .lease = _lease});
  }
  return out;
}

bool role_machine::begin_handover(time_ms, const std::string& target, time_ms until, bool force,
                                  std::vector<action>& out) {
  if (_role != role::primary || handing_over() || target.empty() || target == _p.node) return false;
  _handover_to = target;
  _handover_until = until;
  _handover_force = force;
  _handover_sent = false;
  _handover_end.clear();
  _handover_ending = handover_end::none;
  out.push_back({.what = action::kind::pause_writes});
  return true;
}

std::vector<action> role_machine::on_handover_result(time_ms, handover_outcome r) {
  std::vector<action> out;
  if (_role != role::primary && _role != role::fenced) return out;
  const std::string target = _handover_to.empty() ? std::string("the target") : _handover_to;
  switch (r) {
    case handover_outcome::done:
      end_handover(handover_end::handed_over, "handed over to " + target);
      become(role::replica, "handed the shard over to " + target);
      drop_lease(out);
      break;
    case handover_outcome::refused:
      end_handover(handover_end::abandoned,
                   "etcd no longer showed us primary at epoch " + std::to_string(_epoch));
      become(role::replica, "switchover refused by etcd: we are no longer primary");
      drop_lease(out);
      break;
    case handover_outcome::unknown:
      // The VIP is already released. Keep renewing; a read tells whether the key is
      // still ours (resume) or gone (replica).
      end_handover(handover_end::abandoned,
                   "handover to " + target + " outcome unknown: etcd unreachable");
      become(role::fenced, "switchover outcome unknown (etcd unreachable)");
      _confirm_needed = false;
      break;
  }
  return out;
}

}  // namespace anvil::cluster
