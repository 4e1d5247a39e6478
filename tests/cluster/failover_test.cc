// Cluster agents (control/cluster/agent.h) against a real etcd on loopback: each node
// runs its agent in its own thread as the control thread would, and a monitor samples
// every node's vip_lease the whole time: two nodes must never hold the VIP at once.
// Outcomes are waited for with a bound, never timed.
#include "control/cluster/agent.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "tests/cluster/agent_harness.h"
#include "tests/support/etcd_process.h"

namespace anvil::cluster {
namespace {

using namespace std::chrono_literals;
using namespace test_harness;

class Failover : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::etcd_cluster::available()) GTEST_SKIP() << "no /usr/bin/etcd";
  }
};

TEST_F(Failover, ThreeNodesStartingTogetherElectExactlyOnePrimary) {
  test::etcd_cluster etcd(1);
  ASSERT_TRUE(etcd.wait_healthy());
  node a(config("a", etcd.endpoints(), "/t1")), b(config("b", etcd.endpoints(), "/t1")),
      c(config("c", etcd.endpoints(), "/t1"));
  dual_owner_monitor mon({&a, &b, &c});
  a.start();
  b.start();
  c.start();
  ASSERT_TRUE(eventually([&] { return primaries({&a, &b, &c}) == 1; }));
  std::this_thread::sleep_for(1500ms);  // longer than the TTL: renewals keep it
  EXPECT_EQ(primaries({&a, &b, &c}), 1);
  for (node* n : {&a, &b, &c}) {
    if (n->current() == role::primary) {
      EXPECT_EQ(n->status().epoch, 1) << n->id();
    }
  }
  EXPECT_EQ(mon.dual(), 0u);
  EXPECT_GT(mon.samples(), 100u);
  etcd_client client(etcd.endpoints());
  etcd_status st;
  const auto members = cluster_store(client, "/t1").members(etcd_client::duration(2000), st);
  ASSERT_TRUE(st.ok()) << st.detail;
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0], (member_info{"a", "dc1", "127.0.0.1:11312", "198.18.0.1"}));
}

TEST_F(Failover, AnUnrenewedLeaseFencesThePrimaryThenAReplicaTakesOverAndNothingFailsBack) {
  test::etcd_cluster etcd(1);
  ASSERT_TRUE(etcd.wait_healthy());
  node a(config("a", etcd.endpoints(), "/t2")), b(config("b", etcd.endpoints(), "/t2"));
  dual_owner_monitor mon({&a, &b});
  a.start();
  ASSERT_TRUE(eventually([&] { return a.current() == role::primary; }));
  b.start();
  std::this_thread::sleep_for(200ms);
  ASSERT_EQ(b.current(), role::replica);
  // a's control thread hangs: no keepalive, no step. Its VIP goes by time alone.
  a.pause(true);
  ASSERT_TRUE(eventually([&] { return !a.vip().holds(vip_lease::now_ms()); }, 3s))
      << "fenced by its deadline without any code of a running";
  const auto a_until = a.vip().until_ms();
  ASSERT_TRUE(eventually([&] { return b.current() == role::primary; }))
      << "b takes over once etcd expires a's lease";
  // Reported, not asserted: how long the VIP had no owner (TTL 1 s, margin 300 ms).
  std::printf("lease expiry: the VIP had no owner for %lld ms (a's deadline to b serving)\n",
              static_cast<long long>(vip_lease::now_ms() - a_until));
  EXPECT_EQ(b.status().epoch, 2);
  EXPECT_TRUE(b.vip().holds(vip_lease::now_ms()));
  // a comes back: it sees b's claim, stays replica, never takes the VIP again.
  a.pause(false);
  ASSERT_TRUE(eventually([&] { return a.current() == role::replica; }));
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(a.current(), role::replica);
  EXPECT_EQ(b.current(), role::primary);
  EXPECT_FALSE(a.vip().holds(vip_lease::now_ms()));
  EXPECT_EQ(mon.dual(), 0u);
}

TEST_F(Failover, ASlowPrimaryStepsDownOnlyWhenAHealthyReplicaHeartbeats) {
  test::etcd_cluster etcd(1);
  ASSERT_TRUE(etcd.wait_healthy());
  auto ca = config("a", etcd.endpoints(), "/t3"), cb = config("b", etcd.endpoints(), "/t3");
  ca.heartbeat_port = static_cast<std::uint16_t>(test::memcached_process::free_port(SOCK_DGRAM));
  cb.heartbeat_port = static_cast<std::uint16_t>(test::memcached_process::free_port(SOCK_DGRAM));
  ca.peers = {{"b", "127.0.0.1", cb.heartbeat_port}};
  cb.peers = {{"a", "127.0.0.1", ca.heartbeat_port}};
  node a(ca, true), b(cb, true);
  dual_owner_monitor mon({&a, &b});
  b.set_health(health_level::degraded);  // no healthy replica at first
  a.start();
  ASSERT_TRUE(eventually([&] { return a.current() == role::primary; }));
  b.start();
  a.set_health(health_level::degraded);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(a.current(), role::primary) << "degraded, but nobody healthier to take over";
  const auto transitions = a.status().transitions;
  b.set_health(health_level::ok);
  const auto healthy_at = vip_lease::now_ms();
  ASSERT_TRUE(eventually([&] { return b.current() == role::primary; }, 5s));
  std::printf("step-down: b serves %lld ms after it became healthy\n",
              static_cast<long long>(vip_lease::now_ms() - healthy_at));
  EXPECT_EQ(a.current(), role::replica);
  EXPECT_GT(a.status().transitions, transitions);
  EXPECT_NE(a.status().reason.find("stepping down"), std::string::npos) << a.status().reason;
  EXPECT_EQ(b.status().epoch, 2);
  // a recovers: no failback.
  a.set_health(health_level::ok);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(a.current(), role::replica);
  EXPECT_EQ(b.current(), role::primary);
  EXPECT_EQ(mon.dual(), 0u);
}

