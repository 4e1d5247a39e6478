// `doctor`: is this host ready for anvil with this config? Runs without the server:
// parses the config with the server's own parser (control/config.h), then the host
// checks of doctor/checks.h. Exit 0 when nothing fails (warnings printed), 1 when a
// check fails. --proc-root/--sys-root point the checks at another tree (tests).
#include "control/config.h"
#include "tools/anvilctl/commands.h"
#include "tools/anvilctl/doctor/checks.h"
#include "tools/anvilctl/output.h"

namespace anvil::ctl {

using nlohmann::json;

namespace {

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

void run_doctor(cli_context& ctx, const std::string& config, const doctor::host_roots& roots) {
  std::vector<doctor::check_result> results;
  try {
    const control::server_config cfg = control::load_config({"anvil", "--config", config});
    results.push_back({"config", doctor::verdict::pass, config + " parses", ""});
    const auto more = doctor::run_all(doctor::host_view(roots), cfg);
    results.insert(results.end(), more.begin(), more.end());
  } catch (const control::config_error& e) {
    results.push_back({"config", doctor::verdict::fail, e.what(),
                       "fix the setting named (docs/anvil.md lists every key), or --config FILE"});
    results.push_back(doctor::judge_clock(doctor::probe_clock()));
  } catch (const control::early_exit&) {
    // not reachable with these arguments
  }
  doctor::verdict worst = doctor::verdict::pass;
  for (const auto& r : results) worst = std::max(worst, r.result);
  ctx.rc = worst == doctor::verdict::fail ? exit_unhealthy : exit_ok;
  if (ctx.json) {
    json j{{"config", config}, {"result", doctor::to_string(worst)}, {"checks", json::array()}};
    for (const auto& r : results)
      j["checks"].push_back({{"check", r.name},
                             {"result", doctor::to_string(r.result)},
                             {"detail", r.detail},
                             {"fix", r.fix}});
    return print_json(ctx.o(), j);
  }
  std::size_t w = 0;
  for (const auto& r : results) w = std::max(w, r.name.size());
  for (const auto& r : results) {
    ctx.o() << upper(doctor::to_string(r.result)) << "  " << r.name
            << std::string(w - r.name.size() + 2, ' ') << r.detail << '\n';
    if (!r.fix.empty()) ctx.o() << std::string(w + 8, ' ') << "fix: " << r.fix << '\n';
  }
  int fails = 0, warns = 0;
  for (const auto& r : results) {
    fails += r.result == doctor::verdict::fail;
    warns += r.result == doctor::verdict::warn;
  }
  ctx.o() << '\n'
          << (fails ? "NOT READY" : "ready") << ": " << results.size() << " checks, " << fails
          << " failed, " << warns << " warning(s)\n";
}

}  // namespace

void add_doctor_command(CLI::App& app, cli_context& ctx) {
  auto* d = app.add_subcommand(
      "doctor",
      "Check this host before a deployment (no server needed): memory, hugepages, NIC "
      "driver or interface, cpu isolation, NUMA, admin token, snapshot disk, clock; exit 1 "
      "when a check fails");
  d->add_option("--config", "the anvil config file to check against")
      ->default_val("/etc/anvil/anvil.toml");
  d->add_option("--proc-root", "read /proc from here instead (tests)")->default_val("/proc");
  d->add_option("--sys-root", "read /sys from here instead (tests)")->default_val("/sys");
  d->callback([&ctx, d] {
    doctor::host_roots roots{d->get_option("--proc-root")->as<std::string>(),
                             d->get_option("--sys-root")->as<std::string>()};
    run_doctor(ctx, d->get_option("--config")->as<std::string>(), roots);
  });
}

}  // namespace anvil::ctl
