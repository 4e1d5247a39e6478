// POST /v1/cluster/failover | promote | demote (docs/admin.md): operator actions on this
// node's shard, token-protected like every mutating endpoint. Each parses and checks
// its JSON body, hands an operator_request to the cluster agent (which runs it on its
// own thread, control/cluster/agent_ops.cc) and waits, bounded, for the outcome.
// Never touches an lcore or etcd itself.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <optional>
#include <string>

#include "control/admin/admin_server.h"
#include "control/cluster/operator_request.h"

namespace anvil::control::admin {

using cluster_submit =
    std::function<std::future<cluster::operator_result>(cluster::operator_request)>;

// What a node that cannot run an action (not the primary) tells the client, so that
// anvilctl can forward it once (docs/admin.md, 421): this node's name and shard, and the
// admin address ("HOST:PORT", anvilctl's --server syntax) of a named node, "" when
// unknown. The admin address of a peer is its [cluster] peers management address at
// this node's own [admin] port: every node of a cluster serves its admin API on its
// management address at the same port (docs/deploy.md's layout).
struct forward_hint {
  std::string node, shard;
  std::function<std::string(const std::string& node)> admin_address;
};
// "HOST:PORT" for a management address and an admin port ("[v6]:PORT" for IPv6); ""
// when the address is empty or the port is 0 (any free port: unknowable from here).
std::string admin_address_text(const std::string& host, std::uint16_t port);

// The body of a request of kind `k`, or the reason it is malformed (nullopt + why).
std::optional<cluster::operator_request> parse_operator_request(cluster::operator_request::kind k,
                                                                const std::string& body,
                                                                std::string& why);
// The reply for an outcome: its HTTP status and JSON body. A 421 (not_here) also carries
// "node" and "shard" (this node's) and "primary_admin" (the primary's admin address,
// "" when unknown) from `hint`.
json_reply operator_reply(const cluster::operator_result& r, const forward_hint& hint = {});

// `submit` empty (no [cluster] node_id): 404 cluster_not_configured. `wait_extra_ms`: how
// much longer than the request's timeout_ms to wait for the agent (its handover TTL and
// a margin); past it the reply is 504 and the action may still complete.
json_endpoint cluster_op_endpoint(cluster::operator_request::kind k, cluster_submit submit,
                                  std::int64_t wait_extra_ms, forward_hint hint = {});

}  // namespace anvil::control::admin
