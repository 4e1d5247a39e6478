// Replicas refuse client traffic (issue 15, dataplane/proto/client_gate.h), with real
// anvil processes: the primary n0 serves its own address; replica n1 (replica_reads =
// true) refuses a write on its own address with 0x07 and serves a read of a key written
// through the VIP once it has been replicated; replica n2 (replica_reads = false) refuses
// both, and counts it in /metrics. After a planned switchover to n1, the old primary's
// own address refuses writes and the new primary's accepts them.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include "tests/ha/ha_harness.h"
#include "tests/support/netns.h"

namespace anvil::ha {
namespace {

using namespace std::chrono_literals;

constexpr std::uint32_t kNotMyVbucket = 0x07;

// A binary client of node i's own data address, from the client namespace.
std::unique_ptr<vip_client> own_address_client(const topology& t, int i) {
  const std::string ns = t.client_ns();
  return std::make_unique<vip_client>(t.node_data(i), 11211, 300ms, [ns] {
    return test::socket_in_netns(ns, AF_INET, SOCK_STREAM, 0);
  });
}

// The sample of `name` (a whole line's prefix, labels included) in a /metrics body; -1
// when absent.
long long metric(const std::string& body, const std::string& name) {
  const std::size_t at = body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(body.substr(at + name.size() + 2));
}

TEST(HaReplicaGate, ReplicasRefuseWritesAndServeReadsOnlyWithReplicaReads) {
  topology topo;
  topo.start_etcd();
  std::vector<std::unique_ptr<anvil_node>> nodes;
  nodes.push_back(std::make_unique<anvil_node>(topo, 0));
  nodes.push_back(std::make_unique<anvil_node>(
      topo, 1, node_options{.extra_config = "replica_reads = true\n"}));
  nodes.push_back(std::make_unique<anvil_node>(topo, 2));
  // n0 first, alone: it becomes the primary; then the two replicas join.
  nodes[0]->start();
  auto vip = topo.client(300ms);
  ASSERT_TRUE(eventually(
      [&] {
        return vip->serves() && topo.client_vip_owner() == 0 && nodes[0]->role() == "primary";
      },
      30s));
  nodes[1]->start();
  nodes[2]->start();

  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(eventually(
        [&] { return vip->set(test_key("g", i), test_value("g", i)) == op_result::ok; }, 5s))
        << "g" << i << " through the VIP: " << vip->last_error();

  // The primary serves its own address too.
  auto p = own_address_client(topo, 0);
  ASSERT_TRUE(eventually([&] { return p->set("own0", "x") == op_result::ok; }, 10s))
      << p->last_error();

  // n1, replica_reads = true: the replicated key is read, a write refused with 0x07.
  auto r1 = own_address_client(topo, 1);
  std::string v;
  ASSERT_TRUE(eventually([&] { return r1->get(test_key("g", 9), v) == op_result::ok; }, 30s))
      << "n1 never served the replicated key: status " << r1->last_status() << " "
      << r1->last_error();
  EXPECT_EQ(v, test_value("g", 9));
  EXPECT_EQ(r1->set("on-replica", "lost?"), op_result::failed);
  EXPECT_EQ(r1->last_status(), kNotMyVbucket) << r1->last_error();
  EXPECT_EQ(r1->get("on-replica", v), op_result::miss) << "the refused write was not stored";

  // n2, replica_reads = false: reads and writes refused, the connection stays usable.
  auto r2 = own_address_client(topo, 2);
  ASSERT_TRUE(eventually(
      [&] {
        r2->get(test_key("g", 0), v);
        return r2->last_status() != vip_client::kNoStatus;
      },
      30s))
      << r2->last_error();
  EXPECT_EQ(r2->last_status(), kNotMyVbucket);
  const std::uint64_t connects = r2->connects();
  EXPECT_EQ(r2->set("on-replica", "lost?"), op_result::failed);
  EXPECT_EQ(r2->last_status(), kNotMyVbucket);
  EXPECT_EQ(r2->get(test_key("g", 1), v), op_result::failed);
  EXPECT_EQ(r2->last_status(), kNotMyVbucket);
  EXPECT_EQ(r2->connects(), connects) << "a refusal does not close the connection";
  const http_reply m =
      http_request(topo.node_ns(2), topo.node_mgmt(2), 11311, "GET", "/metrics", "", "", 5s);
  ASSERT_EQ(m.status, 200);
  EXPECT_GE(metric(m.body, "anvil_requests_refused_total{reason=\"not_primary_write\"}"), 1);
  EXPECT_GE(metric(m.body, "anvil_requests_refused_total{reason=\"not_primary_read\"}"), 1);

  // A planned switchover to n1: the old primary's own address refuses writes from then
  // on, the new primary's accepts them.
  const std::string body = "{\"shard\":\"s1\",\"to\":\"n1\",\"timeout_ms\":5000}";
  http_reply reply;
  eventually(
      [&] {
        reply = http_request(topo.node_ns(0), topo.node_mgmt(0), 11311, "POST",
                             "/v1/cluster/failover", nodes[0]->admin_token(), body, 15s);
        return reply.status != 409;
      },
      15s);
  ASSERT_EQ(reply.status, 200) << reply.body;
  ASSERT_TRUE(eventually([&] { return vip->serves() && topo.client_vip_owner() == 1; }, 15s));
  EXPECT_EQ(p->set("own0", "y"), op_result::failed);
  EXPECT_EQ(p->last_status(), kNotMyVbucket) << p->last_error();
  EXPECT_EQ(r1->set("own1", "z"), op_result::ok) << r1->last_status() << " " << r1->last_error();
  EXPECT_EQ(r1->get("own0", v), op_result::ok) << "n0's write on its own address was replicated";
  EXPECT_EQ(v, "x");
}

}  // namespace
}  // namespace anvil::ha
