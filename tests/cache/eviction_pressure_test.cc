// Eviction under pressure: write 10x the memory limit in values of varied sizes. Every
// store succeeds; the engine's segment memory never passes the limit; process RSS grows by
// at most limit + hash index + a documented fixed overhead; recent items survive.
// Fixed overhead (documented in cache/README.md): the hwloc topology, session registry
// counters (256 x partitions x 64 B), segment metadata (~40 B per segment), heap slack.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>

#include "cache/engine.h"

#if defined(__SANITIZE_ADDRESS__)
#define ANVIL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ANVIL_ASAN 1
#endif
#endif

namespace anvil::cache {
namespace {

std::size_t rss_bytes() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

constexpr std::size_t kFixedOverhead = 6u << 20;

TEST(eviction, ten_times_the_limit_stays_within_limit) {
  constexpr std::size_t kLimit = 32u << 20;
  clock clk(1'700'000'000);
  std::string value(256 << 10, 'v');  // one buffer: the test itself must not grow RSS
  std::mt19937_64 rng(7);
  const std::size_t rss0 = rss_bytes();
  engine_config cfg;
  cfg.memory_limit_bytes = kLimit;
  cfg.partitions = 4;
  cfg.time = &clk;
  engine e(cfg);
  session s = e.open_session();
  std::size_t written = 0;
  std::size_t i = 0;
  std::string last_key;
  std::size_t last_len = 0;
  while (written < 10 * kLimit) {
    const std::uint64_t r = rng() % 100;
    const std::size_t len = r < 50 ? rng() % 200 : r < 90 ? rng() % 4000 : rng() % (200 << 10);
    const std::string key = "key:" + std::to_string(i++);
    value[0] = static_cast<char>('a' + i % 26);
    const store_result res = s.store(store_mode::set, key, std::string_view(value.data(), len),
                                     static_cast<std::uint32_t>(i), i % 7 == 0 ? 30 : 0);
    ASSERT_EQ(res.st, status::ok) << "store " << i << " of " << len << " bytes";
    written += key.size() + len;
    last_key = key;
    last_len = len;
    if (i % 16 == 0) clk.advance(1);  // some items expire along the way
    const partition_stats t = e.total_stats();
    ASSERT_LE(t.segment_bytes, kLimit);
    ASSERT_LE(t.bytes_used, t.segment_bytes);
  }
  const partition_stats t = e.total_stats();
  EXPECT_GT(t.evictions + t.expired_reclaimed, 0u);
  EXPECT_LE(t.bytes_limit, kLimit);
  // The most recent item is still there (oldest-first eviction).
  const item_view v = s.get(last_key);
  ASSERT_TRUE(v.found);
  EXPECT_EQ(v.value.size(), last_len);
  s.quiescent();

  const std::size_t rss = rss_bytes();
  std::size_t allowed = kLimit + t.index_bytes + kFixedOverhead;
#ifdef ANVIL_ASAN
  allowed += kLimit / 8 + (64u << 20);  // shadow memory and allocator quarantine
#endif
  std::printf(
      "wrote %zu MiB into a %zu MiB limit: RSS grew %zu KiB (index %llu KiB), "
      "items %llu, evictions %llu, expired %llu\n",
      written >> 20, kLimit >> 20, (rss - rss0) >> 10,
      static_cast<unsigned long long>(t.index_bytes >> 10),
      static_cast<unsigned long long>(t.items), static_cast<unsigned long long>(t.evictions),
      static_cast<unsigned long long>(t.expired_reclaimed));
  EXPECT_LE(rss - rss0, allowed);
}

}  // namespace
}  // namespace anvil::cache
