// The anvil binary refuses bad configuration before touching any network: exit status
// 2 and a message naming the field. Help and version exit 0.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/server/anvil_process.h"

namespace anvil::test {
namespace {

using namespace std::chrono_literals;

struct cli_case {
  std::vector<std::string> args;
  std::string field;
};

class AnvilCli : public ::testing::TestWithParam<cli_case> {};

TEST_P(AnvilCli, ExitsNonZeroNamingTheField) {
  const std::string conf = "/tmp/anvil-cli-test-" + std::to_string(::getpid()) + ".toml";
  std::ofstream(conf) << "[network]\ninterface = \"anv-none\"\nip = \"198.18.0.1\"\n";
  auto args = GetParam().args;
  for (auto& a : args)
    if (a == "CONF") a = conf;
  anvil_process p(args);
  auto rc = p.wait(10s);
  std::remove(conf.c_str());
  ASSERT_TRUE(rc.has_value()) << "still running";
  EXPECT_EQ(*rc, 2) << p.log();
  EXPECT_NE(p.log().find("invalid configuration: " + GetParam().field), std::string::npos)
      << p.log();
}

INSTANTIATE_TEST_SUITE_P(
    BadFields, AnvilCli,
    ::testing::Values(cli_case{{}, "network.ip"},
                      cli_case{{"-l", "198.18.0.1"}, "network.interface"},
                      cli_case{{"--config", "CONF", "-p", "99999"}, "-p/--port"},
                      cli_case{{"--config", "CONF", "-I", "1"}, "-I/--max-item-size"},
                      cli_case{{"--config", "CONF", "-m", "x"}, "-m/--memory-limit"},
                      // one 1 MiB segment: every SET would fail while the node looked fine
                      cli_case{{"--config", "CONF", "-m", "1", "-I", "512k"}, "-m/--memory-limit"},
                      cli_case{{"--config", "CONF", "-t", "0"}, "-t/--threads"},
                      cli_case{{"--config", "CONF", "-t", "4096"}, "-t/--threads"},
                      cli_case{{"--config", "CONF", "-c", "-3"}, "-c/--conn-limit"},
                      cli_case{{"--config", "CONF", "-U", "65536"}, "-U/--udp-port"},
                      cli_case{{"--config", "CONF", "-S"}, "-S/--enable-sasl"},
                      cli_case{{"--config", "CONF", "--bogus"}, "command line"},
                      cli_case{{"--config", "/nonexistent.toml"}, "--config"}));

TEST(AnvilCli, ACoreThatIsNotAvailableIsNamed) {
  const std::string conf = "/tmp/anvil-cli-cores-" + std::to_string(::getpid()) + ".toml";
  std::ofstream(conf) << "[network]\ninterface = \"anv-none\"\nip = \"198.18.0.1\"\n"
                         "[lcores]\ncores = [4000]\n";
  anvil_process p({"--config", conf});
  auto rc = p.wait(10s);
  std::remove(conf.c_str());
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 2);
  EXPECT_NE(p.log().find("lcores.cores: cpu 4000 is not available"), std::string::npos) << p.log();
}

// Exactly enough memory (two segments) passes the sizing check: the start goes on to the
// port (which does not exist here) and fails there, not on the configuration.
TEST(AnvilCli, ExactlyTwoSegmentsPassesTheSizingCheck) {
  const std::string conf = "/tmp/anvil-cli-sizing-" + std::to_string(::getpid()) + ".toml";
  std::ofstream(conf) << "[network]\ninterface = \"anv-none\"\nip = \"198.18.0.1\"\n";
  anvil_process p({"--config", conf, "-m", "2", "-I", "1m"});
  auto rc = p.wait(10s);
  std::remove(conf.c_str());
  ASSERT_TRUE(rc.has_value());
  EXPECT_NE(*rc, 2) << p.log();
  EXPECT_NE(p.log().find("event=cache_sizing partitions=1 segment_bytes=1048576 "
                         "segments_per_partition=2"),
            std::string::npos)
      << p.log();
}

// The binary's own default segment size: 10 x -I where memory allows (tails <= 10%),
// else the start-up log says what the tails may cost and which flags would fix it.
TEST(AnvilCli, DefaultSegmentSizeFollowsTheMaxItemSize) {
  const std::string conf = "/tmp/anvil-cli-segsize-" + std::to_string(::getpid()) + ".toml";
  std::ofstream(conf) << "[network]\ninterface = \"anv-none\"\nip = \"198.18.0.1\"\n";
  anvil_process roomy({"--config", conf, "-m", "160", "-I", "1m", "-t", "1"});
  auto rc = roomy.wait(10s);
  ASSERT_TRUE(rc.has_value());
  EXPECT_NE(roomy.log().find("event=cache_sizing partitions=1 segment_bytes=10485760 "
                             "segments_per_partition=16"),
            std::string::npos)
      << roomy.log();
  EXPECT_NE(roomy.log().find("max_item_waste_pct=10.0"), std::string::npos) << roomy.log();
  EXPECT_EQ(roomy.log().find("event=cache_sizing_note"), std::string::npos) << roomy.log();
  anvil_process tight({"--config", conf, "-m", "64", "-I", "1m", "-t", "1"});
  rc = tight.wait(10s);
  std::remove(conf.c_str());
  ASSERT_TRUE(rc.has_value());
  EXPECT_NE(*rc, 2) << tight.log();  // explained, not refused
  EXPECT_NE(tight.log().find("segment_bytes=4194304 segments_per_partition=16"), std::string::npos)
      << tight.log();
  EXPECT_NE(tight.log().find("event=cache_sizing_note reason=\"items near -I/--max-item-size "
                             "(1 MiB) may leave up to 25.0% of -m/--memory-limit unused"),
            std::string::npos)
      << tight.log();
  EXPECT_NE(tight.log().find("raise -m/--memory-limit to 160"), std::string::npos) << tight.log();
}

// issue 11: with --require-snapshots a snapshot directory that cannot be prepared
// stops start-up (exit 1, the reason logged) before any network is touched; without
// it the same directory is only a degraded storage state (tests/e2e covers serving).
TEST(AnvilCli, RequireSnapshotsFailsStartWhenTheDirectoryCannotBePrepared) {
  const std::string base = "/tmp/anvil-cli-req-" + std::to_string(::getpid());
  const std::string conf = base + ".toml";
  const std::string blocker = base + ".file";
  std::ofstream(blocker) << "a file where a directory must be";
  std::ofstream(conf) << "[network]\ninterface = \"anv-none\"\nip = \"198.18.0.1\"\n"
                         "[snapshot]\ndir = \""
                      << blocker << "/snaps\"\n";
  anvil_process p({"--config", conf, "--require-snapshots"});
  auto rc = p.wait(30s);
  std::remove(conf.c_str());
  std::remove(blocker.c_str());
  ASSERT_TRUE(rc.has_value()) << "still running\n" << p.log();
  EXPECT_EQ(*rc, 1) << p.log();
  EXPECT_NE(p.log().find("event=start_failed"), std::string::npos) << p.log();
  EXPECT_NE(p.log().find("cannot create " + blocker + "/snaps: Not a directory"), std::string::npos)
      << p.log();
}

TEST(AnvilCli, HelpListsTheMemcachedFlagsAndExitsZero) {
  anvil_process p({"--help"});
  ASSERT_EQ(p.wait(10s), 0);
  for (const char* f :
       {"-p,--port", "-U,--udp-port", "-m,--memory-limit", "-t,--threads", "-c,--conn-limit",
        "-I,--max-item-size", "-S,--enable-sasl", "-v,--verbose", "--config"})
    EXPECT_NE(p.log().find(f), std::string::npos) << f;
  anvil_process v({"--version"});
  EXPECT_EQ(v.wait(10s), 0);
}

}  // namespace
}  // namespace anvil::test
