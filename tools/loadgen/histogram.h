// Latency histogram for the load generator, HDR-style: log-linear buckets.
//
// Values (nanoseconds) below 2^kSubBits are counted exactly; above, each power of two
// [2^m, 2^(m+1)) is split into 2^(kSubBits-1) equal sub-buckets, so a recorded value is
// known to within 2^-(kSubBits-1) of itself (0.8% with kSubBits = 8). The counts live in
// one fixed array sized at construction: record() is a few shifts and an increment, no
// allocation, so it can run once per request on the hot path. Values past the top
// (2^kMaxBits ns, ~18 minutes) land in the last bucket and are counted as overflow.
// Single writer; merge() folds per-thread histograms after the threads are joined.
#pragma once

#include <array>
#include <cstdint>

namespace anvil::loadgen {

class histogram {
 public:
  static constexpr unsigned kSubBits = 8;   // 128 sub-buckets per power of two
  static constexpr unsigned kMaxBits = 40;  // 2^40 ns ~ 18 min
  static constexpr unsigned kHalf = 1u << (kSubBits - 1);
  static constexpr unsigned kBuckets = (1u << kSubBits) + (kMaxBits - kSubBits) * kHalf;

  void record(std::uint64_t v) {
    if (v >= kTop) {
      v = kTop - 1;
      ++_overflow;
    }
    ++_counts[index_of(v)];
    ++_count;
    _sum += v;
    if (v < _min) _min = v;
    if (v > _max) _max = v;
  }

  void merge(const histogram& o);
  void reset() { *this = histogram{}; }

  // Smallest bucket upper bound such that at least q (0..1] of the values are <= it;
  // 0 when empty. Never below the true quantile, at most one bucket width above it.
  std::uint64_t quantile(double q) const;

  std::uint64_t count() const { return _count; }
  std::uint64_t overflow() const { return _overflow; }
  std::uint64_t min() const { return _count ? _min : 0; }
  std::uint64_t max() const { return _max; }
  double mean() const { return _count ? double(_sum) / double(_count) : 0.0; }

  // Bucket arithmetic, public for the unit tests.
  static constexpr unsigned index_of(std::uint64_t v) {
    if (v < (1u << kSubBits)) return static_cast<unsigned>(v);
    const unsigned msb = 63u - static_cast<unsigned>(__builtin_clzll(v));  // >= kSubBits
    const unsigned shift = msb - (kSubBits - 1);                           // >= 1
    // v >> shift lies in [kHalf, 2*kHalf): the top kSubBits bits of v.
    return (1u << kSubBits) + (shift - 1) * kHalf + static_cast<unsigned>((v >> shift) - kHalf);
  }
  // Largest value that falls into bucket i.
  static constexpr std::uint64_t upper_bound_of(unsigned i) {
    if (i < (1u << kSubBits)) return i;
    const unsigned j = i - (1u << kSubBits);
    const unsigned shift = j / kHalf + 1;
    const std::uint64_t top = std::uint64_t(kHalf + j % kHalf);
    return ((top + 1) << shift) - 1;
  }

 private:
  static constexpr std::uint64_t kTop = std::uint64_t(1) << kMaxBits;
  std::array<std::uint64_t, kBuckets> _counts{};
  std::uint64_t _count = 0, _overflow = 0, _sum = 0;
  std::uint64_t _min = ~std::uint64_t(0), _max = 0;
};

}  // namespace anvil::loadgen
