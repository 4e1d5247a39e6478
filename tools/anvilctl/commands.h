// anvilctl's command groups, one file each (etcdctl's shape): a group adds its
// subcommands, their flags and their callbacks to the app; a callback talks to the
// admin API through cli_context::client(), prints a table or --json, and sets
// cli_context::rc. Adding a group (HA's `peers` and `failover` will be one,
// cmd_cluster.cc) is one file and one line in main.cc's `groups`.
#pragma once

#include <CLI/CLI.hpp>

#include "tools/anvilctl/context.h"

namespace anvil::ctl {

void add_node_commands(CLI::App& app, cli_context& ctx);      // status, health
void add_stats_commands(CLI::App& app, cli_context& ctx);     // stats
void add_top_command(CLI::App& app, cli_context& ctx);        // top
void add_snapshot_commands(CLI::App& app, cli_context& ctx);  // snapshot now|list
void add_ops_commands(CLI::App& app, cli_context& ctx);      // drain, flush, log-level, config show
void add_doctor_command(CLI::App& app, cli_context& ctx);    // doctor (no server)
void add_cluster_commands(CLI::App& app, cli_context& ctx);  // peers, failover, promote, demote

}  // namespace anvil::ctl
