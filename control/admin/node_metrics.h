// The server's own /metrics families (docs/admin.md lists them): requests, latency,
// cache, connections, TCP, port, loop, snapshots, storage, build. Read from node_view's
// counters at scrape time, summed over lcores or labelled by lcore.
#pragma once

#include "control/admin/metrics.h"
#include "control/admin/node_view.h"

namespace anvil::control::admin {

void collect_node(const node_view& v, exposition& x);

// Health (anvil_health_state{state}, anvil_health_reason{code}) from a report.
struct health_report;
void collect_health(const health_report& r, exposition& x);

}  // namespace anvil::control::admin
