// Health under the real server (suite `fault`, root): anvil in a testnet, `stats health`
// read over the memcached protocol.
// - The [debug] lcore_delay_us knob makes the lcore slow: `degraded` with reason
//   `canary_slow` (and `loop_stall`), while it still answers; SIGUSR2 lifts the fault and
//   the node is `ok` again; both transitions are logged with their reasons.
// - The canary runs many rounds without moving any client-visible counter.
// - A storage fault (the FUSE faultfs of the snapshot tests, EIO on write) gives reason
//   `storage` with the filesystem's error; lifted, the reason clears.
// - The knob is refused at start without enable_fault_knobs.
// All waits are bounded by counts of answered requests, never by a timing assertion.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "tests/health/health_server.h"
#include "tests/health/http_get.h"
#include "tests/io/fault_env.h"

namespace anvil::health::test {
namespace {

constexpr const char* kFastHealth =
    "[health]\ninterval_s = 0.2\ncanary_p99_ms = 70\ncanary_window_s = 1.5\n"
    "canary_timeout_s = 30\nloop_stall_ms = 100\nrecover_intervals = 2\n";

class HealthServer : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, FUSE)";
  }
};

// GET /v1/health on the node's admin address (the [admin] default, in its namespace).
struct api_health {
  int status = 0;
  std::string state;
  std::vector<std::string> codes;
  nlohmann::json body;
  bool has(const std::string& c) const {
    return std::find(codes.begin(), codes.end(), c) != codes.end();
  }
};
api_health v1_health(const anvil::test::testnet& net) {
  api_health h;
  const auto r = http_get(net.stack_ns(), 11311, "/v1/health");
  h.status = r.status;
  h.body = nlohmann::json::parse(r.body, nullptr, false);
  if (h.body.is_object()) {
    h.state = h.body.value("state", "");
    for (const auto& x : h.body.value("reasons", nlohmann::json::array()))
      h.codes.push_back(x.value("code", ""));
  }
  return h;
}

long long num(const stats_map& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? -1 : std::stoll(it->second);
}

