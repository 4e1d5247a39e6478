// for_each_item's online window (cache/walk.cc): the walker is online only while it copies
// a chunk of a segment, so a walker descheduled anywhere else (in its callback, here held
// on a latch) never holds back the reuse of evicted segments. On the walk that read the
// arena while online (main before this test), every store below answered no_memory once
// the free segments ran out: the retired ones waited for the blocked walker's grace
// period. Also: the chunking reports every item exactly once with its bytes, for items
// cut by a chunk edge and items larger than a chunk; and for_each_stale names exactly
// the records that stopped being their key's live record.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cache/engine.h"
#include "cache/item.h"
#include "cache/partition.h"
#include "cache/qsbr.h"

namespace anvil::cache {
namespace {

constexpr std::uint32_t kT0 = 1'700'000'000;

// The value written for a key: its bytes follow from the key and the length.
std::string value_for(std::string_view key, std::size_t len) {
  std::uint32_t h = 2166136261u;
  for (char c : key) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  std::string v(len, '\0');
  for (auto& c : v) {
    h = h * 1103515245u + 12345u;
    c = static_cast<char>(h >> 24);
  }
  return v;
}

bool value_ok(std::string_view key, std::string_view value) {
  return value == value_for(key, value.size());
}

engine_config small_cfg(clock* clk) {
  engine_config c;
  c.memory_limit_bytes = 8u << 20;  // 8 segments of 1 MiB, one partition
  c.segment_size = 1u << 20;
  c.partitions = 1;
  c.max_item_size = 512u << 10;
  c.time = clk;
  return c;
}

TEST(WalkOffline, AWalkerBlockedInItsCallbackDoesNotHoldBackReclamation) {
  clock clk(kT0);
  engine e(small_cfg(&clk));
  session w = e.open_session();
  constexpr std::size_t kValue = 1000;
  const std::uint64_t limit = e.config().memory_limit_bytes;
  int next = 0;
  // Full: every segment holds items.
  while (static_cast<std::uint64_t>(next) * kValue < 2 * limit) {
    const std::string k = "k" + std::to_string(next++);
    ASSERT_EQ(w.store(store_mode::set, k, value_for(k, kValue), 0, 0).st, status::ok);
    w.quiescent();
  }
  const std::uint64_t evictions_before = e.total_stats().evictions;

  std::atomic<bool> in_callback{false};
  std::atomic<bool> release{false};
  std::atomic<std::uint64_t> reported{0};
  std::atomic<std::uint64_t> torn{0};
  std::atomic<bool> first_intact{false};
  std::thread walker([&] {
    session s = e.open_session();
    s.for_each_item(0, [&](const item_record& r) {
      if (!value_ok(r.key, r.value)) ++torn;
      if (reported++ == 0) {
        in_callback = true;
        while (!release.load()) std::this_thread::yield();  // descheduled mid-record
        // The record's bytes are still the ones reported, whatever was evicted meanwhile.
        first_intact = value_ok(r.key, r.value);
      }
    });
  });
  while (!in_callback.load()) std::this_thread::yield();

  // Four times the memory through the cache while the walker sits in its callback: every
  // segment is evicted and reused several times over.
  int failed = 0;
  const int end = next + static_cast<int>(4 * limit / kValue);
  for (; next < end; ++next) {
    const std::string k = "k" + std::to_string(next);
    if (w.store(store_mode::set, k, value_for(k, kValue), 0, 0).st != status::ok && ++failed == 16)
      break;  // each failure waited its bounded rounds; enough to tell
    w.quiescent();
  }
  const std::uint64_t evicted = e.total_stats().evictions - evictions_before;
  release = true;
  walker.join();

  EXPECT_EQ(failed, 0) << "stores refused while the walker was blocked";
  // Every item present when the walk began was evicted: the whole arena was reused.
  EXPECT_GT(evicted, limit / kValue);
  EXPECT_TRUE(first_intact.load());
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GE(reported.load(), 1u);
  // The engine still serves the newest keys.
  const std::string last = "k" + std::to_string(end - 1);
  EXPECT_TRUE(w.get(last).found);
}

// The copy window itself: a walker descheduled while it copies a segment (its hazard set,
// qsbr.h) holds back that one segment, never the others. At the partition level, with
// unlinked items (evicted at once): a writer cycles 4x the arena through 8 segments while
// a second slot protects one of them; every reservation succeeds, and the protected
// segment is retired but not reused until the hazard is cleared. The same slot online
// instead (a reader inside its QSBR section, as the walker was while it copied) makes the
// writer fail once the free segments are gone.
struct arena_writer {
  static constexpr std::size_t kSegs = 8;
  static constexpr std::size_t kSegBytes = 64u << 10;
  qsbr q{1};
  partition p{[] {
    partition::config c;
    c.nbuckets = 1024;
    c.nsegs = kSegs;
    c.seg_size = kSegBytes;
    return c;
  }()};
  int writer = q.claim();
  int reader = q.claim();

