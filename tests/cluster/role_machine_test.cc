// role_machine, state by state and event by event (like tests/net/tcp_state_test.cc):
// each test builds a machine in a role and pokes it with one event at a chosen time.
#include "control/cluster/role_machine.h"

#include "control/cluster/vip_lease.h"

#include <gtest/gtest.h>

namespace anvil::cluster {
namespace {

using K = action::kind;
constexpr time_ms kTtl = 2000, kMargin = 500;  // renew every 500 ms, fence at 1500 ms

machine_params params() { return {.node = "a", .lease_ttl_ms = kTtl, .fence_margin_ms = kMargin}; }

shard_view no_primary(std::int64_t epoch = 0, std::int64_t mod = 0) {
  return {.epoch = epoch, .epoch_mod_revision = mod};
}
shard_view primary_view(const std::string& node, std::int64_t epoch, std::int64_t lease,
                        std::int64_t mod = 7) {
  return {.epoch = epoch,
          .epoch_mod_revision = mod,
          .has_primary = true,
          .primary = node,
          .primary_epoch = epoch,
          .primary_lease = lease};
}
local_inputs healthy() { return {}; }
local_inputs degraded(bool peer_ready) {
  return {.health = health_level::degraded, .healthy_peer_ready = peer_ready};
}

std::vector<K> kinds(const std::vector<action>& a) {
  std::vector<K> k;
  k.reserve(a.size());
  for (const auto& x : a) k.push_back(x.what);
  return k;
}

// A machine that won epoch `epoch` with lease 42 granted (sent) at t=1000.
role_machine primary_at(std::int64_t epoch = 5) {
  role_machine m(params());
  m.on_view(1000, no_primary(epoch - 1, 3), healthy());
  m.on_lease_granted(1000, 1000, 42, kTtl);
  auto a = m.on_claim_result(1010, true, epoch);
  EXPECT_EQ(m.current(), role::primary);
  return m;
}

TEST(RoleMachine, RenewIntervalLeavesThreeKeepalivesBeforeFencing) {
  EXPECT_EQ(params().renew_interval_ms(), 500);
  machine_params tight{.node = "a", .lease_ttl_ms = 1000, .fence_margin_ms = 999};
  EXPECT_EQ(tight.renew_interval_ms(), 1) << "never 0: a zero interval would renew every tick";
}

// --- replica ---

TEST(RoleMachine, ReplicaSeeingNoPrimaryBecomesCandidateAndAsksForALease) {
  role_machine m(params());
  EXPECT_EQ(m.current(), role::replica);
  auto a = m.on_view(0, no_primary(3, 17), healthy());
  EXPECT_EQ(kinds(a), std::vector<K>{K::grant_lease});
  EXPECT_EQ(m.current(), role::candidate);
}

TEST(RoleMachine, ReplicaThatIsNotEligibleStaysReplica) {
  for (local_inputs in : {local_inputs{.health = health_level::degraded},
                          local_inputs{.health = health_level::failing},
                          local_inputs{.caught_up = false}, local_inputs{.in_shard_zone = false}}) {
    role_machine m(params());
    EXPECT_TRUE(m.on_view(0, no_primary(), in).empty());
    EXPECT_EQ(m.current(), role::replica);
  }
}

TEST(RoleMachine, ReplicaWithALivePrimaryDoesNothingNoFailback) {
  role_machine m(params());
  EXPECT_TRUE(m.on_view(0, primary_view("b", 4, 99), healthy()).empty());
  EXPECT_TRUE(m.tick(100000, healthy()).empty());
  EXPECT_EQ(m.current(), role::replica);
}

TEST(RoleMachine, RestartedFormerPrimaryRevokesItsStaleClaimAndStaysReplica) {
  role_machine m(params());
  auto a = m.on_view(0, primary_view("a", 4, 99), healthy());
  ASSERT_EQ(kinds(a), std::vector<K>{K::revoke_lease});
  EXPECT_EQ(a[0].lease, 99);
  EXPECT_EQ(m.current(), role::replica);
}

TEST(RoleMachine, ReplicaIgnoresEtcdUnreachableAndTicks) {
  role_machine m(params());
  EXPECT_TRUE(m.on_etcd_unreachable(0).empty());
  EXPECT_TRUE(m.tick(10, healthy()).empty());
  EXPECT_EQ(m.current(), role::replica);
}

// --- candidate ---

TEST(RoleMachine, CandidateClaimsWithTheEpochItSaw) {
  role_machine m(params());
  m.on_view(0, no_primary(3, 17), healthy());
  auto a = m.on_lease_granted(5, 0, 42, kTtl);
  ASSERT_EQ(kinds(a), std::vector<K>{K::claim});
  EXPECT_EQ(a[0].lease, 42);
  EXPECT_EQ(a[0].epoch, 3);
  EXPECT_EQ(a[0].mod_revision, 17);
}

TEST(RoleMachine, CandidateThatWinsTakesTheVipUntilSendPlusTtlMinusMargin) {
  role_machine m(params());
  m.on_view(1000, no_primary(3, 17), healthy());
  m.on_lease_granted(1020, 1000, 42, kTtl);
  auto a = m.on_claim_result(1030, true, 4);
  ASSERT_EQ(kinds(a), std::vector<K>{K::take_vip});
  EXPECT_EQ(a[0].epoch, 4);
  EXPECT_EQ(a[0].until, 1000 + kTtl - kMargin) << "from when the grant was sent, not received";
  EXPECT_EQ(m.current(), role::primary);
  EXPECT_EQ(m.epoch(), 4);
}

TEST(RoleMachine, CompetingCandidateThatLosesRevokesItsLeaseAndIsReplica) {
  role_machine m(params());
  m.on_view(0, no_primary(3, 17), healthy());
  m.on_lease_granted(1, 0, 42, kTtl);
  auto a = m.on_claim_result(2, false, 0);
  ASSERT_EQ(kinds(a), std::vector<K>{K::revoke_lease});
  EXPECT_EQ(a[0].lease, 42);
  EXPECT_EQ(m.current(), role::replica);
  EXPECT_EQ(m.lease(), 0);
}

TEST(RoleMachine, CandidateLosesWhenEtcdBecomesUnreachable) {
  role_machine m(params());
  m.on_view(0, no_primary(), healthy());
  m.on_lease_granted(1, 0, 42, kTtl);
  auto a = m.on_etcd_unreachable(2);
  EXPECT_EQ(kinds(a), std::vector<K>{K::revoke_lease});
  EXPECT_EQ(m.current(), role::replica);
}

TEST(RoleMachine, CandidateWhoseGrantFailedIsReplica) {
  role_machine m(params());
  m.on_view(0, no_primary(), healthy());
  EXPECT_TRUE(m.on_lease_grant_failed(1).empty());
  EXPECT_EQ(m.current(), role::replica);
}

TEST(RoleMachine, AGrantThatTookLongerThanTtlMinusMarginIsGivenBack) {
  role_machine m(params());
  m.on_view(0, no_primary(), healthy());
  auto a = m.on_lease_granted(kTtl - kMargin, 0, 42, kTtl);  // exactly at the fence deadline
  EXPECT_EQ(kinds(a), std::vector<K>{K::revoke_lease});
  EXPECT_EQ(m.current(), role::replica);
}

TEST(RoleMachine, AClaimWonTooLateDoesNotServe) {
  role_machine m(params());
  m.on_view(0, no_primary(), healthy());
  m.on_lease_granted(10, 0, 42, kTtl);
  auto a = m.on_claim_result(kTtl - kMargin, true, 1);
  EXPECT_TRUE(a.empty()) << "no take_vip";
  EXPECT_EQ(m.current(), role::fenced);
  EXPECT_EQ(m.epoch(), 1);
}

TEST(RoleMachine, ALeaseGrantedAfterCandidacyEndedIsRevoked) {
  role_machine m(params());
  auto a = m.on_lease_granted(0, 0, 77, kTtl);
  ASSERT_EQ(kinds(a), std::vector<K>{K::revoke_lease});
  EXPECT_EQ(a[0].lease, 77);
  EXPECT_EQ(m.current(), role::replica);
  EXPECT_TRUE(m.on_claim_result(1, true, 9).empty()) << "a stray claim result is ignored";
  EXPECT_EQ(m.current(), role::replica);
}

// --- primary ---

TEST(RoleMachine, PrimaryRenewsOnceAtTheIntervalNotAgainWhilePending) {
  auto m = primary_at();
  EXPECT_TRUE(m.tick(1000 + 499, healthy()).empty());
  auto a = m.tick(1000 + 500, healthy());
  ASSERT_EQ(kinds(a), std::vector<K>{K::renew_lease});
  EXPECT_EQ(a[0].lease, 42);
  EXPECT_TRUE(m.tick(1000 + 600, healthy()).empty()) << "one keepalive in flight";
  m.on_renew_failed(1000 + 700);
  EXPECT_EQ(kinds(m.tick(1000 + 701, healthy())), std::vector<K>{K::renew_lease}) << "retry";
}

TEST(RoleMachine, RenewalExtendsTheVipFromWhenTheKeepaliveWasSent) {
  auto m = primary_at();
  m.tick(1500, healthy());
  auto a = m.on_renewed(1600, 1500, kTtl);
  ASSERT_EQ(kinds(a), std::vector<K>{K::extend_vip});
  EXPECT_EQ(a[0].until, 1500 + kTtl - kMargin);
  EXPECT_EQ(m.fence_deadline(), 3000);
  // A late reply to an older keepalive never moves the deadline back.
  m.on_renewed(1700, 1200, kTtl);
  EXPECT_EQ(m.fence_deadline(), 3000);
}

TEST(RoleMachine, AKeepaliveReplyAfterTheDeadlineFencesAndResumesOnlyThroughARead) {
  auto m = primary_at();  // deadline 2500
  ASSERT_EQ(kinds(m.tick(1500, healthy())), std::vector<K>{K::renew_lease});
  // The process stalled: the reply to the keepalive sent at 1500 is read at 2600.
  auto a = m.on_renewed(2600, 1500, kTtl);
  EXPECT_EQ(kinds(a), std::vector<K>{K::release_vip}) << "no extend of a lapsed VIP";
  EXPECT_EQ(m.current(), role::fenced);
  auto b = m.on_view(2610, primary_view("a", 5, 42), healthy());
  ASSERT_EQ(kinds(b), std::vector<K>{K::take_vip});
  EXPECT_EQ(b[0].until, 1500 + kTtl - kMargin);
  EXPECT_EQ(m.current(), role::primary);
}

TEST(VipLease, HoldsUntilItsDeadlineAndALateExtendNeverRevivesIt) {
  vip_lease v;
  EXPECT_FALSE(v.holds(0)) << "nobody owns it at first";
  v.take(3, 100);
  EXPECT_EQ(v.epoch(), 3);
  EXPECT_TRUE(v.holds(99));
  EXPECT_FALSE(v.holds(100));
  v.extend(150, 50);
  EXPECT_TRUE(v.holds(149));
  v.extend(120, 60);
  EXPECT_EQ(v.until_ms(), 150) << "never moves back";
  v.extend(500, 150);
  EXPECT_FALSE(v.holds(151)) << "lapsed at 150: an extend at 150 does not revive it";
  v.take(4, 400);
  EXPECT_TRUE(v.holds(200));
  v.release();
  EXPECT_FALSE(v.holds(200));
  EXPECT_FALSE(v.holds(INT64_MIN));
}

// The client gate the handlers read (dataplane/proto/client_gate.h) follows the VIP:
// closed while joining, open from take(), fenced by pause_writes(), closed by release()
// with the fence dropped in the same store.
TEST(VipLease, TheClientGateIsOpenExactlyWhileTheVipIsTaken) {
  namespace g = proto::gate;
  vip_lease v;
  EXPECT_EQ(v.client_gate().load(), g::kNotPrimary) << "closed while joining";
  EXPECT_FALSE(v.serves_as_primary());
  v.take(1, 100);
  EXPECT_EQ(v.client_gate().load(), g::kOpen);
  EXPECT_TRUE(v.serves_as_primary());
  v.pause_writes();
  EXPECT_EQ(v.client_gate().load(), g::kWritesPaused);
  EXPECT_TRUE(v.writes_paused());
  EXPECT_TRUE(v.serves_as_primary()) << "fenced writes, reads still served as the primary";
  v.resume_writes();
  EXPECT_EQ(v.client_gate().load(), g::kOpen);
  v.pause_writes();
  v.release();  // a switchover: fenced, then the VIP goes
  EXPECT_EQ(v.client_gate().load(), g::kNotPrimary) << "the fence turns into 'not primary'";
  EXPECT_FALSE(v.writes_paused());
  EXPECT_FALSE(v.serves_as_primary());
  v.resume_writes();  // a late resume does not reopen a replica
  EXPECT_EQ(v.client_gate().load(), g::kNotPrimary);
  v.take(2, 200);  // primary again (e.g. fenced -> primary after a confirming read)
  EXPECT_EQ(v.client_gate().load(), g::kOpen);
  EXPECT_FALSE(v.holds(300)) << "the VIP lapses by time; the gate waits for release()";
  EXPECT_EQ(v.client_gate().load(), g::kOpen);
  v.release();
  EXPECT_EQ(v.client_gate().load(), g::kNotPrimary);
}

TEST(RoleMachine, PrimaryFencesItselfWhenTheLeaseWasNotRenewedForTtlMinusMargin) {
  auto m = primary_at();
  const time_ms deadline = 1000 + kTtl - kMargin;
  m.tick(deadline - 1, healthy());
  EXPECT_EQ(m.current(), role::primary) << "one ms before the deadline it still serves";
  auto a = m.tick(deadline, healthy());
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a[0].what, K::release_vip);
  EXPECT_EQ(m.current(), role::fenced);
  EXPECT_NE(m.reason().find("not renewed"), std::string::npos) << m.reason();
}

TEST(RoleMachine, EtcdUnreachablePrimaryServesWhileTheLeaseHoldsThenFences) {
  auto m = primary_at();
  EXPECT_TRUE(m.on_etcd_unreachable(1200).empty());
  EXPECT_EQ(m.current(), role::primary);
  for (time_ms t = 1500; t < 2500; t += 100) {
    for (auto& a : m.tick(t, healthy()))
      if (a.what == K::renew_lease) m.on_renew_failed(t + 50);
    EXPECT_EQ(m.current(), role::primary) << t;
  }
  auto a = m.tick(2500, healthy());
  EXPECT_EQ(a.front().what, K::release_vip);
  EXPECT_EQ(m.current(), role::fenced);
}

TEST(RoleMachine, PrimaryWhoseLeaseIsGoneReleasesTheVipAndIsReplica) {
  auto m = primary_at();
  auto a = m.on_lease_gone(1200);
  EXPECT_EQ(kinds(a), std::vector<K>{K::release_vip});
  EXPECT_EQ(m.current(), role::replica);
  EXPECT_EQ(m.lease(), 0);
}

TEST(RoleMachine, DegradedPrimaryStepsDownReleasingTheVipBeforeRevoking) {
  auto m = primary_at();
  auto a = m.tick(1100, degraded(true));
  ASSERT_EQ(kinds(a), (std::vector<K>{K::release_vip, K::revoke_lease}));
  EXPECT_EQ(a[1].lease, 42);
  EXPECT_EQ(m.current(), role::replica);
  // Still degraded: it does not run for the shard again.
  EXPECT_TRUE(m.on_view(1200, no_primary(5, 9), degraded(false)).empty());
  EXPECT_EQ(m.current(), role::replica);
}

TEST(RoleMachine, FailingPrimaryStepsDownToo) {
  auto m = primary_at();
  auto a = m.tick(1100, {.health = health_level::failing, .healthy_peer_ready = true});
  EXPECT_EQ(kinds(a), (std::vector<K>{K::release_vip, K::revoke_lease}));
}

TEST(RoleMachine, DegradedPrimaryWithoutAHealthyReplicaKeepsServing) {
  auto m = primary_at();
  EXPECT_TRUE(m.tick(1100, degraded(false)).empty());
  EXPECT_EQ(m.current(), role::primary);
}

TEST(RoleMachine, PrimaryThatSeesAnotherPrimaryInEtcdStepsDown) {
  auto m = primary_at(5);
  auto a = m.on_view(1100, primary_view("b", 6, 77), healthy());
  EXPECT_EQ(kinds(a), (std::vector<K>{K::release_vip, K::revoke_lease}));
  EXPECT_EQ(m.current(), role::replica);
}

TEST(RoleMachine, PrimaryWhoseKeyVanishedFromEtcdStepsDown) {
  auto m = primary_at(5);
  auto a = m.on_view(1100, no_primary(5, 9), healthy());
  EXPECT_EQ(kinds(a), (std::vector<K>{K::release_vip, K::revoke_lease}));
  EXPECT_EQ(m.current(), role::replica);
}

TEST(RoleMachine, PrimaryKeepsServingWhileEtcdShowsItsOwnClaim) {
  auto m = primary_at(5);
  EXPECT_TRUE(m.on_view(1100, primary_view("a", 5, 42), healthy()).empty());
  EXPECT_EQ(m.current(), role::primary);
  // The same node at the same epoch but with a different lease is not our claim.
  auto a = m.on_view(1200, primary_view("a", 5, 43), healthy());
  EXPECT_EQ(a.front().what, K::release_vip);
}

TEST(RoleMachine, StaleEpochPrimaryFencesOnAPeerHeartbeatWithAHigherEpoch) {
  auto m = primary_at(5);
  EXPECT_TRUE(m.on_peer_primary(1100, "b", 5).empty()) << "same epoch: not newer";
  EXPECT_TRUE(m.on_peer_primary(1100, "b", 4).empty());
  EXPECT_TRUE(m.on_peer_primary(1100, "a", 9).empty()) << "our own echo";
  auto a = m.on_peer_primary(1100, "b", 6);
  EXPECT_EQ(kinds(a), std::vector<K>{K::release_vip});
  EXPECT_EQ(m.current(), role::fenced);
}

// --- fenced ---

role_machine fenced_at() {
  auto m = primary_at(5);
  // The deadline (2500) passes with no renewal; the keepalive sent with it fails too.
  for (const auto& a : m.tick(2500, healthy()))
    if (a.what == K::renew_lease) m.on_renew_failed(2550);
  EXPECT_EQ(m.current(), role::fenced);
  return m;
}

TEST(RoleMachine, FencedKeepsTryingToRenewAndResumesOnlyWhenEtcdConfirms) {
  auto m = fenced_at();
  auto a = m.tick(2600, healthy());
  ASSERT_EQ(kinds(a), std::vector<K>{K::renew_lease});
  EXPECT_TRUE(m.on_renewed(2700, 2600, kTtl).empty()) << "no VIP before a read confirms";
  EXPECT_EQ(m.current(), role::fenced);
  auto b = m.on_view(2800, primary_view("a", 5, 42), healthy());
  ASSERT_EQ(kinds(b), std::vector<K>{K::take_vip});
  EXPECT_EQ(b[0].until, 2600 + kTtl - kMargin);
  EXPECT_EQ(m.current(), role::primary);
  EXPECT_EQ(m.epoch(), 5);
}

TEST(RoleMachine, FencedDoesNotResumeOnAReadAloneWithoutARenewal) {
  auto m = fenced_at();
  EXPECT_TRUE(m.on_view(2800, primary_view("a", 5, 42), healthy()).empty());
  EXPECT_EQ(m.current(), role::fenced);
}

TEST(RoleMachine, FencedWhoseLeaseIsGoneIsReplica) {
  auto m = fenced_at();
  EXPECT_TRUE(m.on_lease_gone(2700).empty()) << "the VIP was released when it fenced";
  EXPECT_EQ(m.current(), role::replica);
}

TEST(RoleMachine, FencedThatSeesAnotherPrimaryIsReplica) {
  auto m = fenced_at();
  auto a = m.on_view(2700, primary_view("b", 6, 77), healthy());
  EXPECT_EQ(kinds(a), std::vector<K>{K::revoke_lease});
  EXPECT_EQ(m.current(), role::replica);
}

TEST(RoleMachine, FencedAndDegradedWithAHealthyReplicaStepsDownInsteadOfResuming) {
  auto m = fenced_at();
  m.tick(2600, degraded(true));
  m.on_renewed(2700, 2600, kTtl);
  auto a = m.on_view(2800, primary_view("a", 5, 42), degraded(true));
  EXPECT_EQ(kinds(a), std::vector<K>{K::revoke_lease});
  EXPECT_EQ(m.current(), role::replica);
}

TEST(RoleMachine, EveryRoleHasAName) {
  EXPECT_STREQ(to_string(role::replica), "replica");
  EXPECT_STREQ(to_string(role::candidate), "candidate");
  EXPECT_STREQ(to_string(role::primary), "primary");
  EXPECT_STREQ(to_string(role::fenced), "fenced");
  EXPECT_STREQ(to_string(health_level::degraded), "degraded");
  EXPECT_STREQ(to_string(K::take_vip), "take_vip");
}

}  // namespace
}  // namespace anvil::cluster
