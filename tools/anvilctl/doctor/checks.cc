#include "tools/anvilctl/doctor/checks.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/timex.h>
#include <unistd.h>

#include <linux/magic.h>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>

#include "tools/anvilctl/output.h"

namespace anvil::ctl::doctor {

using control::port_kind;
using control::server_config;

const char* to_string(verdict v) {
  switch (v) {
    case verdict::pass:
      return "pass";
    case verdict::warn:
      return "warn";
    case verdict::fail:
      return "fail";
  }
  return "?";
}

namespace {

check_result pass(std::string name, std::string detail) {
  return {std::move(name), verdict::pass, std::move(detail), ""};
}
check_result warn(std::string name, std::string detail, std::string fix) {
  return {std::move(name), verdict::warn, std::move(detail), std::move(fix)};
}
check_result fail(std::string name, std::string detail, std::string fix) {
  return {std::move(name), verdict::fail, std::move(detail), std::move(fix)};
}

std::string join_cpus(const std::vector<unsigned>& cpus) {
  std::string s;
  for (unsigned c : cpus) s += (s.empty() ? "" : ",") + std::to_string(c);
  return s;
}

// Several findings folded into one result: the worst verdict, every detail, the first
// fix of the worst kind.
check_result fold(const std::string& name, const std::vector<check_result>& parts) {
  check_result r{name, verdict::pass, "", ""};
  for (const auto& p : parts) {
    r.detail += (r.detail.empty() ? "" : "; ") + p.detail;
    if (p.result > r.result) {
      r.result = p.result;
      r.fix = p.fix;
    } else if (p.result == r.result && r.fix.empty()) {
      r.fix = p.fix;
    }
  }
  if (r.result == verdict::pass) r.fix.clear();
  return r;
}

// A whole non-negative decimal number (sysfs counts); nullopt for "", "-1", "12x".
std::optional<std::uint64_t> count_of(const std::optional<std::string>& s) {
  if (!s || s->empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || p != s->data() + s->size()) return std::nullopt;
  return v;
}

std::optional<int> int_of(const std::string& s) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string pci_address(std::string a) {
  a = a.substr(0, a.find(','));
  if (std::count(a.begin(), a.end(), ':') == 1) a = "0000:" + a;
  return a;
}

bool looks_like_pci(const std::string& s) {
  return s.find(':') != std::string::npos && s.find('.') != std::string::npos &&
         s.find_first_not_of("0123456789abcdefABCDEF:.") == std::string::npos;
}

// The interface check shared by port_type afpacket and DPDK's net_af_packet vdevs.
check_result interface_up(const host_view& h, const std::string& name, const std::string& ifname) {
  const std::string base = "class/net/" + ifname;
  if (!h.sys_exists(base))
    return fail(name, "no interface '" + ifname + "'",
                "check network.interface (ip -br link lists the interfaces)");
  const auto oper = h.sys_line(base + "/operstate").value_or("");
  std::string driver = h.sys_link_name(base + "/device/driver").value_or("virtual");
  const std::string what = ifname + " (" + driver + ")";
  if (oper == "up") return pass(name, what + " is up");
  // veth, tun and some drivers report "unknown": go by the admin flag and the carrier.
  unsigned long flags = 0;
  if (auto f = h.sys_line(base + "/flags")) {
    try {
      flags = std::stoul(*f, nullptr, 16);
    } catch (const std::exception&) {
      flags = 0;
    }
  }
  const bool admin_up = (flags & 0x1) != 0;
  const bool carrier = h.sys_line(base + "/carrier").value_or("0") == "1";
  if (oper == "unknown" && admin_up && carrier)
    return pass(name, what + " is up (operstate unknown, carrier present)");
  if (!admin_up) return fail(name, what + " is down", "ip link set " + ifname + " up");
  return fail(name, what + " is up but has no link (operstate " + (oper.empty() ? "?" : oper) + ")",
              "check the cable or the switch port of " + ifname);
}

check_result pci_bound(const host_view& h, const std::string& addr) {
  const std::string name = "nic";
  const std::string base = "bus/pci/devices/" + addr;
  const std::string bind = "dpdk-devbind.py --bind=vfio-pci " + addr;
  if (!h.sys_exists(base))
    return fail(name, "no PCI device " + addr,
                "check -a/--allow in [dpdk] eal_args (dpdk-devbind.py --status)");
  const auto drv = h.sys_link_name(base + "/driver");
  if (!drv) return fail(name, addr + " is bound to no driver", "modprobe vfio-pci && " + bind);
  if (*drv == "vfio-pci") {
    if (!h.sys_exists(base + "/iommu_group"))
      return warn(name, addr + " on vfio-pci without an IOMMU group (no-IOMMU mode)",
                  "enable the IOMMU: intel_iommu=on iommu=pt (or amd_iommu=on) on the kernel "
                  "command line");
    return pass(name, addr + " on vfio-pci");
  }
  if (*drv == "uio_pci_generic" || *drv == "igb_uio")
    return warn(name, addr + " on " + *drv + " (no IOMMU protection)", bind);
  if (*drv == "mlx5_core" || *drv == "mlx4_core")
    return pass(name, addr + " on " + *drv + " (bifurcated: DPDK uses the kernel driver)");
  return fail(name, addr + " is bound to the kernel driver " + *drv, bind);
}

std::optional<int> cpu_node(const host_view& h, unsigned cpu) {
  for (const auto& n : h.sys_list("devices/system/node")) {
    if (n.rfind("node", 0) != 0 || n.size() == 4) continue;
    auto list = h.sys("devices/system/node/" + n + "/cpulist");
    if (!list) continue;
    auto cpus = parse_kernel_cpu_list(*list);
    if (cpus && std::find(cpus->begin(), cpus->end(), cpu) != cpus->end())
      return int_of(n.substr(4));
  }
  return std::nullopt;
}

}  // namespace

dpdk_devices dpdk_devices_of(const std::vector<std::string>& a) {
  dpdk_devices d;
  auto vdev = [&](const std::string& spec) {
    const std::string drv = spec.substr(0, spec.find(','));
    if (drv.rfind("net_af_packet", 0) == 0 || drv.rfind("eth_af_packet", 0) == 0) {
      auto p = spec.find(",iface=");
      if (p != std::string::npos) {
        std::string iface = spec.substr(p + 7);
        d.af_packet_ifaces.push_back(iface.substr(0, iface.find(',')));
        return;
      }
    }
    d.other_vdevs.push_back(drv);
  };
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string& s = a[i];
    const bool has_next = i + 1 < a.size();
    if ((s == "-a" || s == "--allow" || s == "-w" || s == "--pci-whitelist") && has_next) {
      d.pci.push_back(pci_address(a[++i]));
    } else if (s.rfind("--allow=", 0) == 0) {
      d.pci.push_back(pci_address(s.substr(8)));
    } else if (s.size() > 2 && (s.rfind("-a", 0) == 0 || s.rfind("-w", 0) == 0) && s[2] != '-') {
      d.pci.push_back(pci_address(s.substr(2)));
    } else if (s == "--vdev" && has_next) {
      vdev(a[++i]);
    } else if (s.rfind("--vdev=", 0) == 0) {
      vdev(s.substr(7));
    }
  }
  return d;
}

