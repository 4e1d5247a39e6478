// anvilctl's pure parts: --server parsing, the error mapping, token files, the
// formatters, and the rates `top` computes from two stats samples.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "tests/support/temp_dir.h"
#include "tools/anvilctl/client.h"
#include "tools/anvilctl/endpoint.h"
#include "tools/anvilctl/output.h"
#include "tools/anvilctl/stats_model.h"

namespace {

using namespace anvil::ctl;
using nlohmann::json;
constexpr double inf = std::numeric_limits<double>::infinity();

TEST(AnvilctlEndpoint, Forms) {
  auto e = parse_endpoint("10.1.0.7:9000");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "10.1.0.7");
  EXPECT_EQ(e->port, 9000);
  e = parse_endpoint("admin.example");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->port, default_admin_port);
  e = parse_endpoint("[::1]:1");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 1);
  e = parse_endpoint("h:65535");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->port, 65535);
  EXPECT_TRUE(parse_endpoint("[::1]"));
  for (const char* bad : {"", ":1", "h:", "h:0", "h:65536", "h:99999999999", "h:-1", "h:1x", "::1",
                          "[::1", "[::1]x", "[]:1", "h:1:2"})
    EXPECT_FALSE(parse_endpoint(bad)) << bad;
}

TEST(AnvilctlClientMapping, StatusCodes) {
  EXPECT_EQ(exit_code_for_status(401), exit_refused);
  EXPECT_EQ(exit_code_for_status(403), exit_refused);
  EXPECT_EQ(exit_code_for_status(408), exit_unreachable);
  EXPECT_EQ(exit_code_for_status(409), exit_unhealthy);
  EXPECT_EQ(exit_code_for_status(421), exit_unhealthy) << "not here: the request was fine";
  EXPECT_EQ(exit_code_for_status(429), exit_unhealthy);
  EXPECT_EQ(exit_code_for_status(500), exit_unhealthy);
  EXPECT_EQ(exit_code_for_status(503), exit_unhealthy);
  EXPECT_EQ(exit_code_for_status(504), exit_unhealthy);
  for (int s : {400, 404, 405, 413, 499}) EXPECT_EQ(exit_code_for_status(s), exit_usage) << s;
}

TEST(AnvilctlClientMapping, ErrorMessages) {
  EXPECT_EQ(error_message(json::parse(R"({"error": "forbidden", "reason": "no token file"})")),
            "no token file [forbidden]");
  EXPECT_EQ(error_message(json::parse(R"({"error": "not_found"})")), "not_found");
  EXPECT_EQ(error_message(json::parse(R"({"error": "x", "reason": ""})")), "x");
  EXPECT_EQ(error_message(json::parse(R"({"error": {"message": "m"}})")), "m");
  EXPECT_EQ(error_message(json("plain")), "plain");
  EXPECT_EQ(error_message(json::parse("[1]")), "[1]");
  const std::string longer(500, 'x');
  EXPECT_EQ(error_message(json(longer)).size(), 203u);
}

TEST(AnvilctlClientMapping, TokenFile) {
  anvil::test::temp_dir d("anvilctl");
  auto write = [&](const std::string& text) {
    std::ofstream(d.path() + "/t") << text;
    return d.path() + "/t";
  };
  EXPECT_EQ(read_token_file(write("abc\n")), "abc");
  EXPECT_EQ(read_token_file(write(" \tabc def \r\nsecond\n")), "abc def");
  EXPECT_EQ(read_token_file(write("x")), "x");
  for (const char* empty : {"", "\n", "  \t\r\n", "\nabc\n"}) {
    try {
      read_token_file(write(empty));
      ADD_FAILURE() << "accepted '" << empty << "'";
    } catch (const ctl_error& e) {
      EXPECT_EQ(e.code(), exit_usage);
    }
  }
  EXPECT_THROW(read_token_file(d.path() + "/missing"), ctl_error);
}

