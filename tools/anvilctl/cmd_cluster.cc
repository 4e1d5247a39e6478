// The HA commands (docs/cluster.md): `peers` (GET /v1/cluster: this node and the peers
// it heartbeats with, roles, zones, health, replication lag), and the operator actions
// `failover SHARD --to NODE`, `promote NODE`, `demote NODE` (token; POST
// /v1/cluster/failover|promote|demote). An action the node refuses prints why and, for
// one that was forced, what it risked; the exit code is 0 only when the named node is
// primary. Sent to a node that is not the primary, an action follows its 421 to the
// primary once (forward.h) unless --no-follow.
#include <algorithm>
#include <iostream>
#include <string>

#include "tools/anvilctl/commands.h"
#include "tools/anvilctl/forward.h"
#include "tools/anvilctl/output.h"

namespace anvil::ctl {

using nlohmann::json;

namespace {

double num(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : -1;
}

// j[key] when it is of the expected kind, else an empty one (odd bodies print "-").
json obj(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : json::object();
}
json list(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : json::array();
}

// Lag in replication positions behind the shard's primary ("-" when unknown).
std::string lag(double position, double primary_position) {
  if (position < 0 || primary_position < 0) return "-";
  return human_count(std::max(0.0, primary_position - position));
}

void run_peers(cli_context& ctx) {
  const json c = ctx.client().get("/v1/cluster");
  if (ctx.json) return print_json(ctx.o(), c);
  if (!c.is_object()) throw ctl_error(exit_unhealthy, "GET /v1/cluster: not a JSON object");
  const json shard = obj(c, "shard_state");
  const json vip = obj(c, "vip");
  const json health = obj(c, "health");
  const json peers = list(c, "peers");
  // The primary's position: this node's if it is primary, else the primary peer's.
  double primary_position = -1;
  if (field(c, "role") == "primary") primary_position = num(c, "replication_position");
  for (const auto& p : peers)
    if (p.is_object() && field(p, "role") == "primary")
      primary_position = num(p, "replication_position");
  ctx.o() << "shard " << field(c, "shard") << "  primary " << field(shard, "primary") << "  epoch "
          << field(shard, "epoch") << "  zone " << field(shard, "zone") << "  vip "
          << field(vip, "address")
          << (vip.contains("held") && vip["held"] == true ? " (held here)" : "") << '\n';
  table t{{"NODE", "ROLE", "ZONE", "HEALTH", "STATE", "EPOCH", "POSITION", "LAG", "LAST SEEN"}, {}};
  t.rows.push_back({field(c, "node") + " (this)", field(c, "role"), field(c, "zone"),
                    field(health, "level"), "self", field(c, "epoch"),
                    field(c, "replication_position"),
                    lag(num(c, "replication_position"), primary_position), "-"});
  for (const auto& p : peers) {
    if (!p.is_object()) continue;
    const double age = num(p, "age_ms");
    std::string h = field(p, "health");
    if (p.contains("reasons") && p["reasons"].is_array() && !p["reasons"].empty())
      h += " (" + text(p["reasons"]) + ")";
    t.rows.push_back({field(p, "node"), field(p, "role"), field(p, "zone"), h, field(p, "state"),
                      field(p, "epoch"), field(p, "replication_position"),
                      lag(num(p, "replication_position"), primary_position),
                      age < 0 ? "never" : human_duration(age / 1000.0) + " ago"});
  }
  t.print(ctx.o());
}

// A 421 from the node asked: the same POST once more, to the primary it names (forward.h).
response forward_once(const cli_context& ctx, const cli_context& slow, const std::string& path,
                      const json& body, const response& first) {
  cli_context reader = ctx;  // reads carry no token
  reader.token_file.clear();
  const forward_plan plan = plan_forward(first.body, reader.client(), ctx.server);
  reader.server = plan.server;
  check_forward_target(plan, reader.client());
  std::cerr << "anvilctl: " << plan.from_node << " (" << ctx.server
            << ") is not the primary of shard " << plan.shard << "; forwarded to the primary "
            << plan.primary << " at " << plan.server << " (--no-follow to stop this)\n";
  cli_context at_primary = slow;
  at_primary.server = plan.server;
  response r;
  try {
    r = at_primary.client().call("POST", path, &body);
  } catch (const ctl_error& e) {
    if (e.code() != exit_refused) throw;
    throw ctl_error(exit_refused, "the primary " + plan.primary + " at " + plan.server +
                                      ", forwarded to: " + e.what() +
                                      " (one token per cluster: every node's [admin] "
                                      "token_file must hold the same token)");
  }
  if (r.status == 421) {
    const std::string again =
        r.body.is_object() && r.body.contains("primary") && r.body["primary"].is_string()
            ? r.body["primary"].get<std::string>()
            : std::string();
    throw ctl_error(exit_unhealthy, plan.primary + " at " + plan.server +
                                        " is not where this runs either (" + error_message(r.body) +
                                        (again.empty() ? "" : "; it names " + again) + "), after " +
                                        plan.from_node + " at " + ctx.server + " named " +
                                        plan.primary +
                                        ": not following a second time (the primary may be "
                                        "moving: `anvilctl peers`, then run it again)");
  }
  return r;
}

// One operator action: POST, then report the outcome (docs/admin.md).
void run_action(cli_context& ctx, const std::string& path, const json& body,
                std::int64_t timeout_ms, bool follow) {
  cli_context slow = ctx;
  // The node answers within timeout_ms plus its handover TTL (2 x lease_ttl_s, at most
  // 120 s) and a margin; connecting stays bounded by --timeout.
  slow.extra_read_s = static_cast<double>(timeout_ms) / 1000.0 + 125.0;
  response r = slow.client().call("POST", path, &body);
  if (r.status == 421 && follow) r = forward_once(ctx, slow, path, body, r);
  if (r.status == 400 || r.status == 404)
    throw ctl_error(exit_code_for_status(r.status), error_message(r.body));
  if (ctx.json) {
    print_json(ctx.o(), r.body);
  } else {
    const std::string outcome =
        r.body.is_object() && r.body.contains("outcome") && r.body["outcome"].is_string()
            ? r.body["outcome"].get<std::string>()
            : std::string();
    if (outcome.empty()) throw ctl_error(exit_code_for_status(r.status), error_message(r.body));
    const std::string primary = field(r.body, "primary") == "-" ? "" : field(r.body, "primary");
    const std::string admin =
        r.body.contains("primary_admin") && r.body["primary_admin"].is_string()
            ? r.body["primary_admin"].get<std::string>()
            : std::string();
    if (outcome == "done")
      ctx.o() << "done: " << field(r.body, "message") << '\n';
    else if (outcome == "not_here")
      ctx.o() << "not here: " << field(r.body, "message")
              << (primary.empty() ? std::string()
                                  : "; run it against " + primary + "'s admin address" +
                                        (admin.empty() ? std::string() : " (" + admin + ")"))
              << '\n';
    else
      ctx.o() << outcome << ": " << field(r.body, "message") << '\n';
    for (const auto& p : list(r.body, "problems"))
      if (p.is_string()) ctx.o() << "  problem: " << p.get<std::string>() << '\n';
    const auto risks = list(r.body, "risks");
    if (outcome == "refused" && !list(r.body, "problems").empty())
      ctx.o() << "  --force overrides these checks (and says what it risks)\n";
    if (!risks.empty()) ctx.o() << (outcome == "done" ? "  risked (--force):\n" : "  risks:\n");
    for (const auto& p : risks)
      if (p.is_string()) ctx.o() << "    - " << p.get<std::string>() << '\n';
  }
  if (r.status != 200) ctx.rc = exit_unhealthy;
}

void add_common(CLI::App* cmd) {
  cmd->add_flag("--no-follow")
      ->description(
          "do not forward to the primary when the node asked is not the primary (421 not_here): "
          "print its answer instead");
  cmd->add_option("--wait-ms",
                  "how long the primary waits for the target to catch up (writes pause "
                  "meanwhile), 1..60000")
      ->default_val(5000)
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{60000}));
}

