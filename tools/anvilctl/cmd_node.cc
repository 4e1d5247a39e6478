// `status` (what the node is) and `health` (is it well: exit 0 ok, 1 degraded or
// failing, 3 unreachable), from GET /v1/status and GET /v1/health (docs/admin.md).
#include "tools/anvilctl/commands.h"
#include "tools/anvilctl/output.h"

namespace anvil::ctl {

using nlohmann::json;

namespace {

std::string lcore_list(const json& lcores) {
  if (!lcores.is_array()) return "-";
  std::string s;
  for (const auto& l : lcores)
    s += (s.empty() ? "" : " ") + field(l, "lcore") + "@cpu" + field(l, "cpu");
  return std::to_string(lcores.size()) + " (" + s + ")";
}

void run_status(cli_context& ctx) {
  const json s = ctx.client().get("/v1/status");
  if (ctx.json) return print_json(ctx.o(), s);
  const json port = s.value("port", json::object());
  const json admin = s.value("admin", json::object());
  const double udp = s.value("udp_port", 0.0);
  pairs p{
      {"node", field(s, "node_id")},
      {"version", field(s, "version")},
      {"pid", field(s, "pid")},
      {"uptime", human_duration(s.value("uptime_seconds", -1.0))},
      {"draining", field(s, "draining")},
      {"lcores", lcore_list(s.value("lcores", json()))},
      {"port", field(port, "type") + " " + field(port, "interface") + ", " + field(port, "queues") +
                   " queue(s), mac " + field(port, "mac")},
      {"serving", field(s, "ip") + " tcp " + field(s, "tcp_port") + " udp " +
                      (udp > 0 ? field(s, "udp_port") : "off")},
      {"admin", field(admin, "listen") + " (auth " +
                    (admin.value("auth", false) ? "on" : "off: no [admin] token_file") + ")"},
      {"config", field(s, "config_digest")},
  };
  print_pairs(ctx.o(), p);
}

void run_health(cli_context& ctx) {
  const response r = ctx.client().call("GET", "/v1/health");
  const json& h = r.body;
  if (!h.is_object() || !h.contains("state") || !h["state"].is_string()) {
    const exit_code code = r.status >= 400 ? exit_code_for_status(r.status) : exit_unhealthy;
    throw ctl_error(code, "GET /v1/health (HTTP " + std::to_string(r.status) +
                              "): no health state in the answer: " + error_message(h));
  }
  const std::string state = h["state"].get<std::string>();
  ctx.rc = state == "ok" ? exit_ok : exit_unhealthy;
  if (ctx.json) return print_json(ctx.o(), h);
  const double now = unix_now();
  ctx.o() << state << " since " << human_since(h.value("since_unix", 0.0), now) << '\n';
  const json reasons = h.value("reasons", json::array());
  if (!reasons.is_array() || reasons.empty()) return;
  table t{{"REASON", "SINCE", "DETAIL"}, {}};
  for (const auto& x : reasons)
    t.rows.push_back(
        {field(x, "code"), human_since(x.value("since_unix", 0.0), now), field(x, "detail")});
  t.print(ctx.o());
}

}  // namespace

void add_node_commands(CLI::App& app, cli_context& ctx) {
  app.add_subcommand("status", "What the node runs: version, uptime, lcores, port, config digest")
      ->callback([&ctx] { run_status(ctx); });
  app.add_subcommand("health",
                     "ok / degraded / failing with the reasons; exit 0 ok, 1 degraded or "
                     "failing, 3 unreachable")
      ->callback([&ctx] { run_health(ctx); });
}

}  // namespace anvil::ctl
