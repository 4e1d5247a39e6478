// The health model's Prometheus families (text format 0.0.4), appended to a scrape by
// the admin server's metrics collector seam (control/admin/metrics.h). Written from a
// health_snapshot (a copy taken under the monitor's mutex), never from lcore state.
// docs/health.md lists the families.
#pragma once

#include <string>

#include "control/health/health_monitor.h"

namespace anvil::health {

// `snapshot_interval_s`: [snapshot] interval_s (0: periodic snapshots off), exported as
// anvil_snapshot_interval_seconds for the snapshot-stale alert.
void append_health_metrics(const health_snapshot& s, double snapshot_interval_s, std::string& out);

}  // namespace anvil::health
