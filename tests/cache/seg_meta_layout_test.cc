// seg_meta layout: what a GET hit reads (seq) and what every SET writes (writers,
// live_items, write_off) sit on different cache lines, in an array as the partition
// allocates it. On the old 40-byte seg_meta they shared a line (and neighbours shared
// lines), so after a flush_all every hit missed on a line SETs kept taking exclusive.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

#include "cache/segment.h"

namespace anvil::cache {
namespace {

std::uintptr_t line(const void* p) { return reinterpret_cast<std::uintptr_t>(p) / 64; }

TEST(seg_meta_layout, read_and_written_fields_never_share_a_line) {
  constexpr std::size_t n = 5;
  auto segs = std::make_unique<seg_meta[]>(n);  // as partition.cc allocates them
  for (std::size_t i = 0; i < n; ++i) {
    const seg_meta& m = segs[i];
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(&m) % 64, 0u) << i;
    for (const void* hot :
         {static_cast<const void*>(&m.writers), static_cast<const void*>(&m.live_items),
          static_cast<const void*>(&m.write_off)}) {
      EXPECT_NE(line(&m.seq), line(hot)) << i;
      if (i + 1 < n) {
        EXPECT_NE(line(&segs[i + 1].seq), line(hot)) << i;
      }
      if (i > 0) {
        EXPECT_NE(line(&segs[i - 1].seq), line(hot)) << i;
      }
    }
  }
}

}  // namespace
}  // namespace anvil::cache
