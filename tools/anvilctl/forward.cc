#include "tools/anvilctl/forward.h"

#include "tools/anvilctl/endpoint.h"

namespace anvil::ctl {

using nlohmann::json;

namespace {

std::string str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string endpoint_text(const endpoint& e) {
  const bool v6 = e.host.find(':') != std::string::npos;
  return (v6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
}

std::string said(const json& body) {
  const std::string m = str(body, "message");
  return m.empty() ? error_message(body) : m;
}

}  // namespace

forward_plan plan_forward(const json& body, const admin_client& first,
                          const std::string& first_server) {
  const auto first_ep = parse_endpoint(first_server);
  if (!first_ep) throw ctl_error(exit_usage, "--server: '" + first_server + "' is not HOST:PORT");
  const std::string first_where = endpoint_text(*first_ep);
  if (!body.is_object())
    throw ctl_error(exit_unhealthy, first_where +
                                        " answered 421 (not here) with a body that is not a JSON "
                                        "object: not following it");
  forward_plan p;
  p.from_node = str(body, "node");
  p.primary = str(body, "primary");
  p.shard = str(body, "shard");
  p.server = str(body, "primary_admin");
  auto name_of_first = [&] {
    return p.from_node.empty() ? first_where : p.from_node + " (" + first_where + ")";
  };
  std::string who = name_of_first();
  if (p.primary.empty())
    throw ctl_error(exit_unhealthy,
                    who + " is not where this runs and names no primary (" + said(body) +
                        "): nothing to forward to; `anvilctl peers` shows the cluster");
  if (p.primary == p.from_node)
    throw ctl_error(exit_unhealthy, who + " answered not here but names itself as the primary (" +
                                        said(body) + "): not following");
  if (p.server.empty() || p.shard.empty() || p.from_node.empty()) {
    // An answer without the forwarding fields: the node's own view of the cluster.
    json c;
    try {
      c = first.get("/v1/cluster");
    } catch (const ctl_error& e) {
      throw ctl_error(e.code(),
                      who + " named the primary " + p.primary +
                          " but not its admin address, and GET /v1/cluster failed: " + e.what());
    }
    if (p.shard.empty()) p.shard = str(c, "shard");
    if (p.from_node.empty()) p.from_node = str(c, "node");
    who = name_of_first();
    if (p.server.empty() && c.is_object() && c.contains("peers") && c["peers"].is_array())
      for (const json& peer : c["peers"])
        if (str(peer, "node") == p.primary && !str(peer, "address").empty())
          p.server = endpoint_text({str(peer, "address"), first_ep->port});
    if (p.server.empty())
      throw ctl_error(exit_unhealthy, who + " names " + p.primary +
                                          " as the primary but gives no admin address for it "
                                          "(not in its answer, not among its peers)");
    if (p.from_node.empty()) p.from_node = first_where;
  }
  const auto target = parse_endpoint(p.server);
  if (!target)
    throw ctl_error(exit_unhealthy, who + " gives '" + p.server + "' as the admin address of " +
                                        p.primary + ": not HOST:PORT, not following");
  p.server = endpoint_text(*target);
  if (p.server == first_where)
    throw ctl_error(exit_unhealthy, who + " names " + p.primary +
                                        " as the primary at its own address: not following");
  return p;
}

void check_forward_target(const forward_plan& p, const admin_client& at_primary) {
  const std::string what = "forwarding to the primary " + p.primary + " at " + p.server;
  json c;
  try {
    c = at_primary.get("/v1/cluster");
  } catch (const ctl_error& e) {
    throw ctl_error(e.code(), what + " (named by " + p.from_node + "): " + e.what());
  }
  const std::string node = str(c, "node"), shard = str(c, "shard");
  if (node != p.primary || shard != p.shard)
    throw ctl_error(exit_unhealthy, what + ": the node there is '" + node + "' of shard '" + shard +
                                        "', not " + p.primary + " of shard '" + p.shard + "' as " +
                                        p.from_node + " said; the token is not sent there");
}

}  // namespace anvil::ctl
