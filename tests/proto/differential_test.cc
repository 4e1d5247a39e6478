// Differential test: the same request streams go to a real memcached (Debian's
// /usr/bin/memcached, started here on loopback in binary mode, killed by its PID) and
// to proto::handler over a real cache engine; the responses are compared field by
// field: opcode, status, opaque, key, extras, value, and CAS as equality relations
// (each distinct CAS replaced by its order of first appearance). Version values and
// stat names/values are excluded. Whether the connection was closed is compared too.
//
// Intentional differences (also in docs/protocol.md), kept out of these streams and
// covered by the unit tables instead:
//  - unknown opcodes with a key or extras: memcached skips bodylen bytes *after* the
//    key and extras (over-skip by keylen + extlen); we skip exactly the packet;
//  - Touch/GAT/Stat trailing body bytes: memcached parses them as the next packet; we
//    treat them as part of the packet (Stat: ignored; Touch/GAT: length-capped);
//  - the E2BIG boundary: memcached's depends on slab overhead; ours on the engine's
//    item size (streams use values far past both);
//  - stat names beyond the common set, values, `stats items/slabs` (per partition,
//    not per slab class), `stats detail dump` (per lcore);
//  - errors are answered from the header alone, before a refused body arrives;
//  - incr/decr that shortens a number: memcached rewrites in place and pads with
//    trailing spaces ("100" decr 91 reads back "9  "); the engine stores "9". The
//    comparison strips such padding from memcached's digits-then-spaces values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/proto/differential_harness.h"
#include "tests/proto/driver.h"
#include "tests/proto/wire_util.h"

