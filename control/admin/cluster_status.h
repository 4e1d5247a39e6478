// GET /v1/cluster and the anvil_cluster_* families of /metrics (docs/admin.md): this
// node's view of the HA cluster, from a node_runtime snapshot (control/cluster/
// node_runtime.h, a copy taken under its mutex after every agent step). Runs on admin
// threads; never touches an lcore or etcd.
#pragma once

#include <nlohmann/json.hpp>

#include "control/admin/admin_server.h"
#include "control/admin/metrics.h"
#include "control/cluster/node_runtime.h"

namespace anvil::control::admin {

nlohmann::json cluster_json(const cluster::runtime_snapshot& s);
void append_cluster_metrics(const cluster::runtime_snapshot& s, exposition& x);

// The GET /v1/cluster endpoint: `rt` null (no [cluster] node_id) answers 404
// {"error":"cluster_not_configured"}. `rt` must outlive the admin servers given it.
json_endpoint cluster_endpoint(const cluster::node_runtime* rt);
collector cluster_collector(const cluster::node_runtime& rt);

}  // namespace anvil::control::admin