std::uint64_t dpdk_memory_mb(const std::vector<std::string>& a) {
  auto sum = [](const std::string& list) {
    std::uint64_t total = 0;
    std::istringstream in(list);
    std::string part;
    while (std::getline(in, part, ',')) total += count_of(part).value_or(0);
    return total;
  };
  for (std::size_t i = 0; i < a.size(); ++i) {
    if ((a[i] == "-m" || a[i] == "--socket-mem") && i + 1 < a.size()) return sum(a[i + 1]);
    if (a[i].rfind("--socket-mem=", 0) == 0) return sum(a[i].substr(13));
  }
  return 0;
}

bool has_eal_flag(const std::vector<std::string>& a, const std::string& flag) {
  return std::find(a.begin(), a.end(), flag) != a.end();
}

std::vector<unsigned> lcore_cpus(const server_config& c) {
  if (!c.cores.empty()) return c.cores;
  std::vector<unsigned> out;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (unsigned i = 0; i < CPU_SETSIZE && out.size() < c.lcores; ++i)
    if (CPU_ISSET(i, &set)) out.push_back(i);
  return out;
}

check_result check_hugepages(const host_view& h, const server_config& c) {
  const std::string name = "hugepages";
  if (c.port != port_kind::dpdk)
    return pass(name,
                "not needed for port_type afpacket (item memory asks for transparent "
                "hugepages)");
  if (has_eal_flag(c.eal_args, "--no-huge"))
    return warn(name, "DPDK runs with --no-huge (test mode: 4 KiB pages, memory capped by -m)",
                "reserve hugepages and remove --no-huge from [dpdk] eal_args");
  std::uint64_t total = 0, free = 0;
  std::string sizes;
  for (const auto& d : h.sys_list("kernel/mm/hugepages")) {
    // "hugepages-2048kB"; a malformed count (or size) is no pages.
    std::string size = d.substr(d.find('-') + 1);
    if (size.size() < 3 || size.substr(size.size() - 2) != "kB") continue;
    const auto kb = count_of(size.substr(0, size.size() - 2));
    const auto n = count_of(h.sys_line("kernel/mm/hugepages/" + d + "/nr_hugepages"));
    const auto f = count_of(h.sys_line("kernel/mm/hugepages/" + d + "/free_hugepages"));
    if (!kb || !n || *kb == 0 || *n > (1ull << 40) / *kb) continue;
    if (*n == 0) continue;
    total += *n * *kb * 1024;
    free += std::min(f.value_or(0), *n) * *kb * 1024;
    sizes += (sizes.empty() ? "" : ", ") + std::to_string(*n) + " x " +
             human_bytes(static_cast<double>(*kb) * 1024);
  }
  const std::string reserve =
      "echo 1024 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages (or hugepages=1024 "
      "on the kernel command line)";
  if (total == 0) return fail(name, "no hugepages reserved", reserve);
  const std::uint64_t need = dpdk_memory_mb(c.eal_args) << 20;
  const std::string found =
      sizes + " reserved, " + human_bytes(static_cast<double>(free)) + " free";
  if (need > free)
    return fail(name, found + ", DPDK asks for " + human_bytes(static_cast<double>(need)),
                "reserve more hugepages or lower -m/--socket-mem in [dpdk] eal_args");
  const auto mounts = mounts_of_type(h.proc("mounts").value_or(""), "hugetlbfs");
  if (mounts.empty()) {
    if (has_eal_flag(c.eal_args, "--in-memory"))
      return pass(name, found + ", no hugetlbfs mount (--in-memory does not need one)");
    return fail(name, found + ", but no hugetlbfs is mounted",
                "mount -t hugetlbfs nodev /dev/hugepages (or add --in-memory to [dpdk] eal_args)");
  }
  return pass(name, found + ", hugetlbfs on " + mounts.front());
}

