// The node's health as a pure state machine: observations in, state + reasons out.
// No clock, no thread, no I/O: the monitor (health_monitor.h) gathers the observations
// on the control thread and passes the time; tests feed them directly.
//
// State = the worst severity among the active reasons: `ok` with none, `degraded` when
// the node still answers but something is wrong (slow canary, loop stalls, storage,
// memory pressure, port errors, connections near the limit, a replica behind its
// primary), `failing` when the data
// path does not answer correctly (a canary round failed or did not come back in time).
// A reason is raised on the first evaluation whose observation crosses its threshold
// and keeps its `since` while it stays raised; its detail is refreshed on every
// evaluation. It is cleared after `recover_evaluations` evaluations in a row below the
// threshold, so a condition at the edge does not flap.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "control/health_state.h"

namespace anvil::health {

using health_state = control::health_state;
using control::to_string;

// Machine-readable reasons, in a fixed order (the order reports list them in).
enum class reason_code : std::uint8_t {
  canary_failed,
  canary_slow,
  loop_stall,
  storage,
  memory_pressure,
  port_errors,
  connections_near_limit,
  replication_lag,
  count_
};
inline constexpr std::size_t kReasonCount = static_cast<std::size_t>(reason_code::count_);
const char* to_string(reason_code r);
health_state severity(reason_code r);

struct health_thresholds {
  double canary_p99_s = 0.010;    // canary p99 above this: degraded (canary_slow)
  double canary_timeout_s = 2.0;  // a round unanswered this long: failing (canary_failed)
  double memory_pressure_evictions_per_s = 1000;  // live items evicted per second
  double port_errors_per_s = 100;                 // port drops/errors per second
  double connections_near_pct = 90;               // open connections vs the -c limit
  // A replica's stream silent this long while its primary heartbeats: replication_lag.
  // Far above the stream's 100 ms position frames, so load alone does not cross it.
  double replication_stream_idle_s = 5.0;
  unsigned recover_evaluations = 3;  // evaluations below threshold before a reason clears
};

// A replica's standing behind its primary (control/cluster + control/replication). The
// entry count is the one the cluster's eligibility uses (`caught_up`: the primary's
// last heartbeated position minus this node's), so `replication_lag` and eligibility
// mean the same thing; seconds are only shown.
struct replication_observation {
  bool replica = false;               // the cluster role is replica (not primary, candidate,
                                      // fenced, nor a node without [cluster])
  std::string primary;                // the node followed ("" unknown)
  bool full_copy = false;             // a full copy from it is being applied (detail)
  std::uint64_t behind_entries = 0;   // its last heartbeated position minus ours
  std::uint64_t max_lag_entries = 0;  // [cluster] max_replica_lag
  double lag_s = 0;                   // the stream's lag in seconds (detail only)
  bool primary_alive = false;         // its heartbeats arrive (a dead one sends no stream)
  double stream_idle_s = 0;           // since the stream's last frame (0: not known)
};

// One lcore as the monitor saw it since the previous evaluation.
struct lcore_observation {
  bool canary_wrong = false;        // a round answered with a failed set/get or a wrong value
  std::string canary_error;         // what failed (when canary_wrong)
  double canary_outstanding_s = 0;  // age of an unanswered round (0: none)
  std::uint64_t stalls = 0;         // iterations over the stall threshold, this interval
  double last_stall_s = 0;          // the most recent stall's length
};

struct health_observation {
  double interval_s = 1;             // since the previous evaluation (> 0)
  std::uint64_t canary_samples = 0;  // latency samples in the window
  double canary_p99_s = 0;           // over the window (outstanding rounds count at their age)
  std::vector<lcore_observation> lcores;
  bool storage_degraded = false;
  std::string storage_reason;
  std::uint64_t evictions = 0;        // live items evicted this interval
  std::uint64_t port_errors = 0;      // this interval
  std::uint64_t connections = 0;      // open now
  std::uint64_t max_connections = 0;  // the -c limit (0: none)
  replication_observation replication;
};

struct health_reason {
  reason_code code = reason_code::canary_failed;
  std::string detail;
  std::int64_t since_ms = 0;  // unix milliseconds when it was raised
};

struct health_report {
  health_state state = health_state::ok;
  std::int64_t state_since_ms = 0;
  std::vector<health_reason> reasons;  // active ones, in reason_code order
  std::uint64_t evaluations = 0;
  std::array<std::uint64_t, 3> transitions_to{};  // times the state became ok/degraded/failing
};

// What an evaluation changed: for the log.
struct health_change {
  enum class kind : std::uint8_t { raised, cleared, state } what = kind::raised;
  reason_code code = reason_code::canary_failed;                // raised/cleared
  health_state from = health_state::ok, to = health_state::ok;  // state
  std::string detail;
};

class health_model {
 public:
  explicit health_model(health_thresholds t, std::int64_t start_ms = 0);

  std::vector<health_change> evaluate(const health_observation& o, std::int64_t now_ms);
  const health_report& report() const { return _report; }
  const health_thresholds& thresholds() const { return _t; }

 private:
  struct slot {
    bool active = false;
    unsigned clear_streak = 0;
    std::int64_t since_ms = 0;
    std::string detail;
  };
  health_thresholds _t;
  std::array<slot, kReasonCount> _slots{};
  health_report _report;
};

}  // namespace anvil::health
