// Replication for one node (docs/replication.md): the per-lcore rings the data plane
// fills through proto::mutation_hook, the drain thread, and, depending on the node's
// role, the primary's server (copy + live stream to each replica) or the replica's
// client (copy + live stream from the primary, applied into this node's engine).
//
// The seam with the cluster runtime (control/cluster/node_runtime.h):
// - position(): primary: the last position produced; replica: the last applied (0
//   while a full copy is in progress). Heartbeats carry it; "caught up" compares it.
// - on_role_change(role, epoch, primary_management_ip): primary serves replicas on
//   [cluster] management_ip:replication_port; a replica or candidate follows the named
//   primary (IPv4, optionally "ip:port" whose port is ignored: the replication port is
//   replication_port); fenced changes nothing. It only records the change: a service
//   thread applies it (stopping a stream joins threads), so the agent never waits.
// - hook_for_lcore(i): the hook lcore i's handler calls after each mutation. Lock-free,
//   no allocation, no syscall (mutation_ring.h).
// Thread-safety: every public method may be called from any control thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cache/engine.h"
#include "control/cluster/role_machine.h"
#include "control/replication/lag.h"
#include "control/replication/mutation_ring.h"
#include "control/replication/primary_log.h"
#include "control/replication/primary_server.h"
#include "control/replication/replica_client.h"
#include "dataplane/proto/mutation_hook.h"

namespace anvil::replication {

struct replication_config {
  std::string node_id;                // sent in hello
  std::string listen_ip;              // the management address the primary listens on
  std::uint16_t port = 11313;         // replication_port (0: any, tests)
  std::size_t ring_entries = 16384;   // per lcore, power of two
  std::size_t log_bytes = 64u << 20;  // the primary's outgoing log
};

struct replication_status {
  const char* mode = "off";  // off | primary | replica
  std::uint64_t position = 0;
  lag_value lag;
  std::string primary;                 // replica: the primary followed
  std::vector<replica_view> replicas;  // primary: the connected replicas
  std::uint64_t resyncs = 0;           // full copies started (sent or received)
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t ring_overflows = 0;
  std::uint64_t ring_dropped = 0;  // mutations dropped by full rings
  std::uint64_t dropped_connections = 0;
  std::uint64_t store_failures = 0;
};

class replication_service {
 public:
  replication_service(cache::engine& e, unsigned lcores, replication_config cfg);
  ~replication_service();
  replication_service(const replication_service&) = delete;
  replication_service& operator=(const replication_service&) = delete;

  proto::mutation_hook hook_for_lcore(unsigned i);
  std::uint64_t position() const;
  // Replica: its own lag behind the primary. Primary: the largest of its replicas' (0
  // with none connected).
  lag_value lag() const;
  void on_role_change(cluster::role r, std::int64_t epoch, std::string primary_management_ip);
  // Replica: the stream from the primary followed (health's replication_lag). Empty
  // when this node follows nobody (primary, idle, or a role change not applied yet).
  std::optional<replica_client::stream_view> replica_stream() const;

  replication_status status() const;
  std::uint16_t listening_port() const;  // primary: the bound port; else 0

 private:
  struct role_change {
    cluster::role role;
    std::int64_t epoch;
    std::string primary_ip;
  };
  void drain_loop();
  void role_loop();
  void apply(const role_change& c);

  cache::engine& _engine;
  replication_config _cfg;
  std::vector<std::unique_ptr<mutation_ring>> _rings;
  std::vector<mutation_ring*> _ring_ptrs;
  primary_log _log;
  primary_counters _pc;
  replica_counters _rc;
  std::atomic<bool> _producing{false};
  std::atomic<bool> _stop{false};
  std::atomic<std::uint64_t> _overflows{0};

  // Held only to read or swap the mode below, never while a stream stops or starts.
  mutable std::mutex _mu;
  std::unique_ptr<primary_server> _server;
  std::unique_ptr<replica_client> _client;
  std::uint64_t _last_applied = 0;  // a stopped client's last position
  std::int64_t _epoch = -1;         // of the running server (role thread only)

  std::mutex _pending_mu;
  std::condition_variable _pending_cv;
  std::optional<role_change> _pending;  // the latest change not applied yet
  std::thread _drain;
  std::thread _roles;
};

}  // namespace anvil::replication
