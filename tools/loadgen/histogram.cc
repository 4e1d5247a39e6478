#include "tools/loadgen/histogram.h"

#include <cmath>

namespace anvil::loadgen {

void histogram::merge(const histogram& o) {
  for (unsigned i = 0; i < kBuckets; ++i) _counts[i] += o._counts[i];
  _count += o._count;
  _overflow += o._overflow;
  _sum += o._sum;
  if (o._min < _min) _min = o._min;
  if (o._max > _max) _max = o._max;
}

std::uint64_t histogram::quantile(double q) const {
  if (_count == 0) return 0;
  if (q <= 0) return min();
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * double(_count)));
  const std::uint64_t want = rank == 0 ? 1 : (rank > _count ? _count : rank);
  std::uint64_t seen = 0;
  for (unsigned i = 0; i < kBuckets; ++i) {
    seen += _counts[i];
    if (seen >= want) {
      const auto ub = upper_bound_of(i);
      return ub < _max ? ub : _max;  // never report past the largest value seen
    }
  }
  return _max;
}

}  // namespace anvil::loadgen
