#include "control/health/health_metrics.h"

#include <string>
#include <vector>

namespace anvil::health {

namespace admin = control::admin;

admin::health_report to_admin_report(const health_report& r) {
  admin::health_report out;
  out.state = r.state;  // one type: control/health_state.h
  out.since_unix = static_cast<std::uint64_t>(r.state_since_ms / 1000);
  for (const auto& x : r.reasons)
    out.reasons.push_back(
        {to_string(x.code), x.detail, static_cast<std::uint64_t>(x.since_ms / 1000)});
  return out;
}

void append_health_metrics(const health_snapshot& s, double snapshot_interval_s,
                           admin::exposition& x) {
  const auto& b = latency_histogram::kBounds;
  std::vector<double> bounds(b.begin(), b.end());
  std::vector<std::uint64_t> counts;
  for (std::size_t i = 0; i <= b.size(); ++i) counts.push_back(s.histogram.bucket(i));
  x.histogram("anvil_canary_duration_seconds",
              "Canary round latency (set+get+delete through every partition of an lcore), "
              "posted by the control thread to answered by the lcore",
              bounds, counts, s.histogram.sum());
  x.family("anvil_canary_p99_seconds", "gauge",
           "Canary p99 over the [health] canary_window_s window, as the health state is judged");
  x.sample("anvil_canary_p99_seconds", {}, s.canary_p99_s);
  x.family("anvil_canary_rounds_total", "counter", "Canary rounds answered, all lcores");
  x.sample("anvil_canary_rounds_total", {}, s.canary_rounds);
  x.family("anvil_canary_failures_total", "counter",
           "Canary rounds answered with a failed set/get or a wrong value");
  x.sample("anvil_canary_failures_total", {}, s.canary_failures);
  x.family("anvil_loop_stalls_total", "counter",
           "Poll-loop iterations longer than [health] loop_stall_ms");
  for (std::size_t i = 0; i < s.lcores.size(); ++i) {
    const std::string l = std::to_string(i);
    x.sample("anvil_loop_stalls_total", {{"lcore", l}}, s.lcores[i].stalls);
  }
  x.family("anvil_health_transitions_total", "counter",
           "Times the health state changed to this state");
  for (std::size_t i = 0; i < s.report.transitions_to.size(); ++i)
    x.sample("anvil_health_transitions_total", {{"state", to_string(static_cast<health_state>(i))}},
             s.report.transitions_to[i]);
  x.family("anvil_health_evaluations_total", "counter", "Health evaluations done");
  x.sample("anvil_health_evaluations_total", {}, s.report.evaluations);
  x.family("anvil_snapshot_interval_seconds", "gauge",
           "[snapshot] interval_s: periodic snapshot period (0: off)");
  x.sample("anvil_snapshot_interval_seconds", {}, snapshot_interval_s);
}

admin::health_source health_source_of(const health_monitor& m) {
  return [&m] { return to_admin_report(m.snapshot().report); };
}

admin::collector health_collector_of(const health_monitor& m, double snapshot_interval_s) {
  return [&m, snapshot_interval_s](admin::exposition& x) {
    append_health_metrics(m.snapshot(), snapshot_interval_s, x);
  };
}

}  // namespace anvil::health
