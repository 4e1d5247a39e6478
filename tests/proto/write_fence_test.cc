// The planned switchover's write fence (client_gate.h kWritesPaused): while it is up every
// mutation of every protocol is refused with a retryable error before it reaches the
// engine or the replication hook, reads go on, and lifting it lets writes through again.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "tests/proto/driver.h"
#include "tests/proto/wire_util.h"

namespace anvil::proto::testing {
namespace {

struct fenced_stack {
  // The gate's fence bit on a primary (the agent's vip_lease::pause_writes).
  struct fence_bit {
    std::atomic<std::uint8_t> bits{gate::kOpen};
    fence_bit& operator=(bool up) {
      bits = up ? gate::kWritesPaused : gate::kOpen;
      return *this;
    }
  } fence;
  int mutations = 0;
  stack s{handler_config{.gate = &fence.bits},
          8u << 20,
          {},
          mutation_hook{this, [](void* ctx, const mutation&) {
                          ++static_cast<fenced_stack*>(ctx)->mutations;
                        }}};
};

std::string text_set(const std::string& key, const std::string& value) {
  return "set " + key + " 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
}

TEST(WriteFence, EveryBinaryMutationGets0x86AndNothingChanges) {
  fenced_stack f;
  ASSERT_EQ(decode_responses(f.s.run(store_req(op::set, "k", "old")).output).at(0).status, 0);
  f.mutations = 0;
  f.fence = true;
  const bytes reqs[] = {
      store_req(op::set, "k", "new", 0, 0, 0, 1),
      store_req(op::setq, "k", "new", 0, 0, 0, 2),
      store_req(op::add, "n", "v", 0, 0, 0, 3),
      store_req(op::replace, "k", "v", 0, 0, 0, 4),
      store_req(op::append, "k", "v", 0, 0, 0, 5),
      store_req(op::prependq, "k", "v", 0, 0, 0, 6),
      get_req(op::del, "k", 7),
      get_req(op::delq, "k", 8),
      arith_req(op::incr, "c", 1, 0, 0, 0, 9),
      arith_req(op::decrq, "c", 1, 0, 0, 0, 10),
      touch_req(op::touch, "k", 100, 11),
      touch_req(op::gat, "k", 100, 12),
      touch_req(op::gatkq, "k", 100, 13),
      encode({.opcode = op::flush, .opaque = 14}),
  };
  std::string in;
  for (const auto& r : reqs) in += r;
  const auto out = decode_responses(f.s.run(in).output);
  ASSERT_EQ(out.size(), std::size(reqs)) << "quiet ones are answered too: it is an error";
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].status, 0x86) << "request " << i;
    EXPECT_EQ(out[i].opaque, i + 1);
    EXPECT_EQ(out[i].value, "Temporary failure");
  }
  EXPECT_EQ(f.mutations, 0) << "nothing reached the replication hook";
  // Reads go on, and see the old value.
  const auto got = decode_responses(f.s.run(get_req(op::get, "k")).output);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, 0);
  EXPECT_EQ(got[0].value, "old");
  // Lifted: the same write goes through.
  f.fence = false;
  EXPECT_EQ(decode_responses(f.s.run(store_req(op::set, "k", "new")).output).at(0).status, 0);
  EXPECT_EQ(f.s.ses.get("k").value, "new");
  EXPECT_EQ(f.mutations, 1);
}

TEST(WriteFence, TextWritesGetServerErrorAndTheDataBlockIsSkipped) {
  fenced_stack f;
  ASSERT_EQ(f.s.run(text_set("k", "old")).output, "STORED\r\n");
  f.mutations = 0;
  f.fence = true;
  const std::string fenced = std::string(kFencedLine) + "\r\n";
  // A set whose data block looks like commands: it is skipped, not executed.
  EXPECT_EQ(f.s.run(text_set("k", "get k")).output, fenced);
  EXPECT_EQ(f.s.run("cas k 0 0 1 1\r\nx\r\n").output, fenced);
  EXPECT_EQ(f.s.run("incr c 1\r\ndecr c 1\r\n").output, fenced + fenced);
  EXPECT_EQ(f.s.run("delete k\r\ntouch k 10\r\nflush_all\r\n").output, fenced + fenced + fenced);
  EXPECT_EQ(f.s.run("gat 10 k\r\n").output, fenced);
  EXPECT_EQ(f.s.run("set k 0 0 3 noreply\r\nabc\r\n").output, "") << "noreply stays silent";
  EXPECT_EQ(f.mutations, 0);
  EXPECT_EQ(f.s.run("get k\r\n").output, "VALUE k 0 3\r\nold\r\nEND\r\n");
  // A data block split across reads is still skipped whole.
  const std::string split = text_set("k", "0123456789") + "get k\r\n";
  const std::size_t cuts[] = {12, 20};
  EXPECT_EQ(f.s.run(split, cuts).output, fenced + "VALUE k 0 3\r\nold\r\nEND\r\n");
  f.fence = false;
  EXPECT_EQ(f.s.run(text_set("k", "new")).output, "STORED\r\n");
  EXPECT_EQ(f.mutations, 1);
}

TEST(WriteFence, MetaWritesAreRefusedAndMetaReadsWithoutTouchGoOn) {
  fenced_stack f;
  ASSERT_EQ(f.s.run("ms k 3\r\nold\r\n").output, "HD\r\n");
  f.mutations = 0;
  f.fence = true;
  const std::string fenced = std::string(kFencedLine) + "\r\n";
  EXPECT_EQ(f.s.run("ms k 5\r\nget k\r\n").output, fenced) << "the block is skipped";
  EXPECT_EQ(f.s.run("md k\r\nma c\r\nmg k T30\r\nmg n N30\r\n").output,
            fenced + fenced + fenced + fenced);
  EXPECT_EQ(f.s.run("mg k v\r\n").output, "VA 3\r\nold\r\n");
  EXPECT_EQ(f.mutations, 0);
  f.fence = false;
  EXPECT_EQ(f.s.run("md k\r\n").output, "HD\r\n");
  EXPECT_EQ(f.mutations, 1);
}

TEST(WriteFence, WithoutAFenceNothingIsRefused) {
  stack s;  // gate null: the default of every server without [cluster]
  EXPECT_EQ(decode_responses(s.run(store_req(op::set, "k", "v")).output).at(0).status, 0);
  stack t;
  EXPECT_EQ(t.run("set k 0 0 1\r\n5\r\nincr k 1\r\n").output, "STORED\r\n6\r\n");
}

}  // namespace
}  // namespace anvil::proto::testing
