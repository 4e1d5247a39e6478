// /metrics: Prometheus text format 0.0.4 written from the counters, every family the
// reference lists, histogram buckets cumulative with +Inf == _count, label escaping, the
// collector list, and `promtool check metrics` on a real scrape when promtool exists.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <regex>

#include "control/admin/node_metrics.h"
#include "tests/admin/admin_fixture.h"

namespace anvil::control::admin::testing {
namespace {

std::string scrape(admin_fixture& f) {
  const auto r = f.client().Get("/metrics");
  EXPECT_TRUE(r);
  if (!r) return {};
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  return r->body;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(AdminMetrics, EveryDocumentedFamilyIsThereWithHelpAndType) {
  admin_fixture f;
  const std::string m = scrape(f);
  for (const char* fam : {"anvil_build_info",
                          "anvil_start_time_seconds",
                          "anvil_requests_total",
                          "anvil_request_duration_seconds",
                          "anvil_cache_items",
                          "anvil_cache_bytes",
                          "anvil_cache_limit_bytes",
                          "anvil_cache_evictions_total",
                          "anvil_cache_expired_total",
                          "anvil_cache_hits_total",
                          "anvil_cache_misses_total",
                          "anvil_requests_refused_total",
                          "anvil_connections",
                          "anvil_connections_limit",
                          "anvil_connections_total",
                          "anvil_connections_rejected_total",
                          "anvil_draining",
                          "anvil_tcp_retransmits_total",
                          "anvil_tcp_rto_total",
                          "anvil_tcp_fast_retransmits_total",
                          "anvil_tcp_out_of_order_dropped_total",
                          "anvil_tcp_segments_received_total",
                          "anvil_tcp_segments_sent_total",
                          "anvil_net_drops_total",
                          "anvil_port_rx_frames_total",
                          "anvil_port_tx_frames_total",
                          "anvil_port_rx_bytes_total",
                          "anvil_port_tx_bytes_total",
                          "anvil_port_drops_total",
                          "anvil_port_tx_deferred_total",
                          "anvil_loop_busy_ratio",
                          "anvil_loop_longest_iteration_seconds",
                          "anvil_loop_iterations_total",
                          "anvil_snapshot_last_success_timestamp_seconds",
                          "anvil_snapshot_last_duration_seconds",
                          "anvil_snapshot_last_bytes",
                          "anvil_snapshot_success_total",
                          "anvil_snapshot_failures_total",
                          "anvil_storage_io_errors_total",
                          "anvil_storage_io_stalls_total",
                          "anvil_storage_healthy",
                          "anvil_health_state",
                          "anvil_health_reason",
                          "anvil_admin_requests_total",
                          "anvil_admin_unauthorized_total",
                          "anvil_admin_connections_rejected_total",
                          "anvil_admin_connections_timed_out_total"}) {
    EXPECT_NE(m.find(std::string("# HELP ") + fam + " "), std::string::npos) << fam;
    EXPECT_NE(m.find(std::string("# TYPE ") + fam + " "), std::string::npos) << fam;
  }
  EXPECT_TRUE(has_line(m, "anvil_health_state{state=\"ok\"} 1"));
  EXPECT_TRUE(has_line(m, "anvil_storage_healthy 1"));
  EXPECT_TRUE(has_line(m, "anvil_connections_limit 100"));
}

TEST(AdminMetrics, CountersComeFromTheLcoresBlocks) {
  admin_fixture f;
  auto& n = f.node;
  n.proto[0].requests.record(proto::op::getq, proto::req_status::quiet);
  n.proto[1].requests.record(proto::op::get, proto::req_status::quiet);
  n.proto[1].requests.record(proto::op::set, proto::req_status::success);
  n.proto[0].get_hits.add(4);
  n.proto[0].refused_not_primary_writes.add(2);
  n.proto[1].refused_not_primary_writes.add(1);
  n.proto[1].refused_fenced_writes.add(5);
  n.serving[0].rejected_connections.add(2);
  n.serving[1].drain_refused.add(1);
  net::bump(n.net[0].tcp_conn_limit, 3);
  net::bump(n.net[1].drop_tcp_checksum, 6);
  net::bump(n.net[0].tcp_rto_expired, 1);
  n.port[1].rx_runt.add(9);
  n.loop[1].window_cycles.store(1000);
  n.loop[1].window_busy_cycles.store(500);
  n.shared.control.draining.store(true);
  const std::string m = scrape(f);
  EXPECT_TRUE(has_line(m, "anvil_requests_total{op=\"get\",status=\"quiet\"} 2")) << m;
  EXPECT_TRUE(has_line(m, "anvil_requests_total{op=\"set\",status=\"success\"} 1"));
  EXPECT_TRUE(has_line(m, "anvil_cache_hits_total 4"));
  EXPECT_TRUE(has_line(m, "anvil_requests_refused_total{reason=\"not_primary_write\"} 3"));
  EXPECT_TRUE(has_line(m, "anvil_requests_refused_total{reason=\"not_primary_read\"} 0"));
  EXPECT_TRUE(has_line(m, "anvil_requests_refused_total{reason=\"write_fence\"} 5"));
  EXPECT_TRUE(has_line(m, "anvil_connections_rejected_total{reason=\"limit\"} 2"));
  EXPECT_TRUE(has_line(m, "anvil_connections_rejected_total{reason=\"table_full\"} 3"));
  EXPECT_TRUE(has_line(m, "anvil_connections_rejected_total{reason=\"draining\"} 1"));
  EXPECT_TRUE(has_line(m, "anvil_net_drops_total{reason=\"tcp_checksum\"} 6"));
  EXPECT_TRUE(has_line(m, "anvil_tcp_rto_total 1"));
  EXPECT_TRUE(has_line(m, "anvil_port_drops_total{lcore=\"1\",reason=\"rx_runt\"} 9"));
  EXPECT_TRUE(has_line(m, "anvil_loop_busy_ratio{lcore=\"1\"} 0.5"));
  EXPECT_TRUE(has_line(m, "anvil_draining 1"));
}

TEST(AdminMetrics, TheLatencyHistogramIsMergedCumulativeAndConsistent) {
  admin_fixture f;
  f.node.latency[0].record(1500, 3);  // (1, 2] us
  f.node.latency[1].record(1500, 1);
  f.node.latency[1].record(200'000'000, 2);  // 0.2 s: +Inf
  const std::string m = scrape(f);
  EXPECT_TRUE(has_line(m, "# TYPE anvil_request_duration_seconds histogram"));
  EXPECT_TRUE(has_line(m, "anvil_request_duration_seconds_bucket{le=\"1e-06\"} 0")) << m;
  EXPECT_TRUE(has_line(m, "anvil_request_duration_seconds_bucket{le=\"2e-06\"} 4"));
  EXPECT_TRUE(has_line(m, "anvil_request_duration_seconds_bucket{le=\"0.1\"} 4"));
  EXPECT_TRUE(has_line(m, "anvil_request_duration_seconds_bucket{le=\"+Inf\"} 6"));
  EXPECT_TRUE(has_line(m, "anvil_request_duration_seconds_count 6"));
  EXPECT_TRUE(has_line(m, "anvil_request_duration_seconds_sum 0.400006"));
}

TEST(AdminMetrics, LabelValuesAreEscapedAndCollectorsAreAppended) {
  EXPECT_EQ(exposition::escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  admin_fixture f;
  f.server.collectors().add("test", [](exposition& x) {
    x.family("anvil_test_thing", "gauge", "A test family\\with a backslash");
    x.sample("anvil_test_thing", {{"why", "quote\" here"}}, std::uint64_t{7});
  });
  f.server.set_health_source([] {
    return health_report{health_state::degraded, 1, {{"canary_slow", "p99 9 ms", 1}}};
  });
  const std::string m = scrape(f);
  EXPECT_TRUE(has_line(m, "# HELP anvil_test_thing A test family\\\\with a backslash"));
  EXPECT_TRUE(has_line(m, "anvil_test_thing{why=\"quote\\\" here\"} 7"));
  EXPECT_TRUE(has_line(m, "anvil_health_state{state=\"degraded\"} 1"));
  EXPECT_TRUE(has_line(m, "anvil_health_state{state=\"ok\"} 0"));
  EXPECT_TRUE(has_line(m, "anvil_health_reason{code=\"canary_slow\"} 1"));
  EXPECT_EQ(f.server.collectors().names(), std::vector<std::string>{"test"});
}

TEST(AdminMetrics, PromtoolAcceptsARealScrape) {
  const std::string promtool = PROMTOOL;
  if (promtool.empty()) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  admin_fixture f;
  f.node.proto[0].requests.record(proto::op::get, proto::req_status::success);
  f.node.latency[0].record(3000, 5);
  const std::string m = scrape(f);
  char path[] = "/tmp/anvil-metrics-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << m;
  const std::string cmd = promtool + " check metrics < " + path + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int rc = ::pclose(p);
  std::remove(path);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << "promtool lint findings:\n" << out;
}

}  // namespace
}  // namespace anvil::control::admin::testing
