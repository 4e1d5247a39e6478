// The replication families on /metrics (docs/admin.md, docs/replication.md), read from
// replication_service::status() at each scrape.
#pragma once

#include "control/admin/metrics.h"
#include "control/replication/replication_service.h"

namespace anvil::replication {

control::admin::collector metrics_collector(const replication_service& s);

}  // namespace anvil::replication
