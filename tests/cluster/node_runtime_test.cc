// The cluster runtime anvil embeds (control/cluster/node_runtime.h) against a real etcd
// on loopback: it joins and becomes primary on its own thread, calls on_role_change
// with the primary's management address, publishes snapshots with the replication
// position, lends the data plane a gate that follows the lease, resigns (VIP released,
// lease revoked) on a clean stop; a shard configured differently in etcd refuses start,
// an unreachable etcd does not. The replication seam decides candidacy: a replica far
// behind the last primary's position does not take over until it has caught up.
// Outcomes are waited for with a bound, never timed.
#include "control/cluster/node_runtime.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "control/cluster/cluster_store.h"
#include "tests/support/etcd_process.h"
#include "tests/support/memcached_process.h"

namespace anvil::cluster {
namespace {

using namespace std::chrono_literals;

cluster_config config(const std::string& node, const std::vector<std::string>& endpoints,
                      const std::string& prefix) {
  cluster_config c;
  c.node_id = node;
  c.zone = "dc1";
  c.shard = "s1";
  c.vip = "198.18.0.100";
  c.management_ip = "127.0.0.1";
  c.heartbeat_port = static_cast<std::uint16_t>(test::memcached_process::free_port(SOCK_DGRAM));
  c.etcd_endpoints = endpoints;
  c.etcd_prefix = prefix;
  c.lease_ttl_s = 1;
  c.fence_margin_ms = 300;
  c.etcd_timeout_ms = 200;
  c.heartbeat_interval_ms = 20;
  c.suspect_after = 5;
  c.dead_after = 20;
  return c;
}

template <class F>
bool eventually(F f, std::chrono::milliseconds bound = 10s) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return f();
}

struct role_calls {
  std::mutex mu;
  std::vector<std::tuple<role, std::int64_t, std::string>> calls;
  void operator()(role r, std::int64_t e, std::string ip) {
    std::lock_guard lock(mu);
    calls.emplace_back(r, e, std::move(ip));
  }
  std::vector<std::tuple<role, std::int64_t, std::string>> get() {
    std::lock_guard lock(mu);
    return calls;
  }
};

class NodeRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::etcd_cluster::available()) GTEST_SKIP() << "no /usr/bin/etcd";
    _etcd = std::make_unique<test::etcd_cluster>(1);
    ASSERT_TRUE(_etcd->wait_healthy());
  }
  shard_read read(const std::string& prefix) {
    etcd_client etcd(_etcd->endpoints());
    cluster_store store(etcd, prefix);
    return store.read_shard("s1", 1000ms);
  }
  std::unique_ptr<test::etcd_cluster> _etcd;
};

TEST_F(NodeRuntime, BecomesPrimaryTellsTheSeamsAndResignsOnACleanStop) {
  role_calls calls;
  std::atomic<std::uint64_t> position{42};
  node_runtime rt(
      config("a", _etcd->endpoints(), "/rt1"), "198.18.0.1",
      [] {
        health_report h;
        h.canary_latency_us = 250;
        return h;
      },
      {.replication_position = [&] { return position.load(); }, .on_role_change = std::ref(calls)});
  ASSERT_EQ(rt.start(), "");
  ASSERT_TRUE(eventually([&] { return rt.snapshot().status.current == role::primary; }));
  const net::address_gate gate = rt.vip().gate(net::make_ip4(198, 18, 0, 100));
  const auto now_ns = [] { return vip_lease::now_ms() * net::kNsPerMs; };
  EXPECT_TRUE(gate.holds(now_ns())) << "the data plane's view follows the lease";
  EXPECT_EQ(gate.takes->load(), 1u);
  ASSERT_TRUE(eventually([&] { return rt.snapshot().status.primary == "a"; }));
  const runtime_snapshot s = rt.snapshot();
  EXPECT_TRUE(s.status.joined);
  EXPECT_TRUE(s.vip_held);
  EXPECT_GT(s.vip_remaining_ms, 0);
  EXPECT_LE(s.vip_remaining_ms, 1000 - 300);
  EXPECT_EQ(s.replication_position, 42u);
  EXPECT_EQ(s.health.canary_latency_us, 250u);
  EXPECT_EQ(s.status.shard_epoch, s.status.epoch);
  EXPECT_EQ(s.status.shard_zone, "dc1");
  ASSERT_TRUE(eventually([&] {
    const auto c = calls.get();
    return !c.empty() && std::get<0>(c.back()) == role::primary;
  }));
  const auto c = calls.get();
  EXPECT_EQ(std::get<1>(c.back()), s.status.epoch);
  EXPECT_EQ(std::get<2>(c.back()), "127.0.0.1") << "this node's own management address";

  const std::int64_t epoch = s.status.epoch;
  rt.stop(true);
  EXPECT_FALSE(gate.holds(now_ns())) << "released on the stop";
  const shard_read r = read("/rt1");
  ASSERT_TRUE(r.status.ok()) << r.status.detail;
  EXPECT_FALSE(r.view.has_primary) << "revoked, not left to expire";
  EXPECT_EQ(r.view.epoch, epoch);
}

