// The pure health model: each reason's threshold at the edge (at, one past, zero), the
// state as the worst severity, `since` kept while a reason stays raised, recovery only
// after recover_evaluations clear evaluations, and the changes reported for the log.
#include <gtest/gtest.h>

#include "control/health/health_model.h"

namespace anvil::health {
namespace {

health_thresholds th() {
  health_thresholds t;
  t.canary_p99_s = 0.010;
  t.canary_timeout_s = 2;
  t.memory_pressure_evictions_per_s = 100;
  t.port_errors_per_s = 10;
  t.connections_near_pct = 90;
  t.recover_evaluations = 2;
  return t;
}

health_observation calm(std::size_t lcores = 2) {
  health_observation o;
  o.interval_s = 1;
  o.lcores.resize(lcores);
  o.canary_samples = 10;
  o.canary_p99_s = 0.001;
  o.max_connections = 100;
  return o;
}

bool has(const health_report& r, reason_code c) {
  for (const auto& x : r.reasons)
    if (x.code == c) return true;
  return false;
}

const health_reason* find(const health_report& r, reason_code c) {
  for (const auto& x : r.reasons)
    if (x.code == c) return &x;
  return nullptr;
}

TEST(HealthModel, StartsOkAndStaysOkWhenCalm) {
  health_model m(th(), 500);
  EXPECT_EQ(m.report().state, health_state::ok);
  EXPECT_EQ(m.report().state_since_ms, 500);
  EXPECT_TRUE(m.evaluate(calm(), 1000).empty());
  EXPECT_EQ(m.report().state, health_state::ok);
  EXPECT_TRUE(m.report().reasons.empty());
  EXPECT_EQ(m.report().evaluations, 1u);
}

TEST(HealthModel, CanaryP99OverThresholdIsDegradedAtTheEdge) {
  health_model m(th());
  auto o = calm();
  o.canary_p99_s = 0.010;  // at the threshold: not over
  m.evaluate(o, 1000);
  EXPECT_EQ(m.report().state, health_state::ok);
  o.canary_p99_s = 0.0101;
  const auto ch = m.evaluate(o, 2000);
  EXPECT_EQ(m.report().state, health_state::degraded);
  ASSERT_TRUE(has(m.report(), reason_code::canary_slow));
  EXPECT_EQ(find(m.report(), reason_code::canary_slow)->since_ms, 2000);
  EXPECT_NE(find(m.report(), reason_code::canary_slow)->detail.find("10.1 ms"), std::string::npos);
  ASSERT_EQ(ch.size(), 2u);  // raised, then the state change
  EXPECT_EQ(ch[0].what, health_change::kind::raised);
  EXPECT_EQ(ch[0].code, reason_code::canary_slow);
  EXPECT_EQ(ch[1].what, health_change::kind::state);
  EXPECT_EQ(ch[1].from, health_state::ok);
  EXPECT_EQ(ch[1].to, health_state::degraded);
  EXPECT_EQ(m.report().transitions_to[1], 1u);
}

TEST(HealthModel, NoCanarySamplesIsNotSlow) {
  health_model m(th());
  auto o = calm();
  o.canary_samples = 0;
  o.canary_p99_s = 5;
  m.evaluate(o, 1);
  EXPECT_EQ(m.report().state, health_state::ok);
}

TEST(HealthModel, SinceIsKeptWhileRaisedAndDetailRefreshed) {
  health_model m(th());
  auto o = calm();
  o.canary_p99_s = 0.02;
  m.evaluate(o, 1000);
  o.canary_p99_s = 0.05;
  EXPECT_TRUE(m.evaluate(o, 2000).empty());
  const auto* r = find(m.report(), reason_code::canary_slow);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->since_ms, 1000);
  EXPECT_NE(r->detail.find("50.0 ms"), std::string::npos);
}

TEST(HealthModel, RecoversOnlyAfterEnoughClearEvaluations) {
  health_model m(th());
  auto slow = calm();
  slow.canary_p99_s = 0.02;
  m.evaluate(slow, 1000);
  m.evaluate(calm(), 2000);  // one clear evaluation: still raised
  EXPECT_EQ(m.report().state, health_state::degraded);
  m.evaluate(slow, 3000);  // over again: the streak restarts, since unchanged
  m.evaluate(calm(), 4000);
  EXPECT_EQ(m.report().state, health_state::degraded);
  EXPECT_EQ(find(m.report(), reason_code::canary_slow)->since_ms, 1000);
  const auto ch = m.evaluate(calm(), 5000);
  EXPECT_EQ(m.report().state, health_state::ok);
  EXPECT_EQ(m.report().state_since_ms, 5000);
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch[0].what, health_change::kind::cleared);
  EXPECT_EQ(ch[1].to, health_state::ok);
  EXPECT_EQ(m.report().transitions_to[0], 1u);
}

