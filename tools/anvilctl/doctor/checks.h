// The host checks of `anvilctl doctor`: is this machine ready to run anvil with this
// configuration? Each check reads the host through a host_view (injectable /proc and
// /sys) or judges a probe result handed to it, and returns pass/warn/fail with the fix
// in one line. Checks never change the host; only probe_storage() writes (a temporary
// file it removes) and only probe_clock() makes a syscall (adjtimex, read-only).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "control/config.h"
#include "tools/anvilctl/doctor/host.h"

namespace anvil::ctl::doctor {

enum class verdict { pass, warn, fail };
const char* to_string(verdict v);

struct check_result {
  std::string name;  // "hugepages", "nic", ...
  verdict result = verdict::pass;
  std::string detail;  // what was found
  std::string fix;     // one line, empty on pass
};

// The PCI addresses DPDK will probe (-a/--allow/-w, options after ',' dropped; short
// "3b:00.0" completed to "0000:3b:00.0"), and the `iface=` of every net_af_packet vdev.
struct dpdk_devices {
  std::vector<std::string> pci;
  std::vector<std::string> af_packet_ifaces;
  std::vector<std::string> other_vdevs;
};
dpdk_devices dpdk_devices_of(const std::vector<std::string>& eal_args);
// MiB asked of DPDK with -m N or --socket-mem a,b,... (summed); 0 when neither.
std::uint64_t dpdk_memory_mb(const std::vector<std::string>& eal_args);
bool has_eal_flag(const std::vector<std::string>& eal_args, const std::string& flag);

// The cpus the lcores run on: lcores.cores, or (as anvil does without it) the first
// `lcores` cpus this process may run on.
std::vector<unsigned> lcore_cpus(const control::server_config& c);

check_result check_hugepages(const host_view& h, const control::server_config& c);
check_result check_transparent_hugepages(const host_view& h);
check_result check_memory(const host_view& h, const control::server_config& c);
check_result check_nic(const host_view& h, const control::server_config& c);
check_result check_cpu_isolation(const host_view& h, const control::server_config& c,
                                 const std::vector<unsigned>& cpus);
check_result check_numa(const host_view& h, const control::server_config& c,
                        const std::vector<unsigned>& cpus);

// [admin]: the API on; a token file anvil will accept (regular, mode 0600 or stricter, not
// empty: anvil refuses to start otherwise); not listening on every interface.
check_result check_admin(const control::server_config& c);

// What a timed write+fsync in the snapshot directory found.
struct storage_probe {
  std::string probed_dir;   // the snapshot dir, or its nearest existing ancestor
  bool dir_exists = false;  // the snapshot dir itself
  std::string error;        // non-empty: the probe failed (with errno text)
  bool read_only = false;
  bool tmpfs = false;
  std::uint64_t free_bytes = 0;
  std::uint64_t written_bytes = 0;
  double seconds = 0;  // write + fsync + close of written_bytes
};
storage_probe probe_storage(const std::string& dir, std::uint64_t bytes = 4u << 20);
check_result judge_storage(const storage_probe& p, const control::server_config& c);

// adjtimex(2) read-only: the clock state and its error estimate.
struct clock_probe {
  bool ok = true;  // the syscall worked
  bool synchronized = false;
  double max_error_s = 0;  // the kernel's maximum error estimate
  std::string error;
};
clock_probe probe_clock();
check_result judge_clock(const clock_probe& p);

// Every check for this configuration, in the order printed.
std::vector<check_result> run_all(const host_view& h, const control::server_config& c);

}  // namespace anvil::ctl::doctor
