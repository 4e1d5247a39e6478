// anvil_requests_total{op,status}: every request the handler completes is counted once,
// under its base operation and the status of its response (`quiet` when it sent none),
// on the batched get path and the single-request path alike, for errors decided before
// dispatch too; `stats reset` leaves the table alone.
#include <gtest/gtest.h>

#include "tests/proto/driver.h"
#include "tests/proto/wire_util.h"

namespace anvil::proto::testing {
namespace {

std::uint64_t total(const lcore_counters& c) {
  std::uint64_t n = 0;
  for (std::size_t o = 0; o < kReqOps; ++o)
    for (std::size_t s = 0; s < kReqStatuses; ++s)
      n += c.requests.get(static_cast<req_op>(o), static_cast<req_status>(s));
  return n;
}

TEST(RequestCounts, EachRequestOnceByOpAndStatus) {
  stack st;
  st.run(store_req(op::set, "a", "1") + store_req(op::setq, "b", "2") +
         store_req(op::add, "a", "x"));
  // Two gets in a row take the batched path; a lone get and a GETQ miss the single one.
  st.run(get_req(op::get, "a") + get_req(op::getk, "zz") + simple_req(op::noop));
  st.run(get_req(op::getq, "nope") + simple_req(op::noop));
  st.run(arith_req(op::incr, "a", 1, 0, 0) + get_req(op::del, "zz"));
  const auto& r = st.counters.requests;
  EXPECT_EQ(r.get(req_op::set, req_status::success), 1u);
  EXPECT_EQ(r.get(req_op::set, req_status::quiet), 1u);
  EXPECT_EQ(r.get(req_op::add, req_status::key_eexists), 1u);
  EXPECT_EQ(r.get(req_op::get, req_status::success), 1u);
  EXPECT_EQ(r.get(req_op::get, req_status::key_enoent), 1u);
  EXPECT_EQ(r.get(req_op::get, req_status::quiet), 1u);
  EXPECT_EQ(r.get(req_op::noop, req_status::success), 2u);
  EXPECT_EQ(r.get(req_op::incr, req_status::success), 1u);
  EXPECT_EQ(r.get(req_op::del, req_status::key_enoent), 1u);
  EXPECT_EQ(total(st.counters), 10u);
  EXPECT_EQ(st.h.requests_completed(), 10u);
}

TEST(RequestCounts, ErrorsDecidedBeforeDispatchAreCounted) {
  stack st;
  st.run(simple_req(0x50));  // unknown opcode: answered, the stream goes on
  st.run(store_req(op::set, "k", std::string((1u << 20) + 1, 'v')));  // over the item size
  EXPECT_EQ(st.counters.requests.get(req_op::other, req_status::unknown_command), 1u);
  EXPECT_EQ(st.counters.requests.get(req_op::set, req_status::e2big), 1u);
  // A malformed GET (extras on a get) closes the connection with EINVAL, counted too.
  stack bad;
  const auto res = bad.run(encode({.opcode = op::get, .key = "a", .extras = "xxxx"}));
  EXPECT_TRUE(res.closed);
  EXPECT_EQ(bad.counters.requests.get(req_op::get, req_status::einval), 1u);
  EXPECT_EQ(total(bad.counters), 1u);
}

TEST(RequestCounts, NotResetByStatsReset) {
  stack st;
  st.run(simple_req(op::noop));
  st.run(encode({.opcode = op::stat, .key = "reset"}));
  EXPECT_EQ(st.counters.cmd_get.load(), 0u);
  EXPECT_EQ(st.counters.requests.get(req_op::noop, req_status::success), 1u);
  EXPECT_EQ(st.counters.requests.get(req_op::stat, req_status::success), 1u);
}

TEST(RequestCounts, OpcodeTableFoldsQuietVariantsAndNamesEveryEntry) {
  EXPECT_EQ(kOpTable[op::getkq], req_op::get);
  EXPECT_EQ(kOpTable[op::gatkq], req_op::gat);
  EXPECT_EQ(kOpTable[op::sasl_step], req_op::sasl);
  EXPECT_EQ(kOpTable[0xff], req_op::other);
  EXPECT_EQ(status_class(0x7777), req_status::other);
  for (std::size_t o = 0; o < kReqOps; ++o) EXPECT_STRNE(to_string(static_cast<req_op>(o)), "");
  EXPECT_STREQ(to_string(req_op::del), "delete");
  EXPECT_STREQ(to_string(req_status::quiet), "quiet");
  EXPECT_STREQ(to_string(req_op::kCount), "other");  // one past the table
}

}  // namespace
}  // namespace anvil::proto::testing
