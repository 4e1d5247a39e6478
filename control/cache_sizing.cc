// Start-up sizing check (see cache_sizing.h).
#include "control/cache_sizing.h"

#include <algorithm>
#include <string>

#include "cache/numa.h"

namespace anvil::control {

namespace {
std::string mib(std::uint64_t bytes) {
  if (bytes % (1024 * 1024) == 0) return std::to_string(bytes / (1024 * 1024)) + " MiB";
  return std::to_string(bytes) + " bytes";
}

std::string pct(double f) {
  const auto tenths = static_cast<unsigned>(f * 1000 + 0.5);
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + "%";
}

// Why tails of items near -I may exceed 10% of -m, and what would bring them under.
std::string waste_note(const server_config& cfg, const cache::sizing& s,
                       std::size_t wanted_partitions) {
  const std::uint64_t item = cfg.max_item_size;
  const std::uint64_t part_bytes = cfg.memory_mb * 1024 * 1024 / s.partitions;
  // The segment that keeps tails under 10% (cache::auto_segment_size's target, uncapped).
  const auto align = [](std::uint64_t v) { return (v + 4095) / 4096 * 4096; };
  const std::uint64_t target =
      std::max<std::uint64_t>(cache::kDefaultSegmentBytes, align(cache::kTailWasteDivisor * item));
  std::string n = "items near -I/--max-item-size (" + mib(item) + ") may leave up to " +
                  pct(s.max_item_waste) + " of -m/--memory-limit unused in segment tails (" +
                  std::to_string(s.segments_per_partition) + " segments of " +
                  mib(s.segment_bytes) + " per partition, " + std::to_string(s.partitions) +
                  " partition(s))";
  if (cfg.segment_size != 0) return n + ", from cache.segment_size: set it to at least 10 x -I";
  if (target > cache::kMaxSegmentBytes)
    return n + "; under 10% needs -I/--max-item-size of at most " +
           std::to_string(cache::kMaxSegmentBytes / cache::kTailWasteDivisor / 1024) + "k";
  // More memory: enough for the wanted partitions (a halved count comes back with it).
  const std::uint64_t need =
      std::max(wanted_partitions, s.partitions) * cache::kWantSegmentsPerPartition * target;
  n += "; under 10% needs " + std::to_string(cache::kWantSegmentsPerPartition) +
       " segments of at least " + mib(target) + " per partition: raise -m/--memory-limit to " +
       std::to_string((need + (1 << 20) - 1) >> 20);
  const std::uint64_t smaller =
      part_bytes / cache::kWantSegmentsPerPartition / 4096 * 4096 / cache::kTailWasteDivisor / 1024;
  if (smaller >= 1) n += ", or lower -I/--max-item-size to " + std::to_string(smaller) + "k";
  if (part_bytes / target >= 4)
    n += ", or set cache.segment_size = " + std::to_string(target / 1024) + "k (" +
         std::to_string(part_bytes / target) + " segments per partition: coarser eviction)";
  return n;
}
}  // namespace

cache_plan plan_cache(const server_config& cfg, const std::vector<unsigned>& cpus,
                      const cache::clock* time) {
  cache_plan p;
  cache::engine_config& ec = p.engine;
  ec.memory_limit_bytes = cfg.memory_mb * 1024 * 1024;
  ec.max_item_size = cfg.max_item_size;
  ec.segment_size = cfg.segment_size;
  ec.expected_items = ec.memory_limit_bytes / cfg.expected_item_bytes;
  if (ec.expected_items == 0) ec.expected_items = 1;
  ec.partitions = 0;  // the engine's rule: from the lcores, halved while memory is short
  ec.cpus = cpus;
  ec.time = time;
  const std::size_t wanted = cache::partition_count_for(cpus.size());
  p.sizing = cache::plan_sizing(ec, wanted);
  if (cfg.segment_size == 0 && p.sizing.usable()) {
    // The partition count is settled (halved, if at all, for segments of at least -I);
    // now the segments are sized for it. The count does not change again: the automatic
    // size is at most max(1 MiB and -I, a 16th of a partition).
    ec.segment_size =
        cache::auto_segment_size(ec.memory_limit_bytes / p.sizing.partitions, ec.max_item_size);
    p.sizing = cache::plan_sizing(ec, wanted);
  }
  if (!p.sizing.usable()) {
    const std::uint64_t need = cache::kMinSegmentsPerPartition * p.sizing.segment_bytes;
    const bool seg_from_item = cfg.segment_size == 0;
    throw config_error(
        "-m/--memory-limit",
        mib(ec.memory_limit_bytes) + " holds " + std::to_string(p.sizing.segments_per_partition) +
            " segment(s) of " + mib(p.sizing.segment_bytes) + " (" +
            (seg_from_item ? "-I/--max-item-size" : "cache.segment_size") +
            "); the cache needs at least " + std::to_string(cache::kMinSegmentsPerPartition) +
            ": raise -m to " + std::to_string((need + (1 << 20) - 1) >> 20) + " or lower " +
            (seg_from_item ? "-I/--max-item-size" : "cache.segment_size"));
  }
  if (p.sizing.max_item_waste > 1.0 / cache::kTailWasteDivisor + 1e-9)
    p.note = waste_note(cfg, p.sizing, wanted);
  return p;
}

}  // namespace anvil::control
