// anvilctl: the operator's command line for Anvil. Talks only to the admin API
// (docs/admin.md) except `doctor`, which checks the host without the server. Command
// groups live in one file each (commands.h); this file holds the global flags, the help
// text and the mapping of every failure to an exit code (exit_codes.h).
#include <CLI/CLI.hpp>
#include <iostream>

#include "tools/anvilctl/commands.h"

namespace {

const char* const examples = R"(Examples:
  anvilctl status                                 what runs on 127.0.0.1:11311
  anvilctl health || page-someone                 exit 0 ok, 1 degraded/failing, 3 unreachable
  anvilctl --server 10.1.0.7:11311 stats --per-lcore
  anvilctl top                                    refreshes every second; q quits
  anvilctl --token-file /etc/anvil/admin.token snapshot now --wait 30
  anvilctl --token-file /etc/anvil/admin.token drain --wait 60
  anvilctl --json snapshot list | jq .last
  anvilctl doctor --config /etc/anvil/anvil.toml  before the first start on a host
  anvilctl --admin 10.30.0.12:11311 --token-file /etc/anvil/admin.token failover s1 --to n3
                                                  any node of the cluster: forwarded to the
                                                  primary once (stderr says so; --no-follow)

Exit codes: 0 ok, 1 unhealthy (or the server answered with an error), 2 usage,
3 unreachable (no connection, timeout), 4 refused (401/403: token missing or wrong).
Environment: ANVILCTL_SERVER, ANVILCTL_TOKEN_FILE stand in for the flags.
)";

// Every command group.
using group_fn = void (*)(CLI::App&, anvil::ctl::cli_context&);
constexpr group_fn groups[] = {
    anvil::ctl::add_node_commands,    anvil::ctl::add_stats_commands,
    anvil::ctl::add_top_command,      anvil::ctl::add_snapshot_commands,
    anvil::ctl::add_ops_commands,     anvil::ctl::add_doctor_command,
    anvil::ctl::add_cluster_commands,
};

int run(int argc, char** argv) {
  using namespace anvil::ctl;
  cli_context ctx;
  CLI::App app{"anvilctl: operate an Anvil cache node through its admin API", "anvilctl"};
  app.set_version_flag("--version", "anvilctl 0.1.0");
  app.footer(examples);
  app.fallthrough();  // global flags may also follow the subcommand
  app.require_subcommand(1);
  app.get_formatter()->column_width(30);
  app.add_option("--server,--admin", ctx.server, "admin API address HOST:PORT ([admin] listen)")
      ->envname("ANVILCTL_SERVER")
      ->capture_default_str();
  app.add_option("--token-file", ctx.token_file,
                 "file with the bearer token ([admin] token_file), for drain, flush, "
                 "snapshot now, log-level")
      ->envname("ANVILCTL_TOKEN_FILE");
  app.add_flag("--json", ctx.json, "JSON for scripts instead of tables");
  app.add_option("--timeout", ctx.timeout_s, "seconds to connect and to wait for an answer")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 600.0));
  for (group_fn add : groups) add(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message and the usage line
    return exit_usage;
  } catch (const ctl_error& e) {
    std::cout.flush();
    std::cerr << "anvilctl: " << e.what() << '\n';
    return e.code();
  } catch (const nlohmann::json::exception& e) {
    std::cout.flush();
    std::cerr << "anvilctl: unexpected answer from the server (" << e.what() << ")\n";
    return exit_unhealthy;
  }
  return ctx.rc;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // a bug, not a user error: say so, never abort
    std::cerr << "anvilctl: internal error: " << e.what() << '\n';
  } catch (...) {
    std::cerr << "anvilctl: internal error\n";
  }
  return anvil::ctl::exit_unhealthy;
}
