// The meta commands through the text path (proto::handler -> execute_meta): each case's
// input is run whole, cut at every split point, byte by byte, and into a sink that
// holds little more than one response; the answers are memcached 1.6.18's for the same
// stream (probed; CAS values compared as equality relations, the order of first
// appearance). The differential test checks the same against a live memcached.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dataplane/proto/meta_line.h"
#include "tests/proto/driver.h"

namespace anvil::proto::testing {
namespace {

struct mcase {
  const char* name;
  std::string setup;  // run whole first; its output is ignored
  std::string input;
  std::string output;
};

// Replaces every CAS in meta answers (" c<n>" tokens, "cas=<n>") by the order of its
// first appearance; c0 stays c0.
std::string normalize_cas(const std::string& out) {
  std::string r;
  std::vector<std::string> seen;
  std::size_t i = 0;
  while (i < out.size()) {
    std::size_t at = std::string::npos, skip = 0;
    const std::size_t a = out.find(" c", i), b = out.find("cas=", i);
    if (a != std::string::npos && (b == std::string::npos || a + 1 < b)) {
      at = a;
      skip = 2;
    } else if (b != std::string::npos) {
      at = b;
      skip = 4;
    }
    if (at == std::string::npos) {
      r.append(out, i, std::string::npos);
      break;
    }
    std::size_t e = at + skip;
    while (e < out.size() && out[e] >= '0' && out[e] <= '9') ++e;
    r.append(out, i, at + skip - i);
    const std::string num = out.substr(at + skip, e - at - skip);
    if (num.empty() || num == "0" || (e < out.size() && out[e] != ' ' && out[e] != '\r')) {
      r.append(num);
    } else {
      auto it = std::find(seen.begin(), seen.end(), num);
      if (it == seen.end()) it = seen.insert(seen.end(), num);
      r.append(std::to_string(it - seen.begin() + 1));
    }
    i = e;
  }
  return r;
}

std::vector<mcase> cases() {
  const std::string big(1048577, 'x');
  return {
      {"mn", "", "mn\r\nmn with tokens\r\n", "MN\r\nMN\r\n"},
      {"ms_then_mg_every_return_flag", "", "ms foo 2 T0 F5 c\r\nhi\r\nmg foo v s f t c k O123\r\n",
       "HD c1\r\nVA 2 s2 f5 t-1 c1 kfoo O123\r\nhi\r\n"},
      {"mg_miss_echoes_k_and_O_q_hides_EN", "", "mg foo v k O1\r\nmg foo\r\nmg foo q k\r\nmn\r\n",
       "EN kfoo O1\r\nEN\r\nMN\r\n"},
      {"mg_hit_q_still_answers", "ms foo 2\r\nhi\r\n", "mg foo q\r\nmg foo q k v\r\n",
       "HD\r\nVA 2 kfoo\r\nhi\r\n"},
      {"h_and_l_before_the_request_u_does_not_bump", "ms foo 2\r\nhi\r\n",
       "mg foo u h\r\nmg foo h l t\r\nmg foo h l\r\n", "HD h0\r\nHD h0 l0 t-1\r\nHD h1 l0\r\n"},
      {"base64_keys", "",
       "ms Zm9v 2 b c k\r\nhi\r\nmg Zm9v b k v\r\nmg foo k\r\nme Zm9v b\r\nme foo\r\nmg Zm9 b\r\n",
       "HD c1 kZm9v b\r\nVA 2 kZm9v b\r\nhi\r\nHD kZm9v b\r\n"
       "ME Zm9v exp=-1 la=0 cas=1 fetch=yes cls=0 size=5\r\n"
       "ME Zm9v exp=-1 la=0 cas=1 fetch=yes cls=0 size=5\r\n"
       "CLIENT_ERROR error decoding key\r\n"},
      {"vivify_win_then_Z", "",
       "mg vv N30 v c t s\r\nmg vv N30 v c t\r\nmg vv v t T0\r\nmg vv v t N30\r\n",
       "VA 0 c1 t30 s0 W\r\n\r\nVA 0 c1 t30 Z\r\n\r\nVA 0 t30 Z\r\n\r\nVA 0 t-1 Z\r\n\r\n"},
      {"recache_R_and_T_order", "ms r1 2 T100\r\nhi\r\n",
       "mg r1 R30 v t\r\nmg r1 R200 v t\r\nmg r1 R200 v t\r\nmg r1 t T10\r\nmg r1 T10 t\r\n",
       "VA 2 t100\r\nhi\r\nVA 2 t100 W\r\nhi\r\nVA 2 t100 Z\r\nhi\r\nHD t100 Z\r\nHD t10 Z\r\n"},
      {"md_invalidate_then_stale_win", "ms d1 2\r\nhi\r\n",
       "md d1 C99999999\r\nmd d1 I T30\r\nmg d1 v c t\r\nmg d1 v c t\r\n",
       "EX\r\nHD\r\nVA 2 c1 t30 X W\r\nhi\r\nVA 2 c1 t30 Z X\r\nhi\r\n"},
      {"ms_I_with_an_older_cas_stores_stale", "ms d1 2 T100\r\nhi\r\nmd d1 I\r\n",
       "ms d1 3 C99999999 I\r\nnew\r\nms d1 3 C1 I\r\nnew\r\nmg d1 v t\r\nmg d1 v\r\n",
       "EX\r\nHD\r\nVA 3 t100 X W\r\nnew\r\nVA 3 Z X\r\nnew\r\n"},
      {"ms_modes_and_codes", "ms foo 2\r\nhi\r\n",
       "ms foo 2 c ME\r\nhi\r\nms foo 2 c MA C99999999\r\nhi\r\nms nope 2 c MA\r\nhi\r\n"
       "ms nope 2 c MA C5\r\nhi\r\nms nope 2 c MR C5\r\nhi\r\nms nope 2 c MR\r\nhi\r\n"
       "ms nope 2 ME C5 q\r\nhi\r\nms foo 1 MA\r\n!\r\nms foo 1 MP\r\n<\r\nmg foo v\r\n"
       "ms foo 0 MS O9 k\r\n\r\nmg foo v\r\nmn\r\n",
       "NS c0\r\nEX c0\r\nNS c0\r\nNS c0\r\nNF c0\r\nNS c0\r\nHD\r\nHD\r\nVA 4\r\n<hi!\r\n"
       "HD O9 kfoo\r\nVA 0\r\n\r\nMN\r\n"},
      {"ms_cas_zero_never_matches", "ms foo 2\r\nhi\r\n",
       "ms foo 2 C0\r\nhi\r\nms nope 2 C0\r\nhi\r\nmd foo C0\r\nmd nope C0\r\n",
       "EX\r\nNF\r\nEX\r\nNF\r\n"},
      {"ma_modes_create_and_quiet", "ms k1 1\r\n5\r\n",
       "ma k1\r\nma k1 v\r\nma k1 MD D3 v t\r\nma k1 M- D9 v\r\nma nokey\r\n"
       "ma nokey N0 J42 v O5 k\r\nma nokey2 J42 v\r\nma nokey3 N100 J42 v t\r\nma nokey q\r\n"
       "ma nokey4 q O1\r\nma nokey5 N0 q\r\nmn\r\n",
       "HD\r\nVA 1\r\n7\r\nVA 1 t-1\r\n4\r\nVA 1\r\n0\r\nNF\r\nVA 2 O5 knokey\r\n42\r\nNF\r\n"
       "VA 2 t100\r\n42\r\nNF O1\r\nHD\r\nMN\r\n"},
      {"ma_errors_cas_and_ttl_order", "ms s1 3\r\nabc\r\nms k1 1\r\n0\r\n",
       "ma s1\r\nma k1 C99999999 v\r\nma k1 T50 t v\r\nma k1 t T70\r\nma k1 t\r\nma k1 "
       "D18446744073709551615 v\r\n",
       "CLIENT_ERROR cannot increment or decrement non-numeric value\r\nEX\r\nVA 1 t50\r\n1\r\n"
       "HD t50\r\nHD t70\r\nVA 1\r\n2\r\n"},
      {"md_quiet_and_tokens", "ms k1 1\r\n0\r\n", "md k1 q\r\nmd k1\r\nmd k1 q O1 k\r\nmn\r\n",
       "NF\r\nNF O1 kk1\r\nMN\r\n"},
      {"me_debug", "ms foo 2 T100\r\nhi\r\n", "me foo\r\nme nope\r\nme\r\n",
       "ME foo exp=-100 la=0 cas=1 fetch=no cls=0 size=5\r\nEN\r\n"
       "CLIENT_ERROR bad command line format\r\n"},
      {"explicit_cas_E", "",
       "ms e1 2 E12345 c\r\nhi\r\nmg e1 c\r\nms n 1\r\n7\r\nma n E777 c v\r\nmg n c\r\n"
       "md n I E4242 q\r\nmg n c\r\n",
       "HD c1\r\nHD c1\r\nHD\r\nVA 1 c2\r\n8\r\nHD c2\r\nHD c3 X W\r\n"},
      {"errors_keep_the_stream_in_step", "",
       "mg\r\nmg foo x\r\nmg foo v v\r\nms foo 2 Fabc\r\nhi\r\nms foo abc\r\nhi\r\n"
       "ms foo 2\r\nhiX\r\nmd foo x\r\nma foo Mx\r\nmx foo\r\nmg foo O" +
           std::string(32, 'x') + "\r\nmn\r\n",
       "ERROR\r\nCLIENT_ERROR invalid flag\r\nCLIENT_ERROR duplicate flag\r\n"
       "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\nERROR\r\n"
       "CLIENT_ERROR bad data chunk\r\nERROR\r\nCLIENT_ERROR invalid or duplicate flag\r\n"
       "CLIENT_ERROR invalid mode for ma M token\r\nERROR\r\n"
       "CLIENT_ERROR opaque token too long\r\nMN\r\n"},
      {"too_large_is_refused_from_the_line_and_swallowed", "ms big 2\r\nhi\r\n",
       "ms big 1048577 T0\r\n" + big + "\r\nmg big v\r\nmn\r\n",
       "SERVER_ERROR object too large for cache\r\nEN\r\nMN\r\n"},
      {"largest_value_round_trip", "",
       "ms big 1048000\r\n" + std::string(1048000, 'v') + "\r\nmg big s v\r\n",
       "HD\r\nVA 1048000 s1048000\r\n" + std::string(1048000, 'v') + "\r\n"},
  };
}

// One engine per case (building one loads the hwloc topology); each run gets a fresh
// handler and connection and an empty cache (flush, then a second passes).
struct meta_runner {
  explicit meta_runner(const mcase& tc) : tc(tc) {}
  run_result run(std::span<const std::size_t> cuts, std::size_t sink = 0) {
    s.ses.flush(0);
    s.clk.advance(1);
    lcore_counters counters;
    handler h(s.eng, s.ses, handler_config{}, counters);
    connection setup_conn;
    if (!tc.setup.empty()) drive(h, s.ses, setup_conn, tc.setup, {}, h.min_sink_capacity());
    connection c;
    run_result rr = drive(h, s.ses, c, tc.input, cuts, sink == 0 ? h.min_sink_capacity() : sink);
    rr.output = normalize_cas(rr.output);
    return rr;
  }
  const mcase& tc;
  stack s;
};

std::vector<std::size_t> split_points(std::size_t n) {
  std::vector<std::size_t> pts;
  for (std::size_t k = 1; k < n; ++k)
    if (n <= 4096 || k < 400 || k + 64 >= n || k % (n / 100) == 0) pts.push_back(k);
  return pts;
}

class meta_cases : public ::testing::TestWithParam<mcase> {};

TEST_P(meta_cases, whole_and_every_split) {
  const mcase& tc = GetParam();
  meta_runner r(tc);
  const run_result whole = r.run({});
  ASSERT_EQ(whole.output, tc.output) << tc.name;
  EXPECT_FALSE(whole.closed);
  for (const std::size_t k : split_points(tc.input.size())) {
    const std::size_t cut[] = {k};
    ASSERT_EQ(r.run(cut).output, whole.output) << tc.name << " cut at " << k;
  }
  if (tc.input.size() <= 4096) {
    std::vector<std::size_t> cuts;
    for (std::size_t k = 1; k < tc.input.size(); ++k) cuts.push_back(k);
    EXPECT_EQ(r.run(cuts).output, whole.output) << tc.name << " byte by byte";
  }
}

TEST_P(meta_cases, small_sink_backpressure) {
  const mcase& tc = GetParam();
  meta_runner r(tc);
  // Room for the guaranteed minimum and the largest single answer of the case, not more.
  std::size_t largest = 0;
  for (std::size_t i = 0; i < tc.output.size();) {
    std::size_t e = tc.output.find("\r\n", i);
    largest = std::max(largest, e - i + 2);
    i = e + 2;
  }
  const std::size_t sink = kTextSmallResponseMax + meta::kLineMax + largest;
  EXPECT_EQ(r.run({}, sink).output, tc.output) << tc.name;
}

INSTANTIATE_TEST_SUITE_P(all, meta_cases, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// memcached's counters for meta work: mg counts gets (touches with T), ms sets, md
// deletes, ma incr/decr; cmd_meta counts only me (memcached 1.6.18 does the same).
TEST(meta_counters, as_memcached_counts_them) {
  stack s;
  s.run(
      "ms a 1\r\n1\r\nmg a v\r\nmg nope v\r\nmg a T10\r\nms a 1 C1\r\n2\r\nma a\r\nma nope\r\n"
      "ma a MD\r\nmd a\r\nmd a\r\nme a\r\nmn\r\n");
  counter_totals t;
  t.accumulate(s.counters);
  EXPECT_EQ(t.cmd_get, 2u);
  EXPECT_EQ(t.get_hits, 1u);
  EXPECT_EQ(t.get_misses, 1u);
  EXPECT_EQ(t.cmd_touch, 1u);
  EXPECT_EQ(t.touch_hits, 1u);
  EXPECT_EQ(t.cmd_set, 2u);
  EXPECT_EQ(t.cas_badval + t.cas_hits, 1u);
  EXPECT_EQ(t.incr_hits, 1u);
  EXPECT_EQ(t.incr_misses, 1u);
  EXPECT_EQ(t.decr_hits, 1u);
  EXPECT_EQ(t.delete_hits, 1u);
  EXPECT_EQ(t.delete_misses, 1u);
  EXPECT_EQ(t.cmd_meta, 1u);
}

// The sink a handler asks for holds the largest mg answer (a base64 key, every flag,
// the largest value), so an mg never waits for room an empty sink cannot give.
TEST(meta_sink, min_capacity_holds_the_largest_mg_answer) {
  stack s;
  EXPECT_GE(s.h.min_sink_capacity(), meta::max_response(1u << 20));
}

}  // namespace
}  // namespace anvil::proto::testing
