#include "tools/anvilctl/output.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace anvil::ctl {

using nlohmann::json;

namespace {
bool numeric(const std::string& s) {
  if (s.empty() || s == "-") return !s.empty();
  const char c = s.front();
  return std::isdigit(static_cast<unsigned char>(c)) ||
         ((c == '-' || c == '+' || c == '.') && s.size() > 1);
}

std::string fixed(double v, int decimals) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}
}  // namespace

void table::print(std::ostream& out) const {
  std::vector<std::size_t> width(header.size(), 0);
  auto widen = [&](const std::vector<std::string>& r) {
    if (r.size() > width.size()) width.resize(r.size(), 0);
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  };
  widen(header);
  for (const auto& r : rows) widen(r);
  auto line = [&](const std::vector<std::string>& r, bool is_header) {
    std::string s;
    for (std::size_t i = 0; i < r.size(); ++i) {
      const std::size_t pad = width[i] - r[i].size();
      const bool right = !is_header && i > 0 && numeric(r[i]);
      if (i > 0) s += "  ";
      if (right) s.append(pad, ' ');
      s += r[i];
      if (!right && i + 1 < r.size()) s.append(pad, ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << '\n';
  };
  if (!header.empty()) line(header, true);
  for (const auto& r : rows) line(r, false);
}

void print_pairs(std::ostream& out, const pairs& p) {
  std::size_t w = 0;
  for (const auto& [k, v] : p) w = std::max(w, k.size());
  for (const auto& [k, v] : p) out << k << std::string(w - k.size() + 2, ' ') << v << '\n';
}

void print_json(std::ostream& out, const json& j) { out << j.dump(2) << '\n'; }

std::string text(const json& j) {
  if (j.is_null()) return "-";
  if (j.is_string()) return j.get<std::string>();
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  if (j.is_number_float()) {
    const double v = j.get<double>();
    if (!std::isfinite(v)) return "-";
    std::string s = fixed(v, 3);
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s;
  }
  if (j.is_array()) {
    std::string s;
    for (const auto& e : j) s += (s.empty() ? "" : ",") + text(e);
    return s;
  }
  return j.dump();
}

std::string field(const json& j, const std::string& key) {
  if (!j.is_object() || !j.contains(key)) return "-";
  return text(j[key]);
}

std::string human_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "-";
  if (s < 60) return fixed(s, 1) + "s";
  auto t = static_cast<std::uint64_t>(s);
  const std::uint64_t d = t / 86400, h = t / 3600 % 24, m = t / 60 % 60, sec = t % 60;
  std::string out;
  if (d) out += std::to_string(d) + "d ";
  if (d || h) out += std::to_string(h) + "h ";
  out += std::to_string(m) + "m " + std::to_string(sec) + "s";
  return out;
}

std::string human_bytes(double b) {
  if (!std::isfinite(b) || b < 0) return "-";
  static const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (b >= 1024 && u < 5) {
    b /= 1024;
    ++u;
  }
  return u == 0 ? fixed(b, 0) + " B" : fixed(b, 1) + " " + unit[u];
}

std::string percent(double r) {
  if (!std::isfinite(r)) return "-";
  return fixed(r * 100, 1) + "%";
}

std::string human_count(double v) {
  if (!std::isfinite(v)) return "-";
  const double a = std::fabs(v);
  if (a < 1000) return fixed(v, a < 10 && v != std::floor(v) ? 1 : 0);
  if (a < 1e6) return fixed(v / 1e3, 1) + "k";
  if (a < 1e9) return fixed(v / 1e6, 1) + "M";
  return fixed(v / 1e9, 1) + "G";
}

std::string human_since(double t, double now) {
  if (!std::isfinite(t) || t <= 0) return "never";
  const std::time_t whole = static_cast<std::time_t>(t);
  std::tm tm{};
  ::gmtime_r(&whole, &tm);
  char b[64];
  std::strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S UTC", &tm);
  const double ago = now - t;
  return std::string(b) + (ago >= 0 ? " (" + human_duration(ago) + " ago)" : "");
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string human_latency(double s) {
  if (!std::isfinite(s) || s < 0) return "-";
  if (s < 1e-3) return fixed(s * 1e6, 0) + "us";
  if (s < 1) return fixed(s * 1e3, 1) + "ms";
  return fixed(s, 2) + "s";
}

}  // namespace anvil::ctl
