// The engine's sizing rules as one pure function, so a caller can see what a configuration
// gives before anything is allocated (the server refuses one that cannot store an item).
// Rules:
// - segment = segment_size (0: 1 MiB), raised to max_item_size rounded up to 4 KiB. An
//   item never spans segments, so the tail of a segment that cannot hold the next item is
//   lost: below min(max_item_size / segment, 1/2) of the arena (max_item_waste). With a
//   1 MiB segment and -I 1m, items just over 512 KiB waste almost half; a segment of
//   10 x max_item_size keeps any item size under 10%. The server does not use the 1 MiB
//   default: it asks auto_segment_size (below) for one sized from -I and the memory.
// - partitions = the configured count, kept as given; else the next power of two of the
//   serving cpus (engine_config::cpus) or of the machine's PUs, capped at kMaxPartitions,
//   then halved until each partition holds kMinSegmentsPerPartition segments.
// - segments per partition = limit / partitions / segment (the limit is never exceeded).
// - index: expected_items (0: limit / kDefaultBytesPerItem) over 7-slot buckets at 80% load.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cache/engine.h"

namespace anvil::cache {

inline constexpr std::size_t kDefaultSegmentBytes = std::size_t{1} << 20;
inline constexpr std::size_t kDefaultBytesPerItem = 128;
inline constexpr std::size_t kMinSegmentsPerPartition = 2;
inline constexpr double kIndexTargetLoad = 0.8;

struct sizing {
  std::size_t partitions = 1;
  std::size_t segment_bytes = kDefaultSegmentBytes;
  std::size_t segments_per_partition = 0;
  std::uint32_t buckets_per_partition = 1;
  std::uint64_t expected_items = 0;
  std::uint64_t index_slots = 0;  // all partitions
  std::uint64_t index_bytes = 0;  // all partitions (outside the memory limit)
  double max_item_waste = 0;      // bound on the arena fraction lost to segment tails

  // Whether every partition has the segments it needs to store (and evict) items.
  bool usable() const { return segments_per_partition >= kMinSegmentsPerPartition; }
};

// `wanted_partitions`: the count to start from when cfg.partitions is 0 (a power of two).
sizing plan_sizing(const engine_config& cfg, std::size_t wanted_partitions);

// Segment tails stay under 1/kTailWasteDivisor of the arena when a segment holds at least
// this many largest items.
inline constexpr std::size_t kTailWasteDivisor = 10;
// Segments per partition the automatic size keeps, when memory allows: eviction keeps
// 1/16 of them free ahead of need and evicts one at a time, so fewer, larger segments
// would make both coarser.
inline constexpr std::size_t kWantSegmentsPerPartition = 16;
inline constexpr std::size_t kMaxSegmentBytes = std::size_t{1} << 30;

// The segment size for `partition_bytes` of arena per partition and items up to
// `max_item_size` (the server's default; [cache] segment_size overrides it):
// - floor: the engine's default, max(1 MiB, max_item_size), 4 KiB aligned;
// - target: max(floor, 10 x max_item_size), at most kMaxSegmentBytes: tails under 10%;
// - when the partition holds kWantSegmentsPerPartition of the target: the partition
//   divided into as many equal segments of at least the target as fit (so no remainder
//   beyond the 4 KiB alignment is lost);
// - else: kWantSegmentsPerPartition equal segments, but not below the floor (memory too
//   small for 10 x max_item_size with enough segments: tails may exceed 10%, and the
//   server says so at start, naming the flags; see auto_segment_note in control/).
std::size_t auto_segment_size(std::uint64_t partition_bytes, std::size_t max_item_size);

}  // namespace anvil::cache
