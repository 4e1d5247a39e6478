// The anvil binary over real ports in test networks: it starts, receives frames on
// every lcore (UDP to a closed port is counted and dropped by each lcore's stack), and
// stops cleanly and promptly on SIGTERM/SIGINT. DPDK: two instances at once, each on its own veth, no
// hugepages.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/port/port_test_util.h"
#include "tests/server/anvil_process.h"
#include "tests/support/testnet.h"

namespace anvil::test {
namespace {

using namespace std::chrono_literals;

class config_file {
 public:
  explicit config_file(const std::string& text) {
    static int n = 0;
    _path = "/tmp/anvil-srv-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".toml";
    std::ofstream(_path) << text;
  }
  ~config_file() { std::remove(_path.c_str()); }
  const std::string& path() const { return _path; }

 private:
  std::string _path;
};

std::string afpacket_config(const testnet& net, const std::string& extra = "") {
  return "[network]\nport_type = \"afpacket\"\ninterface = \"" + net.stack_if() + "\"\nip = \"" +
         net.stack_ip() +
         "\"\n[lcores]\nidle = \"backoff\"\nidle_sleep_us = 200\nidle_spin = 100\n" + extra;
}

void send_frames(const testnet& net, int n, std::uint32_t tag) {
  raw_socket client(net.client_ns(), net.client_if());
  const auto cm = parse_mac(net.client_mac()), sm = parse_mac(net.stack_mac());
  for (int i = 0; i < n; ++i) {
    // distinct flows so both lcores of a 2-lcore server get some
    ASSERT_GT(client.send(udp_frame(sm, cm, static_cast<std::uint16_t>(40000 + i), 11211, tag)), 0);
  }
}

TEST(AnvilServer, AfPacketStartsCountsFramesAndStopsOnSigterm) {
  testnet net;
  config_file conf(afpacket_config(net));
  anvil_process p({"--config", conf.path(), "-t", "2"}, net.stack_ns());
  ASSERT_TRUE(p.wait_for_log("event=started", 10s)) << p.log();
  EXPECT_NE(p.log().find("handler=cache_server"), std::string::npos) << p.log();
  EXPECT_NE(p.log().find("queues=2"), std::string::npos) << p.log();
  send_frames(net, 64, 0xa1);
  std::this_thread::sleep_for(300ms);
  p.signal(SIGTERM);
  auto rc = p.wait(10s);
  ASSERT_TRUE(rc.has_value()) << "did not stop within 10 s:\n" << p.log();
  EXPECT_EQ(*rc, 0) << p.log();
  const auto log = p.log();
  EXPECT_NE(log.find("event=shutdown_begin signal=SIGTERM"), std::string::npos) << log;
  EXPECT_NE(log.find("event=stopped"), std::string::npos) << log;
  long long total = 0;
  std::istringstream in(log);
  std::string line;
  int finals = 0;
  while (std::getline(in, line)) {
    auto k = line.find("event=lcore_final");
    if (k == std::string::npos) continue;
    ++finals;
    total += std::stoll(line.substr(line.find(" drop_udp_port=") + 15));
  }
  EXPECT_EQ(finals, 2);
  EXPECT_EQ(total, 64) << "every frame counted exactly once across the fanout group\n" << log;
}

TEST(AnvilServer, SigintStopsItTooStatsArePeriodicAndAMissingInterfaceFails) {
  testnet net;
  {
    config_file conf(afpacket_config(net, "[server]\nstats_interval_s = 0.1\n"));
    anvil_process p({"--config", conf.path()}, net.stack_ns());
    ASSERT_TRUE(p.wait_for_log("event=started", 10s)) << p.log();
    EXPECT_TRUE(p.wait_for_log("event=stats lcore=0", 5s)) << "periodic stats line\n" << p.log();
    p.signal(SIGINT);
    EXPECT_EQ(p.wait(10s), 0) << p.log();
    EXPECT_NE(p.log().find("signal=SIGINT"), std::string::npos);
  }
  {
    config_file conf("[network]\ninterface = \"nope9\"\nip = \"198.18.0.1\"\n");
    anvil_process p({"--config", conf.path()}, net.stack_ns());
    EXPECT_EQ(p.wait(10s), 1) << p.log();
    EXPECT_NE(p.log().find("event=port_open_failed"), std::string::npos) << p.log();
    EXPECT_NE(p.log().find("nope9"), std::string::npos) << p.log();
  }
}

#ifdef ANVIL_TEST_DPDK
TEST(AnvilServer, TwoDpdkInstancesAtOnceWithoutHugepages) {
  testnet a, b;
  auto dpdk_config = [](const testnet& net, int i) {
    return "[network]\nport_type = \"dpdk\"\nip = \"198.18.0.1\"\n"
           "[lcores]\nidle = \"backoff\"\nidle_sleep_us = 200\nidle_spin = 100\n"
           "[dpdk]\ndevice = \"net_af_packet" +
           std::to_string(i) +
           "\"\n"
           "eal_args = [\"--no-huge\", \"-m\", \"64\", \"--no-shconf\", \"--no-pci\", "
           "\"--log-level=lib.eal:error\", \"--vdev\", \"net_af_packet" +
           std::to_string(i) + ",iface=" + net.stack_if() + "\"]\n";
  };
  config_file ca(dpdk_config(a, 0)), cb(dpdk_config(b, 1));
  anvil_process pa({"--config", ca.path()}, a.stack_ns());
  anvil_process pb({"--config", cb.path()}, b.stack_ns());
  ASSERT_TRUE(pa.wait_for_log("event=started", 20s)) << pa.log();
  ASSERT_TRUE(pb.wait_for_log("event=started", 20s)) << pb.log();
  send_frames(a, 30, 0xb1);
  send_frames(b, 40, 0xb2);
  std::this_thread::sleep_for(500ms);
  pa.signal(SIGTERM);
  pb.signal(SIGTERM);
  ASSERT_EQ(pa.wait(15s), 0) << pa.log();
  ASSERT_EQ(pb.wait(15s), 0) << pb.log();
  EXPECT_EQ(log_value(pa.log(), "lcore_final", "drop_udp_port"), 30) << pa.log();
  EXPECT_EQ(log_value(pb.log(), "lcore_final", "drop_udp_port"), 40) << pb.log();
}
#endif

}  // namespace
}  // namespace anvil::test
