// Per-lcore poll-loop counters: written only by the lcore that owns them, read by the
// control plane and the benchmark (relaxed loads; totals are monotonic). Cycle counts
// are TSC ticks: busy = iterations that received or transmitted something.
//
// The window figures describe the last completed window of about one second (the
// loop publishes them when a window ends; nothing else writes them): wall cycles of the
// window (sleeps included), busy cycles in it and the longest single iteration. A
// reader sees the previous window's values until the next one is published, and an
// lcore stuck inside one iteration publishes nothing: `iterations` then stops moving.
#pragma once

#include <atomic>
#include <cstdint>

#include "dataplane/port/port_counters.h"

namespace anvil::server {

using port::counter;

struct alignas(64) loop_counters {
  counter iterations;
  counter idle_iterations;  // nothing received and nothing sent
  counter busy_cycles;
  counter idle_cycles;
  counter rx_frames;  // delivered to the handler
  counter rx_bursts;  // non-empty bursts
  counter tx_frames;  // handed to the device by flush
  counter sleeps;     // back-off sleeps taken (idle policy)
  counter timer_runs;
  std::atomic<std::uint64_t> window_cycles{0};             // wall cycles of the last window
  std::atomic<std::uint64_t> window_busy_cycles{0};        // busy cycles in it
  std::atomic<std::uint64_t> window_longest_iteration{0};  // cycles of its longest iteration
  std::atomic<std::uint64_t> windows{0};                   // windows published
};

}  // namespace anvil::server
