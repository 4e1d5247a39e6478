// The node's health states, one type for the health model (control/health/) and the
// admin API's seam (control/admin/health_source.h), ordered by severity.
#pragma once

#include <cstdint>

namespace anvil::control {

enum class health_state : std::uint8_t { ok, degraded, failing };

inline const char* to_string(health_state s) {
  switch (s) {
    case health_state::ok:
      return "ok";
    case health_state::degraded:
      return "degraded";
    case health_state::failing:
      return "failing";
  }
  return "failing";
}

}  // namespace anvil::control
