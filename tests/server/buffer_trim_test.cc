// Connection buffer memory is given back: a released chunk's pages past kKeepResident
// leave RSS on trim() (checked with mincore), a chunk acquired again before the trim
// keeps its pages and bytes, and the trim queue never grows past the pool. On the old
// pool (one new[] block, no trim) the touched pages stayed resident for the life of the
// process: 100 connections that each sent a 1 MB value pinned ~100 MB after closing.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "dataplane/net/buffer_pool.h"

namespace anvil::net {
namespace {

constexpr std::size_t kChunk = 1 << 20;

// Resident pages of [p, p + n) (p page-aligned).
std::size_t resident(const std::byte* p, std::size_t n) {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> v((n + page - 1) / page);
  EXPECT_EQ(::mincore(const_cast<std::byte*>(p), n, v.data()), 0);
  std::size_t r = 0;
  for (unsigned char c : v) r += c & 1;
  return r * page;
}

TEST(BufferTrim, ReleasedChunkPagesPastTheKeptPrefixLeave) {
  buffer_pool pool(4, kChunk);
  std::byte* a = pool.acquire();
  std::memset(a, 0xab, kChunk);  // a large request filled it
  EXPECT_EQ(resident(a, kChunk), kChunk);
  pool.release(a);
  EXPECT_EQ(pool.trim_pending(), 1u);
  EXPECT_EQ(pool.trim(8), 1u);
  EXPECT_EQ(pool.trim_pending(), 0u);
  EXPECT_EQ(resident(a + buffer_pool::kKeepResident, kChunk - buffer_pool::kKeepResident), 0u);
  EXPECT_EQ(resident(a, buffer_pool::kKeepResident), buffer_pool::kKeepResident);
  EXPECT_EQ(pool.trim(8), 0u) << "nothing left to trim";
  // Still usable: the trimmed range reads as zero and takes writes.
  std::byte* b = pool.acquire();
  ASSERT_EQ(b, a);
  EXPECT_EQ(b[kChunk - 1], std::byte{0});
  b[kChunk - 1] = std::byte{1};
  EXPECT_EQ(b[kChunk - 1], std::byte{1});
}

TEST(BufferTrim, AChunkAcquiredAgainKeepsItsPages) {
  buffer_pool pool(2, kChunk);
  std::byte* a = pool.acquire();
  std::memset(a, 0x5a, kChunk);
  pool.release(a);
  std::byte* again = pool.acquire();  // LIFO: the same chunk, reused before any trim
  ASSERT_EQ(again, a);
  EXPECT_EQ(pool.trim(8), 0u) << "in use: must not be trimmed";
  EXPECT_EQ(again[kChunk - 1], std::byte{0x5a});
  EXPECT_EQ(resident(a, kChunk), kChunk);
}

TEST(BufferTrim, QueueIsBoundedByThePoolUnderChurn) {
  constexpr std::size_t n = 8;
  buffer_pool pool(n, kChunk);
  std::vector<std::byte*> held;
  for (int round = 0; round < 100; ++round) {  // acquire/release without trimming
    for (std::size_t i = 0; i < n; ++i) held.push_back(pool.acquire());
    for (auto* p : held) pool.release(p);
    held.clear();
    ASSERT_LE(pool.trim_pending(), n) << round;
  }
  EXPECT_EQ(pool.trim(1), 1u);  // bounded per call
  EXPECT_EQ(pool.trim(100), n - 1);
  EXPECT_EQ(pool.available(), n);
}

TEST(BufferTrim, SmallOrOddChunksAreNeverQueued) {
  buffer_pool small(4, buffer_pool::kKeepResident);  // nothing past the kept prefix
  small.release(small.acquire());
  EXPECT_EQ(small.trim_pending(), 0u);
  buffer_pool odd(4, buffer_pool::kKeepResident + 100);  // not page-aligned chunks
  odd.release(odd.acquire());
  EXPECT_EQ(odd.trim_pending(), 0u);
  buffer_pool empty(0, kChunk);
  EXPECT_EQ(empty.acquire(), nullptr);
  EXPECT_EQ(empty.trim(4), 0u);
}

}  // namespace
}  // namespace anvil::net
