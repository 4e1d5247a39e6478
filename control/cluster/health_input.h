// What the HA logic needs to know about this node's own health. The health engine
// (issue 14, control/health/) produces it; the cluster agent consumes it through a
// `health_source` function so neither depends on the other's internals. Heartbeats
// carry it to the peers.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace anvil::cluster {

enum class health_level : std::uint8_t { ok = 0, degraded = 1, failing = 2 };
const char* to_string(health_level h);

struct health_report {
  health_level level = health_level::ok;
  std::vector<std::string> reasons;     // codes (docs/health.md), e.g. "canary_slow", "storage"
  std::uint32_t canary_latency_us = 0;  // the last canary p99 (0: not measured)
};

// Called by the cluster agent on every step; must not block.
using health_source = std::function<health_report()>;

}  // namespace anvil::cluster
