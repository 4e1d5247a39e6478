// for_each_item against a writer that keeps a tiny index nearly full (suite `concurrency`,
// also under TSan). Most inserts find both candidate buckets full, so the cuckoo step
// moves residents between their two buckets all the time, and segments are evicted under
// the walk. Checked on every walk:
// - every stable key (linked before the walk, same CAS after it: never unlinked or
//   rewritten meanwhile) is reported exactly once (a bucket-order walk missed or repeated
//   the ones a move carried across its position);
// - no key is reported twice (every key here is written once, so twice = a repeat);
// - every reported value is the one written for its key (never torn).
// The walker yields inside its callback now and then, so the writer runs mid-walk even
// when the two threads share one core.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cache/engine.h"

#if defined(__SANITIZE_THREAD__)
#define ANVIL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ANVIL_TSAN 1
#endif
#endif

namespace anvil::cache {
namespace {

#ifdef ANVIL_TSAN
constexpr int kMaxWalks = 300;
constexpr auto kMaxTime = std::chrono::seconds(20);
#else
constexpr int kMaxWalks = 3000;
constexpr auto kMaxTime = std::chrono::seconds(10);
#endif
constexpr int kStable = 1300;    // ~74% of the 1750 slots below
constexpr int kChurnLive = 250;  // the writer keeps this many of its own keys: ~89% load

// The value written for a key: its length and bytes follow from the key alone.
std::string value_for(std::string_view key) {
  std::uint32_t h = 2166136261u;
  for (char c : key) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  std::string v(8 + h % 90, '\0');
  for (auto& c : v) {
    h = h * 1103515245u + 12345u;
    c = static_cast<char>(h >> 24);
  }
  return v;
}

std::string stable_key(int i) { return "stable:" + std::to_string(i); }

struct walk_result {
  int missed = 0, repeated = 0, torn = 0, stable_checked = 0;
};

TEST(iterate_race, stable_items_exactly_once_while_cuckoo_moves_them) {
  clock clk(1'700'000'000);
  engine_config cfg;
  cfg.memory_limit_bytes = 32u << 20;
  cfg.segment_size = 64u << 10;
  cfg.max_item_size = 4u << 10;
  cfg.partitions = 1;
  cfg.expected_items = 1400;  // 1400 / (7 x 0.8) = 250 buckets, 1750 slots
  cfg.numa_bind = false;
  cfg.time = &clk;
  engine e(cfg);

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> writes{0};
  std::thread writer([&] {
    session s = e.open_session();
    std::deque<std::string> live;
    for (std::uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
      std::string k = "churn:" + std::to_string(n);  // every key is written once
      s.store(store_mode::set, k, value_for(k), 0, 0);
      live.push_back(std::move(k));
      if (live.size() > kChurnLive) {
        s.remove(live.front());
        live.pop_front();
      }
      writes.fetch_add(1, std::memory_order_relaxed);
    }
  });

  session s = e.open_session();
  walk_result total;
  int walks = 0;
  std::uint64_t writes_during_walks = 0;
  const auto deadline = std::chrono::steady_clock::now() + kMaxTime;
  std::vector<cas_t> cas_before(kStable);
  std::unordered_map<std::string, int> seen;
  while (walks < kMaxWalks && std::chrono::steady_clock::now() < deadline &&
         total.missed + total.repeated + total.torn == 0) {
    // (Re)store the stable keys the writer's inserts or evictions dropped.
    for (int i = 0; i < kStable; ++i) {
      const std::string k = stable_key(i);
      item_view v = s.get(k);
      if (!v.found) {
        s.store(store_mode::set, k, value_for(k), 0, 0);
        v = s.get(k);
      }
      cas_before[static_cast<std::size_t>(i)] = v.found ? v.cas : 0;
    }
    s.quiescent();
    seen.clear();
    walk_result r;
    std::uint64_t records = 0;
    const std::uint64_t w0 = writes.load();
    s.for_each_item(0, [&](const item_record& rec) {
      if (++seen[std::string(rec.key)] > 1) ++r.repeated;
      if (rec.value != value_for(rec.key)) ++r.torn;
      if (++records % 64 == 0) std::this_thread::yield();
    });
    writes_during_walks += writes.load() - w0;
    for (int i = 0; i < kStable; ++i) {
      const std::string k = stable_key(i);
      const cas_t before = cas_before[static_cast<std::size_t>(i)];
      const item_view v = s.get(k);
      if (before == 0 || !v.found || v.cas != before) continue;  // not stable this walk
      ++r.stable_checked;
      if (seen.find(k) == seen.end()) ++r.missed;
    }
    s.quiescent();
    total.missed += r.missed;
    total.repeated += r.repeated;
    total.torn += r.torn;
    total.stable_checked += r.stable_checked;
    ++walks;
  }
  stop = true;
  writer.join();
  const partition_stats st = e.total_stats();
  std::printf("%d walks, %d stable checks, %llu writes during walks, %llu writes, %llu evictions\n",
              walks, total.stable_checked, static_cast<unsigned long long>(writes_during_walks),
              static_cast<unsigned long long>(writes.load()),
              static_cast<unsigned long long>(st.evictions));
  EXPECT_EQ(total.missed, 0) << "stable items missed";
  EXPECT_EQ(total.repeated, 0) << "items reported twice";
  EXPECT_EQ(total.torn, 0) << "torn values";
  // The test is only meaningful if the writer really ran during the walks.
  EXPECT_GT(writes_during_walks, static_cast<std::uint64_t>(walks));
  EXPECT_GT(total.stable_checked, walks * kStable / 2);
}

}  // namespace
}  // namespace anvil::cache
