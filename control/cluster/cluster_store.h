// The cluster's truth in etcd: members, shards, each shard's epoch and primary. Keys,
// under a configurable prefix (default "/anvil"):
//   <prefix>/members/<node>           {"id","zone","management","data"}   (no lease)
//   <prefix>/shards/<shard>/config    {"vip","zone"}                      (no lease)
//   <prefix>/shards/<shard>/epoch     "<n>": bumped by every change of primary, never reset
//   <prefix>/shards/<shard>/primary   {"node","epoch","vip"}   attached to the primary's lease
//   <prefix>/shards/<shard>/handover  {"to","from","epoch","force"}  a planned switchover,
//                                     on its own short lease: only "to" may claim meanwhile
// The primary key exists exactly while its lease holds: etcd deletes it when the lease
// expires or is revoked. A claim is one transaction: "the epoch key is unchanged since I
// read it (mod_revision) and there is no primary key" -> epoch+1 and primary = me, with
// my lease. Two candidates that read the same epoch cannot both succeed. The claim also
// compares the handover key: absent for an ordinary candidate, unchanged since read for
// the target (whose claim deletes it), so a switchover's target cannot be overtaken.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "control/cluster/etcd_client.h"
#include "control/cluster/role_machine.h"

namespace anvil::cluster {

struct member_info {
  std::string id{};
  std::string zone{};
  std::string management{};  // host:port of heartbeats / admin
  std::string data{};        // data-plane address
  bool operator==(const member_info&) const = default;
};

struct shard_info {
  std::string id{};
  std::string vip{};
  std::string zone{};  // the L2 segment the VIP can move in
  bool operator==(const shard_info&) const = default;
};

struct shard_read {
  etcd_status status;
  shard_view view;
  std::optional<shard_info> config;
};

struct claim_outcome {
  etcd_status status;
  bool won = false;
  std::int64_t epoch = 0;  // won: the new epoch; lost: the epoch etcd holds now
  std::string primary{};   // lost: who holds the shard (empty: nobody yet)
};

class cluster_store {
 public:
  using duration = etcd_client::duration;

  cluster_store(etcd_client& etcd, std::string prefix);

  std::string member_key(const std::string& node) const;
  std::string shard_key(const std::string& shard, const char* leaf) const;

  etcd_status register_member(const member_info& m, duration deadline);
  std::vector<member_info> members(duration deadline, etcd_status& status);
  // Creates the shard's config if absent; if present it must match (`error` naming the
  // difference otherwise), so two nodes never disagree silently on a VIP.
  etcd_status ensure_shard(const shard_info& s, duration deadline);
  shard_read read_shard(const std::string& shard, duration deadline);
  // `seen_handover_revision`: the mod revision of a handover key naming `node` that the
  // candidate read (its claim consumes it), or 0: the claim requires that there is none.
  claim_outcome claim(const std::string& shard, const std::string& node, const std::string& vip,
                      std::int64_t seen_epoch, std::int64_t seen_mod_revision, std::int64_t lease,
                      duration deadline, std::int64_t seen_handover_revision = 0);
  // A planned switchover's commit: if our primary record at `epoch` still stands, write the
  // handover key naming `target` on `handover_lease` and delete our primary key, at once.
  // `status.ok()` and !committed: etcd shows someone else (refused).
  struct handover_result {
    etcd_status status;
    bool committed = false;
  };
  handover_result hand_over(const std::string& shard, const std::string& node,
                            const std::string& vip, std::int64_t epoch, const std::string& target,
                            bool force, std::int64_t handover_lease, duration deadline);

 private:
  etcd_client& _etcd;
  std::string _prefix{};
};

// Exposed for the malformed-value tests.
std::optional<member_info> parse_member(const std::string& json_text);
std::optional<shard_info> parse_shard(const std::string& id, const std::string& json_text);
std::string to_json(const member_info& m);
std::string to_json(const shard_info& s);
std::optional<std::int64_t> parse_epoch(const std::string& text);
// The primary key's value, byte for byte (hand_over compares it).
std::string primary_record(const std::string& node, std::int64_t epoch, const std::string& vip);

}  // namespace anvil::cluster