  // Appends one unlinked 1000-byte item; false when no room could be made.
  bool append(std::uint64_t n) {
    op_ctx ctx;
    ctx.q = &q;
    ctx.slot = writer;
    ctx.can_quiesce = true;
    ctx.ctr = &q.counters(writer)[0];
    ctx.now = kT0;
    const std::string key = "k" + std::to_string(n);
    const std::string value(1000 - key.size() - 8, 'v');
    q.online(writer);
    const reservation r =
        p.reserve(item_header_len(static_cast<std::uint32_t>(value.size()), n + 1, 0, 0) +
                      key.size() + value.size(),
                  0, ctx);
    if (r.ok()) {
      const std::uint32_t h =
          write_item_header(r.p, key, static_cast<std::uint32_t>(value.size()), n + 1, 0, 0);
      std::memcpy(r.p + h + key.size(), value.data(), value.size());
      p.commit(r);
    }
    q.offline(writer);
    return r.ok();
  }
};

TEST(WalkOffline, AHazardHoldsBackOneSegmentNotReclamation) {
  arena_writer a;
  std::uint64_t n = 0;
  // Every segment used once: the log has wrapped.
  for (; n < 2 * arena_writer::kSegs * arena_writer::kSegBytes / 1000; ++n)
    ASSERT_TRUE(a.append(n));
  std::vector<seg_ref> live;
  a.p.live_segments(0, live);
  ASSERT_GE(live.size(), 3u);
  const seg_ref held = live.front();  // the oldest: the next to be evicted
  a.q.protect(a.reader, 0, held.seg);
  ASSERT_EQ(a.p.live_seq(held.seg), held.seq) << "the walker's re-check after protect";
  int failed = 0;
  for (const std::uint64_t end = n + 4 * arena_writer::kSegs * arena_writer::kSegBytes / 1000;
       n < end; ++n)
    failed += a.append(n) ? 0 : 1;
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(a.p.live_seq(held.seg), 0u) << "retired, and not reopened while protected";
  a.q.unprotect(a.reader);
  bool reused = false;
  for (const std::uint64_t end = n + 2 * arena_writer::kSegs * arena_writer::kSegBytes / 1000;
       n < end; ++n) {
    ASSERT_TRUE(a.append(n));
    reused = reused || a.p.live_seq(held.seg) != 0;
  }
  EXPECT_TRUE(reused) << "reused once the hazard is gone";

  // The same reader online instead: nothing retired after it can be reused.
  a.q.online(a.reader);
  failed = 0;
  for (const std::uint64_t end = n + 4 * arena_writer::kSegs * arena_writer::kSegBytes / 1000;
       n < end && failed == 0; ++n)
    failed += a.append(n) ? 0 : 1;
  EXPECT_EQ(failed, 1) << "an online reader holds back every retired segment";
  a.q.offline(a.reader);
}

// Sizes around the walker's 64 KiB chunk: items cut by a chunk edge, one exactly a chunk
// long, one byte over, and items several chunks long, between small ones.
// The walker tells from the descriptor byte alone whether an item's whole header lies
// in its copy: that length must be the one read_item() finds, for every width of value
// length and CAS, with and without flags and expiry (the state word included: it was
// 4 bytes short once the state word came first, and a header cut by the end of a copy
// was read past the buffer).
TEST(WalkOffline, HeaderLengthFromTheDescriptorMatchesTheHeader) {
  alignas(4) std::byte buf[kMaxItemHeader + 8];
  for (std::uint32_t vlen : {0u, 1u, 255u, 256u, 65535u, 65536u, 1u << 24})
    for (std::uint64_t cas : {std::uint64_t{1}, std::uint64_t{1} << 20, ~std::uint64_t{0}})
      for (std::uint32_t flags : {0u, 7u})
        for (std::uint32_t exp : {0u, 1'800'000'000u}) {
          const std::uint32_t hdr = write_item_header(buf, "", vlen, cas, flags, exp);
          EXPECT_EQ(item_header_len(buf[kItemDescriptorEnd - 1]), hdr);
          EXPECT_EQ(read_item(buf).header_len, hdr);
          EXPECT_EQ(item_header_len(vlen, cas, flags, exp), hdr);
        }
}

TEST(WalkOffline, ItemsAroundTheChunkSizeAreReportedOnceAndWhole) {
  clock clk(kT0);
  engine e(small_cfg(&clk));
  session s = e.open_session();
  const std::vector<std::size_t> sizes = {
      1, 1000, 65535, 65536, 65537, 3, 200000, 7, 131072, 999, 65536 - 40, 300000, 1, 64,
  };
  std::map<std::string, std::size_t> stored;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const std::string k = "r" + std::to_string(round) + "-" + std::to_string(i);
      ASSERT_EQ(s.store(store_mode::set, k, value_for(k, sizes[i]), 0, 0).st, status::ok) << k;
      stored[k] = sizes[i];
    }
    // Small items filling whole chunks, so chunk edges fall inside items.
    for (int j = 0; j < 300; ++j) {
      const std::string k = "r" + std::to_string(round) + "-small" + std::to_string(j);
      const std::size_t len = 100 + static_cast<std::size_t>(j) * 7;
      ASSERT_EQ(s.store(store_mode::set, k, value_for(k, len), 0, 0).st, status::ok) << k;
      stored[k] = len;
    }
  }
  s.quiescent();
  ASSERT_EQ(e.total_stats().evictions, 0u) << "the test needs every item still stored";
  std::map<std::string, int> seen;
  int bad = 0;
  s.for_each_item(0, [&](const item_record& r) {
    ++seen[std::string(r.key)];
    if (!value_ok(r.key, r.value)) ++bad;
  });
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(seen.size(), stored.size());
  for (const auto& [k, n] : seen) {
    EXPECT_EQ(n, 1) << k;
    ASSERT_TRUE(stored.count(k)) << k;
  }
}

TEST(WalkOffline, StaleCheckNamesExactlyTheRecordsThatChanged) {
  clock clk(kT0);
  engine e(small_cfg(&clk));
  session s = e.open_session();
  for (int i = 0; i < 400; ++i) {
    const std::string k = "k" + std::to_string(i);
    ASSERT_EQ(s.store(store_mode::set, k, value_for(k, 50), 0, i == 7 ? 5 : 0).st, status::ok);
  }
  session walker = e.open_session();
  walker.record_walk(true);
  std::vector<std::string> order;
  walker.for_each_item(0, [&](const item_record& r) { order.emplace_back(r.key); });
  ASSERT_EQ(order.size(), 400u);
  ASSERT_EQ(s.remove("k3"), status::ok);                                       // deleted
  ASSERT_EQ(s.store(store_mode::set, "k200", "new", 0, 0).st, status::ok);     // replaced
  ASSERT_EQ(s.store(store_mode::set, "k399", value_for("k399", 50), 0, 0).st,  // rewritten
            status::ok);
  clk.advance(10);  // k7 expired
  std::vector<std::string> stale;
  walker.for_each_stale(0, [&](std::uint64_t i) {
    ASSERT_LT(i, order.size());
    stale.push_back(order[i]);
  });
  std::sort(stale.begin(), stale.end());
  EXPECT_EQ(stale, (std::vector<std::string>{"k200", "k3", "k399", "k7"}));
  // Nothing recorded any more: a second check names nothing.
  int again = 0;
  walker.for_each_stale(0, [&](std::uint64_t) { ++again; });
  EXPECT_EQ(again, 0);
}

}  // namespace
}  // namespace anvil::cache
