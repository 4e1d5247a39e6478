// The [cluster] section through the real config loader: defaults, a full valid section,
// and one refusal per rule, each naming the field.
#include "control/cluster/cluster_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "control/config.h"

namespace anvil::cluster {
namespace {

constexpr const char* kNetwork = "[network]\ninterface = \"anv-s\"\nip = \"198.18.0.1\"\n";
constexpr const char* kCluster =
    "[cluster]\nnode_id = \"a\"\nzone = \"dc1\"\nvip = \"198.18.0.100\"\n"
    "management_ip = \"10.1.0.1\"\netcd_endpoints = [\"http://10.1.0.10:2379\"]\n";

control::server_config load(const std::string& toml) {
  char tmpl[] = "/tmp/anvil-cluster-config-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  ::close(fd);
  std::ofstream(tmpl) << kNetwork << toml;
  struct remove_at_exit {
    const char* p;
    ~remove_at_exit() { std::remove(p); }
  } cleanup{tmpl};
  return control::load_config({"anvil", "--config", tmpl});
}

std::string refusal(const std::string& toml) {
  try {
    load(toml);
  } catch (const control::config_error& e) {
    return e.what();
  }
  return "accepted";
}

TEST(ClusterConfig, OffByDefault) {
  const auto c = load("").cluster;
  EXPECT_FALSE(c.enabled());
  EXPECT_EQ(c.lease_ttl_s, 2);
  EXPECT_EQ(c.fence_margin_ms, 500);
  EXPECT_EQ(c.heartbeat_interval_ms, 100);
  EXPECT_EQ(c.heartbeat_port, 11312);
  EXPECT_EQ(c.etcd_prefix, "/anvil");
  EXPECT_EQ(c.shard, "default");
  EXPECT_EQ(c.replication_port, 11313);
  EXPECT_FALSE(c.replica_reads);
  EXPECT_EQ(c.replication_ring_entries, 16384u);
  EXPECT_EQ(c.replication_log_mb, 64u);
}

TEST(ClusterConfig, ReplicationKeys) {
  const auto c = load(std::string(kCluster) +
                      "replication_port = 7100\nreplica_reads = true\n"
                      "replication_ring_entries = 2\nreplication_log_mb = 1\n")
                     .cluster;
  EXPECT_EQ(c.replication_port, 7100);
  EXPECT_TRUE(c.replica_reads);
  EXPECT_EQ(c.replication_ring_entries, 2u);
  EXPECT_EQ(c.replication_log_mb, 1u);
  EXPECT_EQ(load(std::string(kCluster) + "replication_ring_entries = 1048576\n")
                .cluster.replication_ring_entries,
            1048576u);
  // The largest accepted values (one past each is refused below).
  const auto top = load(std::string(kCluster) +
                        "replication_port = 65535\nreplication_log_mb = 65536\n"
                        "max_replica_lag = 9223372036854775807\n")
                       .cluster;
  EXPECT_EQ(top.replication_port, 65535);
  EXPECT_EQ(top.replication_log_mb, 65536u);
  EXPECT_EQ(top.max_replica_lag, 9223372036854775807u);
}

TEST(ClusterConfig, AFullSectionParses) {
  const auto c = load(std::string(kCluster) +
                      "shard = \"s1\"\nheartbeat_port = 7000\nheartbeat_interval_ms = 50\n"
                      "suspect_after = 2\ndead_after = 4\netcd_prefix = \"/prod\"\n"
                      "etcd_timeout_ms = 300\nlease_ttl_s = 1\nfence_margin_ms = 100\n"
                      "max_replica_lag = 0\n"
                      "peers = [\"b@10.1.0.2\", \"c@10.1.0.3:7001\"]\n")
                     .cluster;
  EXPECT_TRUE(c.enabled());
  EXPECT_EQ(c.node_id, "a");
  EXPECT_EQ(c.zone, "dc1");
  EXPECT_EQ(c.shard, "s1");
  EXPECT_EQ(c.vip, "198.18.0.100");
  EXPECT_EQ(c.management_ip, "10.1.0.1");
  EXPECT_EQ(c.etcd_endpoints, std::vector<std::string>{"http://10.1.0.10:2379"});
  EXPECT_EQ(c.etcd_prefix, "/prod");
  EXPECT_EQ(c.lease_ttl_s, 1);
  EXPECT_EQ(c.fence_margin_ms, 100);
  EXPECT_EQ(c.etcd_timeout_ms, 300);
  EXPECT_EQ(c.suspect_after, 2u);
  EXPECT_EQ(c.dead_after, 4u);
  EXPECT_EQ(c.max_replica_lag, 0u);
  ASSERT_EQ(c.peers.size(), 2u);
  EXPECT_EQ(c.peers[0], (peer_address{"b", "10.1.0.2", 7000})) << "default: heartbeat_port";
  EXPECT_EQ(c.peers[1], (peer_address{"c", "10.1.0.3", 7001}));
}

TEST(ClusterConfig, EachRuleRefusesNamingTheField) {
  const std::string base = kCluster;
  const std::string no_etcd = base.substr(0, base.find("etcd_endpoints"));
  struct bad {
    std::string toml, field;
  };
  const std::vector<bad> cases = {
      {"[cluster]\nzone = \"dc1\"\n", "cluster.node_id"},
      {"[cluster]\nnode_id = \"a\"\n", "cluster.zone"},
      {"[cluster]\nnode_id = \"a\"\nzone = \"z\"\n", "cluster.vip"},
      {"[cluster]\nnode_id = \"a\"\nzone = \"z\"\nvip = \"10.0.0.1\"\n", "cluster.management_ip"},
      {"[cluster]\nnode_id = \"a\"\nzone = \"z\"\nvip = \"10.0.0.1\"\nmanagement_ip = "
       "\"10.0.0.2\"\n",
       "cluster.etcd_endpoints"},
      {"[cluster]\nnode_id = \"a b\"\n", "cluster.node_id"},
      {"[cluster]\nnode_id = \"" + std::string(33, 'n') + "\"\n", "cluster.node_id"},
      {"[cluster]\nnode_id = \"\"\n", "cluster.node_id"},
      {"[cluster]\nvip = \"10.0.0\"\n", "cluster.vip"},
      {"[cluster]\nnode_id = 5\n", "cluster.node_id"},
      {base + "lease_ttl_s = 0\n", "cluster.lease_ttl_s"},
      {base + "lease_ttl_s = 61\n", "cluster.lease_ttl_s"},
      {base + "fence_margin_ms = 2000\n", "cluster.fence_margin_ms"},
      {base + "fence_margin_ms = 0\n", "cluster.fence_margin_ms"},
      {base + "etcd_timeout_ms = 501\n", "cluster.etcd_timeout_ms"},
      {base + "heartbeat_interval_ms = 9\n", "cluster.heartbeat_interval_ms"},
      {base + "heartbeat_port = 0\n", "cluster.heartbeat_port"},
      {base + "heartbeat_port = 65536\n", "cluster.heartbeat_port"},
      {base + "suspect_after = 5\ndead_after = 4\n", "cluster.dead_after"},
      {base + "etcd_prefix = \"anvil\"\n", "cluster.etcd_prefix"},
      {no_etcd + "etcd_endpoints = []\n", "cluster.etcd_endpoints"},
      {no_etcd + "etcd_endpoints = [\"\"]\n", "cluster.etcd_endpoints"},
      {no_etcd + "etcd_endpoints = \"http://x\"\n", "cluster.etcd_endpoints"},
      {base + "peers = [\"b\"]\n", "cluster.peers"},
      {base + "peers = [\"b@10.1.0\"]\n", "cluster.peers"},
      {base + "peers = [\"b@10.1.0.2:0\"]\n", "cluster.peers"},
      {base + "peers = [\"b@10.1.0.2:65536\"]\n", "cluster.peers"},
      {base + "peers = [\"@10.1.0.2\"]\n", "cluster.peers"},
      {base + "peers = [\"a@10.1.0.2\"]\n", "cluster.peers"},
      {base + "peers = [\"b@10.1.0.2\", \"b@10.1.0.3\"]\n", "cluster.peers"},
      {base + "max_replica_lag = -1\n", "cluster.max_replica_lag"},
      {base + "colour = \"red\"\n", "cluster.colour"},
      {base + "replication_port = 0\n", "cluster.replication_port"},
      {base + "replication_port = 65536\n", "cluster.replication_port"},
      {base + "replication_port = 11312\n", "cluster.replication_port"},  // = heartbeats
      {base + "replica_reads = 1\n", "cluster.replica_reads"},
      {base + "replication_ring_entries = 1\n", "cluster.replication_ring_entries"},
      {base + "replication_ring_entries = 3\n", "cluster.replication_ring_entries"},
      {base + "replication_ring_entries = 1048577\n", "cluster.replication_ring_entries"},
      {base + "replication_ring_entries = 2097152\n", "cluster.replication_ring_entries"},
      {base + "replication_log_mb = 0\n", "cluster.replication_log_mb"},
      {base + "replication_log_mb = 65537\n", "cluster.replication_log_mb"},
  };
  for (const auto& c : cases) {
    const std::string why = refusal(c.toml);
    EXPECT_EQ(why.rfind(c.field + ":", 0), 0u) << c.toml << " -> " << why;
  }
}

TEST(ClusterConfig, TheVipMustDifferFromTheNodesOwnAddress) {
  std::string same = kCluster;
  same.replace(same.find("198.18.0.100"), 12, "198.18.0.1");
  const std::string why = refusal(same);
  EXPECT_EQ(why.rfind("cluster.vip:", 0), 0u) << why;
  EXPECT_NE(why.find("network.ip"), std::string::npos) << why;
  EXPECT_EQ(refusal(kCluster), "accepted");
}

TEST(ClusterConfig, ATtlOfOneSecondAllowsOnlyAShortEtcdTimeout) {
  // (1000 - 300) / 3 = 233 ms: three keepalives must fit before fencing.
  EXPECT_EQ(refusal(std::string(kCluster) +
                    "lease_ttl_s = 1\nfence_margin_ms = 300\netcd_timeout_ms = 233\n"),
            "accepted");
  EXPECT_NE(refusal(std::string(kCluster) +
                    "lease_ttl_s = 1\nfence_margin_ms = 300\netcd_timeout_ms = 234\n"),
            "accepted");
}

TEST(ClusterConfig, TheVipZoneDefaultsToTheNodesZoneAndMayNameAnother) {
  EXPECT_EQ(load(kCluster).cluster.vip_zone, "dc1");
  const auto c = load(std::string(kCluster) + "vip_zone = \"dc2\"\n").cluster;
  EXPECT_EQ(c.vip_zone, "dc2");
  EXPECT_EQ(c.zone, "dc1");
  EXPECT_NE(refusal(std::string(kCluster) + "vip_zone = \"\"\n").find("cluster.vip_zone"),
            std::string::npos);
  EXPECT_NE(refusal(std::string(kCluster) + "vip_zone = \"d c\"\n").find("cluster.vip_zone"),
            std::string::npos);
}

TEST(ClusterConfig, PeerParsing) {
  EXPECT_EQ(parse_peer("b@10.0.0.2:1", 9), (peer_address{"b", "10.0.0.2", 1}));
  EXPECT_EQ(parse_peer("b@10.0.0.2", 9), (peer_address{"b", "10.0.0.2", 9}));
  EXPECT_EQ(parse_peer("b@10.0.0.2:65535", 9)->port, 65535);
  EXPECT_FALSE(parse_peer("b@10.0.0.2:", 9));
  EXPECT_FALSE(parse_peer("b@10.0.0.2:x", 9));
  EXPECT_FALSE(parse_peer("b@host:1", 9));
  EXPECT_FALSE(parse_peer("b/c@10.0.0.2", 9));
  EXPECT_FALSE(parse_peer("", 9));
}

}  // namespace
}  // namespace anvil::cluster
