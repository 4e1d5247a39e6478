// `snapshot now [--wait S]` (POST /v1/snapshots, token) and `snapshot list`
// (GET /v1/snapshots). A snapshot that finished and failed exits 1 with its reason.
#include "tools/anvilctl/commands.h"
#include "tools/anvilctl/output.h"

namespace anvil::ctl {

using nlohmann::json;

namespace {

void run_now(cli_context& ctx, double wait_s) {
  const json r = ctx.client().post("/v1/snapshots", json{{"wait_seconds", wait_s}});
  const bool done = r.value("done", false);
  if (done && !r.value("ok", false)) ctx.rc = exit_unhealthy;
  if (ctx.json) return print_json(ctx.o(), r);
  if (!done) {
    ctx.o() << "snapshot queued (ticket " << field(r, "ticket") << ")"
            << (wait_s > 0 ? ", not finished within --wait" : "")
            << ": `anvilctl snapshot list` shows the outcome\n";
  } else if (r.value("ok", false)) {
    ctx.o() << "snapshot " << field(r, "snapshot_id") << " written (ticket " << field(r, "ticket")
            << ")\n";
  } else {
    ctx.o() << "snapshot failed (ticket " << field(r, "ticket") << "): " << field(r, "reason")
            << '\n';
  }
}

void run_list(cli_context& ctx) {
  const json r = ctx.client().get("/v1/snapshots");
  if (ctx.json) return print_json(ctx.o(), r);
  if (!r.value("enabled", false)) {
    ctx.o() << "snapshots are off";
    if (r.contains("reason")) ctx.o() << " (" << field(r, "reason") << ")";
    ctx.o() << ": set [snapshot] dir in the config\n";
    return;
  }
  const json last = r.value("last", json::object());
  const json storage = r.value("storage", json::object());
  const double interval = r.value("interval_seconds", 0.0);
  std::string state = field(storage, "state");
  if (storage.value("reason", std::string()) != "") state += " (" + field(storage, "reason") + ")";
  pairs p{{"dir", field(r, "dir")},
          {"interval", interval > 0 ? human_duration(interval) : "off (SIGUSR1, admin, shutdown)"},
          {"keep", field(r, "keep")},
          {"storage", state},
          {"last ok", human_since(last.value("last_ok_unix", 0.0), unix_now())}};
  if (last.contains("snapshot_id")) {
    std::string l = "id " + field(last, "snapshot_id") + ", " +
                    (last.value("ok", false) ? "ok" : "FAILED: " + field(last, "reason"));
    if (last.value("ok", false))
      l += ", " + field(last, "items") + " items, " + human_bytes(last.value("bytes", 0.0)) +
           " in " + human_latency(last.value("seconds", 0.0));
    p.emplace_back("last attempt", l);
  }
  print_pairs(ctx.o(), p);
  table t{{"ID", "COMPLETE"}, {}};
  for (const auto& s : r.value("snapshots", json::array()))
    t.rows.push_back({field(s, "id"), s.value("complete", false) ? "yes" : "no (partial)"});
  ctx.o() << '\n';
  if (t.rows.empty())
    ctx.o() << "no snapshot in the directory yet\n";
  else
    t.print(ctx.o());
}

}  // namespace

void add_snapshot_commands(CLI::App& app, cli_context& ctx) {
  auto* snap = app.add_subcommand("snapshot", "Take a snapshot now, or list them");
  snap->require_subcommand(1);
  auto* now = snap->add_subcommand("now", "Queue a snapshot on the io thread (token)");
  now->add_option("--wait", "wait up to this many seconds for it to finish (0..60)")
      ->default_val(0)
      ->check(CLI::Range(0.0, 60.0));
  now->callback([&ctx, now] { run_now(ctx, now->get_option("--wait")->as<double>()); });
  snap->add_subcommand("list", "The snapshot directory, the last attempt, storage health")
      ->callback([&ctx] { run_list(ctx); });
}

}  // namespace anvil::ctl
