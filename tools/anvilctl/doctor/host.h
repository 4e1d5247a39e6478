// A read-only view of the host's /proc and /sys for `anvilctl doctor`, with both roots
// injectable so tests feed fake trees. Every reader returns nullopt (or empty) for a
// missing or unreadable file and never throws: a malformed file is the check's to judge.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace anvil::ctl::doctor {

struct host_roots {
  std::string proc = "/proc";
  std::string sys = "/sys";
};

class host_view {
 public:
  explicit host_view(host_roots r) : _r(std::move(r)) {}

  // Whole file under the root ("meminfo", "class/net/eth0/operstate").
  std::optional<std::string> proc(const std::string& rel) const;
  std::optional<std::string> sys(const std::string& rel) const;
  // First line without its newline and surrounding blanks.
  std::optional<std::string> sys_line(const std::string& rel) const;
  bool sys_exists(const std::string& rel) const;
  // The last component of a symlink's target ("bus/pci/devices/X/driver" -> "vfio-pci").
  std::optional<std::string> sys_link_name(const std::string& rel) const;
  // Entry names of a directory under /sys, sorted; empty when missing.
  std::vector<std::string> sys_list(const std::string& rel) const;

  const host_roots& roots() const { return _r; }

 private:
  host_roots _r;
};

// "/proc/meminfo" lines "Key:   123 kB" -> {Key: 123}; unparseable lines are skipped.
std::map<std::string, std::uint64_t> parse_meminfo(const std::string& text);
// A kernel cpu list ("0-3,8", "", "(null)", with a trailing newline) -> cpu ids; nullopt
// when malformed. Empty input is an empty list.
std::optional<std::vector<unsigned>> parse_kernel_cpu_list(std::string s);
// The value of `key=` on a kernel command line ("isolcpus=nohz,domain,2-5" -> the text
// after '='), or nullopt.
std::optional<std::string> cmdline_value(const std::string& cmdline, const std::string& key);
// The cpu list at the end of an isolcpus= value, after its optional flags
// ("domain,managed_irq,2-5" -> {2,3,4,5}).
std::optional<std::vector<unsigned>> isolcpus_cpus(const std::string& value);
// Mount points of filesystems of type `fstype` in a /proc/mounts text.
std::vector<std::string> mounts_of_type(const std::string& mounts, const std::string& fstype);

}  // namespace anvil::ctl::doctor
