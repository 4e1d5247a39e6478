// Planned switchover and operator actions (agent::submit: failover, promote, demote)
// with agents in threads against a real etcd on loopback, heartbeating each other over
// loopback UDP. A monitor samples every node's vip_lease the whole time: two owners at
// once is a failure. Outcomes are waited for with a bound, never timed.
#include <gtest/gtest.h>

#include <cstdio>

#include "tests/cluster/agent_harness.h"

namespace anvil::cluster {
namespace {

using namespace std::chrono_literals;
using namespace test_harness;
using code = operator_result::code;

class Switchover : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::etcd_cluster::available()) GTEST_SKIP() << "no /usr/bin/etcd";
  }
};

operator_result run(node& on, operator_request r) {
  auto f = on.submit(std::move(r));
  if (f.wait_for(15s) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within 15 s";
    return {};
  }
  return f.get();
}

operator_request failover(const std::string& to, std::int64_t timeout_ms = 3000) {
  return {.what = operator_request::kind::failover,
          .shard = "s1",
          .node = to,
          .timeout_ms = timeout_ms};
}

std::string text(const operator_result& r) {
  std::string s = std::string(to_string(r.outcome)) + ": " + r.message;
  for (const auto& p : r.problems) s += " | problem: " + p;
  for (const auto& p : r.risks) s += " | risk: " + p;
  return s;
}

// Every node has heard every other one (so targets can be judged).
bool all_heard(const std::vector<node*>& nodes) {
  for (auto* n : nodes)
    if (n->peers_alive() + 1 < nodes.size()) return false;
  return true;
}

TEST_F(Switchover, TenPlannedSwitchoversEachEndWithTheTargetPrimaryAtAHigherEpoch) {
  test::etcd_cluster etcd(1);
  ASSERT_TRUE(etcd.wait_healthy());
  auto cfg = mesh({"a", "b", "c"}, etcd.endpoints(), "/s1");
  node a(cfg[0], true), b(cfg[1], true), c(cfg[2], true);
  std::vector<node*> all{&a, &b, &c};
  dual_owner_monitor mon({&a, &b, &c});
  a.start();
  ASSERT_TRUE(eventually([&] { return a.current() == role::primary; }));
  b.start();
  c.start();
  ASSERT_TRUE(eventually([&] { return all_heard(all); }));
  node* primary = &a;
  std::int64_t epoch = a.status().epoch;
  for (int i = 0; i < 10; ++i) {
    // Back and forth between a and b, with c as the target every third time.
    node* target = i % 3 == 2 ? &c : (primary == &a ? &b : &a);
    if (target == primary) target = &b;
    ASSERT_TRUE(eventually([&] { return all_heard(all); }));
    const auto t0 = vip_lease::now_ms();
    const auto r = run(*primary, failover(target->id()));
    ASSERT_EQ(r.outcome, code::done)
        << "switchover " << i << " to " << target->id() << ": " << text(r);
    std::printf("switchover %d %s -> %s: %lld ms\n", i, primary->id().c_str(), target->id().c_str(),
                static_cast<long long>(vip_lease::now_ms() - t0));
    EXPECT_EQ(r.primary, target->id());
    EXPECT_GT(r.epoch, epoch);
    ASSERT_TRUE(eventually([&] { return target->current() == role::primary; }));
    EXPECT_EQ(target->status().epoch, r.epoch);
    EXPECT_TRUE(eventually([&] { return target->vip().holds(vip_lease::now_ms()); }));
    EXPECT_FALSE(target->vip().writes_paused());
    EXPECT_TRUE(target->vip().serves_as_primary()) << "the new primary's client gate is open";
    EXPECT_TRUE(eventually([&] { return primary->current() == role::replica; }));
    EXPECT_EQ(primaries(all), 1);
    EXPECT_FALSE(primary->vip().holds(vip_lease::now_ms()));
    EXPECT_FALSE(primary->vip().writes_paused()) << "the fence goes with the VIP";
    EXPECT_FALSE(primary->vip().serves_as_primary()) << "the old primary refuses key commands";
    epoch = r.epoch;
    primary = target;
  }
  EXPECT_EQ(epoch, 11) << "one epoch per switchover, none lost to an election race";
  EXPECT_EQ(mon.dual(), 0u);
  EXPECT_EQ(mon.dual_gates(), 0u) << "two nodes' client gates were open at once";
  EXPECT_GT(mon.samples(), 100u);
}

