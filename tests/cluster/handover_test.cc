// The planned switchover in role_machine (begin_handover, the handover key, forced
// candidacy), transition by transition like role_machine_test.cc, and the operator
// safety checks (operator_checks.h) refusal by refusal.
#include <gtest/gtest.h>

#include "control/cluster/operator_checks.h"
#include "control/cluster/role_machine.h"

namespace anvil::cluster {
namespace {

using K = action::kind;
constexpr time_ms kTtl = 2000, kMargin = 500;  // renew at 1500, fence at 2500 (granted at 1000)

machine_params params() { return {.node = "a", .lease_ttl_ms = kTtl, .fence_margin_ms = kMargin}; }

std::vector<K> kinds(const std::vector<action>& a) {
  std::vector<K> k;
  for (const auto& x : a) k.push_back(x.what);
  return k;
}

shard_view no_primary(std::int64_t epoch = 4, std::int64_t mod = 3) {
  return {.epoch = epoch, .epoch_mod_revision = mod};
}
shard_view handover_view(const std::string& to, std::int64_t rev, bool force = false) {
  shard_view v = no_primary();
  v.handover_to = to;
  v.handover_mod_revision = rev;
  v.handover_force = force;
  return v;
}
shard_view mine(std::int64_t epoch = 5) {
  return {.epoch = epoch,
          .epoch_mod_revision = 9,
          .has_primary = true,
          .primary = "a",
          .primary_epoch = epoch,
          .primary_lease = 42};
}
local_inputs ready() { return {.handover_target_ready = true}; }
local_inputs not_ready() { return {}; }

role_machine primary_at(std::int64_t epoch = 5) {
  role_machine m(params());
  m.on_view(1000, no_primary(epoch - 1), {});
  m.on_lease_granted(1000, 1000, 42, kTtl);
  m.on_claim_result(1010, true, epoch);
  EXPECT_EQ(m.current(), role::primary);
  return m;
}

role_machine handing_over(time_ms until = 1400, bool force = false) {
  role_machine m = primary_at();
  std::vector<action> out;
  EXPECT_TRUE(m.begin_handover(1100, "b", until, force, out));
  return m;
}

TEST(Handover, BeginPausesWritesAndKeepsServingTheVip) {
  role_machine m = primary_at();
  std::vector<action> out;
  ASSERT_TRUE(m.begin_handover(1100, "b", 1400, false, out));
  EXPECT_EQ(kinds(out), std::vector<K>{K::pause_writes});
  EXPECT_EQ(m.current(), role::primary);
  EXPECT_TRUE(m.handing_over());
  EXPECT_EQ(m.handover_target(), "b");
  EXPECT_EQ(m.handover_ending(), handover_end::none);
}

TEST(Handover, BeginIsRefusedUnlessPrimaryToAnotherNodeAndNotAlreadyRunning) {
  std::vector<action> out;
  role_machine replica(params());
  EXPECT_FALSE(replica.begin_handover(0, "b", 100, false, out));
  role_machine p = primary_at();
  EXPECT_FALSE(p.begin_handover(1100, "a", 1400, false, out)) << "to itself";
  EXPECT_FALSE(p.begin_handover(1100, "", 1400, false, out)) << "to nobody";
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(p.begin_handover(1100, "b", 1400, false, out));
  out.clear();
  EXPECT_FALSE(p.begin_handover(1100, "c", 1400, false, out)) << "one at a time";
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(p.handover_target(), "b");
}

TEST(Handover, WaitsForTheTargetThenTimesOutResumingWritesAndStayingPrimary) {
  role_machine m = handing_over(1400);
  EXPECT_TRUE(m.tick(1200, not_ready()).empty());
  EXPECT_TRUE(m.tick(1399, not_ready()).empty()) << "one ms before the bound";
  EXPECT_EQ(kinds(m.tick(1400, not_ready())), std::vector<K>{K::resume_writes});
  EXPECT_EQ(m.current(), role::primary);
  EXPECT_FALSE(m.handing_over());
  EXPECT_EQ(m.handover_ending(), handover_end::timed_out);
  EXPECT_NE(m.handover_end_reason().find("timed out"), std::string::npos);
  // A target ready after the bound changes nothing: the switchover is over.
  EXPECT_TRUE(m.tick(1450, ready()).empty());
}

TEST(Handover, AZeroWaitTimesOutAtTheFirstTickEvenIfTheTargetIsReady) {
  role_machine m = handing_over(1100);
  EXPECT_EQ(kinds(m.tick(1100, ready())), std::vector<K>{K::resume_writes});
  EXPECT_EQ(m.current(), role::primary);
}

TEST(Handover, AReadyTargetGetsTheShardAfterTheVipIsReleased) {
  role_machine m = handing_over(1400, true);
  auto a = m.tick(1200, ready());
  ASSERT_EQ(kinds(a), (std::vector<K>{K::release_vip, K::hand_over}));
  EXPECT_EQ(a[1],
            (action{.what = K::hand_over, .lease = 42, .epoch = 5, .node = "b", .force = true}));
  EXPECT_TRUE(m.tick(1210, ready()).empty()) << "the handover goes out once";
  EXPECT_TRUE(m.tick(1500, ready()).size() == 1) << "the lease is still renewed meanwhile";
}

TEST(Handover, DoneMakesAReplicaThatRevokesItsLease) {
  role_machine m = handing_over();
  m.tick(1200, ready());
  auto a = m.on_handover_result(1210, handover_outcome::done);
  EXPECT_EQ(a, (std::vector<action>{{.what = K::revoke_lease, .lease = 42}}));
  EXPECT_EQ(m.current(), role::replica);
  EXPECT_EQ(m.handover_ending(), handover_end::handed_over);
  EXPECT_EQ(m.lease(), 0);
  // It does not stand while the handover key names b, and not while b is primary.
  EXPECT_TRUE(m.on_view(1300, handover_view("b", 50), {}).empty());
  EXPECT_EQ(m.current(), role::replica);
}

TEST(Handover, RefusedByEtcdMakesAReplicaToo) {
  role_machine m = handing_over();
  m.tick(1200, ready());
  EXPECT_EQ(kinds(m.on_handover_result(1210, handover_outcome::refused)),
            std::vector<K>{K::revoke_lease});
  EXPECT_EQ(m.current(), role::replica);
  EXPECT_EQ(m.handover_ending(), handover_end::abandoned);
}

TEST(Handover, AnUnknownOutcomeFencesAndResumesOnlyIfEtcdStillShowsUs) {
  role_machine m = handing_over();
  m.tick(1200, ready());
  EXPECT_TRUE(m.on_handover_result(1210, handover_outcome::unknown).empty());
  EXPECT_EQ(m.current(), role::fenced);
  EXPECT_TRUE(m.on_view(1220, mine(), {}).empty()) << "no renewal yet: no resume";
  EXPECT_EQ(kinds(m.tick(1500, {})), std::vector<K>{K::renew_lease});
  m.on_renewed(1510, 1500, kTtl);
  auto a = m.on_view(1520, mine(), {});
  EXPECT_EQ(kinds(a), std::vector<K>{K::take_vip});
  EXPECT_EQ(m.current(), role::primary);
  // The other way: the handover did commit, our key is gone.
  role_machine n = handing_over();
  n.tick(1200, ready());
  n.on_handover_result(1210, handover_outcome::unknown);
  EXPECT_EQ(kinds(n.on_view(1220, handover_view("b", 50), {})), std::vector<K>{K::revoke_lease});
  EXPECT_EQ(n.current(), role::replica);
}

TEST(Handover, AResultForANodeThatIsNoLongerPrimaryOrFencedIsIgnored) {
  role_machine m(params());
  EXPECT_TRUE(m.on_handover_result(0, handover_outcome::done).empty());
  EXPECT_EQ(m.current(), role::replica);
}

TEST(Handover, FencingDuringASwitchoverAbandonsIt) {
  role_machine m = handing_over(5000);
  auto a = m.tick(2500, not_ready());  // deadline 1000 + 2000 - 500
  EXPECT_EQ(a.front().what, K::release_vip);
  EXPECT_EQ(m.current(), role::fenced);
  EXPECT_FALSE(m.handing_over());
  EXPECT_EQ(m.handover_ending(), handover_end::abandoned);
}

TEST(Handover, OtherReplicasDoNotStandWhileTheHandoverKeyNamesSomeoneElse) {
  role_machine m(params());
  EXPECT_TRUE(m.on_view(0, handover_view("b", 50), {}).empty());
  EXPECT_EQ(m.current(), role::replica);
  m.force_candidacy(1000);
  EXPECT_TRUE(m.on_view(0, handover_view("b", 50), {}).empty()) << "not even a forced promote";
  // Once the key is gone (claimed or expired), an ordinary election.
  EXPECT_EQ(kinds(m.on_view(10, no_primary(), {})), std::vector<K>{K::grant_lease});
}

TEST(Handover, TheTargetStandsAndItsClaimConsumesTheHandoverKey) {
  role_machine m(params());
  EXPECT_EQ(kinds(m.on_view(0, handover_view("a", 77), {})), std::vector<K>{K::grant_lease});
  EXPECT_EQ(m.current(), role::candidate);
  auto a = m.on_lease_granted(5, 0, 9, kTtl);
  EXPECT_EQ(
      a,
      (std::vector<action>{
          {.what = K::claim, .lease = 9, .epoch = 4, .mod_revision = 3, .handover_revision = 77}}));
}

TEST(Handover, AnOrdinaryCandidateClaimsExpectingNoHandoverKey) {
  role_machine m(params());
  m.on_view(0, no_primary(), {});
  auto a = m.on_lease_granted(5, 0, 9, kTtl);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].handover_revision, 0);
}

