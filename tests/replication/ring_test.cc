// mutation_ring: empty, full, wrap-around, overflow (flag once, drops counted), keys of
// every length up to memcached's 250, and the hook as the handler calls it.
#include "control/replication/mutation_ring.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dataplane/proto/wire.h"

namespace anvil::replication {
namespace {

std::vector<std::string> pop_keys(mutation_ring& r, std::size_t max = 1u << 20) {
  std::vector<std::string> out;
  r.pop(max, [&](const ring_entry& e) { out.emplace_back(e.key_view()); });
  return out;
}

TEST(MutationRing, RefusesACapacityThatIsNotAPowerOfTwo) {
  EXPECT_THROW(mutation_ring(0), std::invalid_argument);
  EXPECT_THROW(mutation_ring(1), std::invalid_argument);
  EXPECT_THROW(mutation_ring(3), std::invalid_argument);
  EXPECT_NO_THROW(mutation_ring(2));
}

TEST(MutationRing, EmptyPopsNothing) {
  mutation_ring r(4);
  EXPECT_EQ(r.size(), 0u);
  EXPECT_TRUE(pop_keys(r).empty());
  EXPECT_FALSE(r.take_overflow());
}

TEST(MutationRing, FillsToCapacityThenOverflowsOnePastIt) {
  mutation_ring r(4);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(r.push(proto::op::set, "k" + std::to_string(i), 0));
  EXPECT_EQ(r.size(), 4u);
  EXPECT_FALSE(r.take_overflow());
  EXPECT_FALSE(r.push(proto::op::set, "k4", 0));  // one past: dropped, never blocks
  EXPECT_FALSE(r.push(proto::op::set, "k5", 0));
  EXPECT_EQ(r.dropped(), 2u);
  EXPECT_TRUE(r.take_overflow());
  EXPECT_FALSE(r.take_overflow());  // reported once
  // What was in the ring is intact and in order.
  EXPECT_EQ(pop_keys(r), (std::vector<std::string>{"k0", "k1", "k2", "k3"}));
  EXPECT_TRUE(r.push(proto::op::set, "k6", 0));  // room again
  EXPECT_EQ(pop_keys(r), (std::vector<std::string>{"k6"}));
}

TEST(MutationRing, WrapsAroundManyTimesInOrder) {
  mutation_ring r(8);
  std::uint64_t next_push = 0, next_pop = 0;
  for (int round = 0; round < 1000; ++round) {
    const int n = 1 + round % 8;  // 1..8 entries, so the indices cross the end often
    for (int i = 0; i < n; ++i) ASSERT_TRUE(r.push(proto::op::set, std::to_string(next_push++), 0));
    const std::size_t take = static_cast<std::size_t>(1 + round % n);
    r.pop(take, [&](const ring_entry& e) { EXPECT_EQ(e.key_view(), std::to_string(next_pop++)); });
    r.pop(1u << 20,
          [&](const ring_entry& e) { EXPECT_EQ(e.key_view(), std::to_string(next_pop++)); });
  }
  EXPECT_EQ(next_pop, next_push);
  EXPECT_EQ(r.pushed(), next_push);
  EXPECT_FALSE(r.take_overflow());
}

TEST(MutationRing, PopHonoursItsMaximum) {
  mutation_ring r(8);
  for (int i = 0; i < 5; ++i) r.push(proto::op::del, std::to_string(i), 0);
  EXPECT_EQ(r.pop(0, [](const ring_entry&) {}), 0u);
  EXPECT_EQ(r.pop(2, [](const ring_entry&) {}), 2u);
  EXPECT_EQ(r.size(), 3u);
}

TEST(MutationRing, KeysUpTo250BytesAndFlushWithoutKey) {
  mutation_ring r(4);
  const std::string k250(250, 'x'), k251(251, 'y');
  EXPECT_TRUE(r.push(proto::op::set, k250, 0));
  EXPECT_TRUE(r.push(proto::op::flush, "", 30));
  EXPECT_FALSE(r.push(proto::op::set, k251, 0));  // cannot be a memcached key: overflow
  EXPECT_TRUE(r.take_overflow());
  std::vector<ring_entry> got;
  r.pop(10, [&](const ring_entry& e) { got.push_back(e); });
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].key_view(), k250);
  EXPECT_EQ(got[1].opcode, proto::op::flush);
  EXPECT_EQ(got[1].key_len, 0);
  EXPECT_EQ(got[1].arg, 30u);
}

TEST(MutationRing, TheHookRecordsOpcodeKeyAndFlushDeadline) {
  cache::clock clk(1000);
  mutation_ring r(4, &clk);
  const proto::mutation_hook h = r.hook();
  h(proto::mutation{proto::op::append, "key", "piece", 1, 2, 3, 0});
  h(proto::mutation{proto::op::flush, {}, {}, 0, 60, 0, 0});
  h(proto::mutation{proto::op::flush, {}, {}, 0, 0, 0, 0});
  std::vector<ring_entry> got;
  r.pop(10, [&](const ring_entry& e) { got.push_back(e); });
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].arg, 0u);  // at once
  EXPECT_EQ(got[0].opcode, proto::op::append);
  EXPECT_EQ(got[0].key_view(), "key");
  EXPECT_EQ(got[1].opcode, proto::op::flush);
  EXPECT_EQ(got[1].arg, 1060u);  // the deadline, fixed when the flush happened
}

}  // namespace
}  // namespace anvil::replication
