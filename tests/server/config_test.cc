// The anvil configuration: memcached's flag forms are accepted with memcached's
// meaning, the TOML file sets everything else, flags override the file, and every bad
// value is rejected with an error that names the field as the user wrote it.
#include "control/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>

namespace anvil::control {
namespace {

constexpr const char* kMinimal = "[network]\ninterface = \"anv-s\"\nip = \"198.18.0.1\"\n";

class temp_file {
 public:
  explicit temp_file(const std::string& text) {
    char tmpl[] = "/tmp/anvil-config-XXXXXX";
    int fd = ::mkstemp(tmpl);
    _path = tmpl;
    ::close(fd);
    std::ofstream(_path) << text;
  }
  ~temp_file() { std::remove(_path.c_str()); }
  const std::string& path() const { return _path; }

 private:
  std::string _path;
};

server_config load(std::vector<std::string> flags, const std::string& toml = kMinimal) {
  temp_file f(toml);
  std::vector<std::string> args{"anvil", "--config", f.path()};
  args.insert(args.end(), flags.begin(), flags.end());
  return load_config(args);
}

TEST(Config, DefaultsFollowMemcachedWhereTheyMeanTheSame) {
  auto c = load({});
  EXPECT_EQ(c.tcp_port, 11211);
  EXPECT_EQ(c.udp_port, 0) << "UDP off by default";
  EXPECT_EQ(c.memory_mb, 64u);
  EXPECT_EQ(c.max_connections, 1024u);
  EXPECT_EQ(c.max_item_size, 1024u * 1024);
  EXPECT_FALSE(c.sasl);
  EXPECT_EQ(c.verbosity, 0);
  EXPECT_EQ(c.lcores, 1u);
  EXPECT_EQ(c.port, port_kind::afpacket);
  EXPECT_EQ(c.idle.mode, server::idle_policy::kind::busy_poll) << "busy-poll by default";
  EXPECT_TRUE(c.nic_offloads_off) << "GRO/LRO off by default: merged frames would be dropped";
  EXPECT_EQ(c.dpdk_rx_ring, 2048u) << "net_af_packet's framecnt: room for a 1 MB request";
  EXPECT_DOUBLE_EQ(c.lcore_start_timeout_s, 5.0);
  EXPECT_EQ(c.dpdk_tx_ring, 1024u) << "DPDK's usual TX ring (l3fwd), room for 16 bursts of 64";
}

// memcached's -B (issue 16): auto by default; SASL binds binary and refuses text.
TEST(Config, ProtocolBinding) {
  EXPECT_EQ(load({}).protocol, "auto");
  EXPECT_EQ(load({"-B", "ascii"}).protocol, "ascii");
  EXPECT_EQ(load({"--protocol", "binary"}).protocol, "binary");
  EXPECT_EQ(load({}, std::string(kMinimal) + "[memcached]\nprotocol = \"ascii\"\n").protocol,
            "ascii");
  EXPECT_EQ(
      load({"-B", "auto"}, std::string(kMinimal) + "[memcached]\nprotocol = \"binary\"\n").protocol,
      "auto")
      << "the flag wins";
  const std::string creds = std::string(kMinimal) + "[memcached]\nsasl_credentials = \"/c\"\n";
  EXPECT_EQ(load({"-S"}, creds).protocol, "binary") << "-S alone binds binary, as memcached";
  EXPECT_EQ(load({"-S", "-B", "binary"}, creds).protocol, "binary");
}

TEST(Config, CacheSizingKeys) {
  auto d = load({});
  EXPECT_EQ(d.segment_size, 0u) << "automatic";
  EXPECT_EQ(d.expected_item_bytes, 128u);
  auto c = load({"-I", "2m"}, std::string(kMinimal) +
                                  "[cache]\nsegment_size = \"2m\"\nexpected_item_bytes = 16\n");
  EXPECT_EQ(c.segment_size, 2u << 20) << "exactly -I is enough";
  EXPECT_EQ(c.expected_item_bytes, 16u);
  EXPECT_EQ(
      load({"-I", "64k"}, std::string(kMinimal) + "[cache]\nsegment_size = 65536\n").segment_size,
      65536u);
}

TEST(Config, MemcachedFlagFormsAreAccepted) {
  auto c =
      load({"-p", "11311", "-U", "11411", "-m", "128", "-t", "2", "-c", "4096", "-I", "2m", "-vv"});
  EXPECT_EQ(c.tcp_port, 11311);
  EXPECT_EQ(c.udp_port, 11411);
  EXPECT_EQ(c.memory_mb, 128u);
  EXPECT_EQ(c.lcores, 2u);
  EXPECT_EQ(c.max_connections, 4096u);
  EXPECT_EQ(c.max_item_size, 2u << 20);
  EXPECT_EQ(c.verbosity, 2);
  EXPECT_EQ(load({"-v", "-v", "-v"}).verbosity, 3);
  EXPECT_EQ(load({"-I", "512k"}).max_item_size, 512u * 1024);
  EXPECT_EQ(load({"-I", "512K"}).max_item_size, 512u * 1024);
  EXPECT_EQ(load({"-I", "1048576"}).max_item_size, 1048576u);
  EXPECT_EQ(load({"-I", "1M"}).max_item_size, 1u << 20);
  EXPECT_EQ(load({"-m", "4g"}).memory_mb, 4096u);
  EXPECT_EQ(load({"-p11212"}).tcp_port, 11212) << "getopt-style glued value";
  auto l = load({"--port=11213", "--udp-port", "0", "--memory-limit=256", "--threads=3",
                 "--conn-limit", "10", "--max-item-size=4m", "--listen", "10.0.0.5"});
  EXPECT_EQ(l.tcp_port, 11213);
  EXPECT_EQ(l.memory_mb, 256u);
  EXPECT_EQ(l.lcores, 3u);
  EXPECT_EQ(l.max_connections, 10u);
  EXPECT_EQ(l.max_item_size, 4u << 20);
  EXPECT_EQ(l.ip, "10.0.0.5") << "-l is the address to serve on, as in memcached";
}

TEST(Config, TheFileSetsEverythingElseAndFlagsOverrideIt) {
  auto c = load({"-p", "2000"}, R"(
[memcached]
port = 1000
udp_port = 1001
memory_mb = 512
max_item_size = "8m"
max_connections = 77
[network]
port_type = "dpdk"
interface = "eth9"
ip = "10.1.2.3"
mac = "02:00:00:aa:bb:cc"
[lcores]
cores = "0-2,5"
idle = "backoff"
idle_sleep_us = 50
idle_spin = 10
start_timeout_s = 0.5
[afpacket]
rx = "mmsg"
ring_frames = 64
checksum_partial = "drop"
offloads = "keep"
[dpdk]
eal_args = ["--no-huge", "-m", "64"]
device = "net_tap0"
rx_ring_size = 32
tx_ring_size = 32768
[server]
shutdown_timeout_s = 2.5
stats_interval_s = 10
[snapshot]
dir = "/var/lib/anvil"
interval_s = 300
keep = 3
node_id = 7
at_shutdown = false
io_timeout_s = 0.5
rate_limit_mb_s = 200
nice = 5
)");
  EXPECT_EQ(c.tcp_port, 2000) << "the flag wins";
  EXPECT_EQ(c.udp_port, 1001);
  EXPECT_EQ(c.memory_mb, 512u);
  EXPECT_EQ(c.max_item_size, 8u << 20);
  EXPECT_EQ(c.max_connections, 77u);
  EXPECT_EQ(c.port, port_kind::dpdk);
  EXPECT_EQ(c.interface, "eth9");
  EXPECT_EQ(c.ip, "10.1.2.3");
  ASSERT_TRUE(c.mac.has_value());
  EXPECT_EQ((*c.mac)[5], 0xcc);
  EXPECT_EQ(c.cores, (std::vector<unsigned>{0, 1, 2, 5}));
  EXPECT_EQ(c.lcores, 4u) << "the core list decides the lcore count";
  EXPECT_EQ(c.idle.mode, server::idle_policy::kind::backoff);
  EXPECT_EQ(c.idle.sleep_us, 50u);
  EXPECT_EQ(c.idle.spin_iterations, 10u);
  EXPECT_DOUBLE_EQ(c.lcore_start_timeout_s, 0.5);
  EXPECT_EQ(c.afpacket_rx, port::afpacket_rx_mode::mmsg);
  EXPECT_EQ(c.ring_frames, 64u);
  EXPECT_EQ(c.csum_partial, port::csum_partial_policy::drop);
  EXPECT_FALSE(c.nic_offloads_off);
  EXPECT_EQ(c.eal_args, (std::vector<std::string>{"--no-huge", "-m", "64"}));
  EXPECT_EQ(c.dpdk_device, "net_tap0");
  EXPECT_EQ(c.dpdk_rx_ring, 32u) << "the smallest ring accepted";
  EXPECT_EQ(c.dpdk_tx_ring, 32768u) << "the largest ring accepted";
  EXPECT_DOUBLE_EQ(c.shutdown_timeout_s, 2.5);
  EXPECT_EQ(c.snapshot_dir, "/var/lib/anvil");
  EXPECT_DOUBLE_EQ(c.snapshot_interval_s, 300);
  EXPECT_EQ(c.snapshot_keep, 3u);
  EXPECT_EQ(c.node_id, 7u);
  EXPECT_FALSE(c.snapshot_at_shutdown);
  EXPECT_DOUBLE_EQ(c.snapshot_io_timeout_s, 0.5);
  EXPECT_DOUBLE_EQ(c.snapshot_rate_limit_mb_s, 200);
  EXPECT_EQ(c.snapshot_nice, 5);
  EXPECT_EQ(load({}, std::string(kMinimal) + "[lcores]\ncores = [3, 1]\n").cores,
            (std::vector<unsigned>{1, 3}));
}

TEST(Config, RequireSnapshotsIsOffByDefaultAndSetByFlagOrFile) {
  const std::string with_dir = std::string(kMinimal) + "[snapshot]\ndir = \"/tmp/s\"\n";
  EXPECT_FALSE(load({}, with_dir).snapshot_require);
  EXPECT_TRUE(load({"--require-snapshots"}, with_dir).snapshot_require);
  EXPECT_TRUE(load({}, with_dir + "require = true\n").snapshot_require);
  EXPECT_FALSE(load({}, with_dir + "require = false\n").snapshot_require);
}

TEST(Config, HealthAndFaultKnobKeys) {
  const auto d = load({});
  EXPECT_DOUBLE_EQ(d.health_interval_s, 1.0);
  EXPECT_DOUBLE_EQ(d.health_canary_p99_ms, 10);
  EXPECT_FALSE(d.debug_fault_knobs);
  EXPECT_EQ(d.debug_lcore_delay_us, 0u);
  const auto c = load({"-t", "2"}, std::string(kMinimal) +
                                       "[health]\ninterval_s = 0.2\ncanary_p99_ms = 50\n"
                                       "canary_timeout_s = 3\ncanary_window_s = 2\n"
                                       "loop_stall_ms = 20\nevictions_per_s = 0\n"
                                       "port_errors_per_s = 5\nconnections_near_pct = 100\n"
                                       "recover_intervals = 1\n"
                                       "[debug]\nenable_fault_knobs = true\n"
                                       "lcore_delay_us = 10000000\nlcore_delay_lcore = 1\n");
  EXPECT_DOUBLE_EQ(c.health_interval_s, 0.2);
  EXPECT_DOUBLE_EQ(c.health_canary_p99_ms, 50);
  EXPECT_DOUBLE_EQ(c.health_canary_timeout_s, 3);
  EXPECT_DOUBLE_EQ(c.health_canary_window_s, 2);
  EXPECT_DOUBLE_EQ(c.health_loop_stall_ms, 20);
  EXPECT_DOUBLE_EQ(c.health_evictions_per_s, 0);
  EXPECT_DOUBLE_EQ(c.health_port_errors_per_s, 5);
  EXPECT_DOUBLE_EQ(c.health_connections_pct, 100);
  EXPECT_EQ(c.health_recover_intervals, 1u);
  EXPECT_TRUE(c.debug_fault_knobs);
  EXPECT_EQ(c.debug_lcore_delay_us, 10'000'000u);
  EXPECT_EQ(c.debug_lcore_delay_lcore, 1u);
  // Enabled but no delay: allowed (SIGUSR2 then has nothing to toggle).
  EXPECT_TRUE(
      load({}, std::string(kMinimal) + "[debug]\nenable_fault_knobs = true\n").debug_fault_knobs);
}

TEST(Config, AdminSectionDefaultsAndValues) {
  const auto d = load({});
  EXPECT_TRUE(d.admin.enabled);
  EXPECT_EQ(d.admin.listen_text(), "127.0.0.1:11311");
  EXPECT_EQ(d.admin.token_file, "");
  EXPECT_EQ(d.admin.max_connections, 16u);
  EXPECT_EQ(d.admin.max_body_bytes, 65536u);
  const auto c = load({}, std::string(kMinimal) +
                              "[admin]\nenabled = false\nlisten = \"10.1.2.3:0\"\n"
                              "token_file = \"/etc/anvil/token\"\nmax_connections = 1\n"
                              "threads = 2\nread_timeout_s = 0.5\nwrite_timeout_s = 2\n"
                              "max_body_bytes = \"1k\"\n");
  EXPECT_FALSE(c.admin.enabled);
  EXPECT_EQ(c.admin.address, "10.1.2.3");
  EXPECT_EQ(c.admin.port, 0u);
  EXPECT_EQ(c.admin.token_file, "/etc/anvil/token");
  EXPECT_EQ(c.admin.max_connections, 1u);
  EXPECT_EQ(c.admin.threads, 2u);
  EXPECT_DOUBLE_EQ(c.admin.read_timeout_s, 0.5);
  EXPECT_DOUBLE_EQ(c.admin.write_timeout_s, 2);
  EXPECT_EQ(c.admin.max_body_bytes, 1024u);
}

TEST(Config, HelpAndVersionExitEarly) {
  EXPECT_THROW(load_config({"anvil", "--help"}), early_exit);
  EXPECT_THROW(load_config({"anvil", "--version"}), early_exit);
}

struct bad_case {
  std::vector<std::string> flags;
  std::string toml;  // appended to kMinimal unless it starts with '!'
  std::string field;
};

class BadConfig : public ::testing::TestWithParam<bad_case> {};

TEST_P(BadConfig, IsRejectedNamingTheField) {
  const auto& b = GetParam();
  std::string toml = b.toml.starts_with("!") ? b.toml.substr(1) : kMinimal + b.toml;
  try {
    load(b.flags, toml);
    FAIL() << "accepted; expected an error naming " << b.field;
  } catch (const config_error& e) {
    EXPECT_EQ(e.field().rfind(b.field, 0), 0u) << "error was: " << e.what();
    EXPECT_NE(std::string(e.what()).find(b.field), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryField, BadConfig,
    ::testing::Values(
        bad_case{{"-p", "http"}, "", "-p/--port"}, bad_case{{"-p", "70000"}, "", "-p/--port"},
        bad_case{{"-p", "0"}, "", "-p/--port"},  // with UDP off too: nothing to serve
        bad_case{{"-U", "-1"}, "", "-U/--udp-port"}, bad_case{{"-U", "x"}, "", "-U/--udp-port"},
        bad_case{{"-m", "0"}, "", "-m/--memory-limit"},
        bad_case{{"-m", "lots"}, "", "-m/--memory-limit"},
        bad_case{{"-t", "0"}, "", "-t/--threads"}, bad_case{{"-t", "two"}, "", "-t/--threads"},
        bad_case{{"-c", "0"}, "", "-c/--conn-limit"},
        bad_case{{"-I", "100"}, "", "-I/--max-item-size"},
        bad_case{{"-I", "2g"}, "", "-I/--max-item-size"},
        bad_case{{"-I", "1x"}, "", "-I/--max-item-size"},
        bad_case{{"-I", "40m"}, "", "-I/--max-item-size"},  // > half of -m 64
        bad_case{{"-S"}, "", "-S/--enable-sasl"}, bad_case{{"-l", "1.2.3"}, "", "-l/--listen"},
        bad_case{{"--frobnicate"}, "", "command line"},
        bad_case{{"-t", "3"}, "[lcores]\ncores = [0, 1]\n", "-t/--threads"},
        bad_case{{}, "[memcached]\nport = \"x\"\n", "memcached.port"},
        bad_case{{}, "[admin]\nlisten = \"11311\"\n", "admin.listen"},
        bad_case{{}, "[admin]\nlisten = \"localhost:11311\"\n", "admin.listen"},
        bad_case{{}, "[admin]\nlisten = \"127.0.0.1:65536\"\n", "admin.listen"},
        bad_case{{}, "[admin]\nlisten = \"127.0.0.1:\"\n", "admin.listen"},
        bad_case{{}, "[admin]\nmax_connections = 0\n", "admin.max_connections"},
        bad_case{{}, "[admin]\nthreads = 0\n", "admin.threads"},
        bad_case{{}, "[admin]\nread_timeout_s = 0\n", "admin.read_timeout_s"},
        bad_case{{}, "[admin]\nwrite_timeout_s = \"x\"\n", "admin.write_timeout_s"},
        bad_case{{}, "[admin]\nmax_body_bytes = 0\n", "admin.max_body_bytes"},
        bad_case{{}, "[admin]\nmax_body_bytes = \"65m\"\n", "admin.max_body_bytes"},
        bad_case{{}, "[admin]\nenabled = \"on\"\n", "admin.enabled"},
        bad_case{{}, "[admin]\nport = 1\n", "admin.port"},
        bad_case{{}, "[memcached]\nport = 65536\n", "memcached.port"},
        bad_case{{}, "[memcached]\nudp_port = -5\n", "memcached.udp_port"},
        bad_case{{}, "[memcached]\nmemory_mb = 0\n", "memcached.memory_mb"},
        bad_case{{}, "[memcached]\nthreads = 0\n", "memcached.threads"},
        bad_case{{}, "[memcached]\nmax_connections = 0\n", "memcached.max_connections"},
        bad_case{{}, "[memcached]\nmax_item_size = \"1k5\"\n", "memcached.max_item_size"},
        bad_case{{}, "[memcached]\nmax_item_size = \"48m\"\n", "memcached.max_item_size"},
        bad_case{{}, "[memcached]\nsasl = \"yes\"\n", "memcached.sasl"},
        bad_case{{}, "[cache]\nsegment_size = \"64m1\"\n", "cache.segment_size"},
        bad_case{{}, "[cache]\nsegment_size = \"60k\"\n", "cache.segment_size"},
        bad_case{{}, "[cache]\nsegment_size = 1048577\n", "cache.segment_size"},
        bad_case{{}, "[cache]\nsegment_size = \"2g\"\n", "cache.segment_size"},
        bad_case{{"-I", "2m"}, "[cache]\nsegment_size = \"1m\"\n", "cache.segment_size"},
        bad_case{{}, "[cache]\nexpected_item_bytes = 15\n", "cache.expected_item_bytes"},
        bad_case{{}, "[cache]\nexpected_item_bytes = 0\n", "cache.expected_item_bytes"},
        bad_case{{}, "[cache]\nexpected_item_bytes = \"2g\"\n", "cache.expected_item_bytes"},
        bad_case{{}, "[memcached]\nsasl = true\n", "-S/--enable-sasl"},
        bad_case{{}, "[memcached]\nverbose = 1\n", "memcached.verbose"},
        bad_case{{"-B", "text"}, "", "-B/--protocol"},
        bad_case{{}, "[memcached]\nprotocol = \"text\"\n", "memcached.protocol"},
        bad_case{{"-S", "-B", "auto"}, "[memcached]\nsasl_credentials = \"/c\"\n", "-B/--protocol"},
        bad_case{
            {"-S", "-B", "ascii"}, "[memcached]\nsasl_credentials = \"/c\"\n", "-B/--protocol"},
        bad_case{{"-S"},
                 "[memcached]\nprotocol = \"ascii\"\nsasl_credentials = \"/c\"\n",
                 "memcached.protocol"},
        bad_case{{},
                 "!"
                 "[network]\nport_type = \"xdp\"\n",
                 "network.port_type"},
        bad_case{{},
                 "!"
                 "[network]\ninterface = \"a/b\"\nip = \"1.1.1.1\"\n",
                 "network.interface"},
        bad_case{{},
                 "!"
                 "[network]\ninterface = \"averyveryverylongname\"\n",
                 "network.interface"},
        bad_case{{},
                 "!"
                 "[network]\ninterface = \"x\"\nip = \"300.1.1.1\"\n",
                 "network.ip"},
        bad_case{{},
                 "!"
                 "[network]\ninterface = \"x\"\nip = 5\n",
                 "network.ip"},
        bad_case{{},
                 "!"
                 "[network]\nmac = \"zz:00:00:00:00:00\"\n",
                 "network.mac"},
        bad_case{{},
                 "!"
                 "[network]\nmac = \"01:00:5e:00:00:01\"\n",
                 "network.mac"},
        bad_case{{},
                 "!"
                 "[network]\ninterface = \"x\"\n",
                 "network.ip"},
        bad_case{{},
                 "!"
                 "[network]\nip = \"10.0.0.1\"\n",
                 "network.interface"},
        bad_case{{},
                 "!"
                 "[network]\nvlan = 3\n",
                 "network.vlan"},
        bad_case{{}, "[lcores]\ncores = \"3-1\"\n", "lcores.cores"},
        bad_case{{}, "[lcores]\ncores = [0, 0]\n", "lcores.cores"},
        bad_case{{}, "[lcores]\ncores = []\n", "lcores.cores"},
        bad_case{{}, "[lcores]\ncores = [\"a\"]\n", "lcores.cores"},
        bad_case{{}, "[lcores]\nidle = \"nap\"\n", "lcores.idle"},
        bad_case{{}, "[lcores]\nidle_sleep_us = 0\n", "lcores.idle_sleep_us"},
        bad_case{{}, "[lcores]\nidle_spin = \"x\"\n", "lcores.idle_spin"},
        bad_case{{}, "[lcores]\nstart_timeout_s = 0\n", "lcores.start_timeout_s"},
        bad_case{{}, "[lcores]\nstart_timeout_s = -1\n", "lcores.start_timeout_s"},
        bad_case{{}, "[lcores]\nstart_timeout_s = 601\n", "lcores.start_timeout_s"},
        bad_case{{}, "[afpacket]\nrx = \"v3\"\n", "afpacket.rx"},
        bad_case{{}, "[afpacket]\nring_frames = 33\n", "afpacket.ring_frames"},
        bad_case{{}, "[afpacket]\nchecksum_partial = \"maybe\"\n", "afpacket.checksum_partial"},
        bad_case{{}, "[afpacket]\noffloads = \"on\"\n", "afpacket.offloads"},
        bad_case{{}, "[dpdk]\neal_args = \"--no-huge\"\n", "dpdk.eal_args"},
        bad_case{{}, "[dpdk]\neal_args = [1]\n", "dpdk.eal_args"},
        bad_case{{}, "[dpdk]\ntx_ring_size = 0\n", "dpdk.tx_ring_size"},
        bad_case{{}, "[dpdk]\ntx_ring_size = 31\n", "dpdk.tx_ring_size"},
        bad_case{{}, "[dpdk]\ntx_ring_size = 32769\n", "dpdk.tx_ring_size"},
        bad_case{{}, "[dpdk]\ntx_ring_size = -1\n", "dpdk.tx_ring_size"},
        bad_case{{}, "[dpdk]\nrx_ring_size = \"big\"\n", "dpdk.rx_ring_size"},
        bad_case{{}, "[dpdk]\nrx_ring_size = 65536\n", "dpdk.rx_ring_size"},
        bad_case{{}, "[server]\nshutdown_timeout_s = -1\n", "server.shutdown_timeout_s"},
        bad_case{{}, "[server]\nstats_interval_s = \"often\"\n", "server.stats_interval_s"},
        bad_case{{}, "[snapshot]\ninterval_s = -5\n", "snapshot.interval_s"},
        bad_case{{}, "[snapshot]\nkeep = 0\n", "snapshot.keep"},
        bad_case{{}, "[snapshot]\nat_shutdown = \"sometimes\"\n", "snapshot.at_shutdown"},
        bad_case{{}, "[snapshot]\nio_timeout_s = 0\n", "snapshot.io_timeout_s"},
        bad_case{{}, "[snapshot]\nrate_limit_mb_s = \"fast\"\n", "snapshot.rate_limit_mb_s"},
        bad_case{{}, "[snapshot]\nwhen = 1\n", "snapshot.when"},
        bad_case{{}, "[snapshot]\ndir = \"/x\"\nrequire = \"yes please\"\n", "snapshot.require"},
        bad_case{{}, "[snapshot]\nrequire = true\n", "snapshot.require"},  // without a dir
        bad_case{{"--require-snapshots"}, "", "--require-snapshots"},      // without a dir
        bad_case{{}, "[snapshot]\nnice = 20\n", "snapshot.nice"},
        bad_case{{}, "[snapshot]\nnice = 1.5\n", "snapshot.nice"},
        bad_case{{}, "[health]\ninterval_s = 0\n", "health.interval_s"},
        bad_case{{}, "[health]\ncanary_p99_ms = -1\n", "health.canary_p99_ms"},
        bad_case{{}, "[health]\ncanary_timeout_s = \"soon\"\n", "health.canary_timeout_s"},
        bad_case{{}, "[health]\ncanary_window_s = 0\n", "health.canary_window_s"},
        bad_case{{}, "[health]\nloop_stall_ms = 0\n", "health.loop_stall_ms"},
        bad_case{{}, "[health]\nevictions_per_s = -1\n", "health.evictions_per_s"},
        bad_case{{}, "[health]\nport_errors_per_s = \"many\"\n", "health.port_errors_per_s"},
        bad_case{{}, "[health]\nconnections_near_pct = 101\n", "health.connections_near_pct"},
        bad_case{{}, "[health]\nconnections_near_pct = 0\n", "health.connections_near_pct"},
        bad_case{{}, "[health]\nrecover_intervals = 0\n", "health.recover_intervals"},
        bad_case{{}, "[health]\nsomething = 1\n", "health.something"},
        // The fault knob is refused without the explicit second key, and must be sane.
        bad_case{{}, "[debug]\nlcore_delay_us = 1000\n", "debug.lcore_delay_us"},
        bad_case{{},
                 "[debug]\nenable_fault_knobs = false\nlcore_delay_us = 1\n",
                 "debug.lcore_delay_us"},
        bad_case{{},
                 "[debug]\nenable_fault_knobs = true\nlcore_delay_us = 1.5\n",
                 "debug.lcore_delay_us"},
        bad_case{{},
                 "[debug]\nenable_fault_knobs = true\nlcore_delay_us = -1\n",
                 "debug.lcore_delay_us"},
        bad_case{{},
                 "[debug]\nenable_fault_knobs = true\nlcore_delay_us = 10000001\n",
                 "debug.lcore_delay_us"},
        bad_case{{}, "[debug]\nenable_fault_knobs = maybe\n", "--config"},
        bad_case{{}, "[debug]\nenable_fault_knobs = \"maybe\"\n", "debug.enable_fault_knobs"},
        bad_case{{"-t", "2"}, "[debug]\nlcore_delay_lcore = 2\n", "debug.lcore_delay_lcore"},
        bad_case{{}, "[debug]\nlcore_delay_lcore = 1\n", "debug.lcore_delay_lcore"},
        bad_case{{}, "[cache]\nsize = 1\n", "cache"}, bad_case{{}, "network = 5\n", "network"},
        bad_case{{}, "[network\n", "--config"}));

TEST(Config, AfPacketVdevsGetTheRingSizeAsFramecntUnlessTheySetIt) {
  using v = std::vector<std::string>;
  EXPECT_EQ(
      with_af_packet_framecnt({"--no-huge", "--vdev", "net_af_packet0,iface=e,qpairs=2"}, 2048),
      (v{"--no-huge", "--vdev", "net_af_packet0,iface=e,qpairs=2,framecnt=2048"}));
  EXPECT_EQ(with_af_packet_framecnt({"--vdev=eth_af_packet1,iface=e"}, 64),
            (v{"--vdev=eth_af_packet1,iface=e,framecnt=64"}))
      << "the --vdev=SPEC form and the old driver name";
  EXPECT_EQ(with_af_packet_framecnt({"--vdev", "net_af_packet0,iface=e,framecnt=256"}, 2048),
            (v{"--vdev", "net_af_packet0,iface=e,framecnt=256"}))
      << "the operator's framecnt wins";
  EXPECT_EQ(with_af_packet_framecnt({"--vdev", "net_tap0,iface=t", "--vdev"}, 2048),
            (v{"--vdev", "net_tap0,iface=t", "--vdev"}))
      << "other drivers, and a trailing --vdev without a value, are left alone";
  EXPECT_EQ(with_af_packet_framecnt({}, 2048), v{});
}

TEST(Config, AMissingFileIsNamed) {
  try {
    load_config({"anvil", "--config", "/nonexistent/anvil.toml"});
    FAIL();
  } catch (const config_error& e) {
    EXPECT_EQ(e.field(), "--config");
    EXPECT_NE(std::string(e.what()).find("/nonexistent/anvil.toml"), std::string::npos);
  }
}

TEST(Config, SyntaxErrorsSayWhere) {
  try {
    load({}, "[network]\ninterface = \"x\"\nip = \n");
    FAIL();
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
}

TEST(Config, Parsers) {
  EXPECT_EQ(parse_size("1m"), 1u << 20);
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size(""), std::nullopt);
  EXPECT_EQ(parse_size("m"), std::nullopt);
  EXPECT_EQ(parse_size("99999999999999999999"), std::nullopt);
  EXPECT_EQ(parse_size("99999999999999t"), std::nullopt) << "overflow";
  EXPECT_EQ(parse_cpu_list("0-3,6"), (std::vector<unsigned>{0, 1, 2, 3, 6}));
  EXPECT_EQ(parse_cpu_list("1,"), std::nullopt);
  EXPECT_EQ(parse_cpu_list("a"), std::nullopt);
  EXPECT_TRUE(parse_mac("02:00:00:00:00:01").has_value());
  EXPECT_FALSE(parse_mac("02:00:00:00:00:0").has_value());
  EXPECT_FALSE(parse_mac("02-00-00-00-00-01").has_value());
  EXPECT_TRUE(is_ipv4("198.18.0.1"));
  EXPECT_FALSE(is_ipv4("198.18.0"));
}

// docs/anvil.md is the reference operators read: every key the parser accepts is listed
// there under its [section], and every key listed there is one the parser accepts.
std::set<std::string> documented_settings() {
  const char* root = std::getenv("ANVIL_SOURCE_ROOT");
  std::ifstream doc(std::string(root != nullptr ? root : ".") + "/docs/anvil.md");
  EXPECT_TRUE(doc) << "docs/anvil.md not found (ANVIL_SOURCE_ROOT)";
  std::set<std::string> out;
  std::string line, section;
  while (std::getline(doc, line)) {
    if (line.rfind("## [", 0) == 0) {
      section = line.substr(4, line.find(']') - 4);
    } else if (line.rfind("## ", 0) == 0) {
      section.clear();
    } else if (!section.empty() && line.rfind("| `", 0) == 0) {
      out.insert(section + "." + line.substr(3, line.find('`', 3) - 3));
    }
  }
  return out;
}

TEST(Config, EverySettingIsDocumentedAndEveryDocumentedSettingExists) {
  const auto known = known_settings();
  const std::set<std::string> parsed(known.begin(), known.end());
  const auto documented = documented_settings();
  for (const auto& k : parsed)
    EXPECT_TRUE(documented.count(k)) << k << " missing from docs/anvil.md";
  for (const auto& k : documented)
    EXPECT_TRUE(parsed.count(k)) << k << " documented but not accepted";
  EXPECT_GT(parsed.size(), 20u);
}

// Issue 12 item 5: memcached's -o idle_timeout=N and the [server] reclaiming timers.
TEST(Config, IdleTimeoutKeepaliveAndFinWait2) {
  auto d = load({});
  EXPECT_EQ(d.idle_timeout_s, 0u) << "off by default, as in memcached";
  EXPECT_DOUBLE_EQ(d.fin_wait_2_timeout_s, 60);
  EXPECT_DOUBLE_EQ(d.tcp_keepalive_s, 0);
  EXPECT_DOUBLE_EQ(d.tcp_keepalive_interval_s, 75);
  EXPECT_EQ(d.tcp_keepalive_probes, 9u);
  EXPECT_EQ(load({"-o", "idle_timeout=600"}).idle_timeout_s, 600u);
  auto f = load({}, std::string(kMinimal) +
                        "[server]\nidle_timeout_s = 30\nfin_wait_2_timeout_s = 0\n"
                        "tcp_keepalive_s = 7200\ntcp_keepalive_interval_s = 5\n"
                        "tcp_keepalive_probes = 3\n");
  EXPECT_EQ(f.idle_timeout_s, 30u);
  EXPECT_DOUBLE_EQ(f.fin_wait_2_timeout_s, 0);
  EXPECT_DOUBLE_EQ(f.tcp_keepalive_s, 7200);
  EXPECT_DOUBLE_EQ(f.tcp_keepalive_interval_s, 5);
  EXPECT_EQ(f.tcp_keepalive_probes, 3u);
  EXPECT_EQ(
      load({"-o", "idle_timeout=5"}, std::string(kMinimal) + "[server]\nidle_timeout_s = 30\n")
          .idle_timeout_s,
      5u)
      << "the flag wins";
  auto field_of = [](std::vector<std::string> flags, const std::string& toml = kMinimal) {
    try {
      load(std::move(flags), toml);
    } catch (const config_error& e) {
      return e.field();
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(field_of({"-o", "idle_timeout=abc"}), "-o idle_timeout");
  EXPECT_EQ(field_of({"-o", "idle_timeout=-1"}), "-o idle_timeout");
  EXPECT_EQ(field_of({"-o", "idle_timeout"}), "-o idle_timeout");
  EXPECT_EQ(field_of({"-o", "hashpower=20"}), "-o");
  EXPECT_EQ(field_of({}, std::string(kMinimal) + "[server]\nidle_timeout_s = 1.5\n"),
            "server.idle_timeout_s");
  EXPECT_EQ(field_of({}, std::string(kMinimal) + "[server]\ntcp_keepalive_probes = 0\n"),
            "server.tcp_keepalive_probes");
  EXPECT_EQ(field_of({}, std::string(kMinimal) + "[server]\ntcp_keepalive_interval_s = 0\n"),
            "server.tcp_keepalive_interval_s");
}

TEST(Config, UnknownSectionNamesTheKnownOnes) {
  try {
    load({}, std::string(kMinimal) + "[nonsense]\nx = 1\n");
    FAIL();
  } catch (const config_error& e) {
    EXPECT_EQ(e.field(), "nonsense");
    EXPECT_NE(std::string(e.what()).find("snapshot"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace anvil::control
