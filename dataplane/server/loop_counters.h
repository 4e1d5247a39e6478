// Per-lcore poll-loop counters: written only by the lcore that owns them, read by the
// control plane and the benchmark (relaxed loads; totals are monotonic). Cycle counts
// are TSC ticks: busy = iterations that received or transmitted something.
#pragma once

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
};

}  // namespace anvil::server
