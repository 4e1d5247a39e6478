#include "tools/anvilctl/stats_model.h"

#include <cmath>
#include <limits>

#include "tools/anvilctl/output.h"

namespace anvil::ctl {

using nlohmann::json;

namespace {
constexpr double nan = std::numeric_limits<double>::quiet_NaN();
constexpr double inf = std::numeric_limits<double>::infinity();

double num(const json& j, const std::string& key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0;
}
const json& obj(const json& j, const std::string& key) {
  static const json empty = json::object();
  if (!j.is_object()) return empty;
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : empty;
}

double sum_numbers(const json& j) {
  if (j.is_number()) return j.get<double>();
  double s = 0;
  if (j.is_object() || j.is_array())
    for (const auto& e : j) s += sum_numbers(e);
  return s;
}

lcore_sample lcore_of(const json& l) {
  lcore_sample s;
  if (l.is_object() && l.contains("lcore") && l["lcore"].is_number())
    s.lcore = l["lcore"].get<long>();
  if (l.is_object() && l.contains("cpu") && l["cpu"].is_number()) s.cpu = l["cpu"].get<long>();
  s.requests = sum_numbers(obj(l, "requests"));
  s.get_hits = num(obj(l, "protocol"), "get_hits");
  s.get_misses = num(obj(l, "protocol"), "get_misses");
  s.connections = num(obj(l, "connections"), "current");
  s.busy_ratio = num(obj(l, "loop"), "busy_ratio");
  s.longest_iteration_s = num(obj(l, "loop"), "longest_iteration_seconds");
  const json& lat = obj(l, "latency");
  s.p50_s = num(lat, "p50_seconds");
  s.p99_s = num(lat, "p99_seconds");
  if (lat.contains("buckets") && lat["buckets"].is_array()) {
    for (const auto& b : lat["buckets"]) {
      if (!b.is_object() || !b.contains("le")) continue;
      const json& le = b["le"];
      double bound = le.is_number() ? le.get<double>() : inf;  // "+Inf"
      s.buckets.emplace_back(bound, num(b, "count"));
    }
  }
  return s;
}
}  // namespace

stats_sample sample_of(const json& stats) {
  stats_sample out;
  if (stats.is_object() && stats.contains("lcores") && stats["lcores"].is_array())
    for (const auto& l : stats["lcores"]) out.lcores.push_back(lcore_of(l));
  out.total = lcore_of(obj(stats, "total"));
  out.total.lcore = -1;
  out.total.cpu = -1;
  return out;
}

double quantile(const std::vector<std::pair<double, double>>& c, double q) {
  if (c.empty() || c.back().second <= 0) return nan;
  const double rank = q * c.back().second;
  for (const auto& [bound, count] : c)
    if (count >= rank && count > 0) return bound;
  return inf;
}

std::vector<std::pair<double, double>> bucket_delta(
    const std::vector<std::pair<double, double>>& prev,
    const std::vector<std::pair<double, double>>& cur) {
  bool same_bounds = prev.size() == cur.size();
  for (std::size_t i = 0; same_bounds && i < cur.size(); ++i)
    same_bounds = prev[i].first == cur[i].first;
  if (!same_bounds) return cur;  // a first sample, or another server: the whole count
  std::vector<std::pair<double, double>> out;
  for (std::size_t i = 0; i < cur.size(); ++i)
    out.emplace_back(cur[i].first, std::max(0.0, cur[i].second - prev[i].second));
  return out;
}

double largest_finite_bound(const std::vector<std::pair<double, double>>& b) {
  double m = 0;
  for (const auto& [bound, count] : b)
    if (std::isfinite(bound)) m = std::max(m, bound);
  return m;
}

lcore_rates rates_between(const lcore_sample& prev, const lcore_sample& cur, double seconds) {
  lcore_rates r;
  r.lcore = cur.lcore;
  r.cpu = cur.cpu;
  r.connections = cur.connections;
  r.busy_ratio = cur.busy_ratio;
  r.longest_iteration_s = cur.longest_iteration_s;
  r.top_bound_s = largest_finite_bound(cur.buckets);
  if (seconds <= 0) {
    r.ops_per_s = r.hit_ratio = r.p50_s = r.p99_s = nan;
    return r;
  }
  r.ops_per_s = std::max(0.0, cur.requests - prev.requests) / seconds;
  const double hits = std::max(0.0, cur.get_hits - prev.get_hits);
  const double misses = std::max(0.0, cur.get_misses - prev.get_misses);
  r.hit_ratio = hits + misses > 0 ? hits / (hits + misses) : nan;
  const auto d = bucket_delta(prev.buckets, cur.buckets);
  r.p50_s = quantile(d, 0.50);
  r.p99_s = quantile(d, 0.99);
  return r;
}

std::string latency_cell(double s, double top_bound) {
  if (std::isinf(s)) return top_bound > 0 ? "> " + human_latency(top_bound) : "-";
  return human_latency(s);
}

}  // namespace anvil::ctl