check_result check_transparent_hugepages(const host_view& h) {
  const std::string name = "thp";
  const auto s = h.sys_line("kernel/mm/transparent_hugepage/enabled");
  const auto open = s ? s->find('[') : std::string::npos;
  const auto close = s ? s->find(']') : std::string::npos;
  if (!s || open == std::string::npos || close == std::string::npos || close < open)
    return warn(name, "cannot read the transparent hugepage mode",
                "check /sys/kernel/mm/transparent_hugepage/enabled");
  const std::string mode = s->substr(open + 1, close - open - 1);
  if (mode == "never")
    return warn(name,
                "transparent hugepages are off: item memory uses 4 KiB pages (more TLB misses)",
                "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled");
  return pass(name, "transparent hugepages: " + mode);
}

check_result check_memory(const host_view& h, const server_config& c) {
  const std::string name = "memory";
  const auto info = parse_meminfo(h.proc("meminfo").value_or(""));
  auto it = info.find("MemAvailable");
  if (it == info.end()) it = info.find("MemFree");
  if (it == info.end())
    return warn(name, "cannot read the available memory from /proc/meminfo", "check /proc/meminfo");
  const double avail = static_cast<double>(it->second) * 1024;
  const double need = static_cast<double>(c.memory_mb) * 1024 * 1024;
  const std::string what = "-m " + human_bytes(need) + " of " + human_bytes(avail) + " available";
  if (need > avail)
    return fail(name, what, "lower -m/memcached.memory_mb or free memory on the host");
  if (need > 0.9 * avail)
    return warn(name, what + " (over 90%: the hash index and buffers come on top)",
                "lower -m/memcached.memory_mb to leave room for the index and the kernel");
  return pass(name, what);
}

