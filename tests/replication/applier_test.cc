// The replica's applier without a socket, and the primary's drain + log: frames in the
// order the stream sends them, and every frame out of place refused with a reason.
#include "control/replication/applier.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "control/replication/mutation_ring.h"
#include "control/replication/primary_log.h"
#include "dataplane/proto/wire.h"
#include "io/format.h"

namespace anvil::replication {
namespace {

constexpr std::uint32_t kNow = 1'700'000'000;

cache::engine_config small_engine(const cache::clock& clk, std::size_t partitions) {
  cache::engine_config c;
  c.memory_limit_bytes = 8u << 20;
  c.max_item_size = 64u << 10;
  c.partitions = partitions;
  c.numa_bind = false;
  c.time = &clk;
  return c;
}

struct engine_box {
  cache::clock clk{kNow};
  cache::engine eng{small_engine(clk, 2)};
};

// Applies every frame of `wire`; returns the first refusal ("" if none).
std::string feed(applier& a, const std::string& wire) {
  frame_reader r(1u << 20);
  r.feed(wire);
  frame_header h;
  std::span<const std::byte> body;
  frame_reader::result res;
  std::string why;
  while ((res = r.next(h, body)) == frame_reader::result::frame) {
    if (!a.apply(h, body, why)) return why;
  }
  EXPECT_EQ(res, frame_reader::result::need_more) << r.error();
  a.finish_batch();
  return "";
}

std::string copy_block(std::uint64_t copy, std::uint32_t index,
                       const std::vector<cache::item_record>& recs) {
  std::vector<std::byte> block(64u << 10);
  io::block_builder b;
  b.reset(block, copy, index, 0);
  for (const auto& r : recs) b.add(r);
  b.seal();
  const std::size_t used = io::kBlockHeaderSize + io::get_u32(block.data() + 28);
  std::string w;
  append_frame(w, frame_type::copy_block, copy, std::span<const std::byte>(block.data(), used));
  return w;
}

std::string full_copy(std::uint64_t at, const std::vector<cache::item_record>& recs,
                      std::uint64_t cas_counter = 0) {
  std::string w;
  append_frame(w, frame_type::copy_begin, at, copy_begin_body(64u << 10, 1));
  w += copy_block(at, 0, recs);
  append_frame(w, frame_type::copy_end, at, u64_body(cas_counter));
  return w;
}

TEST(Applier, CopyThenLiveItemsAndDeletesKeepCasFlagsAndExpiry) {
  engine_box e;
  applier a(e.eng);
  EXPECT_EQ(a.applied(), 0u);
  ASSERT_EQ(feed(a, full_copy(10, {{"a", "1", 5, 0, 100}, {"b", "2", 6, kNow + 60, 101}}, 500)),
            "");
  EXPECT_EQ(a.applied(), 10u);
  std::string w;
  append_item_frame(w, 11, cache::item_record{"c", "3", 7, kNow + 3600, 102});
  append_frame(w, frame_type::del, 12, "a");
  append_frame(w, frame_type::position, 20);  // no data: ignored here
  ASSERT_EQ(feed(a, w), "");
  EXPECT_EQ(a.applied(), 12u);
  cache::session s = e.eng.open_session();
  EXPECT_FALSE(s.get("a").found);
  const auto b = s.peek("b");
  ASSERT_TRUE(b.found);
  EXPECT_EQ(b.value, "2");
  EXPECT_EQ(b.flags, 6u);
  EXPECT_EQ(b.cas, 101u);
  EXPECT_EQ(b.expires_at, kNow + 60);
  const auto c = s.peek("c");
  ASSERT_TRUE(c.found);
  EXPECT_EQ(c.cas, 102u);
  EXPECT_EQ(c.expires_at, kNow + 3600);
  // The CAS counter moved past everything applied (copy_end's counter included): a
  // promoted replica never repeats the primary's CAS values.
  EXPECT_GE(e.eng.cas_counter(), 500u);
  EXPECT_GT(s.store(cache::store_mode::set, "new", "x", 0, 0).cas, 500u);
  EXPECT_EQ(a.stats().items, 3u);
  EXPECT_EQ(a.stats().deletes, 1u);
}

TEST(Applier, ACopyStartsFromEmptyAndExpiredRecordsStayAbsent) {
  engine_box e;
  cache::session s = e.eng.open_session();
  s.store(cache::store_mode::set, "stale", "old", 0, 0);
  applier a(e.eng);
  ASSERT_EQ(feed(a, full_copy(1, {{"live", "v", 0, 0, 1}, {"dead", "v", 0, kNow - 1, 2}})), "");
  EXPECT_FALSE(s.get("stale").found);  // not on the primary: gone
  EXPECT_TRUE(s.get("live").found);
  EXPECT_FALSE(s.get("dead").found);  // expired on the way
  // A second copy on the same stream (flush or overflow on the primary) starts over too.
  ASSERT_EQ(feed(a, full_copy(5, {{"other", "v", 0, 0, 3}})), "");
  EXPECT_FALSE(s.get("live").found);
  EXPECT_TRUE(s.get("other").found);
  EXPECT_EQ(a.applied(), 5u);
}

TEST(Applier, ExpiryNearTheEpochIsReadAsSecondsLeft) {
  cache::clock clk{1000};
  cache::engine eng{small_engine(clk, 1)};
  applier a(eng);
  ASSERT_EQ(feed(a, full_copy(1, {{"k", "v", 0, 1010, 1}})), "");
  cache::session s = eng.open_session();
  EXPECT_EQ(s.peek("k").expires_at, 1010u);
  clk.set(1010);
  EXPECT_FALSE(s.get("k").found);
}

TEST(Applier, RefusesFramesOutOfPlace) {
  std::string why;
  {
    engine_box e;
    applier a(e.eng);
    std::string w;
    append_item_frame(w, 1, cache::item_record{"k", "v", 0, 0, 1});
    EXPECT_EQ(feed(a, w), "item before a full copy");
  }
  {
    engine_box e;
    applier a(e.eng);
    std::string w;
    append_frame(w, frame_type::del, 1, "k");
    EXPECT_EQ(feed(a, w), "del before a full copy");
  }
  {
    engine_box e;
    applier a(e.eng);
    EXPECT_EQ(feed(a, copy_block(1, 0, {{"k", "v", 0, 0, 1}})), "copy_block outside a copy");
  }
  {
    engine_box e;
    applier a(e.eng);
    std::string w;
    append_frame(w, frame_type::copy_end, 1, u64_body(0));
    EXPECT_EQ(feed(a, w), "copy_end without its copy_begin");
  }
  {  // a block of another copy, and one out of order
    engine_box e;
    applier a(e.eng);
    std::string w;
    append_frame(w, frame_type::copy_begin, 3, copy_begin_body(64u << 10, 1));
    EXPECT_EQ(feed(a, w + copy_block(4, 0, {{"k", "v", 0, 0, 1}})),
              "copy_block of copy 4 inside copy 3");
    applier b(e.eng);
    EXPECT_NE(feed(b, w + copy_block(3, 1, {{"k", "v", 0, 0, 1}})).find("another snapshot"),
              std::string::npos);
  }
  {  // a block larger than the announced block size
    engine_box e;
    applier a(e.eng);
    std::string w;
    append_frame(w, frame_type::copy_begin, 3, copy_begin_body(40, 1));
    EXPECT_NE(feed(a, w + copy_block(3, 0, {{"k", "v", 0, 0, 1}})).find("above the block size"),
              std::string::npos);
  }
  {  // positions must move forward
    engine_box e;
    applier a(e.eng);
    ASSERT_EQ(feed(a, full_copy(10, {})), "");
    std::string w;
    append_frame(w, frame_type::del, 10, "k");
    EXPECT_EQ(feed(a, w), "del at position 10 not after the applied 10");
  }
  {
    engine_box e;
    applier a(e.eng);
    std::string w;
    append_frame(w, frame_type::hello, 0, "x");
    EXPECT_EQ(feed(a, w), "hello from the primary");
  }
}

TEST(Applier, AnItemTooLargeForThisNodeRemovesTheOldValue) {
  engine_box e;
  applier a(e.eng);
  ASSERT_EQ(feed(a, full_copy(1, {{"k", "small", 0, 0, 1}})), "");
  std::string w;
  const std::string big(70u << 10, 'b');  // above this engine's 64 KiB items
  append_item_frame(w, 2, cache::item_record{"k", big, 0, 0, 2});
  ASSERT_EQ(feed(a, w), "");
  cache::session s = e.eng.open_session();
  EXPECT_FALSE(s.get("k").found);
  EXPECT_EQ(a.stats().store_failures, 1u);
}

// ---- the primary's log and drain ----

std::vector<std::pair<frame_type, std::uint64_t>> frames_of(const std::string& w) {
  std::vector<std::pair<frame_type, std::uint64_t>> out;
  frame_reader r(1u << 20);
  r.feed(w);
  frame_header h;
  std::span<const std::byte> body;
  while (r.next(h, body) == frame_reader::result::frame) out.emplace_back(h.type, h.seq);
  return out;
}

TEST(PrimaryLog, ReadsFromACursorAndBoundsItsMemory) {
  primary_log log(3 * 40);  // about three small frames
  for (std::uint64_t i = 1; i <= 3; ++i) {
    std::string f;
    append_frame(f, frame_type::del, i, "k");
    log.append(f);
  }
  EXPECT_EQ(log.last(), 3u);
  std::uint64_t cursor = 1;
  std::string out;
  ASSERT_TRUE(log.read(cursor, 0, out, 1u << 20, std::chrono::milliseconds(0)));
  EXPECT_EQ(frames_of(out), (std::vector<std::pair<frame_type, std::uint64_t>>{
                                {frame_type::del, 2}, {frame_type::del, 3}}));
  EXPECT_EQ(cursor, 3u);
  out.clear();
  ASSERT_TRUE(log.read(cursor, 0, out, 1u << 20, std::chrono::milliseconds(0)));  // nothing new
  EXPECT_TRUE(out.empty());
  // Two more frames push the oldest out: a reader at 0 fell behind, one at 3 did not.
  for (std::uint64_t i = 4; i <= 5; ++i) {
    std::string f;
    append_frame(f, frame_type::del, i, "k");
    log.append(f);
  }
  std::uint64_t behind = 0;
  EXPECT_FALSE(log.read(behind, 0, out, 1u << 20, std::chrono::milliseconds(0)));
  ASSERT_TRUE(log.read(cursor, 0, out, 1u << 20, std::chrono::milliseconds(0)));
  EXPECT_EQ(cursor, 5u);
}

TEST(PrimaryLog, AReadStopsAtItsByteBudgetButTakesAtLeastOneFrame) {
  primary_log log(1u << 20);
  for (std::uint64_t i = 1; i <= 4; ++i) {
    std::string f;
    append_frame(f, frame_type::del, i, std::string(100, 'k'));
    log.append(f);
  }
  std::uint64_t cursor = 0;
  std::string out;
  ASSERT_TRUE(log.read(cursor, 0, out, 1, std::chrono::milliseconds(0)));
  EXPECT_EQ(cursor, 1u);
  ASSERT_TRUE(log.read(cursor, 0, out, 300, std::chrono::milliseconds(0)));
  EXPECT_EQ(cursor, 3u);
}

TEST(PrimaryLog, AResyncMovesTheGenerationAndTakesAPosition) {
  primary_log log(1u << 20);
  log.append("");
  const auto start = log.begin_copy();
  EXPECT_EQ(start.pos, 1u);
  log.resync_all();
  EXPECT_EQ(log.last(), 2u);
  EXPECT_EQ(log.resyncs(), 1u);
  std::uint64_t cursor = start.pos;
  std::string out;
  EXPECT_FALSE(log.read(cursor, start.generation, out, 1u << 20, std::chrono::milliseconds(0)));
  log.restart_at(100);
  EXPECT_EQ(log.last(), 100u);
}

TEST(Drain, SendsTheItemAsItIsNowADeleteWhenGoneAndResyncsOnFlushOrOverflow) {
  engine_box e;
  cache::session s = e.eng.open_session();
  mutation_ring ring(4);
  mutation_ring* rings[] = {&ring};
  primary_log log(1u << 20);
  drain d(e.eng, rings, log);
  // append: the ring has the key only; the frame carries the whole resulting item.
  s.store(cache::store_mode::set, "k", "ab", 3, 0);
  s.store(cache::store_mode::append, "k", "cd", 0, 0);
  ring.push(proto::op::append, "k", 0);
  ring.push(proto::op::del, "gone", 0);
  EXPECT_EQ(d.run_once(true), 2u);
  std::uint64_t cursor = 0;
  std::string out;
  ASSERT_TRUE(
      log.read(cursor, log.resync_generation(), out, 1u << 20, std::chrono::milliseconds(0)));
  frame_reader r(1u << 20);
  r.feed(out);
  frame_header h;
  std::span<const std::byte> body;
  ASSERT_EQ(r.next(h, body), frame_reader::result::frame);
  EXPECT_EQ(h.type, frame_type::item);
  EXPECT_EQ(h.seq, 1u);
  cache::item_record rec;
  std::string why;
  ASSERT_TRUE(decode_item(body, rec, why));
  EXPECT_EQ(rec.value, "abcd");
  EXPECT_EQ(rec.flags, 3u);
  ASSERT_EQ(r.next(h, body), frame_reader::result::frame);
  EXPECT_EQ(h.type, frame_type::del);
  EXPECT_EQ(h.seq, 2u);
  // flush: a resync, no frame.
  const auto gen = log.resync_generation();
  ring.push(proto::op::flush, "", 0);
  d.run_once(true);
  EXPECT_EQ(log.resync_generation(), gen + 1);
  // overflow: a resync too.
  for (int i = 0; i < 5; ++i) ring.push(proto::op::set, "k", 0);
  d.run_once(true);
  EXPECT_EQ(d.overflows(), 1u);
  EXPECT_EQ(log.resync_generation(), gen + 2);
  // A delayed flush: nothing until its deadline, then a resync; a later flush replaces it.
  ring.push(proto::op::flush, "", kNow + 10);  // what the hook records: the deadline
  d.run_once(true);
  EXPECT_EQ(log.resync_generation(), gen + 2);
  e.clk.advance(9);
  d.run_once(true);
  EXPECT_EQ(log.resync_generation(), gen + 2);
  e.clk.advance(1);
  d.run_once(true);
  EXPECT_EQ(log.resync_generation(), gen + 3);
  d.run_once(true);
  EXPECT_EQ(log.resync_generation(), gen + 3);  // once
  ring.push(proto::op::flush, "", kNow + 15);
  ring.push(proto::op::flush, "", 0);  // replaces the pending one: a resync now, none later
  d.run_once(true);
  EXPECT_EQ(log.resync_generation(), gen + 4);
  e.clk.advance(6);
  d.run_once(true);
  EXPECT_EQ(log.resync_generation(), gen + 4);
  // Not primary: entries are dropped, positions do not move.
  const auto last = log.last();
  ring.push(proto::op::set, "k", 0);
  EXPECT_EQ(d.run_once(false), 1u);
  EXPECT_EQ(log.last(), last);
}

}  // namespace
}  // namespace anvil::replication