TEST(HealthModel, RecoverEvaluationsZeroMeansOne) {
  auto t = th();
  t.recover_evaluations = 0;
  health_model m(t);
  auto o = calm();
  o.storage_degraded = true;
  m.evaluate(o, 1);
  m.evaluate(calm(), 2);
  EXPECT_EQ(m.report().state, health_state::ok);
}

TEST(HealthModel, CanaryFailedIsFailingAndOutranksDegraded) {
  health_model m(th());
  auto o = calm();
  o.lcores[1].canary_wrong = true;
  o.lcores[1].canary_error = "canary get on partition 3 failed: not_found";
  o.storage_degraded = true;
  o.storage_reason = "snapshot write failed: EIO";
  m.evaluate(o, 10);
  EXPECT_EQ(m.report().state, health_state::failing);
  ASSERT_EQ(m.report().reasons.size(), 2u);
  EXPECT_EQ(m.report().reasons[0].code, reason_code::canary_failed);  // fixed order
  EXPECT_EQ(m.report().reasons[1].code, reason_code::storage);
  EXPECT_EQ(m.report().reasons[0].detail, "lcore 1: canary get on partition 3 failed: not_found");
  EXPECT_EQ(m.report().reasons[1].detail, "snapshot write failed: EIO");
}

TEST(HealthModel, OutstandingRoundFailsOnlyAtTheTimeout) {
  health_model m(th());
  auto o = calm();
  o.lcores[0].canary_outstanding_s = 1.999;
  m.evaluate(o, 1);
  EXPECT_FALSE(has(m.report(), reason_code::canary_failed));
  o.lcores[0].canary_outstanding_s = 2.0;
  m.evaluate(o, 2);
  EXPECT_TRUE(has(m.report(), reason_code::canary_failed));
  EXPECT_NE(
      find(m.report(), reason_code::canary_failed)->detail.find("lcore 0: canary round unanswered"),
      std::string::npos);
}

TEST(HealthModel, LoopStallNamesTheLcore) {
  health_model m(th());
  auto o = calm();
  o.lcores[1].stalls = 1;
  o.lcores[1].last_stall_s = 0.12;
  m.evaluate(o, 1);
  const auto* r = find(m.report(), reason_code::loop_stall);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->detail, "lcore 1: 1 iteration over the stall threshold, last 120.0 ms");
  EXPECT_EQ(m.report().state, health_state::degraded);
}

TEST(HealthModel, RatesAreScaledByTheInterval) {
  health_model m(th());
  auto o = calm();
  o.interval_s = 2;
  o.evictions = 200;  // 100/s: at the threshold, not over
  o.port_errors = 20;
  m.evaluate(o, 1);
  EXPECT_FALSE(has(m.report(), reason_code::memory_pressure));
  EXPECT_FALSE(has(m.report(), reason_code::port_errors));
  o.evictions = 202;
  o.port_errors = 21;
  m.evaluate(o, 2);
  EXPECT_TRUE(has(m.report(), reason_code::memory_pressure));
  EXPECT_TRUE(has(m.report(), reason_code::port_errors));
}

