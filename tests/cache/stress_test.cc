// Multi-threaded stress (suite `concurrency`, also run under TSan): threads hammer
// overlapping keys with mixed operations. Every value is a chain of self-checking records
// ([len][payload][checksum of key + payload]), so a torn or misdirected read is caught.
// Phase 1 (roomy memory) also checks counters: concurrent incrs are never lost.
// Phase 2 (tiny memory) keeps eviction and segment reuse running under the readers, with
// a snapshot thread iterating partitions at the same time. Phase 3 is phase 2 with a
// pause between walks: eviction moves read items (it does not while a walk runs), so
// moves race readers, batch readers and walks starting and ending.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
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
constexpr int kOpsPerThread = 8000;
#else
constexpr int kOpsPerThread = 40000;
#endif
constexpr int kThreads = 4;
constexpr int kKeys = 1500;  // phase 1 uses the first 300
constexpr int kCounters = 4;

std::uint32_t checksum(std::string_view key, std::string_view payload) {
  std::uint32_t h = 2166136261u;
  for (char c : key) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  for (char c : payload) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  return h;
}

std::string record(std::string_view key, std::mt19937_64& rng) {
  const std::size_t len = rng() % 3 == 0 ? rng() % 3000 : rng() % 60;
  std::string payload(len, '\0');
  for (auto& c : payload) c = static_cast<char>(rng());
  std::string r(4, '\0');
  const auto n = static_cast<std::uint32_t>(len);
  std::memcpy(r.data(), &n, 4);
  r += payload;
  const std::uint32_t sum = checksum(key, payload);
  r.append(reinterpret_cast<const char*>(&sum), 4);
  return r;
}

// True if the value is a well-formed chain of records written for this key.
bool verify(std::string_view key, std::string_view v) {
  while (!v.empty()) {
    if (v.size() < 8) return false;
    std::uint32_t n = 0;
    std::memcpy(&n, v.data(), 4);
    if (v.size() < 8 + std::size_t{n}) return false;
    std::uint32_t sum = 0;
    std::memcpy(&sum, v.data() + 4 + n, 4);
    if (sum != checksum(key, v.substr(4, n))) return false;
    v.remove_prefix(8 + std::size_t{n});
  }
  return true;
}

struct failures {
  std::atomic<int> torn{0};
  std::atomic<int> wrong_key{0};
  std::atomic<int> bad_status{0};
  std::atomic<int> no_memory{0};  // possible only when memory is tiny and views pin it
};

void worker(engine& e, int id, bool tiny, failures& f, std::atomic<std::uint64_t>* incrs) {
  session s = e.open_session();
  std::mt19937_64 rng(1000 + static_cast<unsigned>(id));
  std::vector<std::string> keys(tiny ? kKeys : 300);
  for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = "key:" + std::to_string(i);
  const std::size_t nkeys = keys.size();
  auto check = [&](std::string_view k, const item_view& v) {
    if (!v.found) return;
    if (v.key != k) f.wrong_key.fetch_add(1);
    if (!verify(k, v.value)) f.torn.fetch_add(1);
  };
  for (int i = 0; i < kOpsPerThread; ++i) {
    const std::string& k = keys[rng() % nkeys];
    const int op = static_cast<int>(rng() % 100);
    if (op < 35) {
      check(k, s.get(k));
    } else if (op < 45) {
      std::string_view batch[8];
      item_view out[8];
      for (auto& b : batch) b = keys[rng() % nkeys];
      s.get_batch(batch, out);
      for (int j = 0; j < 8; ++j) check(batch[j], out[j]);
    } else if (op < 65) {
      const status st = s.store(store_mode::set, k, record(k, rng), 0, 0).st;
      if (st == status::no_memory) {
        f.no_memory.fetch_add(1);
        s.quiescent();  // what a poll loop does: end the burst, release its views
      } else if (st != status::ok)
        f.bad_status.fetch_add(1);
    } else if (op < 72) {
      s.store(rng() % 2 ? store_mode::append : store_mode::prepend, k, record(k, rng), 0, 0);
    } else if (op < 78) {
      s.store(store_mode::add, k, record(k, rng), 0, 0);
    } else if (op < 84) {
      const item_view v = s.get(k);  // gets + cas, like a client's read-modify-write
      check(k, v);
      const cas_t c = v.cas;
      if (v.found) {
        const status st = s.store(store_mode::set, k, record(k, rng), 0, 0, c).st;
        if (st == status::no_memory) {
          f.no_memory.fetch_add(1);
          s.quiescent();
        } else if (st != status::ok && st != status::exists && st != status::not_found) {
          f.bad_status.fetch_add(1);
        }
      }
    } else if (op < 88) {
      s.remove(k);
    } else if (op < 92) {
      check(k, s.get_and_touch(k, rng() % 2 ? 0 : 1000));
    } else {
      const int c = static_cast<int>(rng() % kCounters);
      const arith_result r = s.incr_decr("counter:" + std::to_string(c), true, 1, 0, 0);
      if (r.st == status::ok)
        incrs[c].fetch_add(1, std::memory_order_relaxed);
      else if (!tiny)
        f.bad_status.fetch_add(1);
    }
    if (i % 16 == 15) s.quiescent();  // a poll-loop iteration ends
  }
}

