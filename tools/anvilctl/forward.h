// `anvilctl failover | promote | demote` sent to any node of a cluster: a node that cannot
// run the action (not the primary) answers 421 not_here naming the primary (docs/admin.md),
// and anvilctl follows that answer once, unless --no-follow.
//
// Where to: the 421's "primary_admin" ("HOST:PORT"); from a server that does not say it,
// the primary's management address in the answering node's GET /v1/cluster, at the port
// anvilctl used for the first node (every node of a cluster serves its admin API on its
// management address at the same port).
// Invariants: at most one hop (a second 421 is an error naming both nodes, never a loop);
// the token goes to the primary only after the node at that address said, without a
// token (GET /v1/cluster), that it is the named primary of the same shard. The operator's
// token file is one per cluster, so that check is what keeps it inside the cluster.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "tools/anvilctl/client.h"

namespace anvil::ctl {

struct forward_plan {
  std::string from_node;  // the node that answered 421 (its address when it did not say)
  std::string primary;    // the node it named as the primary
  std::string shard;
  std::string server;  // the primary's admin address, "HOST:PORT"
};

// From the 421 answer `body` of the node at `first_server`, read through `first` (a
// client without the token, for GET /v1/cluster when the answer lacks the address):
// where to forward. ctl_error (exit_unhealthy) when it names no usable primary.
forward_plan plan_forward(const nlohmann::json& body, const admin_client& first,
                          const std::string& first_server);

// GET /v1/cluster at plan.server through `at_primary` (no token): ctl_error unless the
// node there is plan.primary of plan.shard; unreachable keeps exit_unreachable.
void check_forward_target(const forward_plan& plan, const admin_client& at_primary);

}  // namespace anvil::ctl
