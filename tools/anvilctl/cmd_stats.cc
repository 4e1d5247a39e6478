// `stats [--per-lcore]`: memcached's general stats and storage health, or one row per
// lcore (since start), from GET /v1/stats.
#include "tools/anvilctl/commands.h"
#include "tools/anvilctl/output.h"
#include "tools/anvilctl/stats_model.h"

namespace anvil::ctl {

using nlohmann::json;

namespace {

void print_section(std::ostream& out, const std::string& title, const json& j) {
  if (!j.is_object() || j.empty()) return;
  out << title << '\n';
  pairs p;
  for (const auto& [k, v] : j.items()) p.emplace_back("  " + k, text(v));
  print_pairs(out, p);
}

void print_per_lcore(std::ostream& out, const json& s) {
  table t{{"LCORE", "CPU", "CONNS", "REQUESTS", "HIT%", "BUSY%", "LONGEST", "P50", "P99",
           "RX_FRAMES", "TX_FRAMES", "RETRANS"},
          {}};
  auto row = [&](const json& l, const std::string& name) {
    const lcore_sample x = sample_of(json{{"lcores", json::array()}, {"total", l}}).total;
    const double gets = x.get_hits + x.get_misses;
    const json port = l.value("port", json::object());
    const json net = l.value("net", json::object());
    const double top = largest_finite_bound(x.buckets);
    t.rows.push_back(
        {name, name == "total" ? "-" : field(l, "cpu"), human_count(x.connections),
         human_count(x.requests), gets > 0 ? percent(x.get_hits / gets) : "-",
         percent(x.busy_ratio), human_latency(x.longest_iteration_s),
         latency_cell(quantile(x.buckets, 0.5), top), latency_cell(quantile(x.buckets, 0.99), top),
         human_count(port.value("rx_frames", 0.0)), human_count(port.value("tx_frames", 0.0)),
         human_count(net.value("tcp_retransmits", 0.0))});
  };
  for (const auto& l : s.value("lcores", json::array())) row(l, field(l, "lcore"));
  if (s.contains("total")) row(s["total"], "total");
  t.print(out);
}

void run_stats(cli_context& ctx, bool per_lcore) {
  const json s = ctx.client().get("/v1/stats");
  if (ctx.json) return print_json(ctx.o(), s);
  if (per_lcore) return print_per_lcore(ctx.o(), s);
  print_section(ctx.o(), "general", s.value("general", json::object()));
  print_section(ctx.o(), "storage", s.value("storage", json::object()));
}

}  // namespace

void add_stats_commands(CLI::App& app, cli_context& ctx) {
  auto* cmd = app.add_subcommand(
      "stats", "memcached's general stats and storage health; --per-lcore: a row per lcore");
  cmd->add_flag("--per-lcore")
      ->description(
          "one row per lcore: connections, requests, hit ratio, loop busy, latency "
          "(since start)");
  cmd->callback([&ctx, cmd] { run_stats(ctx, cmd->count("--per-lcore") > 0); });
}

}  // namespace anvil::ctl
