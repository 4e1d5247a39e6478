// The canary end to end without a network: keys per partition in the reserved space,
// one lcore's side (lcore_health::poll against a real engine), loop-stall counting, the
// monitor posting rounds, collecting them, timing out an lcore that does not answer,
// and `stats health` read lock-free. The last test runs a real lcore thread (also
// under TSan): the fault knob makes it slow -> canary_slow, lifted -> ok, bounded by
// evaluation counts, not by time.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "cache/engine.h"
#include "control/health/canary_keys.h"
#include "control/health/health_monitor.h"
#include "dataplane/proto/reserved_keys.h"
#include "dataplane/server/cycles.h"

namespace anvil::health {
namespace {

using server::lcore_health;
using server::monotonic_ns;

struct engine_fixture {
  explicit engine_fixture(std::size_t partitions)
      : clk(1'700'000'000),
        eng(cache::engine_config{.memory_limit_bytes = 16u << 20,
                                 .max_item_size = 1u << 20,
                                 .partitions = partitions,
                                 .numa_bind = false,
                                 .time = &clk}) {}
  cache::clock clk;
  cache::engine eng;
};

std::map<std::string, std::string> stats_of(const health_monitor& m) {
  std::map<std::string, std::string> out;
  EXPECT_TRUE(m.for_each_stat(
      [&](std::string_view k, std::string_view v) { out[std::string(k)] = std::string(v); }));
  return out;
}

void post(lcore_health& h, std::uint64_t seq) {
  h.posted_ns.store(monotonic_ns());
  h.request_seq.store(seq, std::memory_order_release);
}

TEST(CanaryKeys, OneReservedKeyPerPartitionPerLcore) {
  for (std::size_t parts : {1u, 2u, 8u, 64u}) {
    std::set<std::string> all;
    for (unsigned l = 0; l < 3; ++l) {
      const auto keys = canary_keys(l, parts);
      ASSERT_EQ(keys.size(), parts);
      for (std::size_t p = 0; p < parts; ++p) {
        EXPECT_TRUE(proto::is_reserved_key(keys[p]));
        EXPECT_LE(keys[p].size(), cache::kMaxKeyLength);
        EXPECT_EQ(partition_of(keys[p], parts), p);
        all.insert(keys[p]);
      }
    }
    EXPECT_EQ(all.size(), 3 * parts);  // no two lcores share a key
  }
}

TEST(CanaryKeys, PartitionCountMustBeAPowerOfTwo) {
  EXPECT_THROW(canary_keys(0, 0), std::invalid_argument);
  EXPECT_THROW(canary_keys(0, 3), std::invalid_argument);
  EXPECT_NO_THROW(canary_keys(0, 1));
}

TEST(CanaryKeys, MatchTheEnginesPartitioning) {
  // The engine must agree: a key stored lands in the partition partition_of() names.
  engine_fixture f(8);
  auto s = f.eng.open_session();
  const auto keys = canary_keys(2, 8);
  for (std::size_t p = 0; p < keys.size(); ++p) {
    ASSERT_EQ(s.store(cache::store_mode::set, keys[p], "x", 0, 0).st, cache::status::ok);
    EXPECT_EQ(f.eng.stats(p).items, 1u) << "partition " << p;
    s.remove(keys[p]);
    s.quiescent();
  }
}

TEST(LcoreHealth, ARoundWritesReadsAndDeletesEveryPartition) {
  engine_fixture f(4);
  auto s = f.eng.open_session();
  lcore_health h;
  h.canary_keys = canary_keys(0, 4);
  h.poll(s);  // nothing posted: nothing done
  EXPECT_EQ(h.done_seq.load(), 0u);
  post(h, 1);
  h.poll(s);
  s.quiescent();
  EXPECT_EQ(h.done_seq.load(), 1u);
  EXPECT_TRUE(h.ok.load());
  EXPECT_EQ(h.failed_step.load(), 0u);
  const auto st = f.eng.total_stats();
  EXPECT_EQ(st.items, 0u);  // deleted again in the same iteration
  EXPECT_EQ(st.sets, 4u);   // one per partition
  for (std::size_t p = 0; p < 4; ++p) EXPECT_EQ(f.eng.stats(p).sets, 1u);
  h.poll(s);  // the same round is not run twice
  EXPECT_EQ(f.eng.total_stats().sets, 4u);
  post(h, 2);
  h.poll(s);
  EXPECT_EQ(h.done_seq.load(), 2u);
  EXPECT_EQ(f.eng.total_stats().sets, 8u);
}

TEST(LcoreHealth, AFailedStoreIsReportedWithItsPartitionAndStatus) {
  engine_fixture f(2);
  auto s = f.eng.open_session();
  lcore_health h;
  h.canary_keys = canary_keys(0, 2);
  h.canary_keys[1] = std::string(cache::kMaxKeyLength + 1, 'k');  // the engine refuses it
  post(h, 7);
  h.poll(s);
  EXPECT_EQ(h.done_seq.load(), 7u);
  EXPECT_FALSE(h.ok.load());
  EXPECT_EQ(h.failed_step.load(), 1u);
  EXPECT_EQ(h.failed_partition.load(), 1u);
  EXPECT_EQ(h.failed_status.load(), static_cast<std::uint8_t>(cache::status::bad_key));
}

// A flush applied between a round's set and its get (a client's flush_all, a replica's
// full copy starting) makes that get miss: the flush working, not the data path failing.
// Seen in the ha suite: a replica's first round raced its initial copy, the node said
// `failing`, and a primary it had just become stepped down. Here another thread flushes
// in a loop while rounds run: no round fails, and some did meet a flush (counted).
TEST(LcoreHealth, AFlushBetweenTheSetAndTheGetIsNotAFailure) {
  engine_fixture f(2);
  auto s = f.eng.open_session();
  lcore_health h;
  h.canary_keys = canary_keys(0, 2);
  std::atomic<bool> stop{false};
  std::thread flusher([&] {
    auto fs = f.eng.open_session();
    while (!stop.load(std::memory_order_relaxed)) {
      fs.flush(0);
      fs.quiescent();
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  });
  std::uint64_t rounds = 0, failed = 0;
  std::string first;
  while (rounds < 2'000'000 && h.flush_races.load() < 20 && failed == 0) {
    post(h, ++rounds);
    h.poll(s);
    s.quiescent();
    if (!h.ok.load() && failed++ == 0)
      first = "step " + std::to_string(h.failed_step.load()) + " status " +
              std::to_string(h.failed_status.load());
  }
  stop = true;
  flusher.join();
  EXPECT_EQ(failed, 0u) << "of " << rounds << " rounds; first: " << first;
  EXPECT_GE(h.flush_races.load(), 20u)
      << "no flush came between a set and a get in " << rounds << " rounds";
}

// Only a flush excuses a miss: the canary's item deleted between its set and its get by
// anything else (here another thread's delete of that key) is still a failed get.
TEST(LcoreHealth, AnItemLostWithoutAFlushIsStillAFailedGet) {
  engine_fixture f(1);
  auto s = f.eng.open_session();
  lcore_health h;
  h.canary_keys = canary_keys(0, 1);
  std::atomic<bool> stop{false};
  std::thread deleter([&] {
    auto ds = f.eng.open_session();
    while (!stop.load(std::memory_order_relaxed)) {
      ds.remove(h.canary_keys[0]);
      ds.quiescent();
    }
  });
  std::uint64_t rounds = 0;
  bool failed = false;
  while (rounds < 2'000'000 && !failed) {
    post(h, ++rounds);
    h.poll(s);
    s.quiescent();
    failed = !h.ok.load();
  }
  stop = true;
  deleter.join();
  ASSERT_TRUE(failed) << "no delete came between a set and a get in " << rounds << " rounds";
  EXPECT_EQ(h.failed_step.load(), 2u);
  EXPECT_EQ(h.failed_status.load(), static_cast<std::uint8_t>(cache::status::not_found));
  EXPECT_EQ(h.flush_races.load(), 0u);
}

TEST(LcoreHealth, StallsAreIterationsOverTheThreshold) {
  lcore_health h;
  h.on_iteration(1'000'000);  // off (stall_cycles == 0)
  EXPECT_EQ(h.stalls.load(), 0u);
  h.stall_cycles = 100;
  h.on_iteration(100);  // at the threshold: not a stall
  EXPECT_EQ(h.stalls.load(), 0u);
  h.on_iteration(101);
  h.on_iteration(500);
  h.on_iteration(200);
  EXPECT_EQ(h.stalls.load(), 3u);
  EXPECT_EQ(h.last_stall_cycles.load(), 200u);
  EXPECT_EQ(h.longest_stall_cycles.load(), 500u);
}

monitor_config fast_config() {
  monitor_config c;
  c.interval_s = 0.001;
  c.canary_window_s = 3600;
  c.loop_stall_s = 1;
  c.thresholds.canary_p99_s = 0.010;
  c.thresholds.canary_timeout_s = 2;
  c.thresholds.recover_evaluations = 1;
  return c;
}

TEST(HealthMonitor, CollectsRoundsAndTimesOutAnLcoreThatDoesNotAnswer) {
  engine_fixture f(2);
  auto s0 = f.eng.open_session(), s1 = f.eng.open_session();
  lcore_health a, b;
  a.canary_keys = canary_keys(0, 2);
  b.canary_keys = canary_keys(1, 2);
  health_monitor m(fast_config(), {&a, &b}, {}, 1.0, 0);
  EXPECT_EQ(stats_of(m)["state"], "ok");
  const std::uint64_t t0 = monotonic_ns();
  ASSERT_TRUE(m.tick(t0, 1000));   // first evaluation: posts round 1 to both
  EXPECT_FALSE(m.tick(t0, 1000));  // not due yet
  EXPECT_EQ(a.request_seq.load(), 1u);
  EXPECT_EQ(b.request_seq.load(), 1u);
  a.poll(s0);
  b.poll(s1);
  ASSERT_TRUE(m.tick(t0 + 10'000'000, 1010));
  auto snap = m.snapshot();
  EXPECT_EQ(snap.canary_rounds, 2u);
  EXPECT_EQ(snap.canary_failures, 0u);
  EXPECT_EQ(snap.histogram.count(), 2u);
  EXPECT_EQ(snap.report.state, health_state::ok);
  EXPECT_EQ(a.request_seq.load(), 2u);  // both answered: both got the next round
  // lcore 1 stops answering; lcore 0 goes on.
  a.poll(s0);
  ASSERT_TRUE(m.tick(t0 + 20'000'000, 1020));
  EXPECT_EQ(b.request_seq.load(), 2u);  // no second round while one is outstanding
  a.poll(s0);
  ASSERT_TRUE(m.tick(t0 + 2'100'000'000ull, 3100));
  snap = m.snapshot();
  EXPECT_EQ(snap.report.state, health_state::failing);
  ASSERT_FALSE(snap.report.reasons.empty());
  EXPECT_EQ(snap.report.reasons[0].code, reason_code::canary_failed);
  EXPECT_NE(snap.report.reasons[0].detail.find("lcore 1"), std::string::npos);
  // The outstanding round counts at its age: slow too.
  EXPECT_GE(snap.canary_p99_s, 2.0);
  auto st = stats_of(m);
  EXPECT_EQ(st["state"], "failing");
  EXPECT_EQ(st["reasons"].substr(0, 13), "canary_failed");
  EXPECT_NE(st["reason:canary_failed"].find("unanswered"), std::string::npos);
  EXPECT_EQ(st["since_ms:canary_failed"], "3100");
  // It answers again: the failure clears (recover_evaluations = 1).
  b.poll(s1);
  a.poll(s0);
  ASSERT_TRUE(m.tick(t0 + 2'200'000'000ull, 3200));
  EXPECT_NE(m.snapshot().report.state, health_state::failing);
}

TEST(HealthMonitor, AWrongAnswerIsFailingWithTheStep) {
  engine_fixture f(1);
  auto s = f.eng.open_session();
  lcore_health a;
  a.canary_keys = {""};  // the engine refuses an empty key
  health_monitor m(fast_config(), {&a}, {}, 1.0, 0);
  const std::uint64_t t0 = monotonic_ns();
  m.tick(t0, 1);
  a.poll(s);
  m.tick(t0 + 10'000'000, 2);
  const auto snap = m.snapshot();
  EXPECT_EQ(snap.report.state, health_state::failing);
  EXPECT_EQ(snap.canary_failures, 1u);
  EXPECT_EQ(snap.report.reasons[0].detail, "lcore 0: canary set on partition 0 failed: bad_key");
}

TEST(HealthMonitor, InputsBecomeReasons) {
  lcore_health a;
  std::uint64_t evictions = 5, port_errors = 0;
  bool storage_bad = false;
  monitor_inputs in;
  in.storage = [&] { return std::pair<bool, std::string>{storage_bad, "fsync: EIO"}; };
  in.evictions = [&] { return evictions; };
  in.port_errors = [&] { return port_errors; };
  in.connections = [] { return std::pair<std::uint64_t, std::uint64_t>{10, 1024}; };
  auto cfg = fast_config();
  cfg.thresholds.memory_pressure_evictions_per_s = 1000;
  cfg.thresholds.port_errors_per_s = 1000;
  cfg.thresholds.canary_p99_s = 1e6;  // no lcore answers here: only the inputs count
  cfg.thresholds.canary_timeout_s = 1e6;
  health_monitor m(cfg, {&a}, std::move(in), 1.0, 0);
  const std::uint64_t t0 = monotonic_ns();
  m.tick(t0, 1);  // the first evaluation takes the counters as a baseline: 5 is not a burst
  EXPECT_EQ(m.snapshot().report.state, health_state::ok);
  evictions += 2000;  // 2000 in 1 s
  port_errors += 2;
  storage_bad = true;
  m.tick(t0 + 1'000'000'000, 2);
  auto r = m.snapshot().report;
  ASSERT_EQ(r.reasons.size(), 2u);
  EXPECT_EQ(r.reasons[0].code, reason_code::storage);
  EXPECT_EQ(r.reasons[0].detail, "fsync: EIO");
  EXPECT_EQ(r.reasons[1].code, reason_code::memory_pressure);
  storage_bad = false;
  evictions = 0;  // a counter reset counts as nothing, not as a wrap to 2^64
  m.tick(t0 + 2'000'000'000, 3);
  r = m.snapshot().report;
  EXPECT_EQ(r.state, health_state::ok);
}

TEST(HealthMonitor, TheReplicationInputIsReadAtEveryEvaluation) {
  lcore_health a;
  replication_observation rep;
  rep.replica = true;
  rep.primary = "n0";
  rep.max_lag_entries = 10;
  rep.behind_entries = 11;
  rep.lag_s = 0.5;
  monitor_inputs in;
  in.replication = [&] { return rep; };
  auto cfg = fast_config();
  cfg.thresholds.canary_p99_s = 1e6;  // no lcore answers here: only the input counts
  cfg.thresholds.canary_timeout_s = 1e6;
  cfg.thresholds.recover_evaluations = 1;
  health_monitor m(cfg, {&a}, std::move(in), 1.0, 0);
  const std::uint64_t t0 = monotonic_ns();
  m.tick(t0, 1);
  auto r = m.snapshot().report;
  EXPECT_EQ(r.state, health_state::degraded);
  ASSERT_EQ(r.reasons.size(), 1u);
  EXPECT_EQ(r.reasons[0].code, reason_code::replication_lag);
  EXPECT_EQ(r.reasons[0].detail, "11 entries (0.5 s) behind primary n0 (max_replica_lag 10)");
  EXPECT_EQ(stats_of(m).at("reasons"), "replication_lag");
  rep.behind_entries = 10;
  m.tick(t0 + 1'000'000'000, 2);
  EXPECT_EQ(m.snapshot().report.state, health_state::ok);
}

TEST(HealthMonitor, StatsTextSurvivesLongReasons) {
  lcore_health a;
  monitor_inputs in;
  in.storage = [] { return std::pair<bool, std::string>{true, std::string(10000, 'r') + "\t\n"}; };
  health_monitor m(fast_config(), {&a}, std::move(in), 1.0, 0);
  m.tick(monotonic_ns(), 1);
  const auto st = stats_of(m);
  EXPECT_EQ(st.at("state"), "degraded");
  // The long detail is cut at a line boundary; what is left parses.
  EXPECT_EQ(st.count("reason:storage"), 0u);
}

// A real lcore thread: its loop polls the mailbox, the monitor runs here. The fault
// knob makes every iteration sleep 60 ms: each round then waits for the lcore's
// current iteration, so p99 exceeds 25 ms as soon as a few rounds were answered.
TEST(HealthMonitorThreaded, FaultKnobMakesTheCanarySlowThenRecovers) {
  engine_fixture f(2);
  lcore_health h;
  h.canary_keys = canary_keys(0, 2);
  std::atomic<bool> stop{false};
  std::thread lcore([&] {
    auto s = f.eng.open_session();
    while (!stop.load(std::memory_order_relaxed)) {
      h.poll(s);
      s.quiescent();
      h.fault_delay();
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  });
  auto cfg = fast_config();
  cfg.interval_s = 0.01;
  cfg.canary_window_s = 0.3;  // rounds older than this leave the percentiles
  cfg.thresholds.canary_p99_s = 0.025;
  cfg.thresholds.canary_timeout_s = 600;  // a preempted test thread is slow, not failed
  cfg.thresholds.recover_evaluations = 2;
  health_monitor m(cfg, {&h}, {}, health_monitor::calibrate_tsc(), 0);
  auto run_until = [&](health_state want, reason_code code, bool present) {
    for (int i = 0; i < 3000; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      m.tick(monotonic_ns(), i);
      const auto r = m.snapshot().report;
      bool has = false;
      for (const auto& x : r.reasons) has |= x.code == code;
      if (r.state == want && has == present) return true;
    }
    return false;
  };
  ASSERT_TRUE(run_until(health_state::ok, reason_code::canary_slow, false));
  const auto before = m.snapshot().canary_rounds;
  m.set_lcore_delay(0, 60'000);
  EXPECT_EQ(m.lcore_delay(0), 60'000u);
  EXPECT_TRUE(run_until(health_state::degraded, reason_code::canary_slow, true))
      << m.snapshot().canary_p99_s;
  EXPECT_GT(m.snapshot().canary_rounds, before);  // it answered: slow, not failed
  m.set_lcore_delay(0, 0);
  EXPECT_TRUE(run_until(health_state::ok, reason_code::canary_slow, false))
      << m.snapshot().canary_p99_s;
  stop = true;
  lcore.join();
}

}  // namespace
}  // namespace anvil::health
