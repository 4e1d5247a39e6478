// The anvil server's configuration: memcached's command-line flags where they mean the
// same thing (-p -U -m -t -c -I -S -v -l), and a TOML file (--config FILE) for
// everything else. Flags override the file. Every rejected value names its field the
// way the user wrote it ("-I/--max-item-size", "network.ip"), so a failed start says
// exactly what to fix. Parsing is pure: no file other than the config, no network.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "control/cluster/cluster_config.h"
#include "control/admin/admin_config.h"
#include "dataplane/port/afpacket_port.h"
#include "dataplane/port/frame.h"
#include "dataplane/server/idle_policy.h"

namespace anvil::control {

enum class port_kind { afpacket, dpdk };

struct server_config {
  // memcached's flags (same meaning, same defaults where they make sense here)
  std::uint16_t tcp_port = 11211;
  std::uint16_t udp_port = 0;  // 0: UDP off (amplification risk), as in memcached >= 1.5.6
  std::uint64_t memory_mb = 64;
  unsigned lcores = 1;  // -t: one poll loop per core (memcached's 4 threads would take 4 cores)
  unsigned max_connections = 1024;
  std::uint64_t max_item_size = 1024 * 1024;
  bool sasl = false;
  // -B / [memcached] protocol: "auto" (the first byte of a connection picks binary or
  // text), "binary" or "ascii". SASL needs binary (memcached refuses -S with ASCII).
  std::string protocol = "auto";
  std::string sasl_credentials;  // [memcached] sasl_credentials: file for -S (SASL PLAIN)
  int verbosity = 0;

  // [cache]: engine sizing (cache/sizing.h). 0 = automatic.
  std::uint64_t segment_size = 0;           // 0: 1 MiB, or -I rounded up to 4 KiB if larger
  std::uint64_t expected_item_bytes = 128;  // sizes the hash index: -m / this many items

  // the config file
  std::string config_path;
  port_kind port = port_kind::afpacket;
  std::string interface;
  std::string ip;  // dotted quad, validated
  std::optional<port::mac_address> mac;
  std::vector<unsigned> cores;  // OS cpu ids; empty = the first `lcores` allowed cpus
  server::idle_policy idle;
  port::afpacket_rx_mode afpacket_rx = port::afpacket_rx_mode::ring;
  port::csum_partial_policy csum_partial = port::csum_partial_policy::accept;
  bool nic_offloads_off = true;  // [afpacket] offloads: GRO/LRO/GSO/TSO off while serving
  unsigned ring_frames = 1024;
  std::vector<std::string> eal_args;
  std::string dpdk_device;
  std::uint16_t dpdk_rx_ring = 2048;   // [dpdk] rx_ring_size: RX descriptors per queue
  std::uint16_t dpdk_tx_ring = 1024;   // [dpdk] tx_ring_size: TX descriptors per queue
  double shutdown_timeout_s = 5.0;     // drain bound on SIGINT/SIGTERM
  double lcore_start_timeout_s = 5.0;  // [lcores] start_timeout_s: every lcore polls by then
  double stats_interval_s = 0;         // periodic per-lcore stats log line; 0 = only at exit
  // [server] connection reclaiming (dataplane/net tcp_config); 0 = off where noted.
  unsigned idle_timeout_s = 0;           // memcached's -o idle_timeout=N; 0 = off
  double fin_wait_2_timeout_s = 60;      // 0 = FIN_WAIT_2 waits for ever
  double tcp_keepalive_s = 0;            // idle time before keepalive probes; 0 = off
  double tcp_keepalive_interval_s = 75;  // between probes
  unsigned tcp_keepalive_probes = 9;     // unanswered probes before RST
  // [snapshot]: warm restart. Empty dir = off. Restored at start, before serving.
  std::string snapshot_dir;
  double snapshot_interval_s = 0;  // 0: no periodic snapshots
  unsigned snapshot_keep = 2;
  unsigned node_id = 1;
  bool snapshot_at_shutdown = true;
  double snapshot_io_timeout_s = 5.0;  // deadline of every single snapshot I/O
  int snapshot_nice = 19;  // the io thread's nice value: snapshots yield the CPU to serving
  double snapshot_rate_limit_mb_s = 0;  // write rate cap in MB/s; 0 = unlimited
  // --require-snapshots / [snapshot] require: a snapshot directory that cannot be
  // prepared (created, listed) at start stops start-up (exit 1) instead of serving
  // with storage degraded. Off by default.
  bool snapshot_require = false;
  // [cluster]: high availability (control/cluster/, docs/cluster.md). Off by default.
  cluster::cluster_config cluster;
  // [health] (control/health/health_monitor.h): the evaluation period and thresholds.
  double health_interval_s = 1.0;
  double health_canary_p99_ms = 10;       // canary p99 above this: degraded (canary_slow)
  double health_canary_timeout_s = 2.0;   // a canary round unanswered this long: failing
  double health_canary_window_s = 10;     // canary percentiles over this window
  double health_loop_stall_ms = 50;       // an lcore iteration longer than this: loop_stall
  double health_evictions_per_s = 1000;   // unexpired items evicted per s: memory_pressure
  double health_port_errors_per_s = 100;  // port drops/errors per s: port_errors
  double health_connections_pct = 90;     // open connections vs -c: connections_near_limit
  unsigned health_recover_intervals = 3;  // evaluations below threshold before a reason clears
  // [debug]: test-only fault knobs, refused at start unless enable_fault_knobs is set.
  bool debug_fault_knobs = false;
  unsigned debug_lcore_delay_us = 0;     // that lcore sleeps this long every iteration
  unsigned debug_lcore_delay_lcore = 0;  // which lcore (index, not cpu)
  // [admin]: the admin API and /metrics (control/admin/, docs/admin.md).
  admin::admin_config admin;
};

// A rejected setting: `field` is how the user named it.
class config_error : public std::runtime_error {
 public:
  config_error(std::string field, const std::string& reason)
      : std::runtime_error(field + ": " + reason), _field(std::move(field)) {}
  const std::string& field() const { return _field; }

 private:
  std::string _field;
};

// --help / --version: print this text and exit 0.
struct early_exit {
  std::string text;
};

// Parses argv (argv[0] included) and the file named by --config. Throws config_error
// for any bad flag, file or value, early_exit for --help/--version.
server_config load_config(const std::vector<std::string>& args);

// memcached's size forms: "1048576", "1024k", "1m", "1g" (case-insensitive).
std::optional<std::uint64_t> parse_size(const std::string& s);
// "0-3,6" or "5" -> sorted, unique cpu ids.
std::optional<std::vector<unsigned>> parse_cpu_list(const std::string& s);
// DPDK's net_af_packet ignores ring descriptors: its RX and TX rings are the vdev's
// `framecnt=` (default 512). Returns `eal_args` with `,framecnt=<frames>` added to every
// net_af_packet / eth_af_packet vdev that does not set it (`--vdev SPEC`, `--vdev=SPEC`).
std::vector<std::string> with_af_packet_framecnt(std::vector<std::string> eal_args,
                                                 unsigned frames);
std::optional<port::mac_address> parse_mac(const std::string& s);
// Every setting the config file accepts, as "section.key" (docs/anvil.md lists them all).
std::vector<std::string> known_settings();
bool is_ipv4(const std::string& s);

const char* to_string(port_kind k);

}  // namespace anvil::control
