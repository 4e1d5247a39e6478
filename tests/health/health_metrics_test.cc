// The health monitor in the admin server's terms: the report as /v1/health shows it, and
// the health families written through the admin exposition (names, labels, cumulative
// buckets), the whole accepted by `promtool check metrics` (when promtool is installed;
// Debian's prometheus package, tools/deps.sh).
#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "control/health/health_metrics.h"

namespace anvil::health {
namespace {

health_snapshot sample() {
  health_snapshot s;
  for (double v : {0.00005, 0.0003, 0.0003, 0.02, 3.0}) s.histogram.add(v);
  s.canary_p99_s = 0.02;
  s.canary_rounds = 5;
  s.canary_failures = 1;
  s.lcores.resize(2);
  s.lcores[1].stalls = 4;
  s.report.transitions_to = {1, 2, 0};
  s.report.evaluations = 9;
  return s;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

std::string text(const health_snapshot& s, double interval) {
  control::admin::exposition x;
  append_health_metrics(s, interval, x);
  return x.text();
}

TEST(HealthMetrics, ReportInAdminTerms) {
  health_report r;
  r.state = health_state::degraded;
  r.state_since_ms = 1'764'970'100'999;
  r.reasons.push_back({reason_code::canary_slow, "p99 60 ms", 1'764'970'100'500});
  r.reasons.push_back({reason_code::storage, "EIO", 1'764'970'000'000});
  const auto a = to_admin_report(r);
  EXPECT_EQ(a.state, control::admin::health_state::degraded);
  EXPECT_EQ(a.since_unix, 1'764'970'100u);
  ASSERT_EQ(a.reasons.size(), 2u);
  EXPECT_EQ(a.reasons[0].code, "canary_slow");
  EXPECT_EQ(a.reasons[0].detail, "p99 60 ms");
  EXPECT_EQ(a.reasons[0].since_unix, 1'764'970'100u);
  EXPECT_EQ(a.reasons[1].code, "storage");
  health_report f;
  f.state = health_state::failing;
  EXPECT_EQ(to_admin_report(f).state, control::admin::health_state::failing);
  EXPECT_TRUE(to_admin_report(health_report{}).reasons.empty());
}

TEST(HealthMetrics, FamiliesAndValues) {
  const std::string t = text(sample(), 60);
  EXPECT_TRUE(has_line(t, "# TYPE anvil_canary_duration_seconds histogram"));
  // Bounds as the admin exposition formats every double.
  const auto le = [](double b) { return control::admin::exposition::format_double(b); };
  EXPECT_TRUE(has_line(t, "anvil_canary_duration_seconds_bucket{le=\"" + le(0.0001) + "\"} 1"));
  EXPECT_TRUE(has_line(t, "anvil_canary_duration_seconds_bucket{le=\"" + le(0.0005) + "\"} 3"));
  EXPECT_TRUE(has_line(t, "anvil_canary_duration_seconds_bucket{le=\"0.025\"} 4"));
  EXPECT_TRUE(has_line(t, "anvil_canary_duration_seconds_bucket{le=\"2.5\"} 4"));
  EXPECT_TRUE(has_line(t, "anvil_canary_duration_seconds_bucket{le=\"+Inf\"} 5"));
  EXPECT_TRUE(has_line(t, "anvil_canary_duration_seconds_count 5"));
  EXPECT_TRUE(has_line(t, "anvil_canary_p99_seconds 0.02"));
  EXPECT_TRUE(has_line(t, "anvil_canary_rounds_total 5"));
  EXPECT_TRUE(has_line(t, "anvil_canary_failures_total 1"));
  EXPECT_TRUE(has_line(t, "anvil_loop_stalls_total{lcore=\"0\"} 0"));
  EXPECT_TRUE(has_line(t, "anvil_loop_stalls_total{lcore=\"1\"} 4"));
  EXPECT_TRUE(has_line(t, "anvil_health_transitions_total{state=\"degraded\"} 2"));
  EXPECT_TRUE(has_line(t, "anvil_health_evaluations_total 9"));
  EXPECT_TRUE(has_line(t, "anvil_snapshot_interval_seconds 60"));
}

TEST(HealthMetrics, EmptySnapshotIsStillValid) {
  const std::string t = text(health_snapshot{}, 0);
  EXPECT_TRUE(has_line(t, "anvil_canary_duration_seconds_bucket{le=\"+Inf\"} 0"));
  EXPECT_TRUE(has_line(t, "anvil_snapshot_interval_seconds 0"));
}

TEST(HealthMetrics, PromtoolAcceptsTheExposition) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  const std::string t = text(sample(), 60);
  char path[] = "/tmp/anvil-health-metrics-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << t;
  const std::string cmd = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int rc = ::pclose(p);
  std::remove(path);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << out;  // no lint warnings either
}

}  // namespace
}  // namespace anvil::health