TEST(HealthModel, ZeroRateThresholdMeansAnyEvent) {
  auto t = th();
  t.memory_pressure_evictions_per_s = 0;
  health_model m(t);
  auto o = calm();
  m.evaluate(o, 1);
  EXPECT_FALSE(has(m.report(), reason_code::memory_pressure));
  o.evictions = 1;
  m.evaluate(o, 2);
  EXPECT_TRUE(has(m.report(), reason_code::memory_pressure));
}

TEST(HealthModel, ConnectionsNearTheLimit) {
  health_model m(th());
  auto o = calm();
  o.connections = 89;
  m.evaluate(o, 1);
  EXPECT_FALSE(has(m.report(), reason_code::connections_near_limit));
  o.connections = 90;  // 90%: at the threshold counts
  m.evaluate(o, 2);
  EXPECT_TRUE(has(m.report(), reason_code::connections_near_limit));
  EXPECT_EQ(find(m.report(), reason_code::connections_near_limit)->detail,
            "90 of 100 connections open (90.0%, threshold 90%)");
  health_model unlimited(th());
  o.max_connections = 0;  // no limit: never near it
  o.connections = 1'000'000;
  unlimited.evaluate(o, 1);
  EXPECT_FALSE(has(unlimited.report(), reason_code::connections_near_limit));
}

TEST(HealthModel, ZeroIntervalDoesNotDivideByZero) {
  health_model m(th());
  auto o = calm();
  o.interval_s = 0;
  o.evictions = 50;  // read as per 1 s
  m.evaluate(o, 1);
  EXPECT_FALSE(has(m.report(), reason_code::memory_pressure));
}

TEST(HealthModel, EveryReasonHasAStableName) {
  const char* want[] = {"canary_failed",
                        "canary_slow",
                        "loop_stall",
                        "storage",
                        "memory_pressure",
                        "port_errors",
                        "connections_near_limit",
                        "replication_lag"};
  for (std::size_t i = 0; i < kReasonCount; ++i)
    EXPECT_STREQ(to_string(static_cast<reason_code>(i)), want[i]);
  EXPECT_STREQ(to_string(health_state::ok), "ok");
  EXPECT_STREQ(to_string(health_state::degraded), "degraded");
  EXPECT_STREQ(to_string(health_state::failing), "failing");
}

// A replica of n1, caught up, its stream live (max_replica_lag 100).
replication_observation replica() {
  replication_observation r;
  r.replica = true;
  r.primary = "n1";
  r.max_lag_entries = 100;
  r.primary_alive = true;
  r.stream_idle_s = 0.1;
  return r;
}

TEST(HealthModelReplication, BehindByMoreThanMaxReplicaLagIsDegradedAtTheEdge) {
  health_model m(th());
  auto o = calm();
  o.replication = replica();
  o.replication.behind_entries = 100;  // exactly max_replica_lag: caught up, as for eligibility
  o.replication.lag_s = 30;            // seconds alone never raise it
  m.evaluate(o, 1000);
  EXPECT_EQ(m.report().state, health_state::ok);
  o.replication.behind_entries = 101;
  o.replication.lag_s = 2.54;
  const auto ch = m.evaluate(o, 2000);
  EXPECT_EQ(m.report().state, health_state::degraded);
  const auto* r = find(m.report(), reason_code::replication_lag);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->detail, "101 entries (2.5 s) behind primary n1 (max_replica_lag 100)");
  EXPECT_EQ(r->since_ms, 2000);
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch[0].what, health_change::kind::raised);
  EXPECT_EQ(ch[0].code, reason_code::replication_lag);
}

