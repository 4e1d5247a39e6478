// Server-wide facts that the stats command reports but the protocol cannot know:
// connection counts, uptime, pid, threads, rusage, and the sum of every lcore's
// counters. The server fills them on demand through `facts_provider` (called only for
// Stat requests, never on the hot path). Without a provider the handler reports its
// own lcore's counters and zeros for the rest.
#pragma once

#include <cstdint>

#include "dataplane/proto/counters.h"

namespace anvil::proto {

struct server_facts {
  std::uint32_t pid = 0;
  std::uint32_t started_at = 0;  // unix seconds, for `uptime` (against the engine clock)
  std::uint32_t threads = 1;
  std::uint64_t curr_connections = 0;
  std::uint64_t total_connections = 0;
  std::uint64_t max_connections = 0;
  double rusage_user = 0;  // seconds of CPU, as getrusage() reports them
  double rusage_system = 0;
  bool have_totals = false;  // true when `totals` holds the sum over every lcore
  counter_totals totals;
};

struct facts_provider {
  void* ctx = nullptr;
  void (*fill)(void* ctx, server_facts& out) = nullptr;
  // "stats reset": the server asks every lcore to reset its counters (each lcore is
  // the single writer of its own). Without it only this lcore's counters are reset.
  void (*reset)(void* ctx) = nullptr;
};

}  // namespace anvil::proto
