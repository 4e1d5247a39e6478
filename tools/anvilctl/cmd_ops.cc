// Operations that change a node: `drain` (refuse new connections, keep serving the
// open ones), `flush --yes`, `log-level LEVEL`, and `config show` (read-only, kept
// here with the other configuration command). Mutations need the token (--token-file).
#include <chrono>
#include <thread>

#include "tools/anvilctl/commands.h"
#include "tools/anvilctl/output.h"

namespace anvil::ctl {

using nlohmann::json;

namespace {

void print_drain(cli_context& ctx, const json& r) {
  if (ctx.json) return print_json(ctx.o(), r);
  ctx.o() << (r.value("draining", false) ? "draining" : "accepting connections") << ", "
          << field(r, "remaining_connections") << " connection(s) open\n";
}

void run_drain(cli_context& ctx, CLI::App* cmd) {
  const admin_client c = ctx.client();
  const bool status_only = cmd->count("--status") > 0;
  const bool cancel = cmd->count("--cancel") > 0;
  const double wait_s = cmd->get_option("--wait")->as<double>();
  json r = status_only ? c.get("/v1/drain") : c.post("/v1/drain", json{{"drain", !cancel}});
  if (wait_s > 0 && !cancel && !status_only) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
    while (r.value("remaining_connections", 0.0) > 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      r = c.get("/v1/drain");
    }
    if (r.value("remaining_connections", 0.0) > 0) ctx.rc = exit_unhealthy;
  }
  print_drain(ctx, r);
}

void run_flush(cli_context& ctx, CLI::App* cmd) {
  if (cmd->count("--yes") == 0)
    throw ctl_error(exit_usage,
                    "flush makes every item on the node invisible: run it again with --yes");
  // docs/admin.md: a whole number of seconds (as memcached's flush_all [delay]).
  const auto delay = cmd->get_option("--delay")->as<std::uint64_t>();
  const json r = ctx.client().post("/v1/flush", json{{"delay_seconds", delay}});
  const bool flushed = r.value("flushed", false);
  if (!flushed) ctx.rc = exit_unhealthy;
  if (ctx.json) return print_json(ctx.o(), r);
  if (flushed)
    ctx.o() << "flushed"
            << (delay > 0 ? " (items stored before now + " +
                                human_duration(static_cast<double>(delay)) + ")"
                          : "")
            << '\n';
  else
    ctx.o() << "flush queued, not applied yet: lcore 0 did not get to it within 2 s (stuck or "
               "saturated?); it applies it when it does\n";
}

void run_log_level(cli_context& ctx, const std::string& level) {
  const json r = ctx.client().put("/v1/log-level", json{{"level", level}});
  if (ctx.json) return print_json(ctx.o(), r);
  ctx.o() << "log level " << field(r, "previous") << " -> " << field(r, "level") << '\n';
}

void print_toml_like(std::ostream& out, const json& cfg) {
  bool first = true;
  for (const auto& [section, keys] : cfg.items()) {
    if (!keys.is_object()) {
      out << section << " = " << keys.dump() << '\n';
      continue;
    }
    out << (first ? "" : "\n") << "[" << section << "]\n";
    first = false;
    for (const auto& [k, v] : keys.items()) out << k << " = " << v.dump() << '\n';
  }
}

}  // namespace

void add_ops_commands(CLI::App& app, cli_context& ctx) {
  auto* drain = app.add_subcommand(
      "drain", "Refuse new connections and keep serving open ones (token); before a restart");
  drain->add_flag("--cancel")->description("accept new connections again");
  drain->add_flag("--status")
      ->description("only show whether the node drains and what remains (no token)");
  drain
      ->add_option("--wait",
                   "wait up to this many seconds for the open connections to end; "
                   "exit 1 if some remain")
      ->default_val(0)
      ->check(CLI::Range(0.0, 86400.0));
  drain->callback([&ctx, drain] { run_drain(ctx, drain); });

  auto* flush = app.add_subcommand("flush", "Make every item invisible, as flush_all (token)");
  flush->add_flag("--yes")->description("yes, flush this node");
  flush->add_option("--delay", "flush what was stored before now + this many seconds")
      ->default_val(0)
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{4294967295}));
  flush->callback([&ctx, flush] { run_flush(ctx, flush); });

  auto* log = app.add_subcommand("log-level", "Change the server's log level (token)");
  log->add_option("level", "trace, debug, info, warn, error, critical or off")
      ->required()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  log->callback([&ctx, log] { run_log_level(ctx, log->get_option("level")->as<std::string>()); });

  auto* config = app.add_subcommand("config", "The node's effective configuration");
  config->require_subcommand(1);
  config->add_subcommand("show", "File + flags + defaults, secrets' contents never shown")
      ->callback([&ctx] {
        const json c = ctx.client().get("/v1/config");
        if (ctx.json) return print_json(ctx.o(), c);
        print_toml_like(ctx.o(), c);
      });
}

}  // namespace anvil::ctl
