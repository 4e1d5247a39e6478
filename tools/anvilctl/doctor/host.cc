#include "tools/anvilctl/doctor/host.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "control/config.h"

namespace anvil::ctl::doctor {

namespace fs = std::filesystem;

namespace {
std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return s.str();
}

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  const auto b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}
}  // namespace

std::optional<std::string> host_view::proc(const std::string& rel) const {
  return slurp(_r.proc + "/" + rel);
}
std::optional<std::string> host_view::sys(const std::string& rel) const {
  return slurp(_r.sys + "/" + rel);
}
std::optional<std::string> host_view::sys_line(const std::string& rel) const {
  auto t = sys(rel);
  if (!t) return std::nullopt;
  return trim(t->substr(0, t->find('\n')));
}
bool host_view::sys_exists(const std::string& rel) const {
  std::error_code ec;
  return fs::exists(_r.sys + "/" + rel, ec);
}
std::optional<std::string> host_view::sys_link_name(const std::string& rel) const {
  std::error_code ec;
  const fs::path target = fs::read_symlink(_r.sys + "/" + rel, ec);
  if (ec) return std::nullopt;
  return target.filename().string();
}
std::vector<std::string> host_view::sys_list(const std::string& rel) const {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(_r.sys + "/" + rel, ec), end; !ec && it != end; it.increment(ec))
    out.push_back(it->path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, std::uint64_t> parse_meminfo(const std::string& text) {
  std::map<std::string, std::uint64_t> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0) continue;
    std::istringstream v(line.substr(colon + 1));
    std::uint64_t n = 0;
    if (!(v >> n)) continue;
    out[line.substr(0, colon)] = n;
  }
  return out;
}

std::optional<std::vector<unsigned>> parse_kernel_cpu_list(std::string s) {
  s = trim(s);
  if (s.empty() || s == "(null)") return std::vector<unsigned>{};
  return control::parse_cpu_list(s);
}

std::optional<std::string> cmdline_value(const std::string& cmdline, const std::string& key) {
  std::istringstream in(cmdline);
  std::string word;
  std::optional<std::string> found;
  while (in >> word) {
    if (word == "--") break;  // what follows belongs to init
    if (word.rfind(key + "=", 0) == 0) found = word.substr(key.size() + 1);
  }
  return found;
}

std::optional<std::vector<unsigned>> isolcpus_cpus(const std::string& value) {
  // Flags (nohz, domain, managed_irq) come first; the cpu list starts at the first digit
  // that begins a comma-separated element.
  std::size_t start = 0;
  while (start < value.size() && !std::isdigit(static_cast<unsigned char>(value[start]))) {
    const auto comma = value.find(',', start);
    if (comma == std::string::npos) return std::nullopt;
    start = comma + 1;
  }
  return parse_kernel_cpu_list(value.substr(start));
}

std::vector<std::string> mounts_of_type(const std::string& mounts, const std::string& fstype) {
  std::vector<std::string> out;
  std::istringstream in(mounts);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string dev, point, type;
    if (f >> dev >> point >> type && type == fstype) out.push_back(point);
  }
  return out;
}

}  // namespace anvil::ctl::doctor
