// Server-wide facts that the stats command reports but the protocol cannot know:
// connection counts, uptime, pid, threads, rusage, and the sum of every lcore's
// counters. The server fills them on demand through `facts_provider` (called only for
// Stat requests, never on the hot path). Without a provider the handler reports its
// own lcore's counters and zeros for the rest.
#pragma once

#include <cstdint>
#include <string_view>

#include "dataplane/proto/counters.h"

namespace anvil::proto {

struct server_facts {
  std::uint32_t pid = 0;
  std::uint32_t started_at = 0;  // unix seconds, for `uptime` (against the engine clock)
  std::uint32_t threads = 1;
  std::uint64_t curr_connections = 0;
  std::uint64_t total_connections = 0;
  std::uint64_t max_connections = 0;
  // Reset past the global -c limit, or SYNs refused on a full connection table or pool.
  std::uint64_t rejected_connections = 0;
  std::uint64_t connection_structures = 0;  // connection slots allocated (every lcore's table)
  double rusage_user = 0;                   // seconds of CPU, as getrusage() reports them
  double rusage_system = 0;
  bool have_totals = false;  // true when `totals` holds the sum over every lcore
  counter_totals totals;
};

// What `stats settings` reports that only the server knows: memcached's flags as the
// operator gave them (-p -U -l -c -t -v) and the TCP stack's limits. Plain data, set
// once before serving; `inter` must outlive the handler.
struct server_settings {
  std::uint16_t tcp_port = 0;
  std::uint16_t udp_port = 0;  // 0: UDP off
  std::string_view inter;      // listen address; empty prints memcached's "NULL"
  std::uint64_t max_connections = 0;
  std::uint32_t threads = 1;  // lcores
  std::uint32_t verbosity = 0;
  std::uint32_t tcp_backlog = 0;     // half-open (SYN) limit; beyond it, SYN cookies
  std::uint32_t idle_timeout_s = 0;  // 0: connections are never closed for idleness
};

struct facts_provider {
  void* ctx = nullptr;
  void (*fill)(void* ctx, server_facts& out) = nullptr;
  // "stats reset": the server asks every lcore to reset its counters (each lcore is
  // the single writer of its own). Without it only this lcore's counters are reset.
  void (*reset)(void* ctx) = nullptr;
  // A stat group the server owns, not the protocol (`stats storage`: snapshot health):
  // writes each "name value" line through `emit(sink, name, value)` and returns true,
  // or returns false without emitting anything for a group it does not know (the
  // handler then answers Key not found, as memcached does for an unknown group).
  using stat_emit = void (*)(void* sink, std::string_view name, std::string_view value);
  bool (*group)(void* ctx, std::string_view name, stat_emit emit, void* sink) = nullptr;
};

}  // namespace anvil::proto
