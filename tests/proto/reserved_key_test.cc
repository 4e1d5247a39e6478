// The reserved key space (dataplane/proto/reserved_keys.h): the canary's items exist in
// the engine, but no client request can read, change or delete them, over every path
// (single GET, the batched GET run, GAT/touch, stores, delete, incr, the too-large SET
// that otherwise unlinks the old value). Keys that only look alike are ordinary keys.
#include <gtest/gtest.h>

#include <string>

#include "dataplane/proto/reserved_keys.h"
#include "tests/proto/driver.h"
#include "tests/proto/wire_util.h"

namespace anvil::proto::testing {
namespace {

constexpr std::uint16_t kOk = 0x00, kNotFound = 0x01, kE2big = 0x03, kInval = 0x04;

const std::string kCanary = std::string(kReservedKeyPrefix) + "canary:0:7";

struct reserved : ::testing::Test {
  reserved() {
    hc.max_value = 1u << 20;
    s = std::make_unique<stack>(hc);
    // What the canary does on an lcore: straight to the engine.
    EXPECT_EQ(s->ses.store(cache::store_mode::set, kCanary, "secret", 0, 0).st, cache::status::ok);
    s->ses.quiescent();
  }
  std::string engine_value() {
    auto it = s->ses.get(kCanary);
    std::string v = it.found ? std::string(it.value) : "<missing>";
    s->ses.quiescent();
    return v;
  }
  handler_config hc;
  std::unique_ptr<stack> s;
};

TEST(ReservedKeys, PrefixIsExactlyTheNulAnvilNulSpace) {
  EXPECT_TRUE(is_reserved_key(kCanary));
  EXPECT_TRUE(is_reserved_key(kReservedKeyPrefix));
  EXPECT_FALSE(is_reserved_key(""));
  EXPECT_FALSE(is_reserved_key(std::string("\0", 1)));
  EXPECT_FALSE(is_reserved_key(std::string("\0anvil", 6)));  // one short
  EXPECT_FALSE(is_reserved_key(std::string("\0anvil:", 7)));
  EXPECT_FALSE(is_reserved_key("anvil"));
  EXPECT_FALSE(is_reserved_key(std::string("x\0anvil\0", 8)));
}

TEST_F(reserved, GetsMissAndNothingLeaks) {
  for (std::uint8_t o : {op::get, op::getk}) {
    const auto r = decode_responses(s->run(get_req(o, kCanary, 5)).output);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].status, kNotFound) << int(o);
    EXPECT_EQ(r[0].value.find("secret"), std::string::npos);
  }
  // Quiet gets answer nothing for a miss: only the noop comes back.
  const auto q = decode_responses(s->run(get_req(op::getq, kCanary, 1) +
                                         get_req(op::getkq, kCanary, 2) + simple_req(op::noop, 3))
                                      .output);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].opcode, op::noop);
  EXPECT_EQ(s->counters.get_misses.load(), 4u);
  EXPECT_EQ(s->counters.get_hits.load(), 0u);
}

TEST_F(reserved, BatchedGetsMissTheReservedKeyOnly) {
  ASSERT_EQ(decode_responses(s->run(store_req(op::set, "plain", "pv")).output)[0].status, kOk);
  const auto r =
      decode_responses(s->run(get_req(op::getk, "plain", 1) + get_req(op::getk, kCanary, 2) +
                              get_req(op::getk, "plain", 3))
                           .output);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].status, kOk);
  EXPECT_EQ(r[0].value, "pv");
  EXPECT_EQ(r[1].status, kNotFound);
  EXPECT_EQ(r[1].value, "");
  EXPECT_EQ(r[2].status, kOk);
}

TEST_F(reserved, WritesAreRefusedAndTheItemIsUntouched) {
  const std::string reqs[] = {
      store_req(op::set, kCanary, "client", 0, 0, 0, 1),
      store_req(op::add, kCanary, "client", 0, 0, 0, 2),
      store_req(op::replace, kCanary, "client", 0, 0, 0, 3),
      store_req(op::append, kCanary, "client", 0, 0, 0, 4),
      store_req(op::prepend, kCanary, "client", 0, 0, 0, 5),
      encode({.opcode = op::del, .key = kCanary, .opaque = 6}),
      arith_req(op::incr, kCanary, 1, 0, 0),
      arith_req(op::decr, kCanary, 1, 0, 0),
      touch_req(op::touch, kCanary, 100),
      touch_req(op::gat, kCanary, 100),
  };
  for (const auto& rq : reqs) {
    const auto r = decode_responses(s->run(rq).output);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(r[0].status == kInval || r[0].status == kNotFound) << r[0].status;
    EXPECT_EQ(r[0].value.find("secret"), std::string::npos);
    EXPECT_EQ(engine_value(), "secret") << "opcode " << int(r[0].opcode);
  }
  // Quiet stores say nothing on success, but an error always goes out.
  const auto q =
      decode_responses(s->run(store_req(op::setq, kCanary, "c") + simple_req(op::noop)).output);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].status, kInval);
  EXPECT_EQ(s->counters.cmd_set.load(), 0u);
  EXPECT_EQ(s->counters.total_items.load(), 0u);
  EXPECT_EQ(engine_value(), "secret");
}

TEST_F(reserved, OversizedSetDoesNotUnlinkTheReservedItem) {
  hc.max_value = 64;
  s = std::make_unique<stack>(hc);
  ASSERT_EQ(s->ses.store(cache::store_mode::set, kCanary, "secret", 0, 0).st, cache::status::ok);
  s->ses.quiescent();
  const auto r =
      decode_responses(s->run(store_req(op::set, kCanary, std::string(100, 'x'))).output);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, kE2big);
  EXPECT_EQ(engine_value(), "secret");
}

TEST_F(reserved, LookAlikeKeysAreOrdinary) {
  for (const std::string& k :
       {std::string("\0anvil", 6), std::string("\0anvil:x", 8), std::string("anvil\0canary", 12)}) {
    auto r = decode_responses(s->run(store_req(op::set, k, "v")).output);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].status, kOk);
    r = decode_responses(s->run(get_req(op::get, k)).output);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].status, kOk);
    EXPECT_EQ(r[0].value, "v");
  }
}

}  // namespace
}  // namespace anvil::proto::testing