TEST(HealthModelReplication, MaxReplicaLagZeroMeansAnyEntryBehind) {
  health_model m(th());
  auto o = calm();
  o.replication = replica();
  o.replication.max_lag_entries = 0;
  m.evaluate(o, 1);
  EXPECT_FALSE(has(m.report(), reason_code::replication_lag));
  o.replication.behind_entries = 1;
  m.evaluate(o, 2);
  EXPECT_TRUE(has(m.report(), reason_code::replication_lag));
}

// During a copy the replica's position is 0: it is lag exactly when that is more than
// max_replica_lag behind, as for eligibility; the detail says it is a copy.
TEST(HealthModelReplication, AFullCopyIsLagWhenItLeavesTheReplicaTooFarBehind) {
  health_model m(th());
  auto o = calm();
  o.replication = replica();
  o.replication.full_copy = true;
  o.replication.primary = "";
  o.replication.behind_entries = 100;  // a small primary: caught up even while copying
  m.evaluate(o, 1);
  EXPECT_FALSE(has(m.report(), reason_code::replication_lag));
  o.replication.behind_entries = 101;
  m.evaluate(o, 2);
  const auto* r = find(m.report(), reason_code::replication_lag);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->detail,
            "full copy in progress from its primary: 101 entries behind (max_replica_lag 100)");
}

TEST(HealthModelReplication, ASilentStreamCountsOnlyWhileThePrimaryHeartbeats) {
  auto t = th();
  t.replication_stream_idle_s = 5;
  health_model m(t);
  auto o = calm();
  o.replication = replica();
  o.replication.stream_idle_s = 4.99;  // under the threshold
  m.evaluate(o, 1);
  EXPECT_FALSE(has(m.report(), reason_code::replication_lag));
  o.replication.primary_alive = false;  // a dead primary: the replica must stay eligible
  o.replication.stream_idle_s = 60;
  m.evaluate(o, 2);
  EXPECT_FALSE(has(m.report(), reason_code::replication_lag));
  o.replication.primary_alive = true;
  o.replication.stream_idle_s = 5;  // at the threshold
  m.evaluate(o, 3);
  const auto* r = find(m.report(), reason_code::replication_lag);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->detail, "no replication stream from primary n1 for 5.0 s (threshold 5.0 s)");
}

TEST(HealthModelReplication, ClearsOnlyAfterRecoverEvaluationsCaughtUp) {
  health_model m(th());  // recover_evaluations = 2
  auto o = calm();
  o.replication = replica();
  o.replication.behind_entries = 5000;
  m.evaluate(o, 1000);
  o.replication.behind_entries = 0;  // caught up
  EXPECT_TRUE(m.evaluate(o, 2000).empty());
  EXPECT_EQ(m.report().state, health_state::degraded);
  EXPECT_EQ(find(m.report(), reason_code::replication_lag)->since_ms, 1000);
  const auto ch = m.evaluate(o, 3000);
  EXPECT_EQ(m.report().state, health_state::ok);
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch[0].what, health_change::kind::cleared);
  EXPECT_EQ(ch[0].code, reason_code::replication_lag);
  EXPECT_EQ(ch[0].detail, "5000 entries (0.0 s) behind primary n1 (max_replica_lag 100)");
}

TEST(HealthModelReplication, NeverOnAPrimaryACandidateOrANodeWithoutCluster) {
  health_model m(th());
  auto o = calm();
  o.replication = replica();
  o.replication.replica = false;  // what the wiring says for every role but replica
  o.replication.full_copy = true;
  o.replication.behind_entries = UINT64_MAX;
  o.replication.stream_idle_s = 1e9;
  for (int i = 0; i < 3; ++i) m.evaluate(o, i);
  EXPECT_EQ(m.report().state, health_state::ok);
  health_model standalone(th());  // no [cluster]: the default observation
  standalone.evaluate(calm(), 1);
  EXPECT_FALSE(has(standalone.report(), reason_code::replication_lag));
}

}  // namespace
}  // namespace anvil::health
