// Server-side request latency, one histogram per lcore: from the TSC read when a burst
// arrives to the TSC read after that burst's responses were handed to the port, recorded
// once per request the burst completed (a weighted add). Fixed buckets, Prometheus
// style (`le` = upper bound, inclusive), held in TSC cycles so recording converts
// nothing: a search over 16 bounds and three relaxed load+stores. Single writer (the
// lcore), no lock, no allocation, no system call; readers (the admin thread) take a
// snapshot with relaxed loads and merge lcores at scrape. The count is the sum of the
// buckets, so a snapshot is self-consistent (+Inf == count) even while the lcore records;
// the sum may lag by one record.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "dataplane/server/cycles.h"

namespace anvil::server {

// Upper bounds in seconds; a 17th bucket is +Inf.
inline constexpr std::array<double, 16> kLatencyBoundsSeconds = {
    1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1};
inline constexpr std::size_t kLatencyBuckets = kLatencyBoundsSeconds.size() + 1;

// The bucket bounds in cycles of cycles_now(), for one measured cycle rate.
struct latency_bounds {
  double cycles_per_second = 1e9;
  std::array<std::uint64_t, kLatencyBoundsSeconds.size()> cycles{};

  static latency_bounds for_rate(double cycles_per_second) {
    latency_bounds b;
    b.cycles_per_second = cycles_per_second > 0 ? cycles_per_second : 1e9;
    for (std::size_t i = 0; i < b.cycles.size(); ++i)
      b.cycles[i] = static_cast<std::uint64_t>(kLatencyBoundsSeconds[i] * b.cycles_per_second);
    return b;
  }
  // The cycle rate measured once per process against the monotonic clock (~20 ms, the
  // first time only).
  static const latency_bounds& measured() {
    static const latency_bounds b = for_rate(measure_cycles_per_second());
    return b;
  }
  static double measure_cycles_per_second() {
    const std::uint64_t n0 = monotonic_ns(), c0 = cycles_now();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::uint64_t n1 = monotonic_ns(), c1 = cycles_now();
    return n1 > n0 ? double(c1 - c0) * 1e9 / double(n1 - n0) : 1e9;
  }
};

// A plain copy: one lcore's histogram or the merge of several.
struct latency_snapshot {
  std::array<std::uint64_t, kLatencyBuckets> counts{};  // per bucket, not cumulative
  std::uint64_t sum_cycles = 0;

  std::uint64_t count() const {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    return n;
  }
  void merge(const latency_snapshot& o) {
    for (std::size_t i = 0; i < kLatencyBuckets; ++i) counts[i] += o.counts[i];
    sum_cycles += o.sum_cycles;
  }
  // Upper bound (seconds) of the bucket holding the q-quantile (0 < q <= 1); +Inf's
  // rank answers the largest finite bound; 0 when empty.
  double quantile_upper_bound(double q) const {
    const std::uint64_t n = count();
    if (n == 0) return 0;
    const double rank = std::clamp(q, 0.0, 1.0) * double(n);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kLatencyBoundsSeconds.size(); ++i) {
      seen += counts[i];
      if (double(seen) >= rank && seen > 0) return kLatencyBoundsSeconds[i];
    }
    return kLatencyBoundsSeconds.back();
  }
};

class alignas(64) latency_histogram {
 public:
  explicit latency_histogram(const latency_bounds& b = latency_bounds::measured())
      : _bounds(b.cycles), _cycles_per_second(b.cycles_per_second) {}

  // Owner lcore only: `n` requests that each took `cycles`.
  void record(std::uint64_t cycles, std::uint64_t n = 1) {
    std::size_t i = 0;
    while (i < _bounds.size() && cycles > _bounds[i]) ++i;
    bump(_counts[i], n);
    bump(_sum_cycles, cycles * n);
  }

  latency_snapshot read() const {
    latency_snapshot s;
    for (std::size_t i = 0; i < kLatencyBuckets; ++i)
      s.counts[i] = _counts[i].load(std::memory_order_relaxed);
    s.sum_cycles = _sum_cycles.load(std::memory_order_relaxed);
    return s;
  }
  double cycles_per_second() const { return _cycles_per_second; }

 private:
  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t n) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::array<std::uint64_t, kLatencyBoundsSeconds.size()> _bounds;
  double _cycles_per_second;
  std::array<std::atomic<std::uint64_t>, kLatencyBuckets> _counts{};
  std::atomic<std::uint64_t> _sum_cycles{0};
};

}  // namespace anvil::server