TEST_F(NodeRuntime, AShardConfiguredDifferentlyInEtcdRefusesToStart) {
  {
    etcd_client etcd(_etcd->endpoints());
    cluster_store store(etcd, "/rt2");
    ASSERT_TRUE(
        store.ensure_shard({.id = "s1", .vip = "198.18.0.200", .zone = "dc1"}, 1000ms).ok());
  }
  node_runtime rt(config("a", _etcd->endpoints(), "/rt2"), "198.18.0.1", {});
  const std::string why = rt.start();
  EXPECT_NE(why.find("198.18.0.200"), std::string::npos) << why;
  EXPECT_FALSE(rt.vip().holds(vip_lease::now_ms()));
}

TEST_F(NodeRuntime, AnUnreachableEtcdDefersTheJoinAndNeverServes) {
  const int closed = test::memcached_process::free_port();  // nothing listens there
  node_runtime rt(config("a", {"http://127.0.0.1:" + std::to_string(closed)}, "/rt3"), "198.18.0.1",
                  {});
  ASSERT_EQ(rt.start(), "") << "not a refusal: etcd may come later";
  ASSERT_TRUE(eventually([&] { return rt.snapshot().status.etcd_failures >= 2; }));
  const runtime_snapshot s = rt.snapshot();
  EXPECT_FALSE(s.status.joined);
  EXPECT_FALSE(s.status.etcd_reachable);
  EXPECT_NE(s.status.etcd_error, "");
  EXPECT_EQ(s.status.current, role::replica);
  EXPECT_FALSE(s.vip_held);
}

TEST_F(NodeRuntime, AReplicaFarBehindTheLastPrimaryWaitsUntilItHasCaughtUp) {
  cluster_config ca = config("a", _etcd->endpoints(), "/rt4");
  cluster_config cb = config("b", _etcd->endpoints(), "/rt4");
  ca.max_replica_lag = cb.max_replica_lag = 10;
  ca.peers = {{"b", "127.0.0.1", cb.heartbeat_port}};
  cb.peers = {{"a", "127.0.0.1", ca.heartbeat_port}};
  std::atomic<std::uint64_t> pos_a{1000}, pos_b{0};
  node_runtime a(ca, "198.18.0.1", {},
                 {.replication_position = [&] { return pos_a.load(); }, .on_role_change = {}});
  ASSERT_EQ(a.start(), "");
  ASSERT_TRUE(eventually([&] { return a.snapshot().status.current == role::primary; }));
  node_runtime b(cb, "198.18.0.2", {},
                 {.replication_position = [&] { return pos_b.load(); }, .on_role_change = {}});
  ASSERT_EQ(b.start(), "");
  // b hears a as primary at position 1000.
  ASSERT_TRUE(eventually([&] {
    for (const auto& p : b.snapshot().peers)
      if (p.node == "a" && p.seen && p.last.node_role == role::primary &&
          p.last.replication_position == 1000)
        return true;
    return false;
  }));
  a.stop(true);  // a leaves cleanly: the shard has no primary at once
  ASSERT_TRUE(eventually([&] { return b.snapshot().status.primary.empty(); }));
  // 1000 - 0 > 10: b must not stand. Many reads pass (every 20 ms) while it waits.
  const std::uint64_t calls = b.snapshot().status.etcd_calls;
  ASSERT_TRUE(eventually([&] { return b.snapshot().status.etcd_calls >= calls + 20; }));
  EXPECT_EQ(b.snapshot().status.current, role::replica);
  EXPECT_EQ(b.snapshot().status.transitions, 0u);
  EXPECT_FALSE(b.vip().holds(vip_lease::now_ms()));
  pos_b = 990;  // exactly max_replica_lag behind: caught up
  ASSERT_TRUE(eventually([&] { return b.snapshot().status.current == role::primary; }));
  EXPECT_TRUE(b.vip().holds(vip_lease::now_ms()));
}

}  // namespace
}  // namespace anvil::cluster