check_result check_nic(const host_view& h, const server_config& c) {
  const std::string name = "nic";
  if (c.port == port_kind::afpacket) return interface_up(h, name, c.interface);
  dpdk_devices d = dpdk_devices_of(c.eal_args);
  if (looks_like_pci(c.dpdk_device) &&
      std::find(d.pci.begin(), d.pci.end(), pci_address(c.dpdk_device)) == d.pci.end())
    d.pci.push_back(pci_address(c.dpdk_device));
  std::vector<check_result> parts;
  for (const auto& a : d.pci) parts.push_back(pci_bound(h, a));
  for (const auto& i : d.af_packet_ifaces) parts.push_back(interface_up(h, name, i));
  for (const auto& v : d.other_vdevs)
    parts.push_back(pass(name, "virtual device " + v + " (nothing to bind)"));
  if (parts.empty())
    return warn(name, "[dpdk] eal_args name no device: DPDK probes every device on a DPDK driver",
                "add -a <pci address> to [dpdk] eal_args (dpdk-devbind.py --status lists them)");
  return fold(name, parts);
}

check_result check_cpu_isolation(const host_view& h, const server_config& c,
                                 const std::vector<unsigned>& cpus) {
  const std::string name = "cpu-isolation";
  if (cpus.empty())
    return fail(name, "no cpu for the lcores", "set lcores.cores to the cpus the poll loops own");
  std::vector<std::string> notes;
  auto read_list = [&](const std::string& rel) {
    auto t = h.sys(rel);
    if (!t) return std::vector<unsigned>{};
    auto l = parse_kernel_cpu_list(*t);
    if (!l) {
      notes.push_back("/sys/" + rel + " is malformed");
      return std::vector<unsigned>{};
    }
    return *l;
  };
  if (auto online_text = h.sys("devices/system/cpu/online")) {
    auto online = parse_kernel_cpu_list(*online_text);
    if (online) {
      for (unsigned cpu : cpus)
        if (std::find(online->begin(), online->end(), cpu) == online->end())
          return fail(
              name,
              "cpu " + std::to_string(cpu) + " is not online (online: " + join_cpus(*online) + ")",
              "set lcores.cores to online cpus");
    }
  }
  std::set<unsigned> isolated;
  for (unsigned x : read_list("devices/system/cpu/isolated")) isolated.insert(x);
  for (unsigned x : read_list("devices/system/cpu/nohz_full")) isolated.insert(x);
  if (auto cmd = h.proc("cmdline")) {
    if (auto v = cmdline_value(*cmd, "isolcpus")) {
      auto l = isolcpus_cpus(*v);
      if (l)
        isolated.insert(l->begin(), l->end());
      else
        notes.push_back("isolcpus=" + *v + " is malformed");
    }
  }
  // cpusets: every housekeeping slice that exists keeps off the cpu.
  const char* slices[] = {
      "fs/cgroup/system.slice/cpuset.cpus.effective", "fs/cgroup/user.slice/cpuset.cpus.effective",
      "fs/cgroup/init.scope/cpuset.cpus.effective", "fs/cgroup/cpuset/system.slice/cpuset.cpus",
      "fs/cgroup/cpuset/user.slice/cpuset.cpus"};
  std::vector<std::vector<unsigned>> slice_sets;
  for (const char* s : slices)
    if (h.sys_exists(s)) slice_sets.push_back(read_list(s));
  auto in_cpuset_only = [&](unsigned cpu) {
    if (slice_sets.empty()) return false;
    for (const auto& s : slice_sets)
      if (s.empty() || std::find(s.begin(), s.end(), cpu) != s.end()) return false;
    return true;
  };
  std::vector<unsigned> shared;
  for (unsigned cpu : cpus)
    if (!isolated.count(cpu) && !in_cpuset_only(cpu)) shared.push_back(cpu);
  std::string detail = "lcore cpus " + join_cpus(cpus);
  if (c.cores.empty())
    detail += " (lcores.cores unset: the first " + std::to_string(c.lcores) + ")";
  for (const auto& n : notes) detail += "; " + n;
  if (shared.empty()) return pass(name, detail + " are isolated");
  return warn(name,
              detail + ": " + join_cpus(shared) +
                  " shared with the scheduler (no isolcpus, "
                  "nohz_full or cpuset keeps other tasks off)",
              "boot with isolcpus=" + join_cpus(shared) + " nohz_full=" + join_cpus(shared) +
                  " (or AllowedCPUs= on system.slice/user.slice) and set lcores.cores");
}

