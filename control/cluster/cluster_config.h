// The [cluster] section of the configuration (docs/anvil.md, docs/cluster.md): who this
// node is in the HA cluster, where etcd is, the lease and fencing numbers, and the
// heartbeat peers. Off unless node_id is set; when it is, finish() requires the rest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "control/cluster/peer_table.h"

namespace anvil::cluster {

struct cluster_config {
  std::string node_id{};  // empty: clustering off
  std::string zone{};
  std::string shard = "default";
  std::string vip{};            // the shard's virtual IPv4 address
  std::string vip_zone{};       // the zone (L2 segment) of the VIP; empty: this node's zone
  std::string management_ip{};  // heartbeats bind here; advertised in etcd
  std::uint16_t heartbeat_port = 11312;
  std::int64_t heartbeat_interval_ms = 100;
  unsigned suspect_after = 3;  // missed heartbeats
  unsigned dead_after = 10;
  std::vector<std::string> etcd_endpoints;
  std::string etcd_prefix = "/anvil";
  std::int64_t etcd_timeout_ms = 500;
  std::int64_t lease_ttl_s = 2;
  std::int64_t fence_margin_ms = 500;
  std::uint64_t max_replica_lag = 10000;  // replication positions
  // Replication (control/replication/, docs/replication.md).
  std::uint16_t replication_port = 11313;          // TCP on management_ip: the primary listens
  bool replica_reads = false;                      // a replica's data plane answers reads
  std::uint32_t replication_ring_entries = 16384;  // per lcore, power of two
  std::uint32_t replication_log_mb = 64;           // the primary's outgoing log
  std::vector<peer_address> peers;
  bool configured = false;  // a [cluster] section was present

  bool enabled() const { return !node_id.empty(); }
};

// "name@10.0.0.2:11312" (port optional: `default_port`, 0 = the heartbeat_port that
// finish() fills in). nullopt if malformed.
std::optional<peer_address> parse_peer(const std::string& text, std::uint16_t default_port);
// After parsing: fills defaults that depend on other keys and checks the cross-field
// rules; returns "field: reason", or empty when valid.
std::string finish(cluster_config& c);

}  // namespace anvil::cluster
