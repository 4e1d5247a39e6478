#include "control/cluster/operator_checks.h"

#include <string>

namespace anvil::cluster {

namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

void zone_check(const std::string& node, const std::string& zone, const shard_facts& s,
                check_result& r) {
  if (zone == s.shard_zone) return;
  r.problems.push_back(node + " is in zone " + zone + " but the VIP's segment is zone " +
                       s.shard_zone);
  r.risks.push_back("the VIP moves to zone " + zone +
                    ", outside its L2 segment: clients reach it only after a routing or DNS "
                    "change to zone " +
                    zone);
}

void identity_check(const peer_facts& p, const shard_facts& s, check_result& r) {
  if (!p.configured) {
    r.problems.push_back(p.node + " is not a configured peer of this node");
    return;
  }
  if (p.live == liveness::unknown) {
    r.problems.push_back(p.node + " has never sent a heartbeat");
    return;
  }
  if (p.last.shard != s.shard)
    r.problems.push_back(p.node + " serves shard " + p.last.shard + ", not " + s.shard);
}

}  // namespace

check_result check_failover_target(const peer_facts& p, const shard_facts& s) {
  check_result r;
  identity_check(p, s, r);
  if (r.ok()) zone_check(p.node, p.last.zone, s, r);
  return r;
}

check_result check_promote_target(const peer_facts& p, const shard_facts& s) {
  check_result r;
  identity_check(p, s, r);
  if (!r.ok()) return r;
  if (p.live != liveness::alive)
    r.problems.push_back(p.node + " is " + to_string(p.live) + " (missed heartbeats)");
  if (p.last.node_role != role::replica)
    r.problems.push_back(p.node + " is " + to_string(p.last.node_role) + ", not a replica");
  if (p.last.health != health_level::ok) {
    r.problems.push_back(p.node + " is " + to_string(p.last.health) +
                         (p.last.reasons.empty() ? "" : " (" + joined(p.last.reasons) + ")"));
    r.risks.push_back("the new primary is " + std::string(to_string(p.last.health)) +
                      ": it may serve slowly or step down again");
  }
  zone_check(p.node, p.last.zone, s, r);
  if (p.last.replication_position < s.own_position) {
    const std::uint64_t behind = s.own_position - p.last.replication_position;
    if (behind > s.max_lag)
      r.problems.push_back(p.node + " is " + std::to_string(behind) +
                           " replication positions behind (max_replica_lag " +
                           std::to_string(s.max_lag) + ")");
    r.risks.push_back("writes acknowledged here but not yet replicated to " + p.node + " (up to " +
                      std::to_string(behind) + " positions) are lost");
  }
  return r;
}

bool handover_ready(const peer_facts& p, const shard_facts& s) {
  return p.configured && p.live == liveness::alive && p.last.shard == s.shard &&
         p.last.node_role == role::replica && p.last.health == health_level::ok &&
         p.last.replication_position >= s.own_position;
}

check_result check_promote_self(health_level health, const std::vector<std::string>& reasons,
                                bool caught_up, const std::string& own_zone, const shard_facts& s) {
  check_result r;
  if (health != health_level::ok) {
    r.problems.push_back(std::string("this node is ") + to_string(health) +
                         (reasons.empty() ? "" : " (" + joined(reasons) + ")"));
    r.risks.push_back(std::string("the new primary is ") + to_string(health) +
                      ": it may serve slowly or step down again");
  }
  if (!caught_up) {
    r.problems.push_back("this node's replication is behind the last primary");
    r.risks.push_back("writes the last primary acknowledged but did not replicate here are lost");
  }
  zone_check("this node", own_zone, s, r);
  return r;
}

std::optional<std::string> best_replica(const std::vector<peer_facts>& peers,
                                        const shard_facts& s) {
  const peer_facts* best = nullptr;
  for (const auto& p : peers) {
    if (!check_promote_target(p, s).ok()) continue;
    if (best == nullptr || p.last.replication_position > best->last.replication_position ||
        (p.last.replication_position == best->last.replication_position && p.node < best->node))
      best = &p;
  }
  if (best == nullptr) return std::nullopt;
  return best->node;
}

}  // namespace anvil::cluster