void run_cmd(cli_context& ctx, CLI::App* cmd, const std::string& path, json body) {
  const auto wait_ms = cmd->get_option("--wait-ms")->as<std::int64_t>();
  body["timeout_ms"] = wait_ms;
  if (cmd->get_option_no_throw("--force") != nullptr) body["force"] = cmd->count("--force") > 0;
  run_action(ctx, path, body, wait_ms, cmd->count("--no-follow") == 0);
}

}  // namespace

void add_cluster_commands(CLI::App& app, cli_context& ctx) {
  app.add_subcommand("peers", "This node and its peers: roles, zones, health, replication lag")
      ->callback([&ctx] { run_peers(ctx); });

  auto* failover = app.add_subcommand("failover",
                                      "Planned switchover of SHARD to NODE, no acknowledged write "
                                      "lost (token; any node: forwarded to the primary)");
  failover->add_option("shard", "the shard")->required();
  failover->add_option("--to", "the replica that becomes primary")->required();
  failover->add_flag("--force")->description(
      "hand over even to a node in another zone (the VIP then needs a routing or "
      "DNS change)");
  add_common(failover);
  failover->callback([&ctx, failover] {
    run_cmd(ctx, failover, "/v1/cluster/failover",
            json{{"shard", failover->get_option("shard")->as<std::string>()},
                 {"to", failover->get_option("--to")->as<std::string>()}});
  });

  auto* promote = app.add_subcommand(
      "promote",
      "Make NODE primary (token; the primary, or NODE when the shard has none; another "
      "node forwards to the primary)");
  promote->add_option("node", "the node to promote")->required();
  promote->add_flag("--force")->description(
      "promote a replica that is behind, unhealthy or in another zone: may lose "
      "writes and need a routing or DNS change");
  add_common(promote);
  promote->callback([&ctx, promote] {
    run_cmd(ctx, promote, "/v1/cluster/promote",
            json{{"node", promote->get_option("node")->as<std::string>()}});
  });

  auto* demote = app.add_subcommand(
      "demote",
      "Hand NODE's shard to its best replica (token; run on NODE, the primary; another "
      "node forwards to the primary)");
  demote->add_option("node", "the primary to demote")->required();
  add_common(demote);
  demote->callback([&ctx, demote] {
    run_cmd(ctx, demote, "/v1/cluster/demote",
            json{{"node", demote->get_option("node")->as<std::string>()}});
  });
}

}  // namespace anvil::ctl
