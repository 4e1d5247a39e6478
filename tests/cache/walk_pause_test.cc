// session::walk_pause: a walk whose callback waits (the snapshot writer on a hung disk)
// must not hold back the memory reclamation serving depends on. The callback pauses and
// then blocks while another session writes several times the memory: every store
// succeeds (on a walker that only passed a quiescent point, each segment retired after
// it stayed pinned and stores answered no_memory within a segment or two), and the walk
// then ends without reading reused memory: every record it reports after the pause
// carries its key's own value.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "cache/engine.h"

namespace anvil::cache {
namespace {

constexpr std::uint32_t kT0 = 1'700'000'000;

std::string value_for(int i) { return std::string(1000, static_cast<char>('a' + i % 26)); }

TEST(walk_pause, a_paused_walk_pins_no_memory_and_reads_on_safely) {
  clock clk{kT0};
  engine_config c;
  c.memory_limit_bytes = 8u << 20;
  c.partitions = 1;
  c.time = &clk;
  engine e(c);
  session writer = e.open_session();
  for (int i = 0; i < 6000; ++i)
    ASSERT_EQ(writer.store(store_mode::set, "k" + std::to_string(i), value_for(i), 0, 0).st,
              status::ok);

  std::atomic<int> phase{0};  // 1: paused and waiting, 2: released
  std::atomic<long> reported{0}, torn{0};
  std::thread walker([&] {
    session w = e.open_session();
    w.for_each_item(0, [&](const item_record& r) {
      ++reported;
      const int i = std::stoi(std::string(r.key.substr(1)));
      if (r.value != value_for(i)) ++torn;
      if (phase.load() == 0) {
        w.walk_pause();
        phase.store(1);
        while (phase.load() != 2) std::this_thread::yield();
      }
    });
  });
  while (phase.load() != 1) std::this_thread::yield();

  // ~4x the memory while the walk waits: every segment is evicted and reused.
  int failed = 0;
  for (int i = 6000; i < 6000 + 32000 && failed < 20; ++i)  // each refusal waits a while
    if (writer.store(store_mode::set, "k" + std::to_string(i), value_for(i), 0, 0).st != status::ok)
      ++failed;
  EXPECT_EQ(failed, 0) << "stores refused while a paused walk waited";

  phase.store(2);
  walker.join();
  EXPECT_GE(reported.load(), 1);
  EXPECT_EQ(torn.load(), 0) << "the walk read on into reused memory";
}

}  // namespace
}  // namespace anvil::cache
