#include "control/admin/cluster_status.h"

#include <string>

namespace anvil::control::admin {

using json = nlohmann::json;
using cluster::liveness;
using cluster::role;

namespace {

constexpr role kRoles[] = {role::replica, role::candidate, role::primary, role::fenced};
constexpr liveness kLiveness[] = {liveness::unknown, liveness::alive, liveness::suspect,
                                  liveness::dead};

// A peer that could take over the shard now: alive, a replica of this shard in the
// VIP's zone, healthy, and at most max_replica_lag behind this node.
bool healthy_replica(const cluster::runtime_snapshot& s, const cluster::peer_view& p) {
  if (p.state != liveness::alive) return false;
  const auto& hb = p.last;
  if (hb.shard != s.shard || hb.node_role != role::replica) return false;
  if (hb.health != cluster::health_level::ok) return false;
  if (!s.status.shard_zone.empty() && hb.zone != s.status.shard_zone) return false;
  return hb.replication_position >= s.replication_position ||
         s.replication_position - hb.replication_position <= s.max_replica_lag;
}

}  // namespace

json cluster_json(const cluster::runtime_snapshot& s) {
  const auto& st = s.status;
  json peers = json::array();
  for (const auto& p : s.peers) {
    json j = {{"node", p.node},
              {"address", p.host},
              {"heartbeat_port", p.port},
              {"state", to_string(p.state)},
              {"seen", p.seen},
              {"age_ms", p.age_ms},
              {"heartbeats_received", p.received}};
    if (p.seen) {
      j["role"] = to_string(p.last.node_role);
      j["health"] = to_string(p.last.health);
      j["reasons"] = p.last.reasons;
      j["zone"] = p.last.zone;
      j["shard"] = p.last.shard;
      j["epoch"] = p.last.epoch;
      j["replication_position"] = p.last.replication_position;
      j["canary_p99_us"] = p.last.canary_latency_us;
      j["healthy_replica"] = healthy_replica(s, p);
    } else {
      j["role"] = nullptr;
      j["health"] = nullptr;
    }
    peers.push_back(std::move(j));
  }
  return {
      {"node", s.node},
      {"zone", s.zone},
      {"shard", s.shard},
      {"role", to_string(st.current)},
      {"epoch", st.epoch},
      // etcd lease ids are int64: a string, so no JSON reader rounds them.
      {"lease", std::to_string(st.lease)},
      {"lease_ttl_s", s.lease_ttl_s},
      {"fence_margin_ms", s.fence_margin_ms},
      {"joined", st.joined},
      {"shard_state",
       {{"primary", st.primary.empty() ? json(nullptr) : json(st.primary)},
        {"epoch", st.shard_epoch},
        {"zone", st.shard_zone}}},
      {"vip",
       {{"address", s.vip},
        {"held", s.vip_held},
        {"remaining_ms", s.vip_remaining_ms},
        {"takes", s.vip_takes}}},
      {"management", s.management_ip},
      {"data_address", s.data_address},
      {"etcd",
       {{"endpoints", s.etcd_endpoints},
        {"reachable", st.etcd_reachable},
        {"last_error", st.etcd_error},
        {"calls", st.etcd_calls},
        {"failures", st.etcd_failures}}},
      {"health",
       {{"level", to_string(s.health.level)},
        {"reasons", s.health.reasons},
        {"canary_p99_us", s.health.canary_latency_us}}},
      {"replication_position", s.replication_position},
      {"transitions", st.transitions},
      {"last_transition_reason", st.reason},
      {"peers", peers},
      {"heartbeats",
       {{"sent", s.heartbeats.sent},
        {"send_failed", s.heartbeats.send_failed},
        {"received", s.heartbeats.received},
        {"truncated", s.heartbeats.truncated},
        {"accepted", s.peer_stats.accepted},
        {"malformed", s.peer_stats.malformed},
        {"unknown_peer", s.peer_stats.unknown_peer},
        {"wrong_source", s.peer_stats.wrong_source},
        {"stale", s.peer_stats.stale}}},
  };
}

void append_cluster_metrics(const cluster::runtime_snapshot& s, exposition& x) {
  const auto& st = s.status;
  const label shard{"shard", s.shard};
  x.family("anvil_cluster_role", "gauge", "This node's role for its shard (1 for the current one)");
  for (role r : kRoles)
    x.sample("anvil_cluster_role", {shard, {"role", to_string(r)}},
             std::uint64_t{st.current == r ? 1u : 0u});
  x.family("anvil_cluster_epoch", "gauge",
           "The shard's epoch as this node last read it from etcd (+1 at every change of primary)");
  x.sample("anvil_cluster_epoch", {shard}, static_cast<std::uint64_t>(st.shard_epoch));
  x.family("anvil_cluster_vip_held", "gauge",
           "1 while this node owns the shard's VIP (its fencing deadline is ahead)");
  x.sample("anvil_cluster_vip_held", {shard, {"vip", s.vip}}, std::uint64_t{s.vip_held ? 1u : 0u});
  x.family("anvil_cluster_etcd_reachable", "gauge", "1 when the last etcd call got an answer");
  x.sample("anvil_cluster_etcd_reachable", {}, std::uint64_t{st.etcd_reachable ? 1u : 0u});
  x.family("anvil_cluster_etcd_calls_total", "counter", "etcd calls made by the cluster agent");
  x.sample("anvil_cluster_etcd_calls_total", {}, st.etcd_calls);
  x.family("anvil_cluster_etcd_failures_total", "counter",
           "etcd calls that reached no endpoint in time (unreachable, no quorum)");
  x.sample("anvil_cluster_etcd_failures_total", {}, st.etcd_failures);
  x.family("anvil_cluster_transitions_total", "counter", "Role changes of this node");
  x.sample("anvil_cluster_transitions_total", {shard}, st.transitions);
  x.family("anvil_cluster_peer_state", "gauge",
           "Each configured peer's liveness from its heartbeats (1 for the current state)");
  for (const auto& p : s.peers)
    for (liveness l : kLiveness)
      x.sample("anvil_cluster_peer_state", {{"peer", p.node}, {"state", to_string(l)}},
               std::uint64_t{p.state == l ? 1u : 0u});
  x.family("anvil_cluster_peer_role", "gauge",
           "Each heard peer's role as its last heartbeat said (1 for the current one)");
  for (const auto& p : s.peers) {
    if (!p.seen) continue;
    for (role r : kRoles)
      x.sample("anvil_cluster_peer_role", {{"peer", p.node}, {"role", to_string(r)}},
               std::uint64_t{p.last.node_role == r ? 1u : 0u});
  }
  x.family("anvil_cluster_peer_heartbeat_age_seconds", "gauge",
           "Seconds since each heard peer's last accepted heartbeat");
  for (const auto& p : s.peers)
    if (p.seen)
      x.sample("anvil_cluster_peer_heartbeat_age_seconds", {{"peer", p.node}},
               static_cast<double>(p.age_ms) / 1e3);
  std::uint64_t healthy = 0;
  for (const auto& p : s.peers) healthy += healthy_replica(s, p) ? 1 : 0;
  x.family("anvil_cluster_healthy_replicas", "gauge",
           "Peers that could take over the shard now: alive, replica, healthy, in the VIP's "
           "zone, within max_replica_lag");
  x.sample("anvil_cluster_healthy_replicas", {shard}, healthy);
  x.family("anvil_cluster_heartbeats_sent_total", "counter", "Heartbeat datagrams sent");
  x.sample("anvil_cluster_heartbeats_sent_total", {}, s.heartbeats.sent);
  x.family("anvil_cluster_heartbeats_received_total", "counter", "Heartbeats received, by outcome");
  x.sample("anvil_cluster_heartbeats_received_total", {{"outcome", "accepted"}},
           s.peer_stats.accepted);
  x.sample("anvil_cluster_heartbeats_received_total", {{"outcome", "malformed"}},
           s.peer_stats.malformed + s.heartbeats.truncated);
  x.sample("anvil_cluster_heartbeats_received_total", {{"outcome", "unknown_peer"}},
           s.peer_stats.unknown_peer);
  x.sample("anvil_cluster_heartbeats_received_total", {{"outcome", "wrong_source"}},
           s.peer_stats.wrong_source);
  x.sample("anvil_cluster_heartbeats_received_total", {{"outcome", "stale"}}, s.peer_stats.stale);
  x.family("anvil_cluster_replication_position", "gauge",
           "This node's replication position (0 without replication)");
  x.sample("anvil_cluster_replication_position", {shard}, s.replication_position);
}

json_endpoint cluster_endpoint(const cluster::node_runtime* rt) {
  return [rt](const std::string&) -> json_reply {
    if (rt == nullptr)
      return {404,
              {{"error", "cluster_not_configured"},
               {"reason", "this node has no [cluster] node_id: high availability is off"}}};
    return {200, cluster_json(rt->snapshot())};
  };
}

collector cluster_collector(const cluster::node_runtime& rt) {
  return [&rt](exposition& x) { append_cluster_metrics(rt.snapshot(), x); };
}

}  // namespace anvil::control::admin
