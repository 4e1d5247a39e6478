// Table-driven tests of every opcode, status and edge case of issue 4. Each case runs
// once whole, then again with its input cut at every split point (two pieces), then in
// 1-byte pieces, then with a sink barely larger than one response: every run must give
// the same bytes. Expected statuses follow memcached 1.6 (probed against 1.6.18).
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "tests/proto/driver.h"
#include "tests/proto/wire_util.h"

namespace anvil::proto::testing {
namespace {

enum class cas_is : std::uint8_t { any, zero, nonzero };

struct want {
  std::uint8_t opcode;
  std::uint16_t status;
  std::uint32_t opaque = 0;
  std::optional<std::string> value = std::nullopt;
  std::optional<std::string> key = std::nullopt;
  std::optional<std::string> extras = std::nullopt;
  cas_is cas = cas_is::any;
  int cas_same_as = -1;  // index of an earlier response with the same CAS
  int cas_differs_from = -1;
};

struct tcase {
  const char* name;
  std::string setup;  // run whole first; its output is ignored
  std::string input;  // run whole and at every split point
  std::vector<want> responses;
  bool closes = false;
};

std::string flags_be(std::uint32_t f) { return be32s(f); }
constexpr std::uint16_t kOk = 0x00, kNotFound = 0x01, kExists = 0x02, kE2big = 0x03, kInval = 0x04,
                        kNotStored = 0x05, kBadDelta = 0x06, kUnknown = 0x81;

std::string big(std::size_t n) { return std::string(n, 'x'); }

std::vector<tcase> cases() {
  const std::string set_a = store_req(op::set, "a", "hello", 7);
  return {
      // --- get family
      {"get_hit",
       set_a,
       get_req(op::get, "a", 11),
       {{op::get, kOk, 11, "hello", "", flags_be(7), cas_is::nonzero}}},
      {"get_miss", "", get_req(op::get, "a", 12), {{op::get, kNotFound, 12, "Not found", ""}}},
      {"getk_hit", set_a, get_req(op::getk, "a"), {{op::getk, kOk, 0, "hello", "a", flags_be(7)}}},
      {"getk_miss_has_key",
       "",
       get_req(op::getk, "zz", 3),
       {{op::getk, kNotFound, 3, "", "zz", ""}}},
      {"getq_hit_miss_noop",
       set_a,
       get_req(op::getq, "a", 1) + get_req(op::getq, "b", 2) + simple_req(op::noop, 3),
       {{op::getq, kOk, 1, "hello", "", flags_be(7)}, {op::noop, kOk, 3, ""}}},
      {"getkq_batch",
       set_a,
       get_req(op::getkq, "x", 1) + get_req(op::getkq, "a", 2) + get_req(op::getkq, "y", 3) +
           simple_req(op::noop, 4),
       {{op::getkq, kOk, 2, "hello", "a"}, {op::noop, kOk, 4}}},
      // --- storage
      {"set_returns_cas",
       "",
       store_req(op::set, "k", "v") + get_req(op::get, "k"),
       {{op::set, kOk, 0, "", "", "", cas_is::nonzero},
        {op::get, kOk, 0, "v", "", flags_be(0), cas_is::nonzero, 0}}},
      {"setq_silent", "", store_req(op::setq, "k", "v") + simple_req(op::noop), {{op::noop, kOk}}},
      {"add_existing",
       set_a,
       store_req(op::add, "a", "v"),
       {{op::add, kExists, 0, "Data exists for key.", "", "", cas_is::zero}}},
      {"addq_existing_error_sent",
       set_a,
       store_req(op::addq, "a", "v"),
       {{op::addq, kExists, 0, "Data exists for key."}}},
      {"add_new",
       "",
       store_req(op::add, "n", "v"),
       {{op::add, kOk, 0, "", "", "", cas_is::nonzero}}},
      {"replace_missing",
       "",
       store_req(op::replace, "m", "v"),
       {{op::replace, kNotFound, 0, "Not found"}}},
      {"replace_existing",
       set_a,
       store_req(op::replace, "a", "v2") + get_req(op::get, "a"),
       {{op::replace, kOk}, {op::get, kOk, 0, "v2"}}},
      {"append_prepend",
       set_a,
       store_req(op::append, "a", "!") + store_req(op::prepend, "a", "<") + get_req(op::get, "a"),
       {{op::append, kOk, 0, "", "", "", cas_is::nonzero},
        {op::prepend, kOk},
        {op::get, kOk, 0, "<hello!", "", flags_be(7)}}},
      {"append_missing",
       "",
       store_req(op::append, "m", "x") + store_req(op::prependq, "m", "x"),
       {{op::append, kNotStored, 0, "Not stored."}, {op::prependq, kNotStored, 0, "Not stored."}}},
      {"appendq_prependq_silent",
       set_a,
       store_req(op::appendq, "a", "1") + store_req(op::prependq, "a", "0") + get_req(op::get, "a"),
       {{op::get, kOk, 0, "0hello1"}}},
      {"set_too_large_removes_old",
       set_a,
       store_req(op::set, "a", big((1u << 20) + 1)) + get_req(op::get, "a") + simple_req(op::noop),
       {{op::set, kE2big, 0, "Too large."}, {op::get, kNotFound}, {op::noop, kOk}}},
      {"add_too_large_keeps_old",
       set_a,
       store_req(op::add, "a", big((1u << 20) + 1)) + get_req(op::get, "a"),
       {{op::add, kE2big, 0, "Too large."}, {op::get, kOk, 0, "hello"}}},
      {"append_too_large",
       set_a,
       store_req(op::append, "a", big((1u << 20) + 5)) + simple_req(op::noop),
       {{op::append, kE2big}, {op::noop, kOk}}},
      // --- CAS flows
      {"cas_mismatch",
       set_a,
       store_req(op::set, "a", "v", 0, 0, 0xfffffffffffull),
       {{op::set, kExists, 0, "Data exists for key."}}},
      {"cas_missing_key",
       "",
       store_req(op::set, "q", "v", 0, 0, 99),
       {{op::set, kNotFound, 0, "Not found"}}},
      {"delete_cas_mismatch",
       set_a,
       encode({.opcode = op::del, .key = "a", .cas = 123456789}),
       {{op::del, kExists, 0, "Data exists for key."}}},
      // --- delete
      {"delete_hit_miss",
       set_a,
       get_req(op::del, "a") + get_req(op::del, "a") + get_req(op::get, "a"),
       {{op::del, kOk, 0, "", "", "", cas_is::zero},
        {op::del, kNotFound, 0, "Not found"},
        {op::get, kNotFound}}},
      {"deleteq",
       set_a,
       get_req(op::delq, "a") + get_req(op::delq, "a") + simple_req(op::noop),
       {{op::delq, kNotFound, 0, "Not found"}, {op::noop, kOk}}},
      // --- incr / decr
      {"incr_create_then_add",
       "",
       arith_req(op::incr, "c", 1, 5, 0) + arith_req(op::incr, "c", 10, 0, 0) +
           get_req(op::get, "c"),
       {{op::incr, kOk, 0, be64s(5), "", "", cas_is::nonzero},
        {op::incr, kOk, 0, be64s(15), "", "", cas_is::nonzero, -1, 0},
        {op::get, kOk, 0, "15", "", flags_be(0), cas_is::nonzero, 1}}},
      {"incr_miss_no_create",
       "",
       arith_req(op::incr, "c", 1, 5, 0xffffffff) + arith_req(op::decrq, "c", 1, 5, 0xffffffff),
       {{op::incr, kNotFound, 0, "Not found"}, {op::decrq, kNotFound, 0, "Not found"}}},
      {"decr_floor",
       store_req(op::set, "d", "5"),
       arith_req(op::decr, "d", 10, 0, 0),
       {{op::decr, kOk, 0, be64s(0)}}},
      {"incr_wraps",
       store_req(op::set, "w", "18446744073709551615"),
       arith_req(op::incr, "w", 2, 0, 0),
       {{op::incr, kOk, 0, be64s(1)}}},
      {"incr_non_numeric_unchanged",
       store_req(op::set, "n", "abc"),
       arith_req(op::incr, "n", 1, 0, 0) + get_req(op::get, "n"),
       {{op::incr, kBadDelta, 0, "Non-numeric server-side value for incr or decr"},
        {op::get, kOk, 0, "abc"}}},
      {"incrq_silent",
       "",
       arith_req(op::incrq, "c", 1, 5, 0) + get_req(op::get, "c"),
       {{op::get, kOk, 0, "5"}}},
      {"incr_cas_mismatch",
       store_req(op::set, "d", "5"),
       arith_req(op::incr, "d", 1, 0, 0, 987654321),
       {{op::incr, kExists}}},
      // --- touch / gat
      {"touch_hit_flags_only",
       set_a,
       touch_req(op::touch, "a", 100, 5),
       {{op::touch, kOk, 5, "", "", flags_be(7), cas_is::nonzero}}},
      {"touch_miss", "", touch_req(op::touch, "a", 100), {{op::touch, kNotFound, 0, "Not found"}}},
      {"gat_gatk",
       set_a,
       touch_req(op::gat, "a", 100) + touch_req(op::gatk, "a", 100),
       {{op::gat, kOk, 0, "hello", "", flags_be(7)},
        {op::gatk, kOk, 0, "hello", "a", flags_be(7)}}},
      {"gat_misses",
       "",
       touch_req(op::gat, "a", 1) + touch_req(op::gatk, "a", 1) + touch_req(op::gatq, "a", 1) +
           touch_req(op::gatkq, "a", 1) + simple_req(op::noop),
       {{op::gat, kNotFound, 0, "Not found"}, {op::gatk, kNotFound, 0, "", "a"}, {op::noop, kOk}}},
      {"gatq_hits_sent",
       set_a,
       touch_req(op::gatq, "a", 1) + touch_req(op::gatkq, "a", 1),
       {{op::gatq, kOk, 0, "hello", ""}, {op::gatkq, kOk, 0, "hello", "a"}}},
      // --- flush
      {"flush_now",
       set_a,
       simple_req(op::flush) + get_req(op::get, "a"),
       {{op::flush, kOk, 0, "", "", "", cas_is::zero}, {op::get, kNotFound}}},
      {"flush_with_delay_keeps_items_until_then",
       set_a,
       encode({.opcode = op::flush, .extras = be32s(1000)}) + get_req(op::get, "a"),
       {{op::flush, kOk}, {op::get, kOk, 0, "hello"}}},
      {"flushq_silent",
       set_a,
       simple_req(op::flushq) + get_req(op::getk, "a"),
       {{op::getk, kNotFound, 0, "", "a"}}},
      // --- misc
      {"noop_version",
       "",
       simple_req(op::noop, 9) + simple_req(op::version, 10),
       {{op::noop, kOk, 9, ""}, {op::version, kOk, 10, "1.6.18-anvil"}}},
      {"quit", "", simple_req(op::quit, 4) + simple_req(op::noop), {{op::quit, kOk, 4, ""}}, true},
      {"quitq", "", simple_req(op::quitq) + simple_req(op::noop), {}, true},
      {"verbosity_unknown",
       "",
       encode({.opcode = op::verbosity, .extras = be32s(1)}) + simple_req(op::noop, 2),
       {{op::verbosity, kUnknown, 0, "Unknown command"}, {op::noop, kOk, 2}}},
      {"opaque_echoed_raw", "", simple_req(op::noop, 0xdeadbeef), {{op::noop, kOk, 0xdeadbeef}}},
      // --- framing and validation errors (memcached's statuses and closes)
      {"unknown_skips_exactly",
       "",
       encode({.opcode = 0x55, .key = "abc", .extras = "xy", .value = "zz", .opaque = 7}) +
           simple_req(op::noop, 8) + simple_req(op::noop, 9),
       {{0x55, kUnknown, 7, "Unknown command"}, {op::noop, kOk, 8}, {op::noop, kOk, 9}}},
      {"unknown_big_body_streamed",
       "",
       encode({.opcode = 0xf0, .value = big(300000)}) + simple_req(op::noop),
       {{0xf0, kUnknown}, {op::noop, kOk}}},
      // No command has a body past extras + key + the item size: answered and closed
      // instead of swallowing up to 4 GiB (one past the limit, and the largest).
      {"unknown_body_past_limit_closes",
       "",
       encode({.opcode = 0x55, .opaque = 3, .bodylen = (1u << 20) + 255 + 250 + 1}) +
           simple_req(op::noop, 4),
       {{0x55, kUnknown, 3, "Unknown command"}},
       true},
      {"unknown_body_4g_closes",
       "",
       encode({.opcode = 0xf0, .opaque = 5, .bodylen = 0xffffffffu}) + std::string(40, 'z'),
       {{0xf0, kUnknown, 5, "Unknown command"}},
       true},
      {"bad_magic_closes_silently",
       "",
       encode({.opcode = op::noop, .magic = 0x81}) + simple_req(op::noop),
       {},
       true},
      {"keylen_over_bodylen",
       "",
       encode({.opcode = op::get, .key = "abc", .bodylen = 2}) + "x" + simple_req(op::noop),
       {{op::get, kUnknown, 0, "Unknown command"}},
       true},
      {"key_too_long",
       "",
       get_req(op::get, std::string(251, 'k')) + simple_req(op::noop),
       {{op::get, kInval, 0, "Invalid arguments"}},
       true},
      {"key_250_ok",
       "",
       get_req(op::getk, std::string(250, 'k')),
       {{op::getk, kNotFound, 0, "", std::string(250, 'k')}}},
      {"get_with_extras",
       "",
       encode({.opcode = op::get, .key = "a", .extras = "1234"}),
       {{op::get, kInval}},
       true},
      {"get_no_key", "", encode({.opcode = op::get}), {{op::get, kInval}}, true},
      {"set_no_key",
       "",
       encode({.opcode = op::set, .extras = be64s(0), .value = "v"}),
       {{op::set, kInval}},
       true},
      {"set_short_extras",
       "",
       encode({.opcode = op::set, .key = "a", .extras = be32s(0), .value = "v"}),
       {{op::set, kInval}},
       true},
      {"delete_with_value",
       "",
       encode({.opcode = op::del, .key = "a", .value = "v"}),
       {{op::del, kInval}},
       true},
      {"incr_short_extras",
       "",
       encode({.opcode = op::incr, .key = "a", .extras = be64s(1)}),
       {{op::incr, kInval}},
       true},
      {"append_with_extras",
       "",
       encode({.opcode = op::append, .key = "a", .extras = "1234", .value = "x"}),
       {{op::append, kInval}},
       true},
      {"noop_with_body", "", encode({.opcode = op::noop, .key = "x"}), {{op::noop, kInval}}, true},
      {"version_with_body",
       "",
       encode({.opcode = op::version, .value = "x"}),
       {{op::version, kInval}},
       true},
      {"quit_with_body",
       "",
       encode({.opcode = op::quit, .value = "x"}),
       {{op::quit, kInval}},
       true},
      {"flush_bad_extras",
       "",
       encode({.opcode = op::flush, .extras = "12"}),
       {{op::flush, kInval}},
       true},
      {"touch_no_extras", "", get_req(op::touch, "a"), {{op::touch, kInval}}, true},
      {"stat_with_extras",
       "",
       encode({.opcode = op::stat, .extras = "1234"}),
       {{op::stat, kInval}},
       true},
      {"sasl_off_list_unknown",
       "",
       simple_req(op::sasl_list_mechs) + simple_req(op::noop),
       {{op::sasl_list_mechs, kUnknown, 0, "Unknown command"}, {op::noop, kOk}}},
      {"sasl_off_auth_unknown_skips",
       "",
       encode({.opcode = op::sasl_auth, .key = "PLAIN", .value = std::string("\0u\0p", 4)}) +
           simple_req(op::noop),
       {{op::sasl_auth, kUnknown}, {op::noop, kOk}}},
      {"sasl_step_no_key", "", simple_req(op::sasl_step), {{op::sasl_step, kInval}}, true},
      // --- stats
      {"stat_unknown_sub", "", get_req(op::stat, "bogus"), {{op::stat, kNotFound, 0, "Not found"}}},
      {"stat_detail_bad", "", get_req(op::stat, "detail x"), {{op::stat, kNotFound}}},
      {"stat_detail_dump_empty",
       "",
       get_req(op::stat, "detail dump"),
       {{op::stat, kOk, 0, "END\r\n", "detailed"}, {op::stat, kOk, 0, "", ""}}},
      {"stat_detail_on_dump",
       "",
       get_req(op::stat, "detail on") + store_req(op::set, "p:1", "v") + get_req(op::get, "p:1") +
           get_req(op::get, "p:2") + get_req(op::del, "p:1") + get_req(op::stat, "detail dump"),
       {{op::stat, kOk, 0, "", ""},
        {op::set, kOk},
        {op::get, kOk},
        {op::get, kNotFound},
        {op::del, kOk},
        {op::stat, kOk, 0, "PREFIX p get 2 hit 1 set 1 del 1\r\nEND\r\n", "detailed"},
        {op::stat, kOk, 0, "", ""}}},
      {"stat_sizes",
       "",
       get_req(op::stat, "sizes"),
       {{op::stat, kOk, 0, "disabled", "sizes_status"}, {op::stat, kOk, 0, "", ""}}},
      {"stat_reset", "", get_req(op::stat, "reset"), {{op::stat, kOk, 0, "", ""}}},
      // Trailing body bytes belong to the packet (memcached would parse them as the
      // next packet: an intentional difference) and are skipped.
      {"stat_with_trailing_body",
       "",
       encode({.opcode = op::stat, .key = "sizes", .value = "junk"}) + simple_req(op::noop, 1),
       {{op::stat, kOk, 0, "disabled", "sizes_status"},
        {op::stat, kOk, 0, "", ""},
        {op::noop, kOk, 1}}},
      {"touch_with_trailing_value",
       set_a,
       encode({.opcode = op::touch, .key = "a", .extras = be32s(9), .value = "junk"}) +
           simple_req(op::noop, 1),
       {{op::touch, kOk, 0, "", "", flags_be(7)}, {op::noop, kOk, 1}}},
      {"stat_body_over_cap",
       "",
       encode({.opcode = op::stat, .value = big((1u << 20) + 1)}) + simple_req(op::noop, 1),
       {{op::stat, kE2big, 0, "Too large."}, {op::noop, kOk, 1}}},
  };
}

void check(const tcase& tc, const run_result& rr, const std::string& how) {
  SCOPED_TRACE(std::string(tc.name) + " / " + how);
  std::string rest;
  const auto got = decode_responses(rr.output, &rest);
  EXPECT_TRUE(rest.empty()) << "partial response in the output";
  EXPECT_EQ(rr.closed, tc.closes);
  ASSERT_EQ(got.size(), tc.responses.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("response " + std::to_string(i));
    const want& w = tc.responses[i];
    const response& g = got[i];
    EXPECT_EQ(g.magic, kResponseMagic);
    EXPECT_EQ(g.opcode, w.opcode);
    EXPECT_EQ(g.status, w.status);
    EXPECT_EQ(g.opaque, w.opaque);
    EXPECT_EQ(g.datatype, 0);
    if (w.value) {
      EXPECT_EQ(g.value, *w.value);
    }
    if (w.key) {
      EXPECT_EQ(g.key, *w.key);
    }
    if (w.extras) {
      EXPECT_EQ(g.extras, *w.extras);
    }
    if (w.status != kOk) {
      EXPECT_EQ(g.cas, 0u) << "errors carry CAS 0";
    }
    if (w.cas == cas_is::zero) {
      EXPECT_EQ(g.cas, 0u);
    }
    if (w.cas == cas_is::nonzero) {
      EXPECT_NE(g.cas, 0u);
    }
    if (w.cas_same_as >= 0) {
      EXPECT_EQ(g.cas, got[w.cas_same_as].cas);
    }
    if (w.cas_differs_from >= 0) {
      EXPECT_NE(g.cas, got[w.cas_differs_from].cas);
    }
  }
}

class handler_cases : public ::testing::TestWithParam<tcase> {};

// CAS values are compared as equality relations: each distinct CAS is replaced by the
// order of its first appearance (0 stays 0), so runs on one shared engine compare equal.
std::string normalize_cas(const std::string& out) {
  std::string norm = out;
  std::vector<std::uint64_t> seen;
  std::size_t pos = 0;
  while (pos + kHeaderSize <= norm.size()) {
    auto* p = reinterpret_cast<std::byte*>(norm.data() + pos);
    const std::uint64_t cas = load_be64(p + 16);
    if (cas != 0) {
      auto it = std::find(seen.begin(), seen.end(), cas);
      if (it == seen.end()) it = seen.insert(seen.end(), cas);
      store_be64(p + 16, static_cast<std::uint64_t>(it - seen.begin()) + 1);
    }
    pos += kHeaderSize + load_be32(p + 8);
  }
  return norm;
}

// One engine for all the runs of a case (building an engine is slow: it loads the
// hwloc topology); each run gets a fresh handler and connection, and an empty cache:
// flush, then a second passes so items stored next are not covered by the flush.
struct case_runner {
  explicit case_runner(const tcase& tc) : tc(tc) {}
  run_result run(std::span<const std::size_t> cuts, std::size_t sink = 0) {
    s.ses.flush(0);
    s.clk.advance(1);
    lcore_counters counters;
    // The binary table: -B binary, so a first byte other than 0x80 is a bad magic (under
    // -B auto it would select the text protocol: text_handler_test.cc).
    handler h(s.eng, s.ses, handler_config{.protocols = binding::binary}, counters);
    connection setup_conn;
    const std::size_t cap = sink == 0 ? h.min_sink_capacity() : sink;
    if (!tc.setup.empty()) drive(h, s.ses, setup_conn, tc.setup, {}, h.min_sink_capacity());
    connection c;
    run_result rr = drive(h, s.ses, c, tc.input, cuts, cap);
    rr.output = normalize_cas(rr.output);
    return rr;
  }
  const tcase& tc;
  stack s;
};

// Every split point of the input; a long input (big values) is cut everywhere in its
// first 400 and last 64 bytes (headers, extras, keys, the end of the value) and at
// ~100 points in between.
std::vector<std::size_t> split_points(std::size_t n) {
  std::vector<std::size_t> pts;
  for (std::size_t k = 1; k < n; ++k) {
    if (n <= 4096 || k < 400 || k + 64 >= n || k % (n / 100) == 0) pts.push_back(k);
  }
  return pts;
}

TEST_P(handler_cases, whole_and_every_split) {
  const tcase& tc = GetParam();
  case_runner cr(tc);
  const run_result whole = cr.run({});
  check(tc, whole, "whole");
  for (const std::size_t k : split_points(tc.input.size())) {
    const std::size_t cut[] = {k};
    const run_result rr = cr.run(cut);
    ASSERT_EQ(rr.output, whole.output) << tc.name << " cut at " << k;
    ASSERT_EQ(rr.closed, whole.closed) << tc.name << " cut at " << k;
  }
  if (tc.input.size() <= 4096) {  // and in 1-byte pieces
    std::vector<std::size_t> cuts;
    for (std::size_t k = 1; k < tc.input.size(); ++k) cuts.push_back(k);
    const run_result rr = cr.run(cuts);
    EXPECT_EQ(rr.output, whole.output) << tc.name << " byte by byte";
  }
}

TEST_P(handler_cases, tiny_sink_backpressure) {
  const tcase& tc = GetParam();
  case_runner cr(tc);
  const run_result whole = cr.run({});
  // A sink that holds one response at a time (the largest this case produces).
  std::size_t largest = kSmallResponseMax;
  for (const auto& r : decode_responses(whole.output)) {
    largest = std::max(largest, kHeaderSize + r.extras.size() + r.key.size() + r.value.size());
  }
  // A stat reply is written whole: give it room for all of its packets.
  if (tc.input.find(std::string("\x80\x10", 2)) != std::string::npos) {
    largest = whole.output.size() + kSmallResponseMax;
  }
  const run_result rr = cr.run({}, largest);
  check(tc, rr, "tiny sink");
  EXPECT_EQ(rr.output, whole.output) << tc.name;
}

INSTANTIATE_TEST_SUITE_P(all, handler_cases, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace anvil::proto::testing
