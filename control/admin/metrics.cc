#include "control/admin/metrics.h"

#include <charconv>
#include <cmath>

namespace anvil::control::admin {

std::string exposition::escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string exposition::format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

void exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  _out += "# HELP ";
  _out += name;
  _out += ' ';
  for (char c : help) {  // HELP escapes backslash and newline only
    if (c == '\\')
      _out += "\\\\";
    else if (c == '\n')
      _out += "\\n";
    else
      _out += c;
  }
  _out += "\n# TYPE ";
  _out += name;
  _out += ' ';
  _out += type;
  _out += '\n';
}

void exposition::labels(const label* b, const label* e) {
  if (b == e) return;
  _out += '{';
  for (const label* l = b; l != e; ++l) {
    if (l != b) _out += ',';
    _out += l->name;
    _out += "=\"";
    _out += escape_label(l->value);
    _out += '"';
  }
  _out += '}';
}

void exposition::sample(std::string_view name, std::initializer_list<label> ls, double value) {
  _out += name;
  labels(ls.begin(), ls.end());
  _out += ' ';
  _out += format_double(value);
  _out += '\n';
}

void exposition::sample(std::string_view name, std::initializer_list<label> ls,
                        std::uint64_t value) {
  _out += name;
  labels(ls.begin(), ls.end());
  _out += ' ';
  _out += std::to_string(value);
  _out += '\n';
}

void exposition::sample(std::string_view name, const std::vector<label>& ls, std::uint64_t value) {
  _out += name;
  labels(ls.data(), ls.data() + ls.size());
  _out += ' ';
  _out += std::to_string(value);
  _out += '\n';
}

void exposition::histogram(std::string_view name, std::string_view help,
                           const std::vector<double>& bounds,
                           const std::vector<std::uint64_t>& counts, double sum) {
  family(name, "histogram", help);
  const std::string n(name);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += i < counts.size() ? counts[i] : 0;
    const std::string le = format_double(bounds[i]);
    sample(n + "_bucket", {{"le", le}}, cumulative);
  }
  for (std::size_t i = bounds.size(); i < counts.size(); ++i) cumulative += counts[i];
  sample(n + "_bucket", {{"le", "+Inf"}}, cumulative);
  sample(n + "_sum", {}, sum);
  sample(n + "_count", {}, cumulative);
}

void collector_list::add(std::string name, collector c) {
  std::lock_guard lock(_mu);
  _list.emplace_back(std::move(name), std::move(c));
}

void collector_list::collect(exposition& out) const {
  std::vector<collector> copy;
  {
    std::lock_guard lock(_mu);
    for (const auto& [n, c] : _list) copy.push_back(c);
  }
  for (const auto& c : copy) c(out);
}

std::vector<std::string> collector_list::names() const {
  std::lock_guard lock(_mu);
  std::vector<std::string> out;
  for (const auto& [n, c] : _list) out.push_back(n);
  return out;
}

}  // namespace anvil::control::admin
