// mutation_ring across two threads (run under TSan in the concurrency suite): one
// producer pushing numbered keys as fast as it can into a small ring, one consumer
// popping. Everything that was accepted arrives once and in order; everything refused
// is counted as dropped and flagged as an overflow.
#include <gtest/gtest.h>

#include <atomic>
#include <charconv>
#include <string>
#include <thread>

#include "control/replication/mutation_ring.h"
#include "dataplane/proto/wire.h"

namespace anvil::replication {
namespace {

TEST(MutationRingThreads, AcceptedEntriesArriveOnceInOrderAndDropsAreCounted) {
  constexpr std::uint64_t kPushes = 200'000;
  mutation_ring r(64);
  std::atomic<bool> done{false};
  std::uint64_t accepted = 0;
  std::thread producer([&] {
    char buf[24];
    for (std::uint64_t i = 0; i < kPushes; ++i) {
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, i);
      if (r.push(proto::op::set, std::string_view(buf, static_cast<std::size_t>(end - buf)), 0))
        ++accepted;
    }
    done.store(true, std::memory_order_release);
  });
  std::uint64_t received = 0, last = 0, overflows = 0;
  bool first = true, ordered = true;
  auto take = [&] {
    r.pop(16, [&](const ring_entry& e) {
      std::uint64_t v = 0;
      std::from_chars(e.key, e.key + e.key_len, v);
      if (!first && v <= last) ordered = false;
      first = false;
      last = v;
      ++received;
    });
    if (r.take_overflow()) ++overflows;
  };
  while (!done.load(std::memory_order_acquire)) take();
  producer.join();
  take();
  while (r.size() > 0) take();
  EXPECT_TRUE(ordered);
  EXPECT_EQ(received, accepted);
  EXPECT_EQ(accepted + r.dropped(), kPushes);
  EXPECT_EQ(r.dropped() > 0, overflows > 0);
}

}  // namespace
}  // namespace anvil::replication