TEST(Handover, AnIneligibleTargetStandsOnlyWhenTheHandoverIsForced) {
  const local_inputs other_zone{.in_shard_zone = false};
  role_machine m(params());
  EXPECT_TRUE(m.on_view(0, handover_view("a", 77), other_zone).empty());
  EXPECT_EQ(kinds(m.on_view(0, handover_view("a", 77, true), other_zone)),
            std::vector<K>{K::grant_lease});
}

TEST(Handover, AForcedCandidacyStandsOnceAndOnlyUntilItsBound) {
  const local_inputs sick{.health = health_level::degraded, .caught_up = false};
  role_machine m(params());
  m.force_candidacy(1000);
  EXPECT_EQ(kinds(m.on_view(999, no_primary(), sick)), std::vector<K>{K::grant_lease});
  EXPECT_NE(m.reason().find("promoted by an operator"), std::string::npos) << m.reason();
  m.on_lease_grant_failed(1000);
  EXPECT_TRUE(m.on_view(1001, no_primary(), sick).empty()) << "used up";
  role_machine late(params());
  late.force_candidacy(1000);
  EXPECT_TRUE(late.on_view(1000, no_primary(), sick).empty()) << "at the bound: over";
}

TEST(Handover, NewActionKindsHaveNames) {
  EXPECT_STREQ(to_string(K::pause_writes), "pause_writes");
  EXPECT_STREQ(to_string(K::resume_writes), "resume_writes");
  EXPECT_STREQ(to_string(K::hand_over), "hand_over");
}

