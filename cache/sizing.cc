// The engine's sizing rules (see sizing.h).
#include "cache/sizing.h"

#include <algorithm>

#include "cache/bucket.h"

namespace anvil::cache {

sizing plan_sizing(const engine_config& cfg, std::size_t wanted_partitions) {
  sizing s;
  s.segment_bytes = cfg.segment_size ? cfg.segment_size : kDefaultSegmentBytes;
  if (s.segment_bytes < cfg.max_item_size)
    s.segment_bytes = (cfg.max_item_size + 4095) & ~std::size_t{4095};
  std::size_t n = cfg.partitions ? cfg.partitions : std::max<std::size_t>(wanted_partitions, 1);
  if (!cfg.partitions)
    while (n > 1 && cfg.memory_limit_bytes / n < kMinSegmentsPerPartition * s.segment_bytes)
      n >>= 1;
  s.partitions = n;
  s.segments_per_partition = cfg.memory_limit_bytes / n / s.segment_bytes;
  // An item of size x leaves segment mod x unused: below x, and below half the segment.
  s.max_item_waste =
      std::min(0.5, static_cast<double>(cfg.max_item_size) / static_cast<double>(s.segment_bytes));

  s.expected_items =
      cfg.expected_items ? cfg.expected_items : cfg.memory_limit_bytes / kDefaultBytesPerItem;
  const double per_part = static_cast<double>(s.expected_items) / static_cast<double>(n);
  double nb = per_part / (kSlotsPerBucket * kIndexTargetLoad);
  nb = std::clamp(nb, 1.0, 4e9);
  s.buckets_per_partition = static_cast<std::uint32_t>(nb + 0.999);
  s.index_slots = std::uint64_t{s.buckets_per_partition} * kSlotsPerBucket * n;
  s.index_bytes = std::uint64_t{s.buckets_per_partition} * sizeof(bucket) * n;
  return s;
}

std::size_t auto_segment_size(std::uint64_t partition_bytes, std::size_t max_item_size) {
  constexpr std::uint64_t kAlign = 4096;
  const auto up = [](std::uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; };
  const std::uint64_t floor_bytes =
      std::max<std::uint64_t>(kDefaultSegmentBytes, up(max_item_size));
  const std::uint64_t target =
      std::max(floor_bytes,
               std::min<std::uint64_t>(kMaxSegmentBytes, up(kTailWasteDivisor * max_item_size)));
  std::uint64_t seg;
  if (partition_bytes / target >= kWantSegmentsPerPartition) {
    const std::uint64_t n = partition_bytes / target;
    seg = partition_bytes / n / kAlign * kAlign;  // >= target: target is 4 KiB aligned
  } else {
    seg = std::max(floor_bytes, partition_bytes / kWantSegmentsPerPartition / kAlign * kAlign);
  }
  return static_cast<std::size_t>(
      std::min<std::uint64_t>(seg, std::max<std::uint64_t>(floor_bytes, kMaxSegmentBytes)));
}

}  // namespace anvil::cache