TEST_F(Switchover, ToABehindOrDeadTargetTimesOutAndThePrimaryKeepsServing) {
  test::etcd_cluster etcd(1);
  ASSERT_TRUE(etcd.wait_healthy());
  auto cfg = mesh({"a", "b", "c"}, etcd.endpoints(), "/s2");
  node a(cfg[0], true), b(cfg[1], true), c(cfg[2], true);  // c never starts: dead
  dual_owner_monitor mon({&a, &b, &c});
  a.set_position(100);
  b.set_position(99);  // one write behind
  a.start();
  ASSERT_TRUE(eventually([&] { return a.current() == role::primary; }));
  b.start();
  ASSERT_TRUE(eventually([&] { return a.peers_alive() == 1; }));
  auto r = run(a, failover("b", 400));
  EXPECT_EQ(r.outcome, code::timed_out) << text(r);
  EXPECT_NE(r.message.find("position 99 (ours 100)"), std::string::npos) << r.message;
  EXPECT_EQ(r.primary, "a");
  EXPECT_EQ(a.current(), role::primary);
  EXPECT_EQ(a.status().epoch, 1) << "nothing changed hands";
  EXPECT_TRUE(a.vip().holds(vip_lease::now_ms()));
  EXPECT_FALSE(a.vip().writes_paused()) << "writes resumed after the timeout";
  EXPECT_EQ(b.current(), role::replica);

  // A peer never heard from is refused at once; one heard and then gone times out.
  r = run(a, failover("c", 300));
  EXPECT_EQ(r.outcome, code::refused) << text(r);
  EXPECT_NE(r.problems.at(0).find("never sent a heartbeat"), std::string::npos) << text(r);
  c.start();
  ASSERT_TRUE(eventually([&] { return a.peers_alive() == 2; }));
  c.stop();  // c dies: its heartbeats stop
  ASSERT_TRUE(eventually([&] { return a.peers_alive() == 1; }));
  r = run(a, failover("c", 300));
  EXPECT_EQ(r.outcome, code::timed_out) << text(r);
  EXPECT_NE(r.message.find("(c is "), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("c is alive"), std::string::npos) << "suspect or dead: " << r.message;
  EXPECT_EQ(a.current(), role::primary);
  EXPECT_EQ(a.status().epoch, 1);
  EXPECT_FALSE(a.vip().writes_paused());

  // Caught up: the same switchover goes through.
  b.set_position(100);
  r = run(a, failover("b"));
  EXPECT_EQ(r.outcome, code::done) << text(r);
  ASSERT_TRUE(eventually([&] { return b.current() == role::primary; }));
  EXPECT_EQ(b.status().epoch, 2);
  EXPECT_EQ(mon.dual(), 0u);
}