check_result check_numa(const host_view& h, const server_config& c,
                        const std::vector<unsigned>& cpus) {
  const std::string name = "numa";
  int nodes = 0;
  for (const auto& n : h.sys_list("devices/system/node"))
    if (n.rfind("node", 0) == 0 && n.size() > 4 && std::isdigit(static_cast<unsigned char>(n[4])))
      ++nodes;
  if (nodes <= 1) return pass(name, nodes == 1 ? "one NUMA node" : "no NUMA topology reported");
  // The NIC's node: its PCI function, through the interface or the EAL allow list.
  std::vector<std::pair<std::string, std::string>> devs;  // label, numa_node path under /sys
  if (c.port == port_kind::afpacket) {
    devs.emplace_back(c.interface, "class/net/" + c.interface + "/device/numa_node");
  } else {
    const auto d = dpdk_devices_of(c.eal_args);
    for (const auto& a : d.pci) devs.emplace_back(a, "bus/pci/devices/" + a + "/numa_node");
    for (const auto& i : d.af_packet_ifaces)
      devs.emplace_back(i, "class/net/" + i + "/device/numa_node");
  }
  std::vector<check_result> parts;
  for (const auto& [label, path] : devs) {
    const auto text = h.sys_line(path);
    if (!text) {
      parts.push_back(pass(name, label + " has no PCI device (virtual): NUMA does not apply"));
      continue;
    }
    const auto parsed = int_of(*text);
    if (!parsed) {
      parts.push_back(
          warn(name, label + ": malformed numa_node '" + *text + "'", "check /sys/" + path));
      continue;
    }
    const int node = *parsed;
    if (node < 0) {
      parts.push_back(warn(name, label + ": the firmware reports no NUMA node",
                           "check the BIOS (ACPI SRAT) or place lcores by lstopo"));
      continue;
    }
    std::vector<unsigned> remote, unknown;
    for (unsigned cpu : cpus) {
      auto n = cpu_node(h, cpu);
      if (!n)
        unknown.push_back(cpu);
      else if (*n != node)
        remote.push_back(cpu);
    }
    if (!remote.empty())
      parts.push_back(warn(name,
                           label + " is on node " + std::to_string(node) + ", lcore cpus " +
                               join_cpus(remote) + " are not",
                           "set lcores.cores to cpus of node " + std::to_string(node) +
                               " (/sys/devices/system/node/node" + std::to_string(node) +
                               "/cpulist)"));
    else if (!unknown.empty())
      parts.push_back(warn(name, "no NUMA node found for cpus " + join_cpus(unknown),
                           "check /sys/devices/system/node/node*/cpulist"));
    else
      parts.push_back(pass(
          name, label + " and lcore cpus " + join_cpus(cpus) + " on node " + std::to_string(node)));
  }
  if (parts.empty()) return pass(name, "no device to place");
  return fold(name, parts);
}

