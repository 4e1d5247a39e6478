// tools/deploy: the example production config parses with anvil's own parser and says
// what docs/deploy.md says it does, and it agrees with the systemd unit (snapshots
// under its StateDirectory, the config path its ExecStart names).
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "control/config.h"

namespace {

std::string source(const std::string& rel) { return std::string(ANVIL_SOURCE_ROOT) + "/" + rel; }

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The value of the first "Key=" line of a unit file.
std::string unit_value(const std::string& unit, const std::string& key) {
  std::smatch m;
  if (std::regex_search(unit, m, std::regex("(^|\\n)" + key + "=([^\\n]*)"))) return m[2];
  return "";
}

TEST(Deploy, ExampleConfigParses) {
  const auto c =
      anvil::control::load_config({"anvil", "--config", source("tools/deploy/anvil.toml")});
  EXPECT_EQ(c.port, anvil::control::port_kind::dpdk);
  EXPECT_EQ(c.cores, (std::vector<unsigned>{2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(c.lcores, 6u);
  EXPECT_EQ(c.memory_mb, 49152u);
  EXPECT_EQ(c.snapshot_dir, "/var/lib/anvil/snapshots");
  EXPECT_GT(c.snapshot_interval_s, 0);
  EXPECT_TRUE(c.snapshot_require);
  // The admin API on the management address, never loopback-only or every interface,
  // with a token for the mutating endpoints.
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_NE(c.admin.address, "127.0.0.1");
  EXPECT_NE(c.admin.address, "0.0.0.0");
  EXPECT_NE(c.admin.address, c.ip) << "the data-plane address is the stack's, not the kernel's";
  EXPECT_EQ(c.admin.token_file.rfind("/etc/anvil/", 0), 0u) << c.admin.token_file;
  // No test-mode EAL flags in a production example.
  for (const auto& a : c.eal_args) {
    EXPECT_NE(a, "--no-huge");
    EXPECT_EQ(a.find("net_af_packet"), std::string::npos);
  }
}

TEST(Deploy, UnitAndConfigAgree) {
  const std::string unit = slurp(source("tools/deploy/anvil.service"));
  ASSERT_FALSE(unit.empty());
  const auto c =
      anvil::control::load_config({"anvil", "--config", source("tools/deploy/anvil.toml")});
  const std::string state = unit_value(unit, "StateDirectory");
  ASSERT_FALSE(state.empty());
  EXPECT_EQ(c.snapshot_dir.rfind("/var/lib/" + state + "/", 0), 0u) << c.snapshot_dir;
  EXPECT_NE(unit_value(unit, "ExecStart").find("--config /etc/anvil/anvil.toml"),
            std::string::npos);
  // systemd must wait longer than a drain plus a final snapshot (each up to
  // shutdown_timeout_s) before it kills anvil mid-snapshot.
  EXPECT_GT(std::stod(unit_value(unit, "TimeoutStopSec")), 2 * c.shutdown_timeout_s);
}

}  // namespace
