// Eviction work per request and what it keeps (issue 13, items 1 and 2). Count-based: no
// timing. A full cache used to evict a whole segment inside one store (every item of it
// unlinked under the allocation lock), and to drop the oldest items whatever was read.
// - a store examines and drops at most partition::kEvictBatch items in the steady state;
// - keys read while the cache turns over survive a scan of one-time keys (segment CLOCK);
// - under index pressure (both buckets full) an unread item goes before a read one.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cache/engine.h"
#include "cache/partition.h"

namespace anvil::cache {
namespace {

engine_config one_partition(const clock& clk, std::size_t limit, std::size_t seg) {
  engine_config cfg;
  cfg.memory_limit_bytes = limit;
  cfg.segment_size = seg;
  cfg.max_item_size = seg < (64u << 10) ? seg : 64u << 10;
  cfg.partitions = 1;
  cfg.numa_bind = false;
  cfg.time = &clk;
  return cfg;
}

TEST(eviction_bound, a_store_examines_at_most_a_batch_of_items) {
  clock clk(1'700'000'000);
  // 16 one-MiB segments: headroom 1. Every key is new, so every evicted item is live
  // and a whole-segment eviction would unlink ~18K 56-byte items in one store.
  engine_config cfg = one_partition(clk, 16u << 20, 1u << 20);
  cfg.expected_items = 1'000'000;  // a roomy index: segment eviction, not index pressure
  engine e(cfg);
  session s = e.open_session();
  const std::string value(32, 'v');
  char key[17];
  std::uint64_t max_dropped = 0, max_examined = 0, stores = 0;
  for (std::uint64_t i = 0; i < 1'500'000; ++i) {  // ~5x the memory
    std::snprintf(key, sizeof key, "k%015llu", static_cast<unsigned long long>(i));
    const partition_stats a = e.stats(0);
    ASSERT_EQ(s.store(store_mode::set, key, value, 0, 0).st, status::ok) << i;
    const partition_stats b = e.stats(0);
    max_dropped = std::max(max_dropped, b.evictions - a.evictions);
    max_examined = std::max(max_examined, b.evict_visited - a.evict_visited);
    stores += b.evictions != a.evictions;
  }
  const partition_stats t = e.stats(0);
  std::printf("evictions %llu over %llu stores; most dropped by one store %llu, examined %llu\n",
              static_cast<unsigned long long>(t.evictions), static_cast<unsigned long long>(stores),
              static_cast<unsigned long long>(max_dropped),
              static_cast<unsigned long long>(max_examined));
  EXPECT_GT(t.evictions, 1'000'000u);  // it really evicted, and nearly all of it live
  EXPECT_LE(max_dropped, partition::kEvictBatch);
  EXPECT_LE(max_examined, partition::kEvictBatch);
  EXPECT_LE(t.segment_bytes, t.bytes_limit);
}

TEST(eviction_bound, read_keys_survive_a_scan_of_one_time_keys) {
  clock clk(1'700'000'000);
  engine_config cfg = one_partition(clk, 8u << 20, 256u << 10);  // 32 segments
  cfg.expected_items = 400'000;  // a roomy index: the segment CLOCK decides, not the index
  engine e(cfg);
  session s = e.open_session();
  const std::string value(40, 'v');
  constexpr int kHot = 2000;
  for (int h = 0; h < kHot; ++h)
    ASSERT_EQ(s.store(store_mode::set, "hot:" + std::to_string(h), value, 0, 0).st, status::ok);
  // A scan of 3x the memory in keys written once and never read; one hot key read every
  // 8 scan keys, so each is read every 16K stores (the cache turns over every ~120K).
  int hot_misses_late = 0;
  constexpr int kScan = 400'000;
  for (int i = 0; i < kScan; ++i) {
    ASSERT_EQ(s.store(store_mode::set, "scan:" + std::to_string(i), value, 0, 0).st, status::ok);
    if (i % 8 == 0) {
      const bool hit = s.get("hot:" + std::to_string((i / 8) % kHot)).found;
      if (i > kScan / 2 && !hit) ++hot_misses_late;
      s.quiescent();
    }
  }
  int alive = 0;
  for (int h = 0; h < kHot; ++h) alive += s.get("hot:" + std::to_string(h)).found;
  s.quiescent();
  const partition_stats t = e.stats(0);
  std::printf("hot keys alive %d/%d, late hot misses %d, evictions %llu, kept %llu\n", alive, kHot,
              hot_misses_late, static_cast<unsigned long long>(t.evictions),
              static_cast<unsigned long long>(t.evict_kept));
  EXPECT_GT(t.evictions, 200'000u);
  EXPECT_GE(alive, kHot * 99 / 100);  // FIFO keeps none of them
  EXPECT_EQ(hot_misses_late, 0);
}

TEST(eviction_bound, index_pressure_drops_an_unread_item_first) {
  clock clk(1'700'000'000);
  engine_config cfg = one_partition(clk, 64u << 20, 16u << 10);  // room for all: no
  cfg.expected_items = 1400;  // segment eviction, only index pressure (~1750 slots)
  engine e(cfg);
  session s = e.open_session();
  const std::string value(16, 'v');
  constexpr int kHot = 200;
  auto read_hot = [&] {
    for (int h = 0; h < kHot; ++h) s.get("hot:" + std::to_string(h));
    s.quiescent();
  };
  // The hot keys are the oldest items, in the oldest segment: oldest-first index eviction
  // drops them first.
  for (int h = 0; h < kHot; ++h)
    ASSERT_EQ(s.store(store_mode::set, "hot:" + std::to_string(h), value, 0, 0).st, status::ok);
  read_hot();
  for (int i = 0; i < 20'000; ++i) {
    ASSERT_EQ(s.store(store_mode::set, "cold:" + std::to_string(i), value, 0, 0).st, status::ok);
    if (i % 50 == 49) read_hot();
  }
  int alive = 0;
  for (int h = 0; h < kHot; ++h) alive += s.get("hot:" + std::to_string(h)).found;
  s.quiescent();
  const partition_stats t = e.stats(0);
  std::printf("hot keys alive %d/%d after %llu index evictions (segment evictions: %llu)\n", alive,
              kHot, static_cast<unsigned long long>(t.evictions),
              static_cast<unsigned long long>(t.evict_visited));
  EXPECT_EQ(t.evict_visited, 0u);  // only the index was full
  EXPECT_GT(t.evictions, 15'000u);
  EXPECT_GE(alive, kHot * 95 / 100);
}

}  // namespace
}  // namespace anvil::cache