check_result check_admin(const server_config& c) {
  const std::string name = "admin";
  const auto& a = c.admin;
  if (!a.enabled)
    return warn(name, "the admin API is off: no /metrics, no /v1/health, no anvilctl",
                "set [admin] enabled = true and listen on the management address");
  std::vector<check_result> parts;
  if (a.address == "0.0.0.0")
    parts.push_back(warn(name, "listens on every interface (" + a.listen_text() + ")",
                         "set [admin] listen to the management network's address"));
  else
    parts.push_back(pass(name, "listens on " + a.listen_text()));
  if (a.token_file.empty()) {
    parts.push_back(warn(name, "no token_file: drain, flush, snapshot now and log-level answer 403",
                         "set [admin] token_file to a file of mode 0600 holding a random token"));
  } else {
    struct stat st {};
    const std::string& f = a.token_file;
    if (::stat(f.c_str(), &st) != 0) {
      parts.push_back(fail(name, "token_file " + f + ": " + std::strerror(errno),
                           "head -c 32 /dev/urandom | base64 > " + f + " && chmod 600 " + f));
    } else if (!S_ISREG(st.st_mode)) {
      parts.push_back(fail(name, "token_file " + f + " is not a regular file",
                           "point [admin] token_file at a regular file"));
    } else if ((st.st_mode & 077) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
      parts.push_back(fail(name,
                           "token_file " + f + " has mode " + mode + ": anvil refuses to start",
                           "chmod 600 " + f));
    } else if (st.st_size == 0) {
      parts.push_back(fail(name, "token_file " + f + " is empty: anvil refuses to start",
                           "head -c 32 /dev/urandom | base64 > " + f));
    } else {
      parts.push_back(pass(name, "token_file " + f + " (0600)"));
    }
  }
  return fold(name, parts);
}

storage_probe probe_storage(const std::string& dir, std::uint64_t bytes) {
  namespace fs = std::filesystem;
  storage_probe p;
  std::error_code ec;
  fs::path at = dir;
  p.dir_exists = fs::is_directory(at, ec);
  while (!at.empty() && !fs::is_directory(at, ec)) {
    if (fs::exists(at, ec)) {
      p.probed_dir = at.string();
      p.error = at.string() + " exists and is not a directory";
      return p;
    }
    at = at.parent_path();
  }
  if (at.empty()) at = ".";
  p.probed_dir = at.string();
  struct statvfs vfs {};
  if (::statvfs(p.probed_dir.c_str(), &vfs) != 0) {
    p.error = std::string("statvfs: ") + std::strerror(errno);
    return p;
  }
  p.free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  p.read_only = (vfs.f_flag & ST_RDONLY) != 0;
  struct statfs sfs {};
  if (::statfs(p.probed_dir.c_str(), &sfs) == 0) p.tmpfs = sfs.f_type == TMPFS_MAGIC;
  if (p.read_only) return p;

  std::string path = p.probed_dir + "/.anvilctl-doctor-XXXXXX";
  const auto start = std::chrono::steady_clock::now();
  const int fd = ::mkstemp(path.data());
  if (fd < 0) {
    p.error = "create a file in " + p.probed_dir + ": " + std::strerror(errno);
    return p;
  }
  std::vector<char> block(1 << 20, 'a');
  std::uint64_t left = bytes;
  while (left > 0 && p.error.empty()) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, block.size()));
    const ssize_t w = ::write(fd, block.data(), n);
    if (w < 0) {
      if (errno == EINTR) continue;
      p.error = std::string("write: ") + std::strerror(errno);
    } else {
      left -= static_cast<std::uint64_t>(w);
      p.written_bytes += static_cast<std::uint64_t>(w);
    }
  }
  if (p.error.empty() && ::fsync(fd) != 0) p.error = std::string("fsync: ") + std::strerror(errno);
  if (::close(fd) != 0 && p.error.empty()) p.error = std::string("close: ") + std::strerror(errno);
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::unlink(path.c_str());
  return p;
}

