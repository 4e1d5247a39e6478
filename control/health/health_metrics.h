// The health monitor plugged into the admin server (control/admin/): its report is what
// GET /v1/health answers and what anvil_health_state / anvil_health_reason show, and its
// own families (canary histogram and p99, rounds, failures, loop stalls, transitions,
// the snapshot interval for the snapshot-stale alert) join /metrics through the
// collector seam. Everything is read from a health_snapshot (a copy taken under the
// monitor's mutex) on admin threads, never from lcore state. docs/health.md lists them.
#pragma once

#include "control/admin/health_source.h"
#include "control/admin/metrics.h"
#include "control/health/health_monitor.h"

namespace anvil::health {

// The monitor's report in the admin API's terms (reason codes as text, unix seconds).
control::admin::health_report to_admin_report(const health_report& r);

// The health families (not anvil_health_state/_reason: the admin server writes those
// from the health source). `snapshot_interval_s`: [snapshot] interval_s (0: off).
void append_health_metrics(const health_snapshot& s, double snapshot_interval_s,
                           control::admin::exposition& x);

// The admin server's health source and the "health" collector, both reading `m` (which
// must outlive every admin server they are given to).
control::admin::health_source health_source_of(const health_monitor& m);
control::admin::collector health_collector_of(const health_monitor& m, double snapshot_interval_s);

}  // namespace anvil::health