TEST(AnvilctlOutput, Formatters) {
  EXPECT_EQ(human_duration(0), "0.0s");
  EXPECT_EQ(human_duration(59.94), "59.9s");
  EXPECT_EQ(human_duration(60), "1m 0s");
  EXPECT_EQ(human_duration(3725), "1h 2m 5s");
  EXPECT_EQ(human_duration(93784), "1d 2h 3m 4s");
  EXPECT_EQ(human_duration(-1), "-");
  EXPECT_EQ(human_duration(NAN), "-");
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(1023), "1023 B");
  EXPECT_EQ(human_bytes(1024), "1.0 KiB");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(48.0 * (1ull << 30)), "48.0 GiB");
  EXPECT_EQ(human_bytes(-5), "-");
  EXPECT_EQ(percent(0.9734), "97.3%");
  EXPECT_EQ(percent(NAN), "-");
  EXPECT_EQ(human_count(0), "0");
  EXPECT_EQ(human_count(2.5), "2.5");
  EXPECT_EQ(human_count(999), "999");
  EXPECT_EQ(human_count(1000), "1.0k");
  EXPECT_EQ(human_count(1234567), "1.2M");
  EXPECT_EQ(human_count(3e9), "3.0G");
  EXPECT_EQ(human_latency(0.000042), "42us");
  EXPECT_EQ(human_latency(0.0031), "3.1ms");
  EXPECT_EQ(human_latency(2), "2.00s");
  EXPECT_EQ(human_latency(NAN), "-");
  EXPECT_EQ(human_since(0, 100), "never");
  EXPECT_EQ(human_since(1764970000, 1764970065), "2025-12-05 21:26:40 UTC (1m 5s ago)");
  EXPECT_EQ(text(json(nullptr)), "-");
  EXPECT_EQ(text(json(0.25)), "0.25");
  EXPECT_EQ(text(json(2.0)), "2");
  EXPECT_EQ(text(json::parse("[1, \"a\"]")), "1,a");
  EXPECT_EQ(field(json::object(), "x"), "-");
  EXPECT_EQ(field(json(3), "x"), "-");
}

TEST(AnvilctlOutput, TableAlignsNumbersRight) {
  table t{{"NAME", "COUNT"}, {{"a", "5"}, {"long-name", "12345"}, {"b", "-"}}};
  std::ostringstream s;
  t.print(s);
  EXPECT_EQ(s.str(),
            "NAME       COUNT\n"
            "a              5\n"
            "long-name  12345\n"
            "b              -\n");
  table empty{{"A"}, {}};
  std::ostringstream e;
  empty.print(e);
  EXPECT_EQ(e.str(), "A\n");
}

TEST(AnvilctlStats, Quantile) {
  using b = std::vector<std::pair<double, double>>;
  EXPECT_TRUE(std::isnan(quantile({}, 0.5)));
  EXPECT_TRUE(std::isnan(quantile(b{{1e-6, 0}, {inf, 0}}, 0.5)));
  const b one{{1e-6, 0}, {1e-5, 1}, {inf, 1}};
  EXPECT_EQ(quantile(one, 0.5), 1e-5);
  EXPECT_EQ(quantile(one, 0.99), 1e-5);
  EXPECT_EQ(quantile(one, 1.0), 1e-5);
  const b spread{{1e-6, 50}, {1e-5, 98}, {1e-4, 99}, {inf, 100}};
  EXPECT_EQ(quantile(spread, 0.5), 1e-6);
  EXPECT_EQ(quantile(spread, 0.51), 1e-5);
  EXPECT_EQ(quantile(spread, 0.99), 1e-4);
  EXPECT_EQ(quantile(spread, 1.0), inf);  // the slowest is past the last bound
  EXPECT_EQ(quantile(spread, 0.0), 1e-6);
  EXPECT_EQ(largest_finite_bound(spread), 1e-4);
  EXPECT_EQ(latency_cell(inf, 1e-4), "> 100us");
  EXPECT_EQ(latency_cell(inf, 0), "-");
}