void run_phase(bool tiny, bool walk_gaps = false) {
  clock clk(1'700'000'000);
  engine_config cfg;
  cfg.memory_limit_bytes = tiny ? (1u << 20) : (64u << 20);
  cfg.segment_size = tiny ? (64u << 10) : 0;
  cfg.max_item_size = 32u << 10;
  cfg.partitions = 4;
  cfg.expected_items = tiny ? 1000 : 0;
  cfg.time = &clk;
  engine e(cfg);
  {
    session s = e.open_session();
    for (int c = 0; c < kCounters; ++c)
      s.store(store_mode::set, "counter:" + std::to_string(c), "0", 0, 0);
  }
  failures f;
  std::atomic<std::uint64_t> incrs[kCounters] = {};
  std::atomic<bool> stop{false};
  std::atomic<int> snapshot_torn{0};
  std::thread snap([&] {
    session s = e.open_session();
    while (!stop.load(std::memory_order_relaxed)) {
      for (std::size_t p = 0; p < e.partition_count(); ++p)
        s.for_each_item(p, [&](const item_record& r) {
          if (r.key.substr(0, 4) == "key:" && !verify(r.key, r.value)) snapshot_torn.fetch_add(1);
        });
      (void)e.total_stats();  // stats readable while writers run
      if (walk_gaps)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      else
        std::this_thread::yield();
    }
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back(worker, std::ref(e), t, tiny, std::ref(f), incrs);
  for (auto& t : ts) t.join();
  stop = true;
  snap.join();
  EXPECT_EQ(f.torn.load(), 0);
  EXPECT_EQ(f.wrong_key.load(), 0);
  EXPECT_EQ(f.bad_status.load(), 0);
  std::printf("%s: no_memory %d, evictions %llu, kept %llu\n", tiny ? "tiny" : "roomy",
              f.no_memory.load(), static_cast<unsigned long long>(e.total_stats().evictions),
              static_cast<unsigned long long>(e.total_stats().evict_kept));
  if (!tiny) {
    EXPECT_EQ(f.no_memory.load(), 0);
  }
  EXPECT_EQ(snapshot_torn.load(), 0);
  session s = e.open_session();
  const partition_stats t = e.total_stats();
  EXPECT_LE(t.segment_bytes, t.bytes_limit);
  if (!tiny) {
    for (int c = 0; c < kCounters; ++c) {
      const item_view v = s.get("counter:" + std::to_string(c));
      ASSERT_TRUE(v.found);
      EXPECT_EQ(std::string(v.value), std::to_string(incrs[c].load())) << "lost increments";
    }
  } else {
    EXPECT_GT(t.evictions, 0u);
    if (walk_gaps) {
      EXPECT_GT(t.evict_kept, 0u) << "read items were meant to move";
    }
    EXPECT_LT(f.no_memory.load(), kThreads * kOpsPerThread / 100) << "views may pin memory, rarely";
  }
  std::uint64_t live = 0;
  for (std::size_t p = 0; p < e.partition_count(); ++p)
    s.for_each_item(p, [&](const item_record&) { ++live; });
  EXPECT_EQ(live, t.items);
}

TEST(stress, roomy_memory_counters_and_checksums) { run_phase(false); }
TEST(stress, tiny_memory_eviction_under_readers) { run_phase(true); }
TEST(stress, tiny_memory_clock_moves_under_readers_and_walks) { run_phase(true, true); }

}  // namespace
}  // namespace anvil::cache
