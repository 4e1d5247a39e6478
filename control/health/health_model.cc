#include "control/health/health_model.h"

#include <fmt/format.h>

#include <algorithm>

namespace anvil::health {

const char* to_string(reason_code r) {
  switch (r) {
    case reason_code::canary_failed:
      return "canary_failed";
    case reason_code::canary_slow:
      return "canary_slow";
    case reason_code::loop_stall:
      return "loop_stall";
    case reason_code::storage:
      return "storage";
    case reason_code::memory_pressure:
      return "memory_pressure";
    case reason_code::port_errors:
      return "port_errors";
    case reason_code::connections_near_limit:
      return "connections_near_limit";
    case reason_code::replication_lag:
      return "replication_lag";
    case reason_code::count_:
      break;
  }
  return "unknown";
}

health_state severity(reason_code r) {
  return r == reason_code::canary_failed ? health_state::failing : health_state::degraded;
}

health_model::health_model(health_thresholds t, std::int64_t start_ms) : _t(t) {
  if (_t.recover_evaluations == 0) _t.recover_evaluations = 1;
  _report.state_since_ms = start_ms;
}

namespace {

std::string ms(double s) { return fmt::format("{:.1f} ms", s * 1e3); }

// replication_lag: only a replica is ever behind, by the cluster's own caught_up measure
// (entries behind the primary's last heartbeat, over max_replica_lag), so eligibility
// keeps its meaning. A full copy is lag when it leaves the replica that far behind (its
// position is 0 until the copy is applied); a copy of a primary still within
// max_replica_lag is not, as for eligibility (and a small copy finishing between two
// evaluations must not flip a replica to degraded after its position caught up). A
// silent stream counts only while the primary heartbeats: after it died, the replica
// holds what it holds and must stay able to take over.
std::string replication_verdict(const health_thresholds& t, const replication_observation& r) {
  if (!r.replica) return "";
  const std::string from = r.primary.empty() ? "its primary" : "primary " + r.primary;
  if (r.behind_entries > r.max_lag_entries)
    return r.full_copy
               ? fmt::format(
                     "full copy in progress from {}: {} entries behind (max_replica_lag {})", from,
                     r.behind_entries, r.max_lag_entries)
               : fmt::format("{} entries ({:.1f} s) behind {} (max_replica_lag {})",
                             r.behind_entries, r.lag_s, from, r.max_lag_entries);
  if (r.primary_alive && r.stream_idle_s >= t.replication_stream_idle_s)
    return fmt::format("no replication stream from {} for {:.1f} s (threshold {:.1f} s)", from,
                       r.stream_idle_s, t.replication_stream_idle_s);
  return "";
}

// Each reason's verdict for one observation: "" = below threshold, else the detail.
std::array<std::string, kReasonCount> verdicts(const health_thresholds& t,
                                               const health_observation& o) {
  std::array<std::string, kReasonCount> v;
  auto set = [&](reason_code r, std::string d) { v[static_cast<std::size_t>(r)] = std::move(d); };
  const double interval = o.interval_s > 0 ? o.interval_s : 1;

  std::string failed, stalled;
  for (std::size_t i = 0; i < o.lcores.size(); ++i) {
    const auto& l = o.lcores[i];
    auto add = [&](std::string& to, const std::string& what) {
      to += fmt::format("{}lcore {}: {}", to.empty() ? "" : "; ", i, what);
    };
    if (l.canary_wrong) add(failed, l.canary_error);
    if (l.canary_outstanding_s >= t.canary_timeout_s)
      add(failed, fmt::format("canary round unanswered for {:.1f} s (timeout {:.1f} s)",
                              l.canary_outstanding_s, t.canary_timeout_s));
    if (l.stalls > 0)
      add(stalled, fmt::format("{} iteration{} over the stall threshold, last {}", l.stalls,
                               l.stalls == 1 ? "" : "s", ms(l.last_stall_s)));
  }
  if (!failed.empty()) set(reason_code::canary_failed, failed);
  if (o.canary_samples > 0 && o.canary_p99_s > t.canary_p99_s)
    set(reason_code::canary_slow,
        fmt::format("canary p99 {} over the {} threshold ({} samples)", ms(o.canary_p99_s),
                    ms(t.canary_p99_s), o.canary_samples));
  if (!stalled.empty()) set(reason_code::loop_stall, stalled);
  if (o.storage_degraded)
    set(reason_code::storage, o.storage_reason.empty() ? "storage degraded" : o.storage_reason);
  const double ev = static_cast<double>(o.evictions) / interval;
  if (o.evictions > 0 && ev > t.memory_pressure_evictions_per_s)
    set(reason_code::memory_pressure,
        fmt::format("{} unexpired items evicted in {:.1f} s ({:.0f}/s, threshold {:.0f}/s)",
                    o.evictions, interval, ev, t.memory_pressure_evictions_per_s));
  const double pe = static_cast<double>(o.port_errors) / interval;
  if (o.port_errors > 0 && pe > t.port_errors_per_s)
    set(reason_code::port_errors,
        fmt::format("{} port drops/errors in {:.1f} s ({:.0f}/s, threshold {:.0f}/s)",
                    o.port_errors, interval, pe, t.port_errors_per_s));
  if (o.max_connections > 0) {
    const double pct =
        100.0 * static_cast<double>(o.connections) / static_cast<double>(o.max_connections);
    if (pct >= t.connections_near_pct)
      set(reason_code::connections_near_limit,
          fmt::format("{} of {} connections open ({:.1f}%, threshold {:.0f}%)", o.connections,
                      o.max_connections, pct, t.connections_near_pct));
  }
  if (const std::string d = replication_verdict(t, o.replication); !d.empty())
    set(reason_code::replication_lag, d);
  return v;
}

}  // namespace

std::vector<health_change> health_model::evaluate(const health_observation& o,
                                                  std::int64_t now_ms) {
  std::vector<health_change> changes;
  const auto v = verdicts(_t, o);
  for (std::size_t i = 0; i < kReasonCount; ++i) {
    slot& s = _slots[i];
    const auto code = static_cast<reason_code>(i);
    if (!v[i].empty()) {
      s.clear_streak = 0;
      s.detail = v[i];
      if (!s.active) {
        s.active = true;
        s.since_ms = now_ms;
        changes.push_back({health_change::kind::raised, code, {}, {}, s.detail});
      }
    } else if (s.active && ++s.clear_streak >= _t.recover_evaluations) {
      s.active = false;
      s.clear_streak = 0;
      changes.push_back({health_change::kind::cleared, code, {}, {}, s.detail});
    }
  }
  health_state worst = health_state::ok;
  _report.reasons.clear();
  for (std::size_t i = 0; i < kReasonCount; ++i) {
    if (!_slots[i].active) continue;
    const auto code = static_cast<reason_code>(i);
    worst = std::max(worst, severity(code));
    _report.reasons.push_back({code, _slots[i].detail, _slots[i].since_ms});
  }
  ++_report.evaluations;
  if (worst != _report.state) {
    changes.push_back({health_change::kind::state, reason_code::count_, _report.state, worst, {}});
    _report.state = worst;
    _report.state_since_ms = now_ms;
    ++_report.transitions_to[static_cast<std::size_t>(worst)];
  }
  return changes;
}

}  // namespace anvil::health
