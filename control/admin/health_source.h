// The health seam: what GET /v1/health answers and the anvil_health_* metrics show.
// The admin server calls a `health_source` on its worker threads (possibly several at
// once): a provider must be thread-safe, quick, and never wait on an lcore. The health
// model (control/health/) plugs in its own provider; until then `storage_health_source`
// reports the storage health that io::snapshot_service keeps (reason code `storage`).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "control/health_state.h"

namespace anvil::io {
class snapshot_service;
}

namespace anvil::control::admin {

using control::health_state;
using control::to_string;
inline constexpr health_state kHealthStates[] = {health_state::ok, health_state::degraded,
                                                 health_state::failing};

struct health_reason {
  std::string code;    // machine-readable, stable: storage, canary_slow, loop_stall, ...
  std::string detail;  // for people
  std::uint64_t since_unix = 0;
};

struct health_report {
  health_state state = health_state::ok;
  std::uint64_t since_unix = 0;        // when `state` was entered
  std::vector<health_reason> reasons;  // empty when ok
};

using health_source = std::function<health_report()>;

// Storage only: `degraded` with reason `storage` while the snapshot storage is degraded
// (no snapshot service: always ok). Remembers since when it has seen each state, from
// the first call on (`now_unix` is the clock, injectable for tests).
class storage_health_source {
 public:
  explicit storage_health_source(const io::snapshot_service* snapshots,
                                 std::function<std::uint64_t()> now_unix = {});
  health_report operator()();

 private:
  const io::snapshot_service* _snapshots;
  std::function<std::uint64_t()> _now;
  std::mutex _mu;  // admin threads only
  health_state _state = health_state::ok;
  std::uint64_t _since = 0;
};

}  // namespace anvil::control::admin
