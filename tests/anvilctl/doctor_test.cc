// `anvilctl doctor` against fake /proc and /sys trees written by each test: every check
// passes, warns and fails where it should, and malformed or missing files give a
// verdict, never an exception. The binary runs once against a good and a bad tree.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/anvilctl/run_ctl.h"
#include "tests/support/temp_dir.h"
#include "tools/anvilctl/doctor/checks.h"

namespace {

namespace fs = std::filesystem;
using namespace anvil::ctl::doctor;
using anvil::control::port_kind;
using anvil::control::server_config;

// A host: two NUMA nodes (cpus 0-3, 4-7), 1024 x 2 MiB hugepages mounted, THP madvise,
// eth1 up on node 1 (ixgbe), PCI 0000:3b:00.0 on vfio-pci on node 1, cpus 4-7 isolated.
class fake_host {
 public:
  fake_host() : _d("anvil-doctor") {
    put("proc/meminfo",
        "MemTotal:       65536000 kB\nMemFree:  1000 kB\nMemAvailable:   60000000 kB\n");
    put("proc/mounts", "proc /proc proc rw 0 0\nnodev /dev/hugepages hugetlbfs rw,relatime 0 0\n");
    put("proc/cmdline",
        "BOOT_IMAGE=/vmlinuz root=/dev/sda1 isolcpus=managed_irq,domain,4-7 quiet\n");
    put("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "1024\n");
    put("sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "1000\n");
    put("sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n");
    put("sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages", "0\n");
    put("sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n");
    put("sys/devices/system/cpu/online", "0-7\n");
    put("sys/devices/system/cpu/isolated", "\n");
    put("sys/devices/system/node/node0/cpulist", "0-3\n");
    put("sys/devices/system/node/node1/cpulist", "4-7\n");
    put("sys/devices/system/node/online", "0-1\n");
    put("sys/bus/pci/drivers/vfio-pci/.keep", "");
    put("sys/bus/pci/drivers/ixgbe/.keep", "");
    pci("0000:3b:00.0", "vfio-pci", "1");
    fs::create_directories(root() + "/sys/kernel/iommu_groups/17");
    fs::create_directory_symlink(root() + "/sys/kernel/iommu_groups/17",
                                 root() + "/sys/bus/pci/devices/0000:3b:00.0/iommu_group");
    pci("0000:3b:00.1", "ixgbe", "1");
    iface("eth1", "up", "0x1003", "1", "0000:3b:00.1");
  }

  void put(const std::string& rel, const std::string& text) {
    const fs::path p = root() + "/" + rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  void rm(const std::string& rel) { fs::remove_all(root() + "/" + rel); }
  void pci(const std::string& addr, const std::string& driver, const std::string& node) {
    const std::string dev = "sys/bus/pci/devices/" + addr;
    put(dev + "/numa_node", node + "\n");
    fs::remove(root() + "/" + dev + "/driver");
    if (!driver.empty()) {
      fs::create_directories(root() + "/sys/bus/pci/drivers/" + driver);
      fs::create_directory_symlink("../../../bus/pci/drivers/" + driver,
                                   root() + "/" + dev + "/driver");
    }
  }
  void iface(const std::string& name, const std::string& oper, const std::string& flags,
             const std::string& carrier, const std::string& pci_addr) {
    const std::string base = "sys/class/net/" + name;
    put(base + "/operstate", oper + "\n");
    put(base + "/flags", flags + "\n");
    put(base + "/carrier", carrier + "\n");
    if (!pci_addr.empty())
      fs::create_directory_symlink(root() + "/sys/bus/pci/devices/" + pci_addr,
                                   root() + "/" + base + "/device");
  }
  std::string root() const { return _d.path(); }
  host_view view() const { return host_view({root() + "/proc", root() + "/sys"}); }

 private:
  anvil::test::temp_dir _d;
};

server_config afpacket_config() {
  server_config c;
  c.port = port_kind::afpacket;
  c.interface = "eth1";
  c.ip = "10.0.0.1";
  c.cores = {4, 5};
  c.lcores = 2;
  c.memory_mb = 1024;
  return c;
}

server_config dpdk_config() {
  server_config c = afpacket_config();
  c.port = port_kind::dpdk;
  c.interface.clear();
  c.eal_args = {"-a", "0000:3b:00.0", "--socket-mem", "0,512"};
  return c;
}

TEST(DoctorParse, Helpers) {
  EXPECT_EQ(parse_meminfo("MemTotal: 10 kB\nbad line\nX:\nHugePages_Total:  3\n"),
            (std::map<std::string, std::uint64_t>{{"MemTotal", 10}, {"HugePages_Total", 3}}));
  EXPECT_EQ(parse_kernel_cpu_list("0-2,5\n"), (std::vector<unsigned>{0, 1, 2, 5}));
  EXPECT_EQ(parse_kernel_cpu_list(""), std::vector<unsigned>{});
  EXPECT_EQ(parse_kernel_cpu_list("(null)\n"), std::vector<unsigned>{});
  EXPECT_FALSE(parse_kernel_cpu_list("3-1"));
  EXPECT_FALSE(parse_kernel_cpu_list("x"));
  EXPECT_FALSE(parse_kernel_cpu_list("4096"));
  EXPECT_EQ(cmdline_value("a isolcpus=1 isolcpus=2-3 b", "isolcpus"), "2-3");
  EXPECT_FALSE(cmdline_value("a -- isolcpus=1", "isolcpus"));
  EXPECT_FALSE(cmdline_value("xisolcpus=1", "isolcpus"));
  EXPECT_EQ(isolcpus_cpus("nohz,domain,2-3"), (std::vector<unsigned>{2, 3}));
  EXPECT_EQ(isolcpus_cpus("1,3"), (std::vector<unsigned>{1, 3}));
  EXPECT_EQ(isolcpus_cpus(""), std::vector<unsigned>{});
  EXPECT_FALSE(isolcpus_cpus("domain"));
  EXPECT_FALSE(isolcpus_cpus("domain,x-"));
  EXPECT_EQ(mounts_of_type("a /x hugetlbfs rw 0 0\nshort\nb /y ext4 rw 0 0\n", "hugetlbfs"),
            std::vector<std::string>{"/x"});
  const auto d = dpdk_devices_of({"-a", "3b:00.0,rxq_cqe_comp_en=0", "--allow=0000:3b:00.1",
                                  "-a0000:5e:00.0", "-w", "0000:af:00.0", "--vdev",
                                  "net_af_packet0,iface=eth9,qpairs=2", "--vdev=net_tap0", "-a"});
  EXPECT_EQ(d.pci, (std::vector<std::string>{"0000:3b:00.0", "0000:3b:00.1", "0000:5e:00.0",
                                             "0000:af:00.0"}));
  EXPECT_EQ(d.af_packet_ifaces, std::vector<std::string>{"eth9"});
  EXPECT_EQ(d.other_vdevs, std::vector<std::string>{"net_tap0"});
  EXPECT_EQ(dpdk_memory_mb({"-m", "256"}), 256u);
  EXPECT_EQ(dpdk_memory_mb({"--socket-mem=512,1024"}), 1536u);
  EXPECT_EQ(dpdk_memory_mb({"--socket-mem", "x,7"}), 7u);
  EXPECT_EQ(dpdk_memory_mb({"-m"}), 0u);
  EXPECT_EQ(dpdk_memory_mb({}), 0u);
}

TEST(DoctorHugepages, PassWarnFail) {
  fake_host h;
  EXPECT_EQ(check_hugepages(h.view(), afpacket_config()).result, verdict::pass);
  server_config c = dpdk_config();
  check_result r = check_hugepages(h.view(), c);
  EXPECT_EQ(r.result, verdict::pass) << r.detail;
  EXPECT_NE(r.detail.find("1024 x 2.0 MiB"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("/dev/hugepages"), std::string::npos) << r.detail;

  c.eal_args = {"-a", "0000:3b:00.0", "-m", "2001"};  // 2000 MiB free
  EXPECT_EQ(check_hugepages(h.view(), c).result, verdict::fail);
  c.eal_args = {"-a", "0000:3b:00.0", "-m", "2000"};  // exactly what is free
  EXPECT_EQ(check_hugepages(h.view(), c).result, verdict::pass);

  c = dpdk_config();
  c.eal_args.push_back("--no-huge");
  EXPECT_EQ(check_hugepages(h.view(), c).result, verdict::warn);

  c = dpdk_config();
  h.put("proc/mounts", "proc /proc proc rw 0 0\n");
  r = check_hugepages(h.view(), c);
  EXPECT_EQ(r.result, verdict::fail);
  EXPECT_NE(r.fix.find("mount -t hugetlbfs"), std::string::npos);
  c.eal_args.push_back("--in-memory");
  EXPECT_EQ(check_hugepages(h.view(), c).result, verdict::pass);

  c = dpdk_config();
  for (const char* junk : {"0\n", "lots\n", "", "-1\n"}) {
    h.put("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", junk);
    r = check_hugepages(h.view(), c);
    EXPECT_EQ(r.result, verdict::fail) << "'" << junk << "' " << r.detail;
    EXPECT_NE(r.fix.find("nr_hugepages"), std::string::npos);
  }
  h.rm("sys/kernel/mm/hugepages");
  EXPECT_EQ(check_hugepages(h.view(), c).result, verdict::fail);
}

TEST(DoctorThpAndMemory, Verdicts) {
  fake_host h;
  EXPECT_EQ(check_transparent_hugepages(h.view()).result, verdict::pass);
  h.put("sys/kernel/mm/transparent_hugepage/enabled", "always madvise [never]\n");
  EXPECT_EQ(check_transparent_hugepages(h.view()).result, verdict::warn);
  for (const char* junk : {"", "madvise", "]x[", "[never"}) {
    h.put("sys/kernel/mm/transparent_hugepage/enabled", junk);
    EXPECT_EQ(check_transparent_hugepages(h.view()).result, verdict::warn) << junk;
  }
  h.rm("sys/kernel/mm/transparent_hugepage");
  EXPECT_EQ(check_transparent_hugepages(h.view()).result, verdict::warn);

  server_config c = afpacket_config();  // 1 GiB of 57 GiB
  EXPECT_EQ(check_memory(h.view(), c).result, verdict::pass);
  c.memory_mb = 60000000 / 1024;  // just under all of it: over 90%
  EXPECT_EQ(check_memory(h.view(), c).result, verdict::warn);
  c.memory_mb = 60000000 / 1024 + 1;
  EXPECT_EQ(check_memory(h.view(), c).result, verdict::fail);
  h.put("proc/meminfo", "MemFree: 2097152 kB\n");  // old kernels: no MemAvailable
  c.memory_mb = 1024;
  EXPECT_EQ(check_memory(h.view(), c).result, verdict::pass);
  h.put("proc/meminfo", "garbage\n");
  EXPECT_EQ(check_memory(h.view(), c).result, verdict::warn);
  h.rm("proc/meminfo");
  EXPECT_EQ(check_memory(h.view(), c).result, verdict::warn);
}

TEST(DoctorNic, AfPacketInterface) {
  fake_host h;
  server_config c = afpacket_config();
  check_result r = check_nic(h.view(), c);
  EXPECT_EQ(r.result, verdict::pass) << r.detail;
  EXPECT_NE(r.detail.find("ixgbe"), std::string::npos) << r.detail;

  h.put("sys/class/net/eth1/operstate", "down\n");
  h.put("sys/class/net/eth1/flags", "0x1002\n");
  r = check_nic(h.view(), c);
  EXPECT_EQ(r.result, verdict::fail);
  EXPECT_EQ(r.fix, "ip link set eth1 up");

  h.put("sys/class/net/eth1/flags", "0x1003\n");  // up, but no carrier
  h.put("sys/class/net/eth1/carrier", "0\n");
  r = check_nic(h.view(), c);
  EXPECT_EQ(r.result, verdict::fail);
  EXPECT_NE(r.fix.find("cable"), std::string::npos);

  // veth reports "unknown" with the interface up and a carrier.
  h.iface("veth0", "unknown", "0x1003", "1", "");
  c.interface = "veth0";
  r = check_nic(h.view(), c);
  EXPECT_EQ(r.result, verdict::pass) << r.detail;
  EXPECT_NE(r.detail.find("virtual"), std::string::npos) << r.detail;
  h.put("sys/class/net/veth0/flags", "zzz\n");  // malformed flags: treated as down
  EXPECT_EQ(check_nic(h.view(), c).result, verdict::fail);

  c.interface = "nope0";
  r = check_nic(h.view(), c);
  EXPECT_EQ(r.result, verdict::fail);
  EXPECT_NE(r.detail.find("no interface 'nope0'"), std::string::npos);
}

TEST(DoctorNic, DpdkBinding) {
  fake_host h;
  server_config c = dpdk_config();
  check_result r = check_nic(h.view(), c);
  EXPECT_EQ(r.result, verdict::pass) << r.detail;

  h.rm("sys/bus/pci/devices/0000:3b:00.0/iommu_group");
  r = check_nic(h.view(), c);
  EXPECT_EQ(r.result, verdict::warn);
  EXPECT_NE(r.fix.find("iommu"), std::string::npos);

  h.pci("0000:3b:00.0", "ixgbe", "1");
  r = check_nic(h.view(), c);
  EXPECT_EQ(r.result, verdict::fail);
  EXPECT_EQ(r.fix, "dpdk-devbind.py --bind=vfio-pci 0000:3b:00.0");

  h.pci("0000:3b:00.0", "uio_pci_generic", "1");
  EXPECT_EQ(check_nic(h.view(), c).result, verdict::warn);
  h.pci("0000:3b:00.0", "mlx5_core", "1");
  EXPECT_EQ(check_nic(h.view(), c).result, verdict::pass);
  h.pci("0000:3b:00.0", "", "1");
  r = check_nic(h.view(), c);
  EXPECT_EQ(r.result, verdict::fail);
  EXPECT_NE(r.fix.find("modprobe vfio-pci"), std::string::npos);

  c.eal_args = {"-a", "0000:99:00.0"};
  r = check_nic(h.view(), c);
  EXPECT_EQ(r.result, verdict::fail);
  EXPECT_NE(r.detail.find("no PCI device"), std::string::npos);

  // One good device and one bad: the worst wins, both are named.
  h.pci("0000:3b:00.0", "vfio-pci", "1");
  fs::create_directory_symlink(h.root() + "/sys/kernel/iommu_groups/17",
                               h.root() + "/sys/bus/pci/devices/0000:3b:00.0/iommu_group");
  c.eal_args = {"-a", "0000:3b:00.0", "-a", "0000:3b:00.1"};
  r = check_nic(h.view(), c);
  EXPECT_EQ(r.result, verdict::fail);
  EXPECT_NE(r.detail.find("0000:3b:00.0 on vfio-pci"), std::string::npos) << r.detail;
  EXPECT_NE(r.fix.find("0000:3b:00.1"), std::string::npos) << r.fix;

  c.eal_args = {"--no-huge", "--vdev", "net_af_packet0,iface=eth1"};
  EXPECT_EQ(check_nic(h.view(), c).result, verdict::pass);
  c.eal_args = {"--vdev", "net_af_packet0,iface=gone0"};
  EXPECT_EQ(check_nic(h.view(), c).result, verdict::fail);
  c.eal_args = {};
  EXPECT_EQ(check_nic(h.view(), c).result, verdict::warn);
  c.dpdk_device = "0000:3b:00.0";  // the ethdev named by PCI address counts too
  EXPECT_EQ(check_nic(h.view(), c).result, verdict::pass);
}

TEST(DoctorCpus, Isolation) {
  fake_host h;
  server_config c = afpacket_config();
  check_result r = check_cpu_isolation(h.view(), c, c.cores);  // isolcpus=...,4-7
  EXPECT_EQ(r.result, verdict::pass) << r.detail;

  c.cores = {3, 4};
  r = check_cpu_isolation(h.view(), c, c.cores);
  EXPECT_EQ(r.result, verdict::warn);
  EXPECT_NE(r.fix.find("isolcpus=3"), std::string::npos) << r.fix;

  // The sysfs view counts too (isolcpus given another way), and nohz_full.
  h.put("proc/cmdline", "quiet\n");
  h.put("sys/devices/system/cpu/isolated", "3\n");
  h.put("sys/devices/system/cpu/nohz_full", "4\n");
  EXPECT_EQ(check_cpu_isolation(h.view(), c, c.cores).result, verdict::pass);

  // cpusets: every housekeeping slice keeps off cpus 2-7.
  h.put("sys/devices/system/cpu/isolated", "");
  h.put("sys/devices/system/cpu/nohz_full", "(null)\n");
  h.put("sys/fs/cgroup/system.slice/cpuset.cpus.effective", "0-1\n");
  h.put("sys/fs/cgroup/user.slice/cpuset.cpus.effective", "0-1\n");
  EXPECT_EQ(check_cpu_isolation(h.view(), c, c.cores).result, verdict::pass);
  h.put("sys/fs/cgroup/user.slice/cpuset.cpus.effective", "0-7\n");  // user.slice may use them
  EXPECT_EQ(check_cpu_isolation(h.view(), c, c.cores).result, verdict::warn);
  h.put("sys/fs/cgroup/user.slice/cpuset.cpus.effective", "\n");  // empty = every cpu
  EXPECT_EQ(check_cpu_isolation(h.view(), c, c.cores).result, verdict::warn);
  h.rm("sys/fs/cgroup");

  // Malformed inputs are named in the detail and count as no isolation.
  h.put("sys/devices/system/cpu/isolated", "4-x\n");
  h.put("proc/cmdline", "isolcpus=domain\n");
  r = check_cpu_isolation(h.view(), c, c.cores);
  EXPECT_EQ(r.result, verdict::warn);
  EXPECT_NE(r.detail.find("isolated is malformed"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("isolcpus=domain is malformed"), std::string::npos) << r.detail;

  c.cores = {8};  // not online
  r = check_cpu_isolation(h.view(), c, c.cores);
  EXPECT_EQ(r.result, verdict::fail);
  EXPECT_NE(r.detail.find("cpu 8 is not online"), std::string::npos) << r.detail;
  EXPECT_EQ(check_cpu_isolation(h.view(), c, {}).result, verdict::fail);

  c.cores.clear();
  c.lcores = 1;
  r = check_cpu_isolation(h.view(), c, {0});
  EXPECT_NE(r.detail.find("lcores.cores unset"), std::string::npos) << r.detail;
}

TEST(DoctorCpus, Numa) {
  fake_host h;
  server_config c = afpacket_config();  // eth1 on node 1, cpus 4,5 on node 1
  check_result r = check_numa(h.view(), c, c.cores);
  EXPECT_EQ(r.result, verdict::pass) << r.detail;
  r = check_numa(h.view(), c, {2, 4});
  EXPECT_EQ(r.result, verdict::warn);
  EXPECT_NE(r.detail.find("lcore cpus 2 are not"), std::string::npos) << r.detail;
  EXPECT_NE(r.fix.find("node1/cpulist"), std::string::npos) << r.fix;

  server_config d = dpdk_config();
  EXPECT_EQ(check_numa(h.view(), d, {4, 5}).result, verdict::pass);
  EXPECT_EQ(check_numa(h.view(), d, {0}).result, verdict::warn);

  h.put("sys/bus/pci/devices/0000:3b:00.0/numa_node", "-1\n");
  r = check_numa(h.view(), d, {4});
  EXPECT_EQ(r.result, verdict::warn);
  EXPECT_NE(r.detail.find("no NUMA node"), std::string::npos);
  h.put("sys/bus/pci/devices/0000:3b:00.0/numa_node", "one\n");
  r = check_numa(h.view(), d, {4});
  EXPECT_EQ(r.result, verdict::warn);
  EXPECT_NE(r.detail.find("malformed"), std::string::npos);
  h.put("sys/bus/pci/devices/0000:3b:00.0/numa_node", "1\n");
  h.put("sys/devices/system/node/node1/cpulist", "junk\n");
  r = check_numa(h.view(), d, {4});
  EXPECT_EQ(r.result, verdict::warn);
  EXPECT_NE(r.detail.find("no NUMA node found for cpus 4"), std::string::npos) << r.detail;

  // A virtual interface has no device: NUMA does not apply.
  h.iface("veth0", "up", "0x1003", "1", "");
  c.interface = "veth0";
  EXPECT_EQ(check_numa(h.view(), c, {0, 4}).result, verdict::pass);
  // One node: nothing to place.
  h.rm("sys/devices/system/node/node1");
  EXPECT_EQ(check_numa(h.view(), d, {0}).result, verdict::pass);
  h.rm("sys/devices/system/node");
  EXPECT_EQ(check_numa(h.view(), d, {0}).result, verdict::pass);
}

TEST(DoctorStorage, Judge) {
  server_config c = afpacket_config();                    // 1 GiB, keep 2, io_timeout 5 s
  EXPECT_EQ(judge_storage({}, c).result, verdict::warn);  // snapshots off
  c.snapshot_dir = "/var/lib/anvil/snapshots";
  storage_probe p;
  p.probed_dir = c.snapshot_dir;
  p.dir_exists = true;
  p.free_bytes = 100ull << 30;
  p.written_bytes = 4 << 20;
  p.seconds = 0.01;
  EXPECT_EQ(judge_storage(p, c).result, verdict::pass) << judge_storage(p, c).detail;

  storage_probe q = p;
  q.error = "write: Input/output error";
  EXPECT_EQ(judge_storage(q, c).result, verdict::fail);
  q = p;
  q.read_only = true;
  EXPECT_EQ(judge_storage(q, c).result, verdict::fail);
  q = p;
  q.free_bytes = (1ull << 30) - 1;  // one byte short of one snapshot
  EXPECT_EQ(judge_storage(q, c).result, verdict::fail);
  q.free_bytes = 1ull << 30;  // one snapshot fits, not keep + 1
  EXPECT_EQ(judge_storage(q, c).result, verdict::warn);
  q.free_bytes = 3ull << 30;  // keep (2) + one being written
  EXPECT_EQ(judge_storage(q, c).result, verdict::pass);
  q = p;
  q.seconds = 5.01;  // over io_timeout_s: the disk is stalling
  EXPECT_EQ(judge_storage(q, c).result, verdict::fail);
  q.seconds = 2;  // over a quarter of it
  EXPECT_EQ(judge_storage(q, c).result, verdict::warn);
  q = p;
  q.tmpfs = true;
  EXPECT_EQ(judge_storage(q, c).result, verdict::warn);
  q = p;
  q.dir_exists = false;
  q.probed_dir = "/var/lib";
  EXPECT_NE(judge_storage(q, c).detail.find("anvil creates it"), std::string::npos);
}

TEST(DoctorStorage, ProbeWritesSyncsAndCleansUp) {
  anvil::test::temp_dir d("anvil-doctor");
  storage_probe p = probe_storage(d.path(), 1 << 20);
  EXPECT_TRUE(p.error.empty()) << p.error;
  EXPECT_TRUE(p.dir_exists);
  EXPECT_EQ(p.written_bytes, 1u << 20);
  EXPECT_GT(p.free_bytes, 0u);
  EXPECT_TRUE(fs::is_empty(d.path()));  // the probe file is gone

  p = probe_storage(d.path() + "/not/yet", 4096);  // probes the nearest existing parent
  EXPECT_TRUE(p.error.empty()) << p.error;
  EXPECT_FALSE(p.dir_exists);
  EXPECT_EQ(p.probed_dir, d.path());
  EXPECT_FALSE(fs::exists(d.path() + "/not"));  // doctor creates nothing

  std::ofstream(d.path() + "/file") << "x";
  p = probe_storage(d.path() + "/file/sub", 4096);
  EXPECT_NE(p.error.find("not a directory"), std::string::npos) << p.error;
  p = probe_storage(d.path() + "/file", 4096);
  EXPECT_NE(p.error.find("not a directory"), std::string::npos) << p.error;
  EXPECT_EQ(probe_storage(d.path(), 0).written_bytes, 0u);
}

TEST(DoctorAdmin, TokenFileAndListenAddress) {
  anvil::test::temp_dir d("anvil-doctor");
  server_config c = afpacket_config();
  c.admin.token_file = d.path() + "/token";
  std::ofstream(c.admin.token_file) << "secret\n";
  ::chmod(c.admin.token_file.c_str(), 0600);
  check_result r = check_admin(c);
  EXPECT_EQ(r.result, verdict::pass) << r.detail;
  ::chmod(c.admin.token_file.c_str(), 0640);
  r = check_admin(c);
  EXPECT_EQ(r.result, verdict::fail);
  EXPECT_NE(r.detail.find("mode 0640"), std::string::npos) << r.detail;
  EXPECT_EQ(r.fix, "chmod 600 " + c.admin.token_file);
  ::chmod(c.admin.token_file.c_str(), 0400);  // stricter is fine
  EXPECT_EQ(check_admin(c).result, verdict::pass);
  std::ofstream(c.admin.token_file, std::ios::trunc).close();
  EXPECT_EQ(check_admin(c).result, verdict::fail);  // empty
  c.admin.token_file = d.path();
  EXPECT_EQ(check_admin(c).result, verdict::fail);  // a directory
  c.admin.token_file = d.path() + "/missing";
  EXPECT_EQ(check_admin(c).result, verdict::fail);
  c.admin.token_file.clear();
  EXPECT_EQ(check_admin(c).result, verdict::warn);
  c.admin.token_file = d.path() + "/token";
  std::ofstream(c.admin.token_file) << "secret\n";
  c.admin.address = "0.0.0.0";
  EXPECT_EQ(check_admin(c).result, verdict::warn);
  c.admin.enabled = false;
  EXPECT_EQ(check_admin(c).result, verdict::warn);
}

TEST(DoctorClock, Judge) {
  EXPECT_EQ(judge_clock({true, true, 0.01, ""}).result, verdict::pass);
  EXPECT_EQ(judge_clock({true, true, 0.6, ""}).result, verdict::warn);
  EXPECT_EQ(judge_clock({true, false, 16, ""}).result, verdict::warn);
  EXPECT_EQ(judge_clock({false, false, 0, "adjtimex: EPERM"}).result, verdict::warn);
  const clock_probe real = probe_clock();
  EXPECT_TRUE(real.ok) << real.error;
}

// The binary: a good host passes (exit 0), a bad one fails (exit 1) with a fix line,
// --json parses, an unparseable config is a failed check, not a crash.
TEST(DoctorBinary, GoodAndBadHosts) {
  fake_host h;
  anvil::test::temp_dir snaps("anvil-doctor");
  const std::string cfg = h.root() + "/anvil.toml";
  std::ofstream(cfg) << "[memcached]\nmemory_mb = 64\n[network]\nport_type = \"afpacket\"\n"
                        "interface = \"eth1\"\nip = \"10.0.0.1\"\n[lcores]\ncores = [4, 5]\n"
                        "[snapshot]\ndir = \""
                     << snaps.path() << "/snaps\"\n";
  const std::vector<std::string> roots{"--proc-root", h.root() + "/proc", "--sys-root",
                                       h.root() + "/sys"};
  auto doctor = [&](std::vector<std::string> extra) {
    std::vector<std::string> a{"doctor", "--config", cfg};
    a.insert(a.end(), roots.begin(), roots.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return anvil::test::run_ctl(a);
  };
  anvil::test::ctl_run r = doctor({});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS  nic"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ready: 10 checks, 0 failed"), std::string::npos) << r.out;

  r = doctor({"--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["checks"].size(), 10u);
  EXPECT_NE(j["result"], "fail");

  h.put("sys/class/net/eth1/operstate", "down\n");
  h.put("sys/class/net/eth1/flags", "0x1002\n");
  r = doctor({});
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("FAIL  nic"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fix: ip link set eth1 up"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("NOT READY"), std::string::npos) << r.out;

  // Roots that do not exist at all: verdicts, not a crash.
  r = anvil::test::run_ctl(
      {"doctor", "--config", cfg, "--proc-root", "/nonexistent", "--sys-root", "/nonexistent"});
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("no interface 'eth1'"), std::string::npos) << r.out;

  std::ofstream(cfg) << "[network]\nip = \"10.0.0\"\n";
  r = doctor({});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("FAIL  config"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("network.ip"), std::string::npos) << r.out;
  r = anvil::test::run_ctl({"doctor", "--config", h.root() + "/missing.toml"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("cannot read"), std::string::npos) << r.out;
}

}  // namespace
