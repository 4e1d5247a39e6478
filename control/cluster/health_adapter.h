// The cluster agent's view of this node's health, from the health engine's report
// (control/health/ through the admin seam control/admin/health_source.h): the state
// maps to the level one to one, each reason's code becomes a reason (codes only: they
// travel in heartbeats, at most kMaxReasons of kMaxReason bytes, cut there by the
// agent), and the canary p99 goes in microseconds (saturated to 32 bits).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "control/admin/health_source.h"
#include "control/cluster/health_input.h"

namespace anvil::cluster {

inline health_level to_level(control::health_state s) {
  switch (s) {
    case control::health_state::ok:
      return health_level::ok;
    case control::health_state::degraded:
      return health_level::degraded;
    case control::health_state::failing:
      return health_level::failing;
  }
  return health_level::failing;  // an unknown state is not healthy
}

// `canary_p99_s`: seconds (0 or negative or NaN: not measured -> 0).
inline health_report to_cluster_health(const control::admin::health_report& r,
                                       double canary_p99_s) {
  health_report out;
  out.level = to_level(r.state);
  for (const auto& reason : r.reasons)
    if (!reason.code.empty()) out.reasons.push_back(reason.code);
  const double us = canary_p99_s * 1e6;
  if (std::isfinite(us) && us > 0)
    out.canary_latency_us = static_cast<std::uint32_t>(
        std::min<double>(std::ceil(us), static_cast<double>(UINT32_MAX)));
  else if (std::isinf(us) && us > 0)
    out.canary_latency_us = UINT32_MAX;
  return out;
}

}  // namespace anvil::cluster