namespace anvil::proto::testing {
namespace {

using anvil::test::memcached_process;

constexpr std::uint32_t kSentinel = 0xfeedface;

struct wire_run {
  std::vector<response> responses;
  bool closed = false;
};

bool has_sentinel(const std::vector<response>& rs) {
  return std::any_of(rs.begin(), rs.end(), [](const response& r) {
    return r.opcode == op::noop && r.opaque == kSentinel;
  });
}

// Sends the stream on a fresh connection; reads until the sentinel NOOP answer, EOF
// or 3 s of silence.
wire_run run_memcached(int port, const std::string& stream) {
  const memcached_answer a = exchange(
      port, stream, [](std::string_view got) { return has_sentinel(decode_responses(got)); });
  return {decode_responses(a.bytes), a.closed};
}

// Replaces each distinct non-zero CAS by its order of first appearance.
void normalize(std::vector<response>& rs) {
  std::vector<std::uint64_t> seen;
  for (response& r : rs) {
    if (r.cas == 0) continue;
    auto it = std::find(seen.begin(), seen.end(), r.cas);
    if (it == seen.end()) it = seen.insert(seen.end(), r.cas);
    r.cas = static_cast<std::uint64_t>(it - seen.begin()) + 1;
  }
}

// Stat packets that carry a name are dropped (names and values are excluded); the
// terminator and any error stay. Version values are blanked.
void exclude_volatile(std::vector<response>& rs) {
  std::erase_if(rs, [](const response& r) {
    return r.opcode == op::stat && r.status == 0 && !r.key.empty() && r.key != "detailed";
  });
  for (response& r : rs) {
    if (r.opcode == op::version && r.status == 0) r.value = "<version>";
    if (r.opcode == op::stat && r.key == "detailed") r.value = "<detail>";
  }
}

std::string show(const response& r) {
  std::string v = r.value.substr(0, 60);
  for (char& c : v) {
    if (c < 32 || c > 126) c = '.';
  }
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "op=%02x st=%04x opq=%08x cas#%llu klen=%zu ext=%zu val[%zu]=", r.opcode, r.status,
                r.opaque, static_cast<unsigned long long>(r.cas), r.key.size(), r.extras.size(),
                r.value.size());
  return buf + v + " key=" + r.key.substr(0, 40);
}

struct scenario {
  const char* name;
  std::string stream;
  bool closes = false;  // the stream ends the connection (no sentinel answer expected)
};

std::string se(std::uint32_t f = 0, std::uint32_t e = 0) { return be32s(f) + be32s(e); }

std::vector<scenario> scenarios() {
  std::vector<scenario> v;
  // Basic storage and retrieval, every quiet variant, opaque echo.
  v.push_back({"storage_and_get",
               store_req(op::set, "d:a", "hello", 42, 0, 0, 1) + get_req(op::get, "d:a", 2) +
                   get_req(op::getk, "d:a", 3) + get_req(op::getq, "d:a", 4) +
                   get_req(op::getkq, "d:a", 5) + get_req(op::get, "d:none", 6) +
                   get_req(op::getk, "d:none", 7) + get_req(op::getq, "d:none", 8) +
                   get_req(op::getkq, "d:none", 9) + store_req(op::add, "d:a", "x", 0, 0, 0, 10) +
                   store_req(op::addq, "d:a", "x", 0, 0, 0, 11) +
                   store_req(op::add, "d:b", "bee", 1, 0, 0, 12) +
                   store_req(op::replace, "d:none", "x", 0, 0, 0, 13) +
                   store_req(op::replaceq, "d:none", "x", 0, 0, 0, 14) +
                   store_req(op::replace, "d:b", "B", 2, 0, 0, 15) +
                   store_req(op::setq, "d:c", "sea", 3, 0, 0, 16) + get_req(op::getk, "d:c", 17) +
                   get_req(op::get, "d:b", 18)});
  v.push_back(
      {"append_prepend",
       store_req(op::set, "d:ap", "mid", 9) + store_req(op::append, "d:ap", ">>") +
           store_req(op::prepend, "d:ap", "<<") + store_req(op::appendq, "d:ap", "!") +
           store_req(op::prependq, "d:ap", "?") + get_req(op::get, "d:ap") +
           store_req(op::append, "d:apnone", "x") + store_req(op::prepend, "d:apnone", "x") +
           store_req(op::appendq, "d:apnone", "x") + store_req(op::prependq, "d:apnone", "x")});
  // A 32-key GETKQ batch with hits and misses, flushed by NOOP (memtier's pattern).
  {
    std::string s;
    for (int i = 0; i < 32; i += 2)
      s += store_req(op::setq, "d:k" + std::to_string(i),
                     std::string(static_cast<std::size_t>(i) * 7, 'v'), i);
    for (int i = 0; i < 32; ++i)
      s += get_req(op::getkq, "d:k" + std::to_string(i), static_cast<std::uint32_t>(i));
    s += simple_req(op::noop, 99);
    for (int i = 0; i < 32; ++i)
      s += get_req(op::getq, "d:k" + std::to_string(i), static_cast<std::uint32_t>(100 + i));
    v.push_back({"quiet_batches", s});
  }
  // memtier sends opaque 0 everywhere and relies on order.
  {
    std::string s;
    for (int i = 0; i < 20; ++i) {
      s += store_req(op::set, "d:m" + std::to_string(i % 5), std::to_string(i));
      s += get_req(op::get, "d:m" + std::to_string((i + 2) % 5));
    }
    v.push_back({"opaque_zero_order", s});
  }
  // CAS flows: the first set's CAS is 1 relative to nothing we know, so use the
  // relations: a stale CAS, a missing key with CAS, delete with a wrong CAS.
  v.push_back({"cas_flows", store_req(op::set, "d:cas", "v1") + get_req(op::get, "d:cas") +
                                store_req(op::set, "d:cas", "v2", 0, 0, 1) +
                                store_req(op::set, "d:casnone", "v", 0, 0, 12345) +
                                store_req(op::add, "d:cas", "v", 0, 0, 7) +
                                store_req(op::replace, "d:casnone", "v", 0, 0, 7) +
                                encode({.opcode = op::del, .key = "d:cas", .cas = 3}) +
                                arith_req(op::incr, "d:cas", 1, 0, 0, 5) +
                                get_req(op::get, "d:cas") + get_req(op::del, "d:cas") +
                                get_req(op::del, "d:cas") + get_req(op::delq, "d:cas") +
                                store_req(op::setq, "d:cas2", "v") + get_req(op::delq, "d:cas2") +
                                get_req(op::get, "d:cas2")});
  // incr/decr edges.
  v.push_back({"arith_edges",
               arith_req(op::incr, "d:n", 5, 100, 0) + arith_req(op::incr, "d:n", 5, 100, 0) +
                   arith_req(op::decr, "d:n", 1000, 0, 0) + arith_req(op::incrq, "d:n", 7, 0, 0) +
                   get_req(op::get, "d:n") + arith_req(op::incr, "d:nx", 1, 5, 0xffffffff) +
                   arith_req(op::decrq, "d:nx", 1, 5, 0xffffffff) +
                   store_req(op::set, "d:max", "18446744073709551615") +
                   arith_req(op::incr, "d:max", 1, 0, 0) + get_req(op::get, "d:max") +
                   store_req(op::set, "d:txt", "abc") + arith_req(op::incr, "d:txt", 1, 0, 0) +
                   arith_req(op::decr, "d:txt", 1, 0, 0) + get_req(op::get, "d:txt") +
                   store_req(op::set, "d:neg", "-1") + arith_req(op::incr, "d:neg", 1, 0, 0) +
                   store_req(op::set, "d:huge", "18446744073709551616") +
                   arith_req(op::incr, "d:huge", 1, 0, 0) + store_req(op::set, "d:nine", "99") +
                   arith_req(op::incr, "d:nine", 1, 0, 0) + get_req(op::get, "d:nine") +
                   arith_req(op::decr, "d:nine", 91, 0, 0) + get_req(op::get, "d:nine")});
  v.push_back(
      {"touch_gat", store_req(op::set, "d:t", "tv", 5, 100) + touch_req(op::touch, "d:t", 200) +
                        touch_req(op::gat, "d:t", 200) + touch_req(op::gatk, "d:t", 200) +
                        touch_req(op::gatq, "d:t", 200) + touch_req(op::gatkq, "d:t", 200) +
                        touch_req(op::touch, "d:tnone", 1) + touch_req(op::gat, "d:tnone", 1) +
                        touch_req(op::gatk, "d:tnone", 1) + touch_req(op::gatq, "d:tnone", 1) +
                        touch_req(op::gatkq, "d:tnone", 1)});
  v.push_back({"too_large", store_req(op::set, "d:big", "small") +
                                store_req(op::set, "d:big", std::string(2u << 20, 'x')) +
                                get_req(op::get, "d:big") + store_req(op::set, "d:big2", "small") +
                                store_req(op::add, "d:big2", std::string(2u << 20, 'x')) +
                                get_req(op::get, "d:big2") +
                                store_req(op::append, "d:big2", std::string(2u << 20, 'x')) +
                                get_req(op::get, "d:big2")});
  v.push_back({"empty_and_binary_values",
               store_req(op::set, "d:e", "") + get_req(op::getk, "d:e") +
                   arith_req(op::incr, "d:e", 1, 0, 0) +
                   store_req(op::set, "d:bin", std::string("\0\x80\xff\r\n", 5), 0xffffffff) +
                   get_req(op::get, "d:bin") + store_req(op::append, "d:e", "7") +
                   arith_req(op::incr, "d:e", 1, 0, 0) + get_req(op::get, "d:e")});
  v.push_back({"misc", simple_req(op::noop, 1) + simple_req(op::version, 2) +
                           encode({.opcode = op::flush, .extras = be32s(0)}) +
                           simple_req(op::flushq) + get_req(op::stat, "bogus") +
                           get_req(op::stat, "detail bogus") + get_req(op::stat, "sizes") +
                           get_req(op::stat, "") + get_req(op::stat, "settings") +
                           get_req(op::stat, "detail on") + get_req(op::stat, "detail off") +
                           get_req(op::stat, "detail dump") + get_req(op::stat, "reset")});
  v.push_back(
      {"unknown_and_sasl_off",
       simple_req(0x55, 1) + encode({.opcode = 0xf0, .value = "some body", .opaque = 2}) +
           simple_req(op::verbosity, 3) + simple_req(op::sasl_list_mechs, 4) +
           encode({.opcode = op::sasl_auth, .key = "PLAIN", .value = std::string("\0u\0p", 4)}) +
           encode({.opcode = op::sasl_step, .key = "PLAIN", .value = "x"}) +
           simple_req(op::noop, 5)});
  // Errors that close the connection.
  v.push_back(
      {"bad_magic", simple_req(op::noop) + encode({.opcode = op::noop, .magic = 0x81}), true});
  v.push_back({"keylen_over_bodylen",
               simple_req(op::noop) + encode({.opcode = op::get, .key = "abc", .bodylen = 2}) + "x",
               true});
  v.push_back({"key_251", get_req(op::get, std::string(251, 'k')), true});
  v.push_back({"key_250", get_req(op::getk, std::string(250, 'k'))});
  v.push_back({"get_extras", encode({.opcode = op::get, .key = "a", .extras = "1234"}), true});
  v.push_back({"get_no_key", encode({.opcode = op::get}), true});
  v.push_back({"set_extras_4",
               encode({.opcode = op::set, .key = "a", .extras = be32s(0), .value = "v"}), true});
  v.push_back({"set_no_key", encode({.opcode = op::set, .extras = se(), .value = "v"}), true});
  v.push_back({"delete_body", encode({.opcode = op::del, .key = "a", .extras = "1234"}), true});
  v.push_back({"incr_short", encode({.opcode = op::incr, .key = "a", .extras = be64s(1)}), true});
  v.push_back({"append_extras",
               encode({.opcode = op::append, .key = "a", .extras = "1234", .value = "x"}), true});
  v.push_back({"noop_body", encode({.opcode = op::noop, .key = "x"}), true});
  v.push_back({"version_body", encode({.opcode = op::version, .value = "x"}), true});
  v.push_back({"flush_bad", encode({.opcode = op::flush, .extras = "12"}), true});
  v.push_back({"touch_no_extras", get_req(op::touch, "a"), true});
  v.push_back({"stat_extras", encode({.opcode = op::stat, .extras = "1234"}), true});
  v.push_back({"sasl_step_no_key", simple_req(op::sasl_step), true});
  v.push_back(
      {"quit", simple_req(op::noop, 1) + simple_req(op::quit, 2) + simple_req(op::noop, 3), true});
  // An unknown opcode whose body no command could have: memcached 1.6 answers 0x81 and,
  // its swallow count overflowing, parses the body as the next packet (bad magic:
  // closed); Anvil answers and closes from the header.
  v.push_back({"unknown_body_4g",
               encode({.opcode = 0x55, .opaque = 1, .bodylen = 0xffffffffu}) + std::string(40, 'z'),
               true});
  v.push_back({"quitq",
               simple_req(op::noop, 1) + simple_req(op::quitq, 2) + simple_req(op::noop, 3), true});
  return v;
}

class differential : public memcached_suite<differential> {
 protected:
  static void SetUpTestSuite() { start_memcached({"-B", "binary"}); }
};

TEST_F(differential, same_responses_as_memcached) {
  if (mc() == nullptr) GTEST_SKIP() << memcached_process::kPath << " not available";
  stack ours({}, 64u << 20);
  int compared = 0;
  for (const scenario& sc : scenarios()) {
    SCOPED_TRACE(sc.name);
    const std::string stream = sc.stream + (sc.closes ? "" : simple_req(op::noop, kSentinel));
    wire_run theirs = run_memcached(mc()->port(), stream);
    lcore_counters counters;
    handler h(ours.eng, ours.ses, {}, counters);
    connection c;
    const run_result rr = drive(h, ours.ses, c, stream, {}, h.min_sink_capacity());
    wire_run mine{decode_responses(rr.output), rr.closed};
    for (response& r : theirs.responses) {
      const std::size_t end = r.value.find_last_not_of(' ');
      if (end != std::string::npos && end + 1 < r.value.size() &&
          std::all_of(r.value.begin(), r.value.begin() + static_cast<std::ptrdiff_t>(end) + 1,
                      [](char ch) { return ch >= '0' && ch <= '9'; })) {
        r.value.resize(end + 1);  // memcached's in-place incr/decr padding
      }
    }
    for (wire_run* w : {&theirs, &mine}) {
      normalize(w->responses);
      exclude_volatile(w->responses);
    }
    EXPECT_EQ(mine.closed, theirs.closed) << "connection closed";
    EXPECT_EQ(mine.closed, sc.closes);
    const std::size_t n = std::max(mine.responses.size(), theirs.responses.size());
    for (std::size_t i = 0; i < n; ++i) {
      const std::string a = i < mine.responses.size() ? show(mine.responses[i]) : "<none>";
      const std::string b = i < theirs.responses.size() ? show(theirs.responses[i]) : "<none>";
      if (a != b || (i < mine.responses.size() && i < theirs.responses.size() &&
                     (mine.responses[i].value != theirs.responses[i].value ||
                      mine.responses[i].key != theirs.responses[i].key ||
                      mine.responses[i].extras != theirs.responses[i].extras))) {
        ADD_FAILURE() << sc.name << " response " << i << "\n  anvil:     " << a
                      << "\n  memcached: " << b;
      }
    }
    compared += static_cast<int>(n);
  }
  RecordProperty("responses_compared", compared);
  std::printf("compared %d responses over %zu streams\n", compared, scenarios().size());
}

using stat_map = std::map<std::string, std::string>;

stat_map to_map(const std::vector<response>& rs) {
  stat_map m;
  for (const response& r : rs)
    if (r.opcode == op::stat && r.status == 0 && !r.key.empty()) m[r.key] = r.value;
  return m;
}

stat_map memcached_stats(int port, const std::string& sub) {
  return to_map(
      run_memcached(port, get_req(op::stat, sub) + simple_req(op::noop, kSentinel)).responses);
}

stat_map anvil_stats(handler& h, cache::session& ses, const std::string& sub) {
  connection c;
  return to_map(
      decode_responses(drive(h, ses, c, get_req(op::stat, sub), {}, h.min_sink_capacity()).output));
}

// The same stream changes the same counters: an INCR/DECR that creates the key is
// neither hit nor miss (one new item), a miss with exptime 0xffffffff is a miss, a hit
// a hit; gets, deletes, touches and CAS outcomes likewise.
TEST_F(differential, counters_move_as_memcached) {
  if (mc() == nullptr) GTEST_SKIP() << memcached_process::kPath << " not available";
  const std::string stream =
      arith_req(op::incr, "c:new", 1, 10, 0) + arith_req(op::incr, "c:new", 1, 10, 0) +
      arith_req(op::decr, "c:new2", 1, 10, 0) + arith_req(op::decrq, "c:new3", 1, 10, 0) +
      arith_req(op::incr, "c:none", 1, 10, 0xffffffff) +
      arith_req(op::decr, "c:none", 1, 10, 0xffffffff) + arith_req(op::decr, "c:new", 1, 0, 0) +
      store_req(op::set, "c:s", "v") + get_req(op::get, "c:s") + get_req(op::get, "c:x") +
      touch_req(op::touch, "c:s", 100) + touch_req(op::touch, "c:x", 100) +
      store_req(op::set, "c:s", "w", 0, 0, 1) + get_req(op::del, "c:s") + get_req(op::del, "c:s") +
      simple_req(op::noop, kSentinel);
  const char* names[] = {"incr_hits",   "incr_misses", "decr_hits",   "decr_misses",
                         "total_items", "curr_items",  "cmd_set",     "cmd_get",
                         "get_hits",    "get_misses",  "touch_hits",  "touch_misses",
                         "cmd_touch",   "cas_badval",  "delete_hits", "delete_misses"};
  const stat_map before = memcached_stats(mc()->port(), "");
  run_memcached(mc()->port(), stream);
  const stat_map after = memcached_stats(mc()->port(), "");
  stack ours({}, 64u << 20);
  lcore_counters counters;
  handler h(ours.eng, ours.ses, {}, counters);
  const stat_map ours_before = anvil_stats(h, ours.ses, "");
  connection c;
  drive(h, ours.ses, c, stream, {}, h.min_sink_capacity());
  const stat_map ours_after = anvil_stats(h, ours.ses, "");
  for (const char* n : names) {
    ASSERT_TRUE(after.count(n) && ours_after.count(n)) << n;
    const long theirs = std::stol(after.at(n)) - std::stol(before.at(n));
    const long mine = std::stol(ours_after.at(n)) - std::stol(ours_before.at(n));
    EXPECT_EQ(mine, theirs) << n;
  }
}

// `stats settings` and `stats` against a memcached started with the same -m -c -p -U
// -t -I: every key Anvil reports (but its anvil_ ones) is memcached's; every memcached
// key Anvil does not report is in the documented left-out list (docs/protocol.md); the
// values agree except for the documented differences.
class differential_settings : public ::testing::Test {
 protected:
  static constexpr std::uint64_t kMemMb = 48, kItemMax = 2u << 20;
  static constexpr int kConns = 321, kThreads = 2;
};

bool left_out_setting(const std::string& k) {
  static const std::set<std::string> keys = {"oldest",
                                             "umask",
                                             "growth_factor",
                                             "chunk_size",
                                             "reqs_per_event",
                                             "hashpower_init",
                                             "slab_automove_ratio",
                                             "slab_automove_window",
                                             "slab_chunk_max",
                                             "lru_crawler_sleep",
                                             "lru_crawler_tocrawl",
                                             "tail_repair_time",
                                             "hot_lru_pct",
                                             "warm_lru_pct",
                                             "hot_max_factor",
                                             "warm_max_factor",
                                             "temporary_ttl",
                                             "watcher_logbuf_size",
                                             "worker_logbuf_size",
                                             "read_buf_mem_limit",
                                             "inline_ascii_response",
                                             "slab_automove_freeratio",
                                             "num_napi_ids"};
  return keys.count(k) > 0 || k.starts_with("ext_") ||
         (k.starts_with("ssl_") && k != "ssl_enabled");
}

bool left_out_general(const std::string& k) {
  static const std::set<std::string> keys = {"libevent",
                                             "reserved_fds",
                                             "slabs_moved",
                                             "lru_maintainer_juggles",
                                             "unexpected_napi_ids",
                                             "round_robin_fallback",
                                             "slab_global_page_pool",
                                             "expired_unfetched",
                                             "evicted_unfetched",
                                             "evicted_active",
                                             "lrutail_reflocked",
                                             "moves_to_cold",
                                             "moves_to_warm",
                                             "moves_within_lru",
                                             "direct_reclaims",
                                             "lru_bumps_dropped"};
  return keys.count(k) > 0 || k.starts_with("response_obj_") || k.starts_with("read_buf_") ||
         k.starts_with("slab_reassign_") || k.starts_with("lru_crawler_") ||
         k.starts_with("log_") || k.starts_with("crawler_");
}

TEST_F(differential_settings, key_sets_and_values_for_the_same_flags) {
  memcached_process mc;
  const std::string m = std::to_string(kMemMb), c = std::to_string(kConns),
                    t = std::to_string(kThreads), i = std::to_string(kItemMax);
  const int udp = test::memcached_process::free_port(SOCK_DGRAM);
  const std::string u = std::to_string(udp);
  if (!mc.start({"-B", "binary", "-m", m.c_str(), "-c", c.c_str(), "-t", t.c_str(), "-I", i.c_str(),
                 "-U", u.c_str()}))
    GTEST_SKIP() << memcached_process::kPath << " not available";
  const stat_map theirs = memcached_stats(mc.port(), "settings");
  const stat_map theirs_general = memcached_stats(mc.port(), "");
  ASSERT_FALSE(theirs.empty());

  cache::clock clk(1'700'000'000);
  cache::engine eng(cache::engine_config{.memory_limit_bytes = kMemMb << 20,
                                         .max_item_size = kItemMax,
                                         .partitions = 2,
                                         .numa_bind = false,
                                         .time = &clk});
  cache::session ses = eng.open_session();
  handler_config hc;
  hc.protocols = binding::binary;  // as the memcached it is compared with (-B binary)
  hc.settings = server_settings{.tcp_port = static_cast<std::uint16_t>(mc.port()),
                                .udp_port = static_cast<std::uint16_t>(udp),
                                .inter = "127.0.0.1",
                                .max_connections = kConns,
                                .threads = kThreads};
  lcore_counters counters;
  handler h(eng, ses, hc, counters);
  const stat_map mine = anvil_stats(h, ses, "settings");
  const stat_map mine_general = anvil_stats(h, ses, "");

  // Values that differ on purpose (docs/protocol.md): machinery Anvil lacks is off,
  // the SYN backlog is not a listen() backlog, the hash is XXH3.
  const std::set<std::string> differs = {"tcp_backlog",           "slab_reassign", "slab_automove",
                                         "lru_crawler",           "dump_enabled",  "hash_algorithm",
                                         "lru_maintainer_thread", "lru_segmented"};
  for (const auto& [k, v] : mine) {
    if (k.starts_with("anvil_")) continue;
    ASSERT_TRUE(theirs.count(k)) << "not a memcached setting: " << k;
    if (!differs.count(k)) {
      EXPECT_EQ(v, theirs.at(k)) << k;
    }
  }
  for (const auto& [k, v] : theirs)
    EXPECT_TRUE(mine.count(k) || left_out_setting(k)) << "memcached setting missing: " << k;
  EXPECT_EQ(theirs.at("maxconns"), c) << "memcached took the flags";
  EXPECT_EQ(theirs.at("udpport"), u);
  EXPECT_GE(mine.size(), 30u);
  for (const char* k : {"maxbytes", "maxconns", "tcpport", "udpport", "num_threads",
                        "num_threads_per_udp", "item_size_max", "inter"})
    EXPECT_EQ(mine.at(k), theirs.at(k)) << k;

  for (const auto& [k, v] : mine_general) {
    if (k.starts_with("anvil_")) continue;
    EXPECT_TRUE(theirs_general.count(k)) << "not a memcached stat: " << k;
  }
  for (const auto& [k, v] : theirs_general)
    EXPECT_TRUE(mine_general.count(k) || left_out_general(k)) << "memcached stat missing: " << k;
  for (const char* k : {"limit_maxbytes", "pointer_size", "accepting_conns", "listen_disabled_num",
                        "conn_yields", "malloc_fails", "cmd_meta"})
    EXPECT_EQ(mine_general.at(k), theirs_general.at(k)) << k;
}

}  // namespace
}  // namespace anvil::proto::testing
