#include "control/health/latency.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace anvil::health {

void latency_window::add(double seconds, std::int64_t now_ms) {
  _s.push_back({now_ms, seconds});
  while (_s.size() > _max) _s.pop_front();
  expire(now_ms);
}

void latency_window::expire(std::int64_t now_ms) {
  while (!_s.empty() && now_ms - _s.front().at_ms > _window_ms) _s.pop_front();
}

double latency_window::quantile(double q, double extra) const {
  std::vector<double> v;
  v.reserve(_s.size() + 1);
  for (const auto& x : _s) v.push_back(x.s);
  if (extra >= 0) v.push_back(extra);
  if (v.empty()) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // Nearest rank: the smallest sample with at least q of the samples at or below it.
  std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(rank - 1), v.end());
  return v[rank - 1];
}

void latency_histogram::add(double seconds) {
  const auto it = std::lower_bound(kBounds.begin(), kBounds.end(), seconds);
  ++_b[static_cast<std::size_t>(it - kBounds.begin())];
  ++_count;
  _sum += seconds;
}

std::uint64_t latency_histogram::cumulative(std::size_t i) const {
  std::uint64_t n = 0;
  for (std::size_t k = 0; k <= i && k < _b.size(); ++k) n += _b[k];
  return n;
}

}  // namespace anvil::health