TEST_F(Switchover, PromoteAndDemoteRefuseUnsafeTargetsAndForceSaysWhatItRisks) {
  test::etcd_cluster etcd(1);
  ASSERT_TRUE(etcd.wait_healthy());
  auto cfg = mesh({"a", "b", "c"}, etcd.endpoints(), "/s3");
  cfg[2].zone = "dc2";  // c is a warm copy in another data centre
  node a(cfg[0], true), b(cfg[1], true), c(cfg[2], true);
  std::vector<node*> all{&a, &b, &c};
  dual_owner_monitor mon({&a, &b, &c});
  a.set_position(100);
  b.set_position(100);
  c.set_position(100);
  a.start();
  ASSERT_TRUE(eventually([&] { return a.current() == role::primary; }));
  b.set_health(health_level::degraded);
  b.start();
  c.start();
  ASSERT_TRUE(eventually([&] { return all_heard(all); }));

  // Sent to a replica: it names the primary instead.
  auto r = run(b, {.what = operator_request::kind::promote, .node = "c"});
  EXPECT_EQ(r.outcome, code::not_here) << text(r);
  EXPECT_EQ(r.primary, "a");
  // A degraded replica and one in another zone are refused; nothing moves.
  r = run(a, {.what = operator_request::kind::promote, .node = "b"});
  EXPECT_EQ(r.outcome, code::refused) << text(r);
  EXPECT_NE(r.problems.at(0).find("b is degraded (canary_slow)"), std::string::npos) << text(r);
  r = run(a, {.what = operator_request::kind::promote, .node = "c"});
  EXPECT_EQ(r.outcome, code::refused) << text(r);
  EXPECT_NE(r.problems.at(0).find("zone dc2"), std::string::npos) << text(r);
  EXPECT_TRUE(r.risks.empty()) << "a refusal risked nothing";
  // Demote with no eligible replica (b degraded, c elsewhere) is refused too.
  r = run(a, {.what = operator_request::kind::demote, .node = "a"});
  EXPECT_EQ(r.outcome, code::refused) << text(r);
  EXPECT_EQ(a.current(), role::primary);
  EXPECT_EQ(a.status().epoch, 1);
  EXPECT_FALSE(a.vip().writes_paused());

  // b recovers: demote a hands over to it (the best replica in the zone).
  b.set_health(health_level::ok);
  ASSERT_TRUE(eventually([&] { return all_heard(all); }));
  std::this_thread::sleep_for(100ms);  // a's table sees b healthy
  r = run(a, {.what = operator_request::kind::demote, .node = "a"});
  EXPECT_EQ(r.outcome, code::done) << text(r);
  EXPECT_EQ(r.primary, "b");
  ASSERT_TRUE(eventually([&] { return b.current() == role::primary; }));
  // Demoting a replica is refused.
  r = run(a, {.what = operator_request::kind::demote, .node = "a"});
  EXPECT_EQ(r.outcome, code::refused) << text(r);

  // Forced promotion across zones: done, and the reply says what it risked.
  ASSERT_TRUE(eventually([&] { return all_heard(all); }));
  r = run(b, {.what = operator_request::kind::promote, .node = "c", .force = true});
  EXPECT_EQ(r.outcome, code::done) << text(r);
  ASSERT_FALSE(r.risks.empty());
  EXPECT_NE(r.risks[0].find("DNS"), std::string::npos) << text(r);
  ASSERT_TRUE(eventually([&] { return c.current() == role::primary; }));
  EXPECT_EQ(c.status().epoch, 3);
  EXPECT_EQ(primaries(all), 1);
  EXPECT_EQ(mon.dual(), 0u);
}

TEST_F(Switchover, PromotingAReplicaOfAnotherZoneWhenTheShardHasNoPrimaryNeedsForce) {
  test::etcd_cluster etcd(1);
  ASSERT_TRUE(etcd.wait_healthy());
  auto cfg = mesh({"a", "c"}, etcd.endpoints(), "/s4");
  cfg[1].zone = "dc2";
  node a(cfg[0], true), c(cfg[1], true);
  dual_owner_monitor mon({&a, &c});
  a.start();  // creates the shard in dc1
  ASSERT_TRUE(eventually([&] { return a.current() == role::primary; }));
  c.start();
  a.pause(true);  // dc1 is gone
  ASSERT_TRUE(eventually([&] { return !a.vip().holds(vip_lease::now_ms()); }, 3s));
  std::this_thread::sleep_for(2000ms);  // a's lease expired: the shard has no primary
  EXPECT_EQ(c.current(), role::replica) << "another zone never stands by itself";
  auto r = run(c, {.what = operator_request::kind::promote, .node = "c", .timeout_ms = 3000});
  EXPECT_EQ(r.outcome, code::refused) << text(r);
  EXPECT_EQ(c.current(), role::replica);
  r = run(
      c, {.what = operator_request::kind::promote, .node = "c", .force = true, .timeout_ms = 3000});
  EXPECT_EQ(r.outcome, code::done) << text(r);
  ASSERT_FALSE(r.risks.empty());
  EXPECT_NE(r.risks[0].find("zone dc2"), std::string::npos) << text(r);
  ASSERT_TRUE(eventually([&] { return c.current() == role::primary; }));
  EXPECT_EQ(c.status().epoch, 2);
  a.pause(false);
  ASSERT_TRUE(eventually([&] { return a.current() == role::replica; }));
  EXPECT_EQ(mon.dual(), 0u);
}

}  // namespace
}  // namespace anvil::cluster
