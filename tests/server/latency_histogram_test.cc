// The per-lcore latency histogram: bucket edges (inclusive upper bounds, as Prometheus
// `le`), weighted records, +Inf, merging lcores, quantile bounds, and a reader that
// snapshots while the owner records always sees +Inf == count.
#include "dataplane/server/latency_histogram.h"

#include <gtest/gtest.h>

#include <thread>

namespace anvil::server {
namespace {

// 1 cycle per nanosecond: bounds are 1000, 2000, 5000, ... cycles.
const latency_bounds kNs = latency_bounds::for_rate(1e9);

TEST(LatencyHistogram, BoundsAreConvertedToCycles) {
  EXPECT_EQ(kNs.cycles.front(), 1000u);
  EXPECT_EQ(kNs.cycles[3], 10'000u);
  EXPECT_EQ(kNs.cycles.back(), 100'000'000u);
  const auto b = latency_bounds::for_rate(3e9);
  EXPECT_EQ(b.cycles.front(), 3000u);
  EXPECT_EQ(latency_bounds::for_rate(0).cycles_per_second, 1e9) << "a bad rate falls back";
  EXPECT_GT(latency_bounds::measured().cycles_per_second, 1e6);
}

TEST(LatencyHistogram, EdgesAreInclusiveUpperBounds) {
  latency_histogram h(kNs);
  h.record(0);                      // 0 cycles: the first bucket
  h.record(1000);                   // exactly 1 us: still the first
  h.record(1001);                   // one past: the second
  h.record(100'000'000);            // exactly the last finite bound
  h.record(100'000'001);            // one past: +Inf
  h.record(~std::uint64_t{0} / 8);  // huge: +Inf
  const auto s = h.read();
  EXPECT_EQ(s.counts[0], 2u);
  EXPECT_EQ(s.counts[1], 1u);
  EXPECT_EQ(s.counts[kLatencyBuckets - 2], 1u);
  EXPECT_EQ(s.counts[kLatencyBuckets - 1], 2u);
  EXPECT_EQ(s.count(), 6u);
}

TEST(LatencyHistogram, WeightedRecordAddsCountAndSum) {
  latency_histogram h(kNs);
  h.record(3000, 32);  // a burst that completed 32 requests in 3 us
  const auto s = h.read();
  EXPECT_EQ(s.counts[2], 32u);  // (2 us, 5 us]
  EXPECT_EQ(s.count(), 32u);
  EXPECT_EQ(s.sum_cycles, 96'000u);
  h.record(3000, 0);  // nothing completed: nothing changes
  EXPECT_EQ(h.read().count(), 32u);
}

TEST(LatencyHistogram, MergeSumsLcoresAndQuantilesUseBucketBounds) {
  latency_histogram a(kNs), b(kNs);
  for (int i = 0; i < 98; ++i) a.record(1500);  // (1, 2] us
  b.record(40'000, 2);                          // (20, 50] us
  latency_snapshot m;
  EXPECT_EQ(m.quantile_upper_bound(0.99), 0.0) << "empty";
  m.merge(a.read());
  m.merge(b.read());
  EXPECT_EQ(m.count(), 100u);
  EXPECT_EQ(m.sum_cycles, 98u * 1500 + 80'000);
  EXPECT_DOUBLE_EQ(m.quantile_upper_bound(0.5), 2e-6);
  EXPECT_DOUBLE_EQ(m.quantile_upper_bound(0.98), 2e-6);
  EXPECT_DOUBLE_EQ(m.quantile_upper_bound(0.99), 5e-5);
  EXPECT_DOUBLE_EQ(m.quantile_upper_bound(1.0), 5e-5);
  latency_histogram slow(kNs);
  slow.record(1'000'000'000);
  EXPECT_DOUBLE_EQ(slow.read().quantile_upper_bound(0.5), 0.1) << "+Inf: the largest bound";
}

TEST(LatencyHistogram, ASnapshotTakenWhileRecordingIsSelfConsistent) {
  latency_histogram h(kNs);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (std::uint64_t i = 0; i < 2'000'000; ++i) h.record(i % 200'000);
    done = true;
  });
  std::uint64_t last = 0, reads = 0;
  while (!done.load()) {
    const auto s = h.read();
    const std::uint64_t n = s.count();
    EXPECT_GE(n, last) << "counts only grow";
    last = n;
    ++reads;
  }
  writer.join();
  EXPECT_EQ(h.read().count(), 2'000'000u);
  EXPECT_GT(reads, 0u);
}

}  // namespace
}  // namespace anvil::server