check_result judge_storage(const storage_probe& p, const server_config& c) {
  const std::string name = "snapshot-dir";
  if (c.snapshot_dir.empty())
    return warn(name, "snapshots are off: a restart comes back cold",
                "set [snapshot] dir (StateDirectory=anvil gives /var/lib/anvil) and interval_s");
  std::string where = c.snapshot_dir;
  if (!p.dir_exists) where += " (not there yet, anvil creates it; probed " + p.probed_dir + ")";
  if (!p.error.empty())
    return fail(name, where + ": " + p.error,
                "check the disk (dmesg, fsck) and the directory's owner and mode");
  if (p.read_only)
    return fail(name, where + ": the filesystem is mounted read-only",
                "remount it read-write (dmesg says why it went read-only) or move [snapshot] dir");
  const double one = static_cast<double>(c.memory_mb) * 1024 * 1024;
  const double free = static_cast<double>(p.free_bytes);
  const std::string space = human_bytes(free) + " free";
  if (free < one)
    return fail(name, where + ": " + space + ", one snapshot of -m may take " + human_bytes(one),
                "free space or move [snapshot] dir to a larger filesystem");
  const double timed = p.seconds;
  const std::string speed =
      human_bytes(static_cast<double>(p.written_bytes)) + " write+fsync in " + human_latency(timed);
  if (timed > c.snapshot_io_timeout_s)
    return fail(name,
                where + ": " + speed + ", over [snapshot] io_timeout_s (" +
                    human_latency(c.snapshot_io_timeout_s) + "): the disk is stalling",
                "check the disk (dmesg, smartctl) before trusting snapshots to it");
  const double keep_all = one * (c.snapshot_keep + 1);
  if (free < keep_all)
    return warn(name,
                where + ": " + space + ", " + std::to_string(c.snapshot_keep) +
                    " kept snapshots + one being written may take " + human_bytes(keep_all),
                "free space, lower [snapshot] keep, or move [snapshot] dir");
  if (timed > c.snapshot_io_timeout_s / 4)
    return warn(name, where + ": " + speed + " (slow: over a quarter of io_timeout_s)",
                "check the disk's load and health (iostat, smartctl)");
  if (p.tmpfs)
    return warn(name, where + ": on tmpfs, snapshots vanish at reboot",
                "put [snapshot] dir on a disk (StateDirectory=anvil: /var/lib/anvil)");
  return pass(name, where + ": " + speed + ", " + space);
}

clock_probe probe_clock() {
  clock_probe p;
  struct timex tx {};
  const int state = ::adjtimex(&tx);
  if (state < 0) {
    p.ok = false;
    p.error = std::string("adjtimex: ") + std::strerror(errno);
    return p;
  }
  p.synchronized = state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
  p.max_error_s = static_cast<double>(tx.maxerror) / 1e6;
  return p;
}

check_result judge_clock(const clock_probe& p) {
  const std::string name = "clock";
  const std::string ntp =
      "enable time sync: timedatectl set-ntp true (systemd-timesyncd) or chrony";
  if (!p.ok) return warn(name, "cannot read the clock state (" + p.error + ")", ntp);
  if (!p.synchronized)
    return warn(name, "the kernel clock is not synchronized (absolute expiry times drift)", ntp);
  if (p.max_error_s > 0.5)
    return warn(name, "synchronized, but the maximum error is " + human_latency(p.max_error_s),
                "check the time servers (chronyc sources / timedatectl timesync-status)");
  return pass(name, "synchronized, maximum error " + human_latency(p.max_error_s));
}

std::vector<check_result> run_all(const host_view& h, const server_config& c) {
  const auto cpus = lcore_cpus(c);
  std::vector<check_result> out;
  out.push_back(check_memory(h, c));
  out.push_back(check_hugepages(h, c));
  out.push_back(check_transparent_hugepages(h));
  out.push_back(check_nic(h, c));
  out.push_back(check_cpu_isolation(h, c, cpus));
  out.push_back(check_numa(h, c, cpus));
  out.push_back(check_admin(c));
  out.push_back(
      judge_storage(c.snapshot_dir.empty() ? storage_probe{} : probe_storage(c.snapshot_dir), c));
  out.push_back(judge_clock(probe_clock()));
  return out;
}

}  // namespace anvil::ctl::doctor
