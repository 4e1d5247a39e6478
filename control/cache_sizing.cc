// Start-up sizing check (see cache_sizing.h).
#include "control/cache_sizing.h"

#include <string>

#include "cache/numa.h"

namespace anvil::control {

namespace {
std::string mib(std::uint64_t bytes) {
  if (bytes % (1024 * 1024) == 0) return std::to_string(bytes / (1024 * 1024)) + " MiB";
  return std::to_string(bytes) + " bytes";
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
  p.sizing = cache::plan_sizing(ec, cache::partition_count_for(cpus.size()));
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
  return p;
}

}  // namespace anvil::control
