// Start-up sizing: every configuration the server accepts gives every partition the
// segments it needs, and the ones that cannot are refused naming the flags. The engine is
// built from the plan and stores items in every partition (on the old start-up code,
// -m 16 with 32 lcores and -m 64 -I 16m -t 8 built partitions with zero segments and every
// SET answered out of memory).
#include "control/cache_sizing.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace anvil::control
