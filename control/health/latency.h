// Canary latency bookkeeping on the control thread: a time window of recent samples
// for percentiles (what the health state is judged on) and a cumulative histogram for
// /metrics (anvil_canary_duration_seconds). Not thread-safe: one owner (the monitor).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>

namespace anvil::health {

class latency_window {
 public:
  // Samples older than window_ms are dropped; at most max_samples are kept (oldest go).
  latency_window(std::int64_t window_ms, std::size_t max_samples)
      : _window_ms(window_ms), _max(max_samples == 0 ? 1 : max_samples) {}
  void add(double seconds, std::int64_t now_ms);
  void expire(std::int64_t now_ms);
  std::size_t size() const { return _s.size(); }
  // Nearest-rank quantile (q in [0, 1]) of the kept samples plus `extra` (an
  // outstanding round counted at its age; negative = none); 0 when there are none.
  double quantile(double q, double extra = -1) const;

 private:
  struct sample {
    std::int64_t at_ms;
    double s;
  };
  std::int64_t _window_ms;
  std::size_t _max;
  std::deque<sample> _s;
};

class latency_histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  void add(double seconds);
  // Cumulative count of samples <= kBounds[i]; i == kBounds.size() is +Inf (= count()).
  std::uint64_t cumulative(std::size_t i) const;
  // Samples in bucket i alone (i == kBounds.size(): above the last bound).
  std::uint64_t bucket(std::size_t i) const { return i < _b.size() ? _b[i] : 0; }
  std::uint64_t count() const { return _count; }
  double sum() const { return _sum; }

 private:
  std::array<std::uint64_t, kBounds.size() + 1> _b{};  // per bucket, not cumulative
  std::uint64_t _count = 0;
  double _sum = 0;
};

}  // namespace anvil::health
