// The cluster agent: the I/O edge around role_machine. Each step() reads the clock and
// this node's health, pumps heartbeats, ticks the machine, reads the shard from etcd
// when due, and performs the machine's actions in order (etcd calls with deadlines,
// VIP take/extend/release on the vip_lease), feeding every result back. It runs on the
// control side (its own thread or the control loop), never on an lcore; the lcores
// only read the vip_lease.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "control/cluster/cluster_config.h"
#include "control/cluster/cluster_store.h"
#include "control/cluster/etcd_client.h"
#include "control/cluster/health_input.h"
#include "control/cluster/heartbeat_service.h"
#include "control/cluster/operator_checks.h"
#include "control/cluster/operator_request.h"
#include "control/cluster/role_machine.h"
#include "control/cluster/vip_lease.h"

namespace anvil::cluster {

// What /v1/cluster and health report about this node.
struct agent_status {
  role current = role::replica;
  std::int64_t epoch = 0;
  std::int64_t lease = 0;
  bool etcd_reachable = false;
  std::string etcd_error;  // the last failure, empty after a success
  std::string reason;      // of the last role change
  std::uint64_t transitions = 0;
  std::uint64_t etcd_calls = 0, etcd_failures = 0;
  // The shard as the last successful read showed it.
  std::string primary;           // its primary's node ("" : none)
  std::int64_t shard_epoch = 0;  // its epoch
  std::string shard_zone;        // the zone of its VIP ("" until read)
  bool joined = false;           // join() succeeded
  // The shard's primary as its heartbeats show it, and this node against it (the last
  // step's eligibility input; the health engine's replication_lag uses the same).
  std::uint64_t primary_position = 0;  // its last heartbeated replication position
  bool primary_alive = false;          // its heartbeats arrive (liveness alive)
  bool caught_up = true;               // within max_replica_lag of primary_position
};

class agent {
 public:
  // `heartbeats` may be null (no peers: step-down then never happens, since no healthy
  // replica is known). The references must outlive the agent.
  // `data_address` is the node's own data-plane address ([network] ip), advertised in
  // its member record.
  agent(const cluster_config& cfg, etcd_client& etcd, vip_lease& vip, health_source health,
        heartbeat_service* heartbeats = nullptr, std::string data_address = "");

  // Registers this member and creates the shard's config if absent (a mismatch with
  // another node's config is an error: a VIP is never silently redefined).
  etcd_status join();
  void step();
  // Called after every VIP change with (owned, epoch): where the data plane is told to
  // add the address and send gratuitous ARP, or to drop it.
  void on_vip_change(std::function<void(bool, std::int64_t)> fn) { _vip_hook = std::move(fn); }

  // This node's replication position (heartbeats, caught-up); 0 when unset (no
  // replication: every node is at 0). A node counts as caught up while it is at most
  // max_replica_lag behind the last position the shard's primary heartbeated.
  void set_replication_position(std::function<std::uint64_t()> fn) { _position = std::move(fn); }

  // An operator action, from any thread (the admin API). step() runs it; the future is
  // fulfilled when it is done, refused or failed (bounded by the request's timeout plus
  // the handover key's TTL). One at a time: a second one meanwhile is answered busy.
  std::future<operator_result> submit(operator_request r);

  const agent_status& status() const { return _status; }
  const role_machine& machine() const { return _machine; }
  void set_read_interval_ms(time_ms ms) { _read_interval_ms = ms; }
  // A clean stop (SIGTERM): if this node holds a lease, stop answering for the VIP,
  // then revoke the lease so a replica can win at its next read instead of waiting a
  // TTL. The agent must not step afterwards.
  etcd_status resign();

 private:
  void run(std::vector<action> todo);
  void log_transition();
  void note(const etcd_status& s);
  local_inputs inputs(time_ms now, const health_report& h) const;
  // The shard's primary at its highest heartbeated epoch, alive or not.
  struct primary_seen {
    std::uint64_t position = 0;
    bool alive = false;
  };
  primary_seen primary_heartbeat(time_ms now) const;
  etcd_client::duration timeout() const { return etcd_client::duration(_cfg.etcd_timeout_ms); }
  std::uint64_t position() const { return _position ? _position() : 0; }

  // Operator actions (agent_ops.cc).
  struct running_op {
    operator_request req;
    std::promise<operator_result> done;
    enum class phase : std::uint8_t { handing_over, awaiting_claim, awaiting_self } now{};
    std::string target;
    std::int64_t from_epoch = 0;
    time_ms deadline = 0;
    bool skip_wait = false;  // forced: hand over without waiting for the target to catch up
    std::vector<std::string> problems, risks;
  };
  void take_request(time_ms now, const health_report& h);
  void start_op(time_ms now, const health_report& h, running_op op);
  void progress_op(time_ms now);
  void finish_op(operator_result r);
  peer_facts facts_of(time_ms now, const std::string& node) const;
  shard_facts shard_now() const;
  time_ms handover_ttl_ms() const;

  cluster_config _cfg;
  etcd_client& _etcd;
  cluster_store _store;
  vip_lease& _vip;
  health_source _health;
  heartbeat_service* _heartbeats;
  role_machine _machine;
  std::function<void(bool, std::int64_t)> _vip_hook;
  std::string _data_address;
  std::string _shard_zone;  // from etcd's shard config; empty until read
  time_ms _read_interval_ms;
  time_ms _next_read = 0;
  local_inputs _last_inputs;
  agent_status _status;
  std::uint64_t _logged_transitions = 0;
  std::function<std::uint64_t()> _position;
  shard_view _last_view{};
  bool _have_view = false;
  std::mutex _requests_m;  // guards _incoming (submit() runs on other threads)
  std::optional<running_op> _incoming;
  std::optional<running_op> _op;  // the agent thread's own
};

}  // namespace anvil::cluster