// --- operator checks ---

shard_facts facts(std::uint64_t own = 100, std::uint64_t max_lag = 10) {
  return {.shard = "s1", .shard_zone = "dc1", .own_position = own, .max_lag = max_lag};
}
peer_facts good(std::uint64_t pos = 100) {
  peer_facts p{.node = "b", .configured = true, .live = liveness::alive};
  p.last.node = "b";
  p.last.zone = "dc1";
  p.last.shard = "s1";
  p.last.node_role = role::replica;
  p.last.replication_position = pos;
  return p;
}

TEST(OperatorChecks, AHealthyCaughtUpReplicaInTheZoneMayBePromotedWithoutRisk) {
  auto r = check_promote_target(good(), facts());
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.risks.empty());
  EXPECT_TRUE(check_promote_target(good(150), facts()).risks.empty()) << "ahead of us";
  EXPECT_TRUE(check_promote_target(good(5), facts(0)).ok()) << "0 - 5 must not underflow";
}

TEST(OperatorChecks, EveryReasonToRefuseAPromotionIsNamed) {
  auto with = [](auto change) {
    peer_facts p = good();
    change(p);
    return check_promote_target(p, facts());
  };
  auto says = [](const check_result& r, const std::string& what) {
    for (const auto& p : r.problems)
      if (p.find(what) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(says(with([](peer_facts& p) { p.configured = false; }), "not a configured peer"));
  EXPECT_TRUE(says(with([](peer_facts& p) { p.live = liveness::unknown; }), "never sent"));
  EXPECT_TRUE(says(with([](peer_facts& p) { p.live = liveness::dead; }), "is dead"));
  EXPECT_TRUE(says(with([](peer_facts& p) { p.live = liveness::suspect; }), "is suspect"));
  EXPECT_TRUE(says(with([](peer_facts& p) { p.last.shard = "s2"; }), "serves shard s2"));
  EXPECT_TRUE(says(with([](peer_facts& p) { p.last.node_role = role::primary; }), "not a replica"));
  auto sick = with([](peer_facts& p) {
    p.last.health = health_level::degraded;
    p.last.reasons = {"canary_slow", "storage_degraded"};
  });
  EXPECT_TRUE(says(sick, "degraded (canary_slow,storage_degraded)"));
  auto far = with([](peer_facts& p) { p.last.zone = "dc2"; });
  EXPECT_TRUE(says(far, "zone dc2"));
  ASSERT_FALSE(far.risks.empty());
  EXPECT_NE(far.risks[0].find("DNS"), std::string::npos) << far.risks[0];
}

TEST(OperatorChecks, LagWithinMaxIsARiskAndOnePastIsARefusal) {
  auto at_max = check_promote_target(good(90), facts(100, 10));
  EXPECT_TRUE(at_max.ok());
  ASSERT_EQ(at_max.risks.size(), 1u);
  EXPECT_NE(at_max.risks[0].find("up to 10 positions"), std::string::npos) << at_max.risks[0];
  auto past = check_promote_target(good(89), facts(100, 10));
  EXPECT_FALSE(past.ok());
  EXPECT_NE(past.problems[0].find("11 replication positions behind"), std::string::npos);
  EXPECT_NE(past.risks[0].find("are lost"), std::string::npos);
}

TEST(OperatorChecks, AFailoverTargetIsCheckedForIdentityAndZoneOnly) {
  peer_facts behind_and_sick = good(0);
  behind_and_sick.live = liveness::dead;
  behind_and_sick.last.health = health_level::failing;
  EXPECT_TRUE(check_failover_target(behind_and_sick, facts()).ok()) << "waited for, not refused";
  peer_facts far = good();
  far.last.zone = "dc2";
  EXPECT_FALSE(check_failover_target(far, facts()).ok());
  peer_facts stranger = good();
  stranger.configured = false;
  EXPECT_FALSE(check_failover_target(stranger, facts()).ok());
}

TEST(OperatorChecks, HandoverIsReadyOnlyAtOrPastOurPosition) {
  EXPECT_TRUE(handover_ready(good(100), facts(100)));
  EXPECT_TRUE(handover_ready(good(101), facts(100)));
  EXPECT_FALSE(handover_ready(good(99), facts(100))) << "one behind: a write would be lost";
  EXPECT_TRUE(handover_ready(good(0), facts(0))) << "no replication: everyone at 0";
  peer_facts p = good();
  p.live = liveness::suspect;
  EXPECT_FALSE(handover_ready(p, facts()));
  p = good();
  p.last.health = health_level::degraded;
  EXPECT_FALSE(handover_ready(p, facts()));
  p = good();
  p.last.node_role = role::candidate;
  EXPECT_FALSE(handover_ready(p, facts()));
}

TEST(OperatorChecks, PromotingOneselfNamesHealthLagAndZone) {
  EXPECT_TRUE(check_promote_self(health_level::ok, {}, true, "dc1", facts()).ok());
  auto r = check_promote_self(health_level::failing, {"engine_down"}, false, "dc2", facts());
  EXPECT_EQ(r.problems.size(), 3u);
  EXPECT_EQ(r.risks.size(), 3u);
  EXPECT_NE(r.problems[0].find("failing (engine_down)"), std::string::npos);
}

TEST(OperatorChecks, TheBestReplicaIsTheFurthestAheadEligibleOne) {
  peer_facts b = good(100), c = good(100), d = good(120);
  c.node = "c";
  d.node = "d";
  d.last.health = health_level::degraded;  // ahead, but not eligible
  EXPECT_EQ(best_replica({c, b, d}, facts()), "b") << "tie: by name";
  c.last.replication_position = 101;
  EXPECT_EQ(best_replica({b, c, d}, facts()), "c");
  EXPECT_EQ(best_replica({d}, facts()), std::nullopt);
  EXPECT_EQ(best_replica({}, facts()), std::nullopt);
}

}  // namespace
}  // namespace anvil::cluster
