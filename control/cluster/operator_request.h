// Operator actions on a shard (anvilctl failover / promote / demote through the admin
// API) and their outcome: the seam between the admin endpoints (control/admin/) and the
// cluster agent, which executes them on its own thread (agent::submit).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace anvil::cluster {

struct operator_request {
  enum class kind : std::uint8_t { failover, promote, demote };
  kind what = kind::failover;
  std::string shard{};  // failover: must be this node's shard (empty: this node's)
  std::string node{};   // failover/promote: the target; demote: the node to demote
  bool force = false;
  std::int64_t timeout_ms = 5000;  // how long to wait for the target to catch up
};

struct operator_result {
  enum class code : std::uint8_t {
    done,       // the named node is primary (at `epoch`)
    refused,    // a safety check failed (see `problems`); nothing changed
    not_here,   // this node cannot run it (not the primary): send it to `primary`
    busy,       // another operator action is running on this node
    timed_out,  // the target did not catch up in time; the primary kept serving
    failed,     // etcd or the target failed the handover (see `message`)
  };
  code outcome = code::failed;
  std::string message{};
  std::vector<std::string> problems{};  // why refused (or what --force overrode)
  std::vector<std::string> risks{};     // what was risked, when forced
  std::string primary{};                // the shard's primary afterwards (if known)
  std::int64_t epoch = 0;
};

const char* to_string(operator_request::kind k);
const char* to_string(operator_result::code c);

}  // namespace anvil::cluster