TEST(AnvilctlStats, BucketDeltaNeverGoesNegative) {
  using b = std::vector<std::pair<double, double>>;
  const b prev{{1e-6, 10}, {inf, 20}};
  const b cur{{1e-6, 15}, {inf, 40}};
  EXPECT_EQ(bucket_delta(prev, cur), (b{{1e-6, 5}, {inf, 20}}));
  // A restarted server: counts went down.
  EXPECT_EQ(bucket_delta(cur, prev), (b{{1e-6, 0}, {inf, 0}}));
  // Bounds that changed (or a first sample): taken whole.
  EXPECT_EQ(bucket_delta({}, cur), cur);
  EXPECT_EQ(bucket_delta(b{{2e-6, 1}, {inf, 2}}, cur), cur);
}

TEST(AnvilctlStats, RatesBetweenSamples) {
  const json a = json::parse(R"({"lcores": [{"lcore": 0, "cpu": 4,
    "requests": {"get": {"success": 70, "key_enoent": 30}, "set": {"success": 100}},
    "protocol": {"get_hits": 70, "get_misses": 30}, "connections": {"current": 5},
    "loop": {"busy_ratio": 0.5, "longest_iteration_seconds": 0.001},
    "latency": {"buckets": [{"le": 1e-5, "count": 100}, {"le": 1e-4, "count": 200}, {"le": "+Inf", "count": 200}]}}],
    "total": {}})");
  const json b = json::parse(R"({"lcores": [{"lcore": 0, "cpu": 4,
    "requests": {"get": {"success": 160, "key_enoent": 40}, "set": {"success": 200}},
    "protocol": {"get_hits": 160, "get_misses": 40}, "connections": {"current": 7},
    "loop": {"busy_ratio": 0.75, "longest_iteration_seconds": 0.002},
    "latency": {"buckets": [{"le": 1e-5, "count": 101}, {"le": 1e-4, "count": 400}, {"le": "+Inf", "count": 400}]}}]})");
  const stats_sample sa = sample_of(a), sb = sample_of(b);
  ASSERT_EQ(sb.lcores.size(), 1u);
  EXPECT_EQ(sb.lcores[0].requests, 400);
  const lcore_rates r = rates_between(sa.lcores[0], sb.lcores[0], 2.0);
  EXPECT_EQ(r.lcore, 0);
  EXPECT_EQ(r.cpu, 4);
  EXPECT_DOUBLE_EQ(r.ops_per_s, 100);  // 200 requests in 2 s
  EXPECT_DOUBLE_EQ(r.hit_ratio, 0.9);  // 90 hits, 10 misses in the interval
  EXPECT_EQ(r.p50_s, 1e-4);            // 1 of 200 under 10us in the interval
  EXPECT_EQ(r.p99_s, 1e-4);
  EXPECT_EQ(r.connections, 7);
  EXPECT_EQ(r.busy_ratio, 0.75);
  // No time passed (or the first frame): no rates, gauges still shown.
  const lcore_rates z = rates_between(sa.lcores[0], sb.lcores[0], 0);
  EXPECT_TRUE(std::isnan(z.ops_per_s));
  EXPECT_TRUE(std::isnan(z.p99_s));
  EXPECT_EQ(z.connections, 7);
  // Nothing happened: hit ratio and latency unknown, not 0.
  const lcore_rates idle = rates_between(sb.lcores[0], sb.lcores[0], 1);
  EXPECT_EQ(idle.ops_per_s, 0);
  EXPECT_TRUE(std::isnan(idle.hit_ratio));
  EXPECT_TRUE(std::isnan(idle.p50_s));
}

TEST(AnvilctlStats, OddShapesAreZerosNotExceptions) {
  for (
      const char* text :
      {"null", "[]", "{}", R"({"lcores": 3})", R"({"lcores": [1, "x", null]})",
       R"({"lcores": [{"lcore": "a", "requests": "many", "latency": {"buckets": [3, {"count": 1}]}}]})"}) {
    const stats_sample s = sample_of(json::parse(text));
    for (const auto& l : s.lcores) {
      EXPECT_EQ(l.requests, 0) << text;
      EXPECT_TRUE(l.buckets.empty()) << text;
    }
  }
}

}  // namespace
