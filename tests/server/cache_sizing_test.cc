// Start-up sizing: every configuration the server accepts gives every partition the
// segments it needs, and the ones that cannot are refused naming the flags. The engine is
// built from the plan and stores items in every partition (on the old start-up code,
// -m 16 with 32 lcores and -m 64 -I 16m -t 8 built partitions with zero segments and every
// SET answered out of memory).
#include "control/cache_sizing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "cache/numa.h"

namespace anvil::control {
namespace {

std::vector<unsigned> lcores(unsigned n) {
  std::vector<unsigned> v(n);
  for (unsigned i = 0; i < n; ++i) v[i] = i;
  return v;
}

server_config config(std::uint64_t memory_mb, std::uint64_t max_item) {
  server_config c;
  c.memory_mb = memory_mb;
  c.max_item_size = max_item;
  return c;
}

// Stores keys until every partition holds at least one; all stores must succeed.
void expect_every_partition_stores(const cache_plan& p, std::size_t value_bytes) {
  cache::engine e(p.engine);
  ASSERT_EQ(e.partition_count(), p.sizing.partitions);
  auto s = e.open_session();
  const std::string value(value_bytes, 'v');
  for (int i = 0; i < 4096; ++i) {
    const auto r = s.store(cache::store_mode::set, "key" + std::to_string(i), value, 0, 0);
    ASSERT_EQ(r.st, cache::status::ok) << "key " << i;
    s.quiescent();
    bool all = true;
    for (std::size_t q = 0; q < e.partition_count(); ++q) all = all && e.stats(q).items > 0;
    if (all) return;
  }
  ADD_FAILURE() << "some partition never got an item";
}

TEST(CacheSizing, SixteenMegabytesOnThirtyTwoLcoresHalvesPartitions) {
  cache::clock clk(1000);
  const auto p = plan_cache(config(16, 1 << 20), lcores(32), &clk);
  EXPECT_EQ(p.sizing.partitions, 8u) << "32 wanted, halved until each has two 1 MiB segments";
  EXPECT_EQ(p.sizing.segments_per_partition, 2u);
  EXPECT_TRUE(p.sizing.usable());
  expect_every_partition_stores(p, 100);
}

TEST(CacheSizing, SixteenMegabyteItemsOnEightLcores) {
  cache::clock clk(1000);
  const auto p = plan_cache(config(64, 16 << 20), lcores(8), &clk);
  EXPECT_EQ(p.sizing.segment_bytes, 16u << 20);
  EXPECT_EQ(p.sizing.partitions, 2u);
  EXPECT_EQ(p.sizing.segments_per_partition, 2u);
  cache::engine e(p.engine);
  auto s = e.open_session();
  const std::string big((16 << 20) - 4096, 'b');
  EXPECT_EQ(s.store(cache::store_mode::set, "big", big, 0, 0).st, cache::status::ok);
  EXPECT_EQ(s.get("big").value.size(), big.size());
}

TEST(CacheSizing, ExactlyTwoSegmentsStartsOneShortIsRefused) {
  cache::clock clk(1000);
  // -m 2: two 1 MiB segments in one partition, whatever the lcore count.
  for (unsigned t : {1u, 2u, 64u}) {
    const auto p = plan_cache(config(2, 1 << 20), lcores(t), &clk);
    EXPECT_EQ(p.sizing.partitions, 1u);
    EXPECT_EQ(p.sizing.segments_per_partition, 2u);
    expect_every_partition_stores(p, 1000);
  }
  // -m 1 with -I 512k (the config's -I <= -m/2 rule passes): one segment.
  try {
    plan_cache(config(1, 512 << 10), lcores(1), &clk);
    ADD_FAILURE() << "-m 1 accepted";
  } catch (const config_error& e) {
    EXPECT_EQ(e.field(), "-m/--memory-limit");
    const std::string w = e.what();
    EXPECT_NE(w.find("1 MiB holds 1 segment(s) of 1 MiB"), std::string::npos) << w;
    EXPECT_NE(w.find("raise -m to 2"), std::string::npos) << w;
  }
}

TEST(CacheSizing, ConfiguredSegmentSizeBoundaries) {
  cache::clock clk(1000);
  auto c = config(16, 1 << 20);
  c.segment_size = 8 << 20;
  const auto p = plan_cache(c, lcores(4), &clk);
  EXPECT_EQ(p.sizing.partitions, 1u);
  EXPECT_EQ(p.sizing.segments_per_partition, 2u);
  EXPECT_EQ(p.engine.segment_size, 8u << 20);
  c.segment_size = (8 << 20) + 4096;  // one 4 KiB step too big: 16 MiB holds one
  try {
    plan_cache(c, lcores(4), &clk);
    ADD_FAILURE() << "one segment accepted";
  } catch (const config_error& e) {
    EXPECT_EQ(e.field(), "-m/--memory-limit");
    EXPECT_NE(std::string(e.what()).find("lower cache.segment_size"), std::string::npos)
        << e.what();
  }
}

TEST(CacheSizing, PartitionsFollowTheLcoresNotTheMachine) {
  cache::clock clk(1000);
  EXPECT_EQ(plan_cache(config(1024, 1 << 20), lcores(1), &clk).sizing.partitions, 1u);
  EXPECT_EQ(plan_cache(config(1024, 1 << 20), lcores(3), &clk).sizing.partitions, 4u);
  EXPECT_EQ(plan_cache(config(1 << 16, 1 << 20), lcores(200), &clk).sizing.partitions,
            cache::kMaxPartitions);
  // The engine built from the plan agrees with it.
  const auto p = plan_cache(config(64, 1 << 20), lcores(3), &clk);
  cache::engine e(p.engine);
  EXPECT_EQ(e.partition_count(), 4u);
  EXPECT_EQ(e.stats(0).bytes_limit, 16u << 20);
}

TEST(CacheSizing, IndexFollowsTheExpectedItemSize) {
  cache::clock clk(1000);
  auto c = config(64, 1 << 20);
  const auto dflt = plan_cache(c, lcores(1), &clk);
  EXPECT_EQ(dflt.sizing.expected_items, (64u << 20) / 128);
  c.expected_item_bytes = 56;
  const auto small = plan_cache(c, lcores(1), &clk);
  EXPECT_EQ(small.sizing.expected_items, (64u << 20) / 56);
  // Room for the expected items at the 80% target load.
  EXPECT_GE(static_cast<double>(small.sizing.index_slots) * cache::kIndexTargetLoad,
            static_cast<double>(small.sizing.expected_items));
  EXPECT_LT(static_cast<double>(small.sizing.index_slots) * cache::kIndexTargetLoad,
            static_cast<double>(small.sizing.expected_items) * 1.01);
  cache::engine e(small.engine);
  EXPECT_EQ(e.total_stats().index_slots, small.sizing.index_slots);
  EXPECT_EQ(e.total_stats().index_bytes, small.sizing.index_bytes);
}

// Automatic segment size (no [cache] segment_size): at least 10 x -I where a partition
// holds 16 such segments, cut into equal segments (no remainder beyond 4 KiB alignment).
TEST(CacheSizing, AutomaticSegmentSizeBoundaries) {
  constexpr std::uint64_t M = 1 << 20;
  // Exactly 16 segments of 10 x 1 MiB: the target.
  EXPECT_EQ(cache::auto_segment_size(160 * M, M), 10 * M);
  // One 4 KiB short of it: 16 segments of a 16th (below the target, so a note).
  EXPECT_EQ(cache::auto_segment_size(160 * M - 4096, M), (160 * M - 4096) / 16 / 4096 * 4096);
  // Far more memory: as many segments of at least the target as fit, equal, no remainder.
  const std::size_t big = cache::auto_segment_size(1000 * M, M);
  EXPECT_GE(big, 10 * M);
  EXPECT_EQ(big % 4096, 0u);
  EXPECT_LT(1000 * M - (1000 * M / big) * big, 1000 * M / big * 4096 + 1);
  EXPECT_EQ(1000 * M / big, 100u);
  // Small -I: never below the engine's 1 MiB default (2 MiB partition: 2 segments).
  EXPECT_EQ(cache::auto_segment_size(2 * M, 64 << 10), M);
  EXPECT_EQ(cache::auto_segment_size(64 * M, 1024), M);
  // Small memory: never below -I itself, rounded up to 4 KiB.
  EXPECT_EQ(cache::auto_segment_size(4 * M, (1 << 20) + 1), M + 4096);
  // Odd -I: the target is 10 x -I rounded up to 4 KiB.
  const std::uint64_t odd = (10 * 300'001 + 4095) / 4096 * 4096;
  EXPECT_EQ(cache::auto_segment_size(16 * odd, 300'001), odd);
  EXPECT_EQ(cache::auto_segment_size(16 * odd - 1, 300'001), (16 * odd - 1) / 16 / 4096 * 4096);
  // -I 1g: the segment is capped at 1 GiB, never below -I.
  EXPECT_EQ(cache::auto_segment_size(64ull << 30, 1ull << 30), 1ull << 30);
  const std::size_t huge = cache::auto_segment_size(1ull << 40, 100 * M);
  EXPECT_GE(huge, 1000 * M);
  EXPECT_LE(huge, cache::kMaxSegmentBytes);
  EXPECT_LE(cache::auto_segment_size(1ull << 40, 200 * M), cache::kMaxSegmentBytes);
}

TEST(CacheSizing, DefaultSegmentsKeepTailsUnderTenPercentWhereMemoryAllows) {
  cache::clock clk(1000);
  // -m 160 -I 1m, one lcore: 16 segments of 10 MiB, tails <= 10%, no note.
  auto p = plan_cache(config(160, 1 << 20), lcores(1), &clk);
  EXPECT_EQ(p.sizing.segment_bytes, 10u << 20);
  EXPECT_EQ(p.sizing.segments_per_partition, 16u);
  EXPECT_LE(p.sizing.max_item_waste, 0.1);
  EXPECT_TRUE(p.note.empty()) << p.note;
  // Four lcores: four partitions of 40 MiB cannot hold 16 segments of 10 MiB: 16 of
  // 2.5 MiB, and the note names the flags and the figures that would.
  p = plan_cache(config(160, 1 << 20), lcores(4), &clk);
  EXPECT_EQ(p.sizing.partitions, 4u);
  EXPECT_EQ(p.sizing.segment_bytes, 2560u << 10);
  EXPECT_EQ(p.sizing.segments_per_partition, 16u);
  EXPECT_DOUBLE_EQ(p.sizing.max_item_waste, 0.4);
  for (const char* want : {"-I/--max-item-size (1 MiB)", "40.0% of -m/--memory-limit",
                           "raise -m/--memory-limit to 640", "lower -I/--max-item-size to 256k",
                           "cache.segment_size = 10240k (4 segments per partition"})
    EXPECT_NE(p.note.find(want), std::string::npos) << want << " in: " << p.note;
  // The suggestions hold: -m 640 and -I 256k each give no note.
  EXPECT_TRUE(plan_cache(config(640, 1 << 20), lcores(4), &clk).note.empty());
  EXPECT_TRUE(plan_cache(config(160, 256 << 10), lcores(4), &clk).note.empty());
  EXPECT_FALSE(plan_cache(config(639, 1 << 20), lcores(4), &clk).note.empty());
  // The default -m 64 -I 1m on one lcore: 16 segments of 4 MiB (was 64 of 1 MiB, 50%).
  p = plan_cache(config(64, 1 << 20), lcores(1), &clk);
  EXPECT_EQ(p.sizing.segment_bytes, 4u << 20);
  EXPECT_EQ(p.sizing.segments_per_partition, 16u);
  EXPECT_DOUBLE_EQ(p.sizing.max_item_waste, 0.25);
  // Small items: 1 MiB segments as before, no note.
  p = plan_cache(config(64, 100 << 10), lcores(1), &clk);
  EXPECT_EQ(p.sizing.segment_bytes, 1u << 20);
  EXPECT_TRUE(p.note.empty()) << p.note;
  // A configured segment below 10 x -I is kept, and the note says where it comes from.
  auto c = config(160, 1 << 20);
  c.segment_size = 2 << 20;
  p = plan_cache(c, lcores(1), &clk);
  EXPECT_EQ(p.sizing.segment_bytes, 2u << 20);
  EXPECT_NE(p.note.find("from cache.segment_size"), std::string::npos) << p.note;
  // -I beyond what any segment can hold ten of: the note says which -I would.
  p = plan_cache(config(4096, 256 << 20), lcores(1), &clk);
  EXPECT_NE(p.note.find("at most 104857k"), std::string::npos) << p.note;
  // The partition count never changes for the automatic size: each still >= 2 segments.
  for (unsigned t : {1u, 2u, 3u, 8u, 32u})
    for (std::uint64_t m : {2u, 3u, 16u, 64u, 100u, 1000u})
      for (std::uint64_t item : {1024u, 64u << 10, 1u << 20})
        if (item <= m * 1024 * 1024 / 2) {
          const auto q = plan_cache(config(m, item), lcores(t), &clk);
          auto fixed = config(m, item);
          fixed.segment_size = std::max<std::uint64_t>(1 << 20, (item + 4095) / 4096 * 4096);
          EXPECT_EQ(q.sizing.partitions, plan_cache(fixed, lcores(t), &clk).sizing.partitions)
              << "-m " << m << " -I " << item << " -t " << t;
          EXPECT_GE(q.sizing.segments_per_partition, 2u);
          EXPECT_GE(q.sizing.segment_bytes, item);
        }
}

// Peak bytes of live items while 600 KiB values are written through the cache past its
// limit. On the old sizing (1 MiB segments: one such item each) this was ~58% of -m.
std::uint64_t peak_live_bytes(const cache_plan& p, std::size_t value_bytes, unsigned turns) {
  cache::engine e(p.engine);
  auto s = e.open_session();
  const std::string value(value_bytes, 'v');
  std::uint64_t peak = 0;
  const std::uint64_t stores = turns * p.engine.memory_limit_bytes / value_bytes;
  for (std::uint64_t i = 0; i < stores; ++i) {
    EXPECT_EQ(s.store(cache::store_mode::set, "big" + std::to_string(i), value, 0, 0).st,
              cache::status::ok);
    s.quiescent();
    peak = std::max(peak, e.total_stats().bytes_used);
  }
  return peak;
}

TEST(CacheSizing, SixHundredKilobyteValuesUseNinetyPercentOfMemory) {
  cache::clock clk(1000);
  // -I 1m (the default) with the memory the note asks for: 16 segments of 10 MiB.
  const auto p = plan_cache(config(160, 1 << 20), lcores(1), &clk);
  const std::uint64_t limit = p.engine.memory_limit_bytes;
  const std::uint64_t peak = peak_live_bytes(p, 600 << 10, 2);
  EXPECT_GE(static_cast<double>(peak), 0.9 * static_cast<double>(limit)) << peak << " of " << limit;
  // Two lcores: two partitions of 160 MiB each.
  const auto p2 = plan_cache(config(320, 1 << 20), lcores(2), &clk);
  EXPECT_EQ(p2.sizing.segment_bytes, 10u << 20);
  const std::uint64_t peak2 = peak_live_bytes(p2, 600 << 10, 2);
  EXPECT_GE(static_cast<double>(peak2), 0.9 * static_cast<double>(p2.engine.memory_limit_bytes));
}

}  // namespace
}  // namespace anvil::control