// The index of the member that is etcd's leader, or -1.
int leader_of(const test::etcd_cluster& etcd, int members) {
  for (int i = 0; i < members; ++i) {
    etcd_client c({etcd.endpoint(i)});
    auto s = c.member_status(etcd_client::duration(1000));
    if (s.status.ok() && s.leader != 0 && s.leader == s.member_id) return i;
  }
  return -1;
}

// A partition that leaves etcd's leader alone: it steps down (CheckQuorum) and nothing
// can be committed. The two followers are stopped (SIGSTOP), as if cut off.
TEST_F(Failover, EtcdLosingQuorumNoFailoverServeWhileTheLeaseHoldsFenceRecover) {
  test::etcd_cluster etcd(3);
  ASSERT_TRUE(etcd.wait_healthy());
  node a(config("a", etcd.endpoints(), "/t4")), b(config("b", etcd.endpoints(), "/t4"));
  dual_owner_monitor mon({&a, &b});
  a.start();
  ASSERT_TRUE(eventually([&] { return a.current() == role::primary; }));
  b.start();
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(b.current(), role::replica);
  const int leader = leader_of(etcd, 3);
  ASSERT_GE(leader, 0);
  for (int i = 0; i < 3; ++i)
    if (i != leader) etcd.stop(i);
  EXPECT_TRUE(a.vip().holds(vip_lease::now_ms())) << "etcd just went: the lease still holds";
  ASSERT_TRUE(eventually([&] { return a.current() == role::fenced; }, 5s));
  EXPECT_FALSE(a.vip().holds(vip_lease::now_ms()));
  EXPECT_FALSE(a.status().etcd_reachable) << "health can say why: " << a.status().etcd_error;
  std::this_thread::sleep_for(1000ms);
  EXPECT_NE(b.current(), role::primary) << "no failover without etcd";
  EXPECT_EQ(a.current(), role::fenced);
  for (int i = 0; i < 3; ++i)
    if (i != leader) etcd.resume(i);
  // A new etcd leader is elected and extends every lease ("promotion"): a's survived.
  ASSERT_TRUE(eventually([&] { return a.current() == role::primary; }, 15s))
      << "etcd is back and a's lease survived: a serves again (" << a.status().reason << ")";
  EXPECT_EQ(a.status().epoch, 1) << "the same epoch: nothing failed over";
  EXPECT_EQ(b.current(), role::replica);
  EXPECT_TRUE(a.vip().holds(vip_lease::now_ms()));
  EXPECT_EQ(mon.dual(), 0u);
}

// A different etcd failure: its leader and a follower pause (SIGSTOP: a VM freeze) and
// wake up together. The leader never lost its leadership from its own point of view, so
// it does not extend leases: it may find the primary's lease expired and revoke it. The
// primary fenced itself long before; a failover after etcd's return is then correct, and
// still never gives two owners.
TEST_F(Failover, AFrozenEtcdLeaderThatWakesUpMayExpireThePrimaryWhichHadFencedInTime) {
  test::etcd_cluster etcd(3);
  ASSERT_TRUE(etcd.wait_healthy());
  node a(config("a", etcd.endpoints(), "/t5")), b(config("b", etcd.endpoints(), "/t5"));
  dual_owner_monitor mon({&a, &b});
  a.start();
  ASSERT_TRUE(eventually([&] { return a.current() == role::primary; }));
  b.start();
  std::this_thread::sleep_for(300ms);
  const int leader = leader_of(etcd, 3);
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % 3;
  etcd.stop(leader);
  etcd.stop(follower);
  ASSERT_TRUE(eventually([&] { return a.current() == role::fenced; }, 5s));
  std::this_thread::sleep_for(1000ms);
  EXPECT_NE(b.current(), role::primary);
  etcd.resume(leader);
  etcd.resume(follower);
  ASSERT_TRUE(eventually([&] { return primaries({&a, &b}) == 1; }, 15s));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(primaries({&a, &b}), 1);
  EXPECT_EQ(mon.dual(), 0u);
}

}  // namespace
}  // namespace anvil::cluster