TEST_F(HealthServer, SlowLcoreIsDegradedWithCanarySlowAndRecovers) {
  anvil::test::testnet net;
  health_server srv(net, std::string(kFastHealth) +
                             "[debug]\nenable_fault_knobs = true\nlcore_delay_us = 150000\n"
                             "lcore_delay_lcore = 0\n");
  ASSERT_EQ(srv.wait_ready(), "") << srv.process().log();
  EXPECT_NE(srv.process().log().find("event=fault_knobs_enabled"), std::string::npos);
  auto h = srv.wait_health([](const stats_map& m) {
    return health_server::get(m, "state") == "degraded" &&
           health_server::has_reason(m, "canary_slow");
  });
  ASSERT_EQ(health_server::get(h, "state"), "degraded") << srv.process().log();
  ASSERT_TRUE(health_server::has_reason(h, "canary_slow")) << health_server::get(h, "reasons");
  EXPECT_NE(health_server::get(h, "reason:canary_slow").find("over the 70.0 ms threshold"),
            std::string::npos)
      << health_server::get(h, "reason:canary_slow");
  EXPECT_GT(num(h, "since_ms:canary_slow"), 0);
  EXPECT_GE(num(h, "canary_p99_us"), 70'000);
  EXPECT_GT(num(h, "canary_rounds"), 0);  // it answers: slow, not failed
  EXPECT_FALSE(health_server::has_reason(h, "canary_failed"));
  // A 150 ms iteration is also a loop stall (threshold 100 ms).
  h = srv.wait_health(
      [](const stats_map& m) { return health_server::has_reason(m, "loop_stall"); });
  EXPECT_TRUE(health_server::has_reason(h, "loop_stall")) << health_server::get(h, "reasons");
  EXPECT_GT(num(h, "loop_stalls"), 0);
  EXPECT_NE(srv.process().log().find("event=health_state state=degraded previous=ok"),
            std::string::npos)
      << srv.process().log();
  EXPECT_NE(srv.process().log().find("event=health_reason_raised code=canary_slow"),
            std::string::npos);
  // The admin API shows the same: 200 (degraded still serves) with the reason and since.
  auto api = v1_health(net);
  EXPECT_EQ(api.status, 200) << api.body.dump();
  EXPECT_EQ(api.state, "degraded") << api.body.dump();
  EXPECT_TRUE(api.has("canary_slow")) << api.body.dump();
  EXPECT_GT(api.body.value("since_unix", 0LL), 0);

  // Lift the fault: ok again once the slow rounds have left the window.
  srv.process().signal(SIGUSR2);
  ASSERT_TRUE(
      srv.process().wait_for_log("event=fault_knob knob=lcore_delay_us lcore=0 value=0", 10s));
  // (A loaded machine preempts the lcore too: more tries, each still one answered request.)
  h = srv.wait_health([](const stats_map& m) { return health_server::get(m, "state") == "ok"; },
                      900);
  EXPECT_EQ(health_server::get(h, "state"), "ok")
      << health_server::get(h, "reasons") << " " << health_server::get(h, "reason:canary_slow");
  EXPECT_EQ(health_server::get(h, "reasons"), "");
  EXPECT_NE(srv.process().log().find("event=health_state state=ok previous=degraded"),
            std::string::npos);
  EXPECT_NE(srv.process().log().find("event=health_reason_cleared code=canary_slow"),
            std::string::npos);
  api = v1_health(net);
  EXPECT_EQ(api.status, 200);
  EXPECT_EQ(api.state, "ok") << api.body.dump();
  EXPECT_TRUE(api.codes.empty()) << api.body.dump();

  // And slow again on the next toggle (the knob is for HA tests too).
  srv.process().signal(SIGUSR2);
  h = srv.wait_health(
      [](const stats_map& m) { return health_server::has_reason(m, "canary_slow"); });
  EXPECT_TRUE(health_server::has_reason(h, "canary_slow"));
  srv.process().signal(SIGTERM);
  EXPECT_EQ(srv.process().wait(30s).value_or(-1), 0) << srv.process().log();
}

// An lcore that does not come back within canary_timeout_s: `failing` with reason
// canary_failed, and GET /v1/health answers 503 while the lcore is stuck (the admin API
// never waits for an lcore). The lcore sleeps 3 s per iteration from the start.
TEST_F(HealthServer, StuckLcoreIsFailingAndTheApiSays503) {
  anvil::test::testnet net;
  health_server srv(net,
                    "[health]\ninterval_s = 0.2\ncanary_timeout_s = 1\nrecover_intervals = 1\n"
                    "[debug]\nenable_fault_knobs = true\nlcore_delay_us = 3000000\n");
  ASSERT_TRUE(srv.process().wait_for_log("event=started", 60s)) << srv.process().log();
  api_health api;
  for (int i = 0; i < 300 && api.state != "failing"; ++i) {
    api = v1_health(net);
    if (api.state != "failing") std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(api.state, "failing") << api.body.dump() << srv.process().log();
  EXPECT_EQ(api.status, 503);
  EXPECT_TRUE(api.has("canary_failed")) << api.body.dump();
  EXPECT_NE(api.body.dump().find("lcore 0: canary round unanswered"), std::string::npos)
      << api.body.dump();
  EXPECT_NE(srv.process().log().find("event=health_state state=failing"), std::string::npos);
  // Lifted: the lcore answers again, the failure clears.
  srv.process().signal(SIGUSR2);
  for (int i = 0; i < 300 && api.has("canary_failed"); ++i) {
    std::this_thread::sleep_for(100ms);
    api = v1_health(net);
  }
  EXPECT_FALSE(api.has("canary_failed")) << api.body.dump();
  EXPECT_NE(api.status, 503);
}

TEST_F(HealthServer, CanaryRoundsMoveNoClientVisibleCounter) {
  anvil::test::testnet net;
  // A generous threshold: this test is about counters, not about a loaded machine.
  health_server srv(net, "[health]\ninterval_s = 0.05\ncanary_p99_ms = 5000\n");
  ASSERT_EQ(srv.wait_ready(), "") << srv.process().log();
  const auto before = srv.stats("");
  const long long rounds0 = num(srv.health(), "canary_rounds");
  // At least 20 more rounds (one lcore: stats and canary run on the same loop, so no
  // answer can fall between a canary's set and its delete).
  auto h =
      srv.wait_health([&](const stats_map& m) { return num(m, "canary_rounds") >= rounds0 + 20; });
  ASSERT_GE(num(h, "canary_rounds"), rounds0 + 20);
  EXPECT_EQ(health_server::get(h, "state"), "ok") << health_server::get(h, "reasons");
  const auto after = srv.stats("");
  for (const char* k : {"cmd_get", "cmd_set", "get_hits", "get_misses", "delete_hits",
                        "delete_misses", "total_items", "curr_items", "evictions"})
    EXPECT_EQ(health_server::get(after, k), health_server::get(before, k)) << k;
}

TEST_F(HealthServer, StorageFaultIsReasonStorageUntilLifted) {
  if (!std::filesystem::exists("/dev/fuse")) GTEST_SKIP() << "no /dev/fuse";
  io::test::reap_stale();
  io::test::fuse_fault_fs fs(ANVIL_FAULTFS_BIN);
  const std::string dir = fs.mnt() + "/snaps";
  anvil::test::testnet net;
  health_server srv(net, std::string(kFastHealth) + "[snapshot]\ndir = \"" + dir +
                             "\"\nio_timeout_s = 2\nat_shutdown = false\n");
  ASSERT_EQ(srv.wait_ready(), "") << srv.process().log();
  EXPECT_EQ(health_server::get(srv.wait_health([](const stats_map& m) {
              return health_server::get(m, "state") == "ok";
            }),
                               "state"),
            "ok");
  auto outcomes = [&] {
    const auto s = srv.stats("storage");
    return num(s, "snapshots_ok") + num(s, "snapshots_failed") + num(s, "snapshots_skipped");
  };
  fs.set_mode("eio_write");
  const long long done = outcomes();
  srv.process().signal(SIGUSR1);
  for (int i = 0; i < 300 && outcomes() <= done; ++i) std::this_thread::sleep_for(100ms);
  auto h =
      srv.wait_health([](const stats_map& m) { return health_server::has_reason(m, "storage"); });
  ASSERT_TRUE(health_server::has_reason(h, "storage")) << srv.process().log();
  EXPECT_EQ(health_server::get(h, "state"), "degraded");
  EXPECT_NE(health_server::get(h, "reason:storage").find("Input/output error"), std::string::npos)
      << health_server::get(h, "reason:storage");
  EXPECT_NE(srv.process().log().find("event=health_reason_raised code=storage"), std::string::npos);

  fs.set_mode("normal");
  const long long done2 = outcomes();
  srv.process().signal(SIGUSR1);
  for (int i = 0; i < 300 && outcomes() <= done2; ++i) std::this_thread::sleep_for(100ms);
  h = srv.wait_health([](const stats_map& m) { return health_server::get(m, "state") == "ok"; });
  EXPECT_EQ(health_server::get(h, "state"), "ok") << health_server::get(h, "reasons");
  EXPECT_NE(srv.process().log().find("event=health_reason_cleared code=storage"),
            std::string::npos);
}

TEST_F(HealthServer, FaultKnobIsRefusedAtStartUnlessEnabled) {
  anvil::test::testnet net;
  health_server srv(net, "[debug]\nlcore_delay_us = 1000\n");
  const auto rc = srv.process().wait(30s);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 2);
  EXPECT_NE(srv.process().log().find("debug.lcore_delay_us: a test-only fault knob: refused unless "
                                     "[debug] enable_fault_knobs = true"),
            std::string::npos)
      << srv.process().log();
}

TEST_F(HealthServer, Sigusr2WithoutFaultKnobsIsRefusedAndLogged) {
  anvil::test::testnet net;
  health_server srv(net, "");
  ASSERT_EQ(srv.wait_ready(), "") << srv.process().log();
  srv.process().signal(SIGUSR2);
  EXPECT_TRUE(srv.process().wait_for_log("event=fault_knob_refused", 10s)) << srv.process().log();
  EXPECT_EQ(health_server::get(srv.health(), "state"), "ok");
}

}  // namespace
}  // namespace anvil::health::test
