// POST /v1/cluster/failover | promote | demote (docs/admin.md): operator actions on this
// node's shard, token-protected like every mutating endpoint. Each parses and checks
// its JSON body, hands an operator_request to the cluster agent (which runs it on its
// own thread, control/cluster/agent_ops.cc) and waits, bounded, for the outcome.
// Never touches an lcore or etcd itself.
#pragma once

#include <functional>
#include <future>
#include <optional>
#include <string>

#include "control/admin/admin_server.h"
#include "control/cluster/operator_request.h"

namespace anvil::control::admin {

using cluster_submit =
    std::function<std::future<cluster::operator_result>(cluster::operator_request)>;

// The body of a request of kind `k`, or the reason it is malformed (nullopt + why).
std::optional<cluster::operator_request> parse_operator_request(cluster::operator_request::kind k,
                                                                const std::string& body,
                                                                std::string& why);
// The reply for an outcome: its HTTP status and JSON body.
json_reply operator_reply(const cluster::operator_result& r);

// `submit` empty (no [cluster] node_id): 404 cluster_not_configured. `wait_extra_ms`: how
// much longer than the request's timeout_ms to wait for the agent (its handover TTL and
// a margin); past it the reply is 504 and the action may still complete.
json_endpoint cluster_op_endpoint(cluster::operator_request::kind k, cluster_submit submit,
                                  std::int64_t wait_extra_ms);

}  // namespace anvil::control::admin
