// The cluster agent inside `anvil`: when [cluster] node_id is set, control/main.cc
// builds one node_runtime. It owns the etcd client, the heartbeat service (UDP on
// management_ip:heartbeat_port), the agent and the vip_lease the lcores read (through
// vip_lease::gate), and runs the agent on its own control-side thread, never on an
// lcore. Other control rooms read it through snapshot() (a copy taken under a mutex
// after every step: the admin API, /metrics) and plug in through the seams below.
//
// Lifecycle: start() joins etcd once — a refusal (this node's shard configured
// differently in etcd) is returned and anvil exits; etcd unreachable is not fatal, the
// thread keeps trying to join before it steps — then starts the thread. stop(resign)
// stops the thread; with `resign`, a node holding a lease releases the VIP and then
// revokes the lease (agent::resign) so a replica takes over at its next read; the
// destructor does the same.
//
// Seams:
// - replication_position: this node's replication position (0 when absent), called on
//   the agent thread every step; it must not block.
// - on_role_change(role, epoch, primary_management_ip): called on the agent thread
//   after a step that changed this node's role, the shard's epoch or its primary;
//   `primary_management_ip` is the primary's management address from [cluster] peers
//   (this node's own management_ip when it is the primary; "" when the shard has no
//   primary or it is not a configured peer). It must not block for long.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/cluster/agent.h"
#include "control/cluster/cluster_config.h"
#include "control/cluster/health_input.h"
#include "control/cluster/heartbeat_service.h"
#include "control/cluster/vip_lease.h"

namespace anvil::cluster {

struct runtime_hooks {
  std::function<std::uint64_t()> replication_position;
  std::function<void(role, std::int64_t epoch, std::string primary_management_ip)> on_role_change;
};

// One peer as the heartbeat table knows it.
struct peer_view {
  std::string node, host;
  std::uint16_t port = 0;
  liveness state = liveness::unknown;
  bool seen = false;
  heartbeat last{};          // meaningful when seen
  std::int64_t age_ms = -1;  // since the last accepted heartbeat (-1: never)
  std::uint64_t received = 0;
};

// Everything /v1/cluster and /metrics show, copied after a step.
struct runtime_snapshot {
  std::string node, zone, shard, vip, management_ip, data_address;
  std::vector<std::string> etcd_endpoints;
  std::int64_t lease_ttl_s = 0, fence_margin_ms = 0;
  std::uint64_t max_replica_lag = 0;
  agent_status status;
  bool vip_held = false;              // vip_lease::holds at the time of the copy
  std::int64_t vip_remaining_ms = 0;  // until the fencing deadline (0: not held)
  std::uint64_t vip_takes = 0;
  std::uint64_t replication_position = 0;
  health_report health;
  std::vector<peer_view> peers;
  heartbeat_counters heartbeats;
  peer_counters peer_stats;
  std::uint64_t steps = 0;
  std::int64_t taken_ms = 0;  // steady ms of the copy
};

class node_runtime {
 public:
  node_runtime(cluster_config cfg, std::string data_address, health_source health,
               runtime_hooks hooks = {});
  ~node_runtime();
  node_runtime(const node_runtime&) = delete;
  node_runtime& operator=(const node_runtime&) = delete;

  // Binds the heartbeat socket and joins etcd. Empty on success (including etcd
  // unreachable: the thread retries), else why the node must not start.
  std::string start();
  void stop(bool resign);

  // What the data plane reads (stack_config::vip = vip().gate(ip)).
  const vip_lease& vip() const { return _vip; }
  runtime_snapshot snapshot() const;
  const cluster_config& config() const { return _cfg; }
  // An operator action (failover/promote/demote) for the agent thread to run; see
  // agent::submit. Before start() it is answered `failed` at once.
  std::future<operator_result> submit(operator_request r);
  // How much longer than a request's timeout_ms its outcome may take (the handover key's
  // TTL for the target to claim, plus a margin).
  std::int64_t operator_wait_extra_ms() const {
    return std::max<std::int64_t>(2, 2 * _cfg.lease_ttl_s) * 1000 + 2000;
  }
  // The management address of a node of the cluster ("" when unknown).
  std::string management_ip_of(const std::string& node) const;

  // How often the thread steps the agent (heartbeats and etcd reads keep their own
  // intervals; this bounds how late a renewal or a heartbeat can be).
  static constexpr std::int64_t kStepMs = 5;
  static constexpr std::int64_t kJoinRetryMs = 1000;
  // The health source is asked at most this often (the health engine evaluates once
  // per [health] interval_s; a copy of its snapshot per 5 ms step would be waste).
  static constexpr std::int64_t kHealthEveryMs = 50;

 private:
  void run();
  void publish();
  void notify_role();

  cluster_config _cfg;
  std::string _data_address;
  health_source _health;
  runtime_hooks _hooks;
  vip_lease _vip;
  std::unique_ptr<etcd_client> _etcd;
  std::unique_ptr<heartbeat_service> _heartbeats;
  std::unique_ptr<agent> _agent;
  health_report _last_health;  // agent thread
  std::int64_t _next_health_ms = 0;
  std::uint64_t _last_position = 0;
  std::uint64_t _steps = 0;
  // What on_role_change was last called with.
  role _told_role = role::replica;
  std::int64_t _told_epoch = -1;
  std::string _told_primary;

  mutable std::mutex _mu;
  std::condition_variable _cv;
  bool _stopping = false;
  runtime_snapshot _snap;
  std::thread _thread;
};

}  // namespace anvil::cluster
