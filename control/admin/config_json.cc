#include "control/admin/config_json.h"

#include "dataplane/proto/sha256.h"

namespace anvil::control::admin {

namespace {

nlohmann::json cluster_json(const cluster::cluster_config& c) {
  nlohmann::json peers = nlohmann::json::array();
  for (const auto& p : c.peers)
    peers.push_back(p.node + "@" + p.host + ":" + std::to_string(p.port));
  return {{"node_id", c.node_id},
          {"zone", c.zone},
          {"vip_zone", c.vip_zone},
          {"shard", c.shard},
          {"vip", c.vip},
          {"management_ip", c.management_ip},
          {"heartbeat_port", c.heartbeat_port},
          {"heartbeat_interval_ms", c.heartbeat_interval_ms},
          {"suspect_after", c.suspect_after},
          {"dead_after", c.dead_after},
          {"etcd_endpoints", c.etcd_endpoints},
          {"etcd_prefix", c.etcd_prefix},
          {"etcd_timeout_ms", c.etcd_timeout_ms},
          {"lease_ttl_s", c.lease_ttl_s},
          {"fence_margin_ms", c.fence_margin_ms},
          {"max_replica_lag", c.max_replica_lag},
          {"replication_port", c.replication_port},
          {"replica_reads", c.replica_reads},
          {"replication_ring_entries", c.replication_ring_entries},
          {"replication_log_mb", c.replication_log_mb},
          {"peers", peers}};
}

}  // namespace

nlohmann::json effective_config(const server_config& c) {
  using nlohmann::json;
  const char* csum = c.csum_partial == port::csum_partial_policy::accept ? "accept" : "drop";
  return {
      {"memcached",
       {{"port", c.tcp_port},
        {"udp_port", c.udp_port},
        {"memory_mb", c.memory_mb},
        {"threads", c.lcores},
        {"max_connections", c.max_connections},
        {"max_item_size", c.max_item_size},
        {"sasl", c.sasl},
        {"sasl_credentials", c.sasl_credentials},
        {"protocol", c.protocol}}},
      {"cache", {{"segment_size", c.segment_size}, {"expected_item_bytes", c.expected_item_bytes}}},
      {"network",
       {{"port_type", to_string(c.port)},
        {"interface", c.interface},
        {"ip", c.ip},
        {"mac", c.mac ? [&] {
           char b[18];
           const auto& m = *c.mac;
           std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
                         m[4], m[5]);
           return std::string(b);
         }()
                      : std::string()}}},
      {"lcores",
       {{"cores", c.cores},
        {"idle", c.idle.mode == server::idle_policy::kind::busy_poll ? "busy-poll" : "backoff"},
        {"idle_sleep_us", c.idle.sleep_us},
        {"idle_spin", c.idle.spin_iterations},
        {"start_timeout_s", c.lcore_start_timeout_s}}},
      {"afpacket",
       {{"rx", c.afpacket_rx == port::afpacket_rx_mode::ring ? "ring" : "mmsg"},
        {"ring_frames", c.ring_frames},
        {"offloads", c.nic_offloads_off ? "off" : "keep"},
        {"checksum_partial", csum}}},
      {"dpdk",
       {{"eal_args", c.eal_args},
        {"device", c.dpdk_device},
        {"rx_ring_size", c.dpdk_rx_ring},
        {"tx_ring_size", c.dpdk_tx_ring}}},
      {"server",
       {{"shutdown_timeout_s", c.shutdown_timeout_s},
        {"stats_interval_s", c.stats_interval_s},
        {"idle_timeout_s", c.idle_timeout_s},
        {"fin_wait_2_timeout_s", c.fin_wait_2_timeout_s},
        {"tcp_keepalive_s", c.tcp_keepalive_s},
        {"tcp_keepalive_interval_s", c.tcp_keepalive_interval_s},
        {"tcp_keepalive_probes", c.tcp_keepalive_probes}}},
      {"snapshot",
       {{"dir", c.snapshot_dir},
        {"interval_s", c.snapshot_interval_s},
        {"keep", c.snapshot_keep},
        {"node_id", c.node_id},
        {"at_shutdown", c.snapshot_at_shutdown},
        {"require", c.snapshot_require},
        {"io_timeout_s", c.snapshot_io_timeout_s},
        {"nice", c.snapshot_nice},
        {"rate_limit_mb_s", c.snapshot_rate_limit_mb_s}}},
      {"admin",
       {{"enabled", c.admin.enabled},
        {"listen", c.admin.listen_text()},
        {"token_file", c.admin.token_file},
        {"max_connections", c.admin.max_connections},
        {"threads", c.admin.threads},
        {"read_timeout_s", c.admin.read_timeout_s},
        {"write_timeout_s", c.admin.write_timeout_s},
        {"max_body_bytes", c.admin.max_body_bytes}}},
      {"health",
       {{"interval_s", c.health_interval_s},
        {"canary_p99_ms", c.health_canary_p99_ms},
        {"canary_timeout_s", c.health_canary_timeout_s},
        {"canary_window_s", c.health_canary_window_s},
        {"loop_stall_ms", c.health_loop_stall_ms},
        {"evictions_per_s", c.health_evictions_per_s},
        {"port_errors_per_s", c.health_port_errors_per_s},
        {"connections_near_pct", c.health_connections_pct},
        {"recover_intervals", c.health_recover_intervals}}},
      {"debug",
       {{"enable_fault_knobs", c.debug_fault_knobs},
        {"lcore_delay_us", c.debug_lcore_delay_us},
        {"lcore_delay_lcore", c.debug_lcore_delay_lcore}}},
      {"cluster", cluster_json(c.cluster)},
  };
}

std::string config_digest(const nlohmann::json& effective) {
  const std::string text = effective.dump();  // nlohmann's object keys are sorted
  proto::sha256 h;
  h.update(text);
  const auto d = h.finish();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (std::uint8_t b : d) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace anvil::control::admin
