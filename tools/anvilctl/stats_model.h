// Figures `stats --per-lcore` and `top` show, computed from GET /v1/stats answers
// (docs/admin.md): per-lcore samples, and the rates between two samples (ops/s, hit
// ratio, p50/p99 from the difference of the cumulative latency buckets). Pure: JSON
// in, numbers out; a missing field is a zero, never an exception.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace anvil::ctl {

struct lcore_sample {
  long lcore = -1;  // -1: the "total" block
  long cpu = -1;
  double requests = 0;  // every op and status in "requests"
  double get_hits = 0;
  double get_misses = 0;
  double connections = 0;
  double busy_ratio = 0;
  double longest_iteration_s = 0;
  double p50_s = 0, p99_s = 0;                     // the server's, since start
  std::vector<std::pair<double, double>> buckets;  // (upper bound, cumulative count); +Inf = inf
};

struct stats_sample {
  std::vector<lcore_sample> lcores;
  lcore_sample total;
};

stats_sample sample_of(const nlohmann::json& stats);

// The q-quantile (0..1) of a cumulative histogram: the upper bound of the first bucket
// whose count reaches q of the total. NaN when the histogram is empty; +inf when the
// rank falls in the +Inf bucket.
double quantile(const std::vector<std::pair<double, double>>& cumulative, double q);
// cur - prev bucket by bucket; a counter that went backwards (a restarted server)
// gives 0; when the bounds differ (a first sample, another server) cur whole.
std::vector<std::pair<double, double>> bucket_delta(
    const std::vector<std::pair<double, double>>& prev,
    const std::vector<std::pair<double, double>>& cur);
// The largest finite bucket bound (for printing "> 100ms"), 0 when none.
double largest_finite_bound(const std::vector<std::pair<double, double>>& buckets);

struct lcore_rates {
  long lcore = -1;
  long cpu = -1;
  double ops_per_s = 0;
  double hit_ratio = 0;         // NaN: no gets in the interval
  double p50_s = 0, p99_s = 0;  // NaN: no request in the interval
  double connections = 0;
  double busy_ratio = 0;
  double longest_iteration_s = 0;
  double top_bound_s = 0;  // largest finite bucket bound
};

// Rates over `seconds` between two samples of the same lcore (seconds <= 0: all NaN
// except the gauges).
lcore_rates rates_between(const lcore_sample& prev, const lcore_sample& cur, double seconds);

// Latency for a table cell: "-" for NaN, "> 100ms" past the last finite bucket.
std::string latency_cell(double seconds, double top_bound);

}  // namespace anvil::ctl
