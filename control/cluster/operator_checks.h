// The safety checks behind the operator actions (failover, promote, demote): pure
// functions of what the heartbeats say about a peer and what this node knows about
// itself, so every refusal is unit-tested (tests/cluster/operator_checks_test.cc).
//
// A check yields `problems` (why the action is refused without --force) and, when it is
// forced anyway, `risks` (what the operator accepts: lost writes, a VIP that clients must
// be re-pointed to). An action with problems runs only if forced, and its reply lists
// the risks it took.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "control/cluster/heartbeat.h"
#include "control/cluster/peer_table.h"

namespace anvil::cluster {

// What the shard and this node look like when the action is checked.
struct shard_facts {
  std::string shard{};       // this node's shard
  std::string shard_zone{};  // the zone (L2 segment) of the shard's VIP
  std::uint64_t own_position = 0;
  std::uint64_t max_lag = 0;  // [cluster] max_replica_lag
};

// A peer as its last heartbeat describes it; `seen` false: never heard from.
struct peer_facts {
  std::string node{};
  bool configured = false;  // one of [cluster] peers
  liveness live = liveness::unknown;
  heartbeat last{};
};

struct check_result {
  std::vector<std::string> problems;
  std::vector<std::string> risks;
  bool ok() const { return problems.empty(); }
};

// Promoting `p` (handing the shard to it): alive, a replica of this shard, healthy, in
// the VIP's zone, at most max_lag behind.
check_result check_promote_target(const peer_facts& p, const shard_facts& s);
// A planned switchover to `p` (failover --to): the static part only (a configured peer
// of this shard, in the VIP's zone). Liveness, health and catching up are waited for.
check_result check_failover_target(const peer_facts& p, const shard_facts& s);
// Whether a switchover may hand over to `p` now: alive, a replica of this shard,
// healthy, at or past our replication position.
bool handover_ready(const peer_facts& p, const shard_facts& s);
// Promoting this node itself while the shard has no primary.
check_result check_promote_self(health_level health, const std::vector<std::string>& reasons,
                                bool caught_up, const std::string& own_zone, const shard_facts& s);
// The replica a demoted primary hands over to: ready-to-promote peers (no problems),
// highest replication position first, then by name; nullopt if none.
std::optional<std::string> best_replica(const std::vector<peer_facts>& peers, const shard_facts& s);

}  // namespace anvil::cluster
