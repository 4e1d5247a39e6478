#include "control/admin/health_source.h"

#include <ctime>

#include "io/snapshot_service.h"

namespace anvil::control::admin {

storage_health_source::storage_health_source(const io::snapshot_service* snapshots,
                                             std::function<std::uint64_t()> now_unix)
    : _snapshots(snapshots), _now(std::move(now_unix)) {
  if (!_now) _now = [] { return static_cast<std::uint64_t>(std::time(nullptr)); };
}

health_report storage_health_source::operator()() {
  health_report r;
  std::string detail;
  if (_snapshots != nullptr && _snapshots->health().state() == io::storage_state::degraded) {
    r.state = health_state::degraded;
    detail = _snapshots->health().reason();
  }
  const std::uint64_t now = _now();
  {
    std::lock_guard lock(_mu);
    if (_since == 0 || r.state != _state) {
      _state = r.state;
      _since = now;
    }
    r.since_unix = _since;
  }
  if (r.state != health_state::ok)
    r.reasons.push_back(
        {"storage", detail.empty() ? "snapshot storage degraded" : detail, r.since_unix});
  return r;
}

}  // namespace anvil::control::admin
