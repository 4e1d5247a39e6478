#include "control/health/health_metrics.h"

#include <fmt/format.h>

namespace anvil::health {
namespace {

void family(std::string& out, const char* name, const char* type, const char* help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

void append_health_metrics(const health_snapshot& s, double snapshot_interval_s, std::string& out) {
  auto o = std::back_inserter(out);
  family(out, "anvil_canary_duration_seconds", "histogram",
         "Canary round latency (set+get+delete through every partition), posted by the control "
         "thread to answered by the lcore");
  for (std::size_t i = 0; i < latency_histogram::kBounds.size(); ++i)
    fmt::format_to(o, "anvil_canary_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                   latency_histogram::kBounds[i], s.histogram.cumulative(i));
  fmt::format_to(o, "anvil_canary_duration_seconds_bucket{{le=\"+Inf\"}} {}\n",
                 s.histogram.count());
  fmt::format_to(o, "anvil_canary_duration_seconds_sum {}\n", s.histogram.sum());
  fmt::format_to(o, "anvil_canary_duration_seconds_count {}\n", s.histogram.count());
  family(out, "anvil_canary_p99_seconds", "gauge",
         "Canary p99 over the [health] canary_window_s window, as the health state is judged");
  fmt::format_to(o, "anvil_canary_p99_seconds {}\n", s.canary_p99_s);
  family(out, "anvil_canary_rounds_total", "counter", "Canary rounds answered, all lcores");
  fmt::format_to(o, "anvil_canary_rounds_total {}\n", s.canary_rounds);
  family(out, "anvil_canary_failures_total", "counter",
         "Canary rounds answered with a failed set/get or a wrong value");
  fmt::format_to(o, "anvil_canary_failures_total {}\n", s.canary_failures);
  family(out, "anvil_loop_stalls_total", "counter",
         "Poll-loop iterations longer than [health] loop_stall_ms");
  for (std::size_t i = 0; i < s.lcores.size(); ++i)
    fmt::format_to(o, "anvil_loop_stalls_total{{lcore=\"{}\"}} {}\n", i, s.lcores[i].stalls);
  family(out, "anvil_health_transitions_total", "counter",
         "Times the health state changed to this state");
  for (std::size_t i = 0; i < s.report.transitions_to.size(); ++i)
    fmt::format_to(o, "anvil_health_transitions_total{{state=\"{}\"}} {}\n",
                   to_string(static_cast<health_state>(i)), s.report.transitions_to[i]);
  family(out, "anvil_health_evaluations_total", "counter", "Health evaluations done");
  fmt::format_to(o, "anvil_health_evaluations_total {}\n", s.report.evaluations);
  family(out, "anvil_snapshot_interval_seconds", "gauge",
         "[snapshot] interval_s: periodic snapshot period (0: off)");
  fmt::format_to(o, "anvil_snapshot_interval_seconds {}\n", snapshot_interval_s);
}

}  // namespace anvil::health
