// Handler behaviour that a static table cannot express: CAS values learned from one
// response and used in the next, SASL, stats names and counters, the mutation hook,
// expiry through the injected clock, and the backpressure/need_more contract.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "tests/proto/driver.h"
#include "tests/proto/wire_util.h"

namespace anvil::proto::testing {
namespace {

std::vector<response> roundtrip(stack& s, const std::string& in) {
  const run_result rr = s.run(in);
  std::string rest;
  auto out = decode_responses(rr.output, &rest);
  EXPECT_TRUE(rest.empty());
  return out;
}

response one(stack& s, const std::string& in) {
  auto r = roundtrip(s, in);
  EXPECT_EQ(r.size(), 1u);
  return r.empty() ? response{} : r[0];
}

TEST(cas_flow, set_get_cas_set) {
  stack s;
  const response set1 = one(s, store_req(op::set, "k", "v1"));
  ASSERT_EQ(set1.status, 0);
  const response get1 = one(s, get_req(op::get, "k"));
  EXPECT_EQ(get1.cas, set1.cas);
  // The right CAS stores and returns a new CAS; the old one is then stale.
  const response set2 = one(s, store_req(op::set, "k", "v2", 0, 0, set1.cas));
  EXPECT_EQ(set2.status, 0);
  EXPECT_NE(set2.cas, set1.cas);
  EXPECT_EQ(one(s, store_req(op::set, "k", "v3", 0, 0, set1.cas)).status, 0x02);
  EXPECT_EQ(one(s, store_req(op::replace, "k", "v3", 0, 0, set1.cas)).status, 0x02);
  const response app = one(s, store_req(op::append, "k", "+", 0, 0, set2.cas));
  EXPECT_EQ(app.status, 0);
  EXPECT_NE(app.cas, set2.cas);
  const response inc_bad = one(s, arith_req(op::incr, "k", 1, 0, 0, set2.cas));
  EXPECT_EQ(inc_bad.status, 0x02);
  EXPECT_EQ(one(s, encode({.opcode = op::del, .key = "k", .cas = set2.cas})).status, 0x02);
  const response del = one(s, encode({.opcode = op::del, .key = "k", .cas = app.cas}));
  EXPECT_EQ(del.status, 0);
  EXPECT_EQ(one(s, get_req(op::get, "k")).status, 0x01);
  EXPECT_EQ(s.counters.cas_hits.load(), 2u);
  EXPECT_GE(s.counters.cas_badval.load(), 2u);
}

TEST(cas_flow, incr_with_cas_and_every_mutation_new_cas) {
  stack s;
  const response a = one(s, arith_req(op::incr, "n", 1, 10, 0));
  const response b = one(s, arith_req(op::incr, "n", 1, 0, 0, a.cas));
  EXPECT_EQ(b.status, 0);
  EXPECT_EQ(b.value, be64s(11));
  EXPECT_NE(b.cas, a.cas);
  const response t = one(s, touch_req(op::touch, "n", 100));
  EXPECT_EQ(t.status, 0);
  EXPECT_EQ(t.cas, b.cas) << "touch reports the item's CAS";
}

TEST(expiry, relative_absolute_and_touch) {
  stack s;
  one(s, store_req(op::set, "r", "v", 0, 10));
  one(s, store_req(op::set, "abs", "v", 0, s.clk.now() + 5));
  one(s, store_req(op::set, "past", "v", 0, s.clk.now() - 5 - cache::kMaxRelativeExptime));
  EXPECT_EQ(one(s, get_req(op::get, "past")).status, 0x01);
  s.clk.advance(6);
  EXPECT_EQ(one(s, get_req(op::get, "r")).status, 0);
  EXPECT_EQ(one(s, get_req(op::get, "abs")).status, 0x01);
  EXPECT_EQ(one(s, touch_req(op::touch, "r", 100)).status, 0);
  s.clk.advance(50);
  EXPECT_EQ(one(s, get_req(op::get, "r")).status, 0);
  s.clk.advance(100);
  EXPECT_EQ(one(s, get_req(op::get, "r")).status, 0x01);
}

TEST(flush, delayed_flush_takes_effect_later) {
  stack s;
  one(s, store_req(op::set, "a", "v"));
  EXPECT_EQ(one(s, encode({.opcode = op::flush, .extras = be32s(10)})).status, 0);
  EXPECT_EQ(one(s, get_req(op::get, "a")).status, 0);
  s.clk.advance(11);
  EXPECT_EQ(one(s, get_req(op::get, "a")).status, 0x01);
  EXPECT_EQ(s.counters.cmd_flush.load(), 1u);
}

TEST(flush, disabled_gives_auth_error) {
  stack s(handler_config{.flush_enabled = false});
  const response r = one(s, simple_req(op::flush));
  EXPECT_EQ(r.status, 0x20);
  EXPECT_EQ(r.value, "Auth failure.");
}

std::map<std::string, std::string> stats_of(stack& s, const std::string& sub = "") {
  std::map<std::string, std::string> m;
  const auto rs = roundtrip(s, get_req(op::stat, sub, 77));
  EXPECT_FALSE(rs.empty());
  for (std::size_t i = 0; i < rs.size(); ++i) {
    EXPECT_EQ(rs[i].opaque, 77u);
    EXPECT_EQ(rs[i].status, 0);
    if (i + 1 == rs.size()) {
      EXPECT_TRUE(rs[i].key.empty() && rs[i].value.empty()) << "terminator";
    } else {
      m[rs[i].key] = rs[i].value;
    }
  }
  return m;
}

TEST(stats, memcached_names_and_counts) {
  stack s;
  roundtrip(s, store_req(op::set, "a", "12345") + get_req(op::get, "a") + get_req(op::get, "b") +
                   get_req(op::getq, "b") + touch_req(op::touch, "a", 5) + get_req(op::del, "zz") +
                   arith_req(op::incr, "zz", 1, 0, 0xffffffff));
  auto m = stats_of(s);
  for (const char* name : {"pid",
                           "uptime",
                           "time",
                           "version",
                           "curr_connections",
                           "total_connections",
                           "cmd_get",
                           "cmd_set",
                           "cmd_flush",
                           "cmd_touch",
                           "get_hits",
                           "get_misses",
                           "delete_misses",
                           "delete_hits",
                           "incr_misses",
                           "incr_hits",
                           "decr_misses",
                           "decr_hits",
                           "cas_misses",
                           "cas_hits",
                           "cas_badval",
                           "touch_hits",
                           "touch_misses",
                           "auth_cmds",
                           "auth_errors",
                           "bytes_read",
                           "bytes_written",
                           "limit_maxbytes",
                           "threads",
                           "bytes",
                           "curr_items",
                           "total_items",
                           "evictions",
                           "reclaimed",
                           "hash_bytes",
                           "rejected_connections",
                           "anvil_index_slots",
                           "anvil_index_fill_pct"}) {
    EXPECT_TRUE(m.count(name)) << name;
  }
  EXPECT_EQ(m["cmd_get"], "3");
  EXPECT_EQ(m["get_hits"], "1");
  EXPECT_EQ(m["get_misses"], "2");
  EXPECT_EQ(m["cmd_set"], "1");
  EXPECT_EQ(m["curr_items"], "1");
  EXPECT_EQ(m["total_items"], "1");
  EXPECT_EQ(m["touch_hits"], "1");
  EXPECT_EQ(m["delete_misses"], "1");
  EXPECT_EQ(m["incr_misses"], "1");
  EXPECT_EQ(m["limit_maxbytes"], std::to_string(8u << 20));
  EXPECT_EQ(m["version"], "1.6.18-anvil");
  EXPECT_NE(m["bytes"], "0");
  const auto slots = std::stoull(m["anvil_index_slots"]);
  EXPECT_GT(slots, 0u);
  EXPECT_EQ(std::stoull(m["hash_bytes"]), slots / 7 * 64) << "7 slots per 64-byte bucket";
  EXPECT_EQ(m["anvil_index_fill_pct"], std::to_string(100 / slots));
  // stats reset zeroes the counters but keeps the items
  roundtrip(s, get_req(op::stat, "reset"));
  m = stats_of(s);
  EXPECT_EQ(m["cmd_get"], "0");
  EXPECT_EQ(m["curr_items"], "1");
}

TEST(stats, sub_commands) {
  stack s;
  one(s, store_req(op::set, "a", "v"));
  auto settings = stats_of(s, "settings");
  EXPECT_EQ(settings["maxbytes"], std::to_string(8u << 20));
  EXPECT_EQ(settings["item_size_max"], std::to_string(1u << 20));
  auto items = stats_of(s, "items");
  EXPECT_EQ(items["items:0:number"], "1");
  auto slabs = stats_of(s, "slabs");
  EXPECT_TRUE(slabs.count("active_slabs"));
}

// memcached counts an INCR/DECR that creates the key as neither hit nor miss, but as
// a new item; one with exptime 0xffffffff on a missing key is a miss.
TEST(stats, incr_decr_that_creates_counts_as_memcached) {
  stack s;
  EXPECT_EQ(one(s, arith_req(op::incr, "n", 1, 10, 0)).value, be64s(10));
  EXPECT_EQ(s.counters.incr_hits.load(), 0u);
  EXPECT_EQ(s.counters.incr_misses.load(), 0u);
  EXPECT_EQ(s.counters.total_items.load(), 1u);
  EXPECT_EQ(one(s, arith_req(op::incr, "n", 1, 10, 0)).value, be64s(11));
  EXPECT_EQ(s.counters.incr_hits.load(), 1u);
  EXPECT_EQ(s.counters.total_items.load(), 1u);
  one(s, arith_req(op::decrq, "d", 1, 7, 0) + simple_req(op::noop));
  EXPECT_EQ(s.counters.decr_hits.load(), 0u);
  EXPECT_EQ(s.counters.decr_misses.load(), 0u);
  EXPECT_EQ(s.counters.total_items.load(), 2u);
  EXPECT_EQ(one(s, arith_req(op::decr, "none", 1, 7, 0xffffffff)).status, 0x01);
  EXPECT_EQ(s.counters.decr_misses.load(), 1u);
  EXPECT_EQ(s.counters.decr_hits.load(), 0u);
  auto m = stats_of(s);
  EXPECT_EQ(m["incr_hits"], "1");
  EXPECT_EQ(m["incr_misses"], "0");
  EXPECT_EQ(m["total_items"], "2");
}

// The key set of `stats settings`: memcached 1.6's names (docs/protocol.md says which
// are left out and why), values from the engine and the server's settings.
TEST(stats, settings_keys_and_values) {
  handler_config hc;
  hc.settings = server_settings{.tcp_port = 11311,
                                .udp_port = 11312,
                                .inter = "10.1.2.3",
                                .max_connections = 777,
                                .threads = 3,
                                .verbosity = 2,
                                .tcp_backlog = 64,
                                .idle_timeout_s = 0};
  stack s(hc);
  const auto rs = roundtrip(s, get_req(op::stat, "settings"));
  std::vector<std::string> keys;
  for (const auto& r : rs)
    if (!r.key.empty()) keys.push_back(r.key);
  const std::vector<std::string> want = {"maxbytes",
                                         "maxconns",
                                         "tcpport",
                                         "udpport",
                                         "inter",
                                         "verbosity",
                                         "evictions",
                                         "domain_socket",
                                         "shutdown_command",
                                         "num_threads",
                                         "num_threads_per_udp",
                                         "stat_key_prefix",
                                         "detail_enabled",
                                         "cas_enabled",
                                         "tcp_backlog",
                                         "binding_protocol",
                                         "auth_enabled_sasl",
                                         "auth_enabled_ascii",
                                         "item_size_max",
                                         "maxconns_fast",
                                         "slab_reassign",
                                         "slab_automove",
                                         "lru_crawler",
                                         "flush_enabled",
                                         "dump_enabled",
                                         "hash_algorithm",
                                         "lru_maintainer_thread",
                                         "lru_segmented",
                                         "temp_lru",
                                         "idle_timeout",
                                         "track_sizes",
                                         "ssl_enabled",
                                         "memory_file",
                                         "anvil_partitions",
                                         "anvil_sasl_max_failures"};
  EXPECT_EQ(keys, want);
  auto m = stats_of(s, "settings");
  EXPECT_EQ(m["maxbytes"], std::to_string(8u << 20));
  EXPECT_EQ(m["maxconns"], "777");
  EXPECT_EQ(m["tcpport"], "11311");
  EXPECT_EQ(m["udpport"], "11312");
  EXPECT_EQ(m["inter"], "10.1.2.3");
  EXPECT_EQ(m["verbosity"], "2");
  EXPECT_EQ(m["num_threads"], "3");
  EXPECT_EQ(m["num_threads_per_udp"], "3");
  EXPECT_EQ(m["tcp_backlog"], "64");
  EXPECT_EQ(m["item_size_max"], std::to_string(1u << 20));
  EXPECT_EQ(m["auth_enabled_sasl"], "no");
  EXPECT_EQ(m["flush_enabled"], "yes");
  EXPECT_EQ(m["idle_timeout"], "0");
  EXPECT_EQ(m["anvil_sasl_max_failures"], "3");
  // Without a listen address memcached prints NULL; flush off and SASL on show.
  const credentials creds =
      *credentials::parse(credentials::make_line("u", "p", "saltsalt", 1) + "\n", nullptr);
  stack off(handler_config{.sasl = &creds, .flush_enabled = false});
  ASSERT_EQ(
      one(off, encode({.opcode = op::sasl_auth, .key = "PLAIN", .value = std::string("\0u\0p", 4)}))
          .status,
      0);
  m = stats_of(off, "settings");
  EXPECT_EQ(m["inter"], "NULL");
  EXPECT_EQ(m["auth_enabled_sasl"], "yes");
  EXPECT_EQ(m["flush_enabled"], "no");
}

// General stats carry memcached's connection, hash and constant keys, with the
// server's figures where it has them.
TEST(stats, general_keys_from_memcached) {
  stack s;
  auto m = stats_of(s);
  for (const char* k :
       {"rejected_connections", "connection_structures", "cmd_meta", "store_too_large",
        "store_no_memory", "accepting_conns", "listen_disabled_num", "time_in_listen_disabled_us",
        "conn_yields", "hash_power_level", "hash_bytes", "hash_is_expanding", "malloc_fails"})
    EXPECT_TRUE(m.count(k)) << k;
  const cache::partition_stats ps = s.eng.total_stats();
  EXPECT_EQ(m["hash_bytes"], std::to_string(ps.index_bytes));
  const std::uint64_t buckets = ps.index_bytes / 64;
  EXPECT_EQ(std::uint64_t{1} << std::stoull(m["hash_power_level"]), std::bit_floor(buckets));
  EXPECT_EQ(m["accepting_conns"], "1");
  EXPECT_EQ(m["malloc_fails"], "0");
  // store_too_large: a refused SET (from its header) and an append past the limit.
  stack small(handler_config{.max_value = 64});
  EXPECT_EQ(one(small, store_req(op::set, "k", std::string(65, 'x'))).status, 0x03);
  EXPECT_EQ(one(small, store_req(op::set, "k", "v")).status, 0);
  EXPECT_EQ(one(small, get_req(op::stat, "nonexistent")).status, 0x01);
  EXPECT_EQ(stats_of(small)["store_too_large"], "1");
  // Even with the smallest item size the whole general reply fits the sink the handler
  // asks for (a Stat reply is written whole), with room to spare for a longer version.
  const run_result rr = small.run(get_req(op::stat, ""));
  EXPECT_FALSE(rr.closed);
  EXPECT_LT(rr.output.size() * 3 / 2, small.h.min_sink_capacity());
}

struct fake_server {
  static void fill(void* ctx, server_facts& f) {
    auto* self = static_cast<fake_server*>(ctx);
    f.pid = 4242;
    f.curr_connections = 17;
    f.threads = 2;
    f.started_at = self->started;
    f.have_totals = true;
    f.totals.accumulate(*self->a);
    f.totals.accumulate(*self->b);
  }
  static void reset(void* ctx) { static_cast<fake_server*>(ctx)->resets++; }
  std::uint32_t started = 0;
  lcore_counters* a = nullptr;
  lcore_counters* b = nullptr;
  int resets = 0;
};

TEST(stats, facts_provider_sums_lcores) {
  fake_server fs;
  lcore_counters other;
  other.cmd_get.add(100);
  fs.a = &other;
  stack s({}, 8u << 20, facts_provider{&fs, &fake_server::fill, &fake_server::reset});
  fs.b = &s.counters;
  fs.started = s.clk.now() - 30;
  one(s, get_req(op::get, "x"));
  auto m = stats_of(s);
  EXPECT_EQ(m["pid"], "4242");
  EXPECT_EQ(m["curr_connections"], "17");
  EXPECT_EQ(m["threads"], "2");
  EXPECT_EQ(m["uptime"], "30");
  EXPECT_EQ(m["cmd_get"], "101");
  roundtrip(s, get_req(op::stat, "reset"));
  EXPECT_EQ(fs.resets, 1);
}

// A server-owned stat group (`stats storage`): its lines come back in order, ended by
// the empty packet; a group the server does not know is Not found; a full sink rolls
// the whole reply back and it comes out whole after the flush.
struct fake_groups {
  static bool group(void* ctx, std::string_view name, facts_provider::stat_emit emit, void* w) {
    auto* self = static_cast<fake_groups*>(ctx);
    self->calls++;
    if (name != "storage") return false;
    emit(w, "storage_state", "degraded");
    emit(w, "storage_reason", "write: Input/output error");
    for (int i = 0; i < 40; ++i)
      emit(w, "counter_" + std::to_string(i), std::string(20, char('a' + i % 26)));
    return true;
  }
  int calls = 0;
};

TEST(stats, server_owned_group) {
  fake_groups g;
  stack s({}, 8u << 20, facts_provider{&g, nullptr, nullptr, &fake_groups::group});
  auto m = stats_of(s, "storage");
  EXPECT_EQ(m["storage_state"], "degraded");
  EXPECT_EQ(m["storage_reason"], "write: Input/output error");
  EXPECT_EQ(m["counter_39"], std::string(20, 'n'));
  EXPECT_EQ(m.size(), 42u);
  const auto r = one(s, get_req(op::stat, "storagex", 5));
  EXPECT_EQ(r.status, static_cast<std::uint16_t>(status::key_enoent));
  EXPECT_EQ(r.opaque, 5u);
  // General stats still work without a fill callback (own lcore's counters).
  EXPECT_TRUE(stats_of(s).count("cmd_get"));

  // Backpressure: a large GET leaves room for only part of the stat reply; the reply is
  // rolled back and comes out whole after the flush, in order, before the NOOP.
  const std::size_t cap = s.h.min_sink_capacity();
  const std::string big(cap - 24 - 4 - 1 - 1200, 'v');
  ASSERT_EQ(one(s, store_req(op::set, "b", big)).status, 0);
  const int before = g.calls;
  const std::string req =
      get_req(op::get, "b", 8) + get_req(op::stat, "storage", 9) + get_req(op::noop, "", 10);
  auto rs = roundtrip(s, req);
  ASSERT_EQ(rs.size(), 1u + 43u + 1u);
  EXPECT_EQ(rs[0].value, big);
  EXPECT_EQ(rs[1].key, "storage_state");
  EXPECT_TRUE(rs[43].key.empty());
  EXPECT_EQ(rs[44].opaque, 10u);
  EXPECT_GE(g.calls - before, 2) << "the reply did not meet a full sink";
}

struct recorder {
  static void on(void* ctx, const mutation& m) {
    static_cast<recorder*>(ctx)->seen.push_back(
        {m.opcode, std::string(m.key), std::string(m.value), m.flags, m.exptime, m.cas, m.number});
  }
  struct rec {
    std::uint8_t opcode;
    std::string key, value;
    std::uint32_t flags, exptime;
    std::uint64_t cas, number;
  };
  std::vector<rec> seen;
};

TEST(mutation_hook, called_after_each_successful_mutation) {
  recorder rec;
  stack s({}, 8u << 20, {}, mutation_hook{&rec, &recorder::on});
  const auto rs =
      roundtrip(s, store_req(op::setq, "a", "v", 3, 60) + store_req(op::add, "a", "w") /* fails */ +
                       store_req(op::append, "a", "+") + arith_req(op::incr, "n", 1, 7, 0) +
                       get_req(op::del, "a") + get_req(op::get, "n") + simple_req(op::flushq) +
                       simple_req(op::noop));
  ASSERT_EQ(rec.seen.size(), 5u);
  EXPECT_EQ(rec.seen[0].opcode, op::set);  // the loud form
  EXPECT_EQ(rec.seen[0].value, "v");
  EXPECT_EQ(rec.seen[0].flags, 3u);
  EXPECT_EQ(rec.seen[0].exptime, 60u);
  EXPECT_NE(rec.seen[0].cas, 0u);
  EXPECT_EQ(rec.seen[1].opcode, op::append);
  EXPECT_EQ(rec.seen[1].value, "+");
  EXPECT_EQ(rec.seen[2].opcode, op::incr);
  EXPECT_EQ(rec.seen[2].number, 7u);
  EXPECT_EQ(rec.seen[3].opcode, op::del);
  EXPECT_EQ(rec.seen[4].opcode, op::flush);
}

// --- SASL
struct sasl_stack {
  explicit sasl_stack(std::uint32_t max_failures = 3)
      : creds(make()), s(handler_config{.sasl = &creds, .sasl_max_failures = max_failures}) {}
  static credentials make() {
    std::string err;
    auto c =
        credentials::parse(credentials::make_line("alice", "s3cret", "saltsalt", 100) + "\n", &err);
    EXPECT_TRUE(c.has_value()) << err;
    return *c;
  }
  credentials creds;
  stack s;
};

std::string plain(std::string_view user, std::string_view pass) {
  return std::string(1, '\0') + std::string(user) + '\0' + std::string(pass);
}

TEST(sasl, unauthenticated_may_only_use_sasl_and_version) {
  sasl_stack t;
  auto rs = roundtrip(t.s, simple_req(op::version) + simple_req(op::sasl_list_mechs));
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].status, 0);
  EXPECT_EQ(rs[1].value, "PLAIN");
  const run_result rr = t.s.run(get_req(op::get, "a", 5) + simple_req(op::noop));
  const auto got = decode_responses(rr.output);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, 0x20);
  EXPECT_EQ(got[0].opaque, 5u);
  EXPECT_TRUE(rr.closed);
}

TEST(sasl, failed_then_good_auth) {
  sasl_stack t(6);  // room for the five kinds of failure below
  auto auth = [&](std::string_view mech, std::string msg) {
    return encode({.opcode = op::sasl_auth, .key = std::string(mech), .value = std::move(msg)});
  };
  auto rs = roundtrip(t.s, auth("PLAIN", plain("alice", "wrong")) +
                               auth("PLAIN", plain("bob", "s3cret")) + auth("CRAM-MD5", "x") +
                               auth("PLAIN", "garbage") +
                               encode({.opcode = op::sasl_step, .key = "PLAIN", .value = "x"}));
  ASSERT_EQ(rs.size(), 5u);
  for (const auto& r : rs) {
    EXPECT_EQ(r.status, 0x20);
    EXPECT_EQ(r.value, "Auth failure.");
  }
  EXPECT_EQ(t.s.counters.auth_errors.load(), 5u);
  EXPECT_FALSE(t.s.conn.authenticated());
  rs = roundtrip(t.s, auth("PLAIN", plain("alice", "s3cret")) + store_req(op::set, "a", "v") +
                          get_req(op::get, "a"));
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].status, 0);
  EXPECT_EQ(rs[0].value, "Authenticated");
  EXPECT_EQ(rs[2].value, "v");
  EXPECT_EQ(t.s.counters.auth_cmds.load(), 6u);
}

TEST(sasl, authzid_must_match) {
  sasl_stack t;
  const auto r =
      one(t.s, encode({.opcode = op::sasl_auth,
                       .key = "PLAIN",
                       .value = std::string("mallory") + '\0' + "alice" + '\0' + "s3cret"}));
  EXPECT_EQ(r.status, 0x20);
  const auto ok =
      one(t.s, encode({.opcode = op::sasl_auth,
                       .key = "PLAIN",
                       .value = std::string("alice") + '\0' + "alice" + '\0' + "s3cret"}));
  EXPECT_EQ(ok.status, 0);
}

// SASL streams cut at every split point give the same bytes as whole.
TEST(sasl, every_split_point) {
  sasl_stack t;
  const std::string in =
      simple_req(op::sasl_list_mechs, 1) +
      encode({.opcode = op::sasl_auth, .key = "PLAIN", .value = plain("alice", "nope")}) +
      encode({.opcode = op::sasl_auth, .key = "PLAIN", .value = plain("alice", "s3cret")}) +
      store_req(op::set, "a", "v") + get_req(op::getk, "a");
  auto run = [&](std::span<const std::size_t> cuts) {
    t.s.ses.flush(0);
    t.s.clk.advance(1);
    lcore_counters counters;
    handler h(t.s.eng, t.s.ses, handler_config{.sasl = &t.creds}, counters);
    connection c;
    std::string out = drive(h, t.s.ses, c, in, cuts, h.min_sink_capacity()).output;
    for (std::size_t pos = 0; pos + kHeaderSize <= out.size();) {  // CAS differs per run
      std::memset(out.data() + pos + 16, 0, 8);
      pos += kHeaderSize + load_be32(reinterpret_cast<const std::byte*>(out.data()) + pos + 8);
    }
    return out;
  };
  const std::string whole = run({});
  const auto rs = decode_responses(whole);
  ASSERT_EQ(rs.size(), 5u);
  EXPECT_EQ(rs[1].status, 0x20);
  EXPECT_EQ(rs[2].status, 0);
  EXPECT_EQ(rs[4].value, "v");
  for (std::size_t k = 1; k < in.size(); ++k) {
    const std::size_t cut[] = {k};
    ASSERT_EQ(run(cut), whole) << "cut at " << k;
  }
}

// A connection may fail SASL only sasl_max_failures times: the last failure is answered
// and the connection closed, so pipelined AUTHs cost at most that many PBKDF2 runs.
TEST(sasl, connection_closed_after_max_failures) {
  sasl_stack t;  // default: 3
  std::string in;
  for (std::uint32_t i = 0; i < 50; ++i)
    in += encode(
        {.opcode = op::sasl_auth, .key = "PLAIN", .value = plain("alice", "x"), .opaque = i});
  in += simple_req(op::noop, 99);
  const run_result rr = t.s.run(in);
  const auto rs = decode_responses(rr.output);
  ASSERT_EQ(rs.size(), 3u);
  for (std::uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rs[i].status, 0x20);
    EXPECT_EQ(rs[i].opaque, i);
  }
  EXPECT_TRUE(rr.closed);
  EXPECT_EQ(t.s.counters.auth_cmds.load(), 3u);
  EXPECT_EQ(t.s.counters.auth_errors.load(), 3u);
  EXPECT_EQ(t.s.counters.sasl_derivations.load(), 3u);
  EXPECT_EQ(t.s.counters.auth_failure_closes.load(), 1u);
  t.s.conn.reset();  // a new connection that logs in reads the stats
  ASSERT_EQ(
      one(t.s, encode({.opcode = op::sasl_auth, .key = "PLAIN", .value = plain("alice", "s3cret")}))
          .status,
      0);
  auto m = stats_of(t.s);
  EXPECT_EQ(m["anvil_auth_failure_closes"], "1");
  EXPECT_EQ(m["anvil_sasl_derivations"], "4");
}

// Failures below the bound keep the connection; a success then serves it. A bound of
// 1 closes at the first failure; 0 means 1 (never unbounded).
TEST(sasl, failure_bound_edges) {
  {
    sasl_stack t;
    const run_result rr = t.s.run(
        encode({.opcode = op::sasl_auth, .key = "PLAIN", .value = plain("alice", "x")}) +
        encode({.opcode = op::sasl_step, .key = "PLAIN", .value = "x"}) +
        encode({.opcode = op::sasl_auth, .key = "PLAIN", .value = plain("alice", "s3cret")}) +
        store_req(op::set, "a", "v") + get_req(op::get, "a"));
    const auto rs = decode_responses(rr.output);
    ASSERT_EQ(rs.size(), 5u);
    EXPECT_EQ(rs[2].value, "Authenticated");
    EXPECT_EQ(rs[4].value, "v");
    EXPECT_FALSE(rr.closed);
    EXPECT_EQ(t.s.counters.auth_failure_closes.load(), 0u);
  }
  for (std::uint32_t bound : {0u, 1u}) {
    sasl_stack t(bound);
    const run_result rr = t.s.run(
        encode({.opcode = op::sasl_auth, .key = "PLAIN", .value = plain("alice", "x")}) +
        encode({.opcode = op::sasl_auth, .key = "PLAIN", .value = plain("alice", "s3cret")}));
    EXPECT_EQ(decode_responses(rr.output).size(), 1u) << bound;
    EXPECT_TRUE(rr.closed) << bound;
  }
}

// A repeated AUTH with credentials that verified before (a reconnect) is answered from
// the lcore's verified cache: PBKDF2 runs once. A wrong password for a cached user, or
// the same bytes split differently between user and password, still derive and fail.
TEST(sasl, repeated_good_auth_does_not_rederive) {
  sasl_stack t;
  for (int conn = 0; conn < 5; ++conn) {
    t.s.conn.reset();  // a new connection
    const auto r = one(
        t.s, encode({.opcode = op::sasl_auth, .key = "PLAIN", .value = plain("alice", "s3cret")}));
    EXPECT_EQ(r.status, 0) << conn;
    EXPECT_TRUE(t.s.conn.authenticated());
  }
  EXPECT_EQ(t.s.counters.sasl_derivations.load(), 1u);
  EXPECT_EQ(t.s.counters.sasl_cache_hits.load(), 4u);
  t.s.conn.reset();
  EXPECT_EQ(
      one(t.s, encode({.opcode = op::sasl_auth, .key = "PLAIN", .value = plain("alice", "s3cre")}))
          .status,
      0x20);
  EXPECT_EQ(
      one(t.s, encode({.opcode = op::sasl_auth, .key = "PLAIN", .value = plain("alic", "es3cret")}))
          .status,
      0x20);
  EXPECT_EQ(t.s.counters.sasl_derivations.load(), 3u);
  EXPECT_FALSE(t.s.conn.authenticated());
  // The authzid form of the same credentials hits the cache too.
  EXPECT_EQ(one(t.s, encode({.opcode = op::sasl_auth,
                             .key = "PLAIN",
                             .value = std::string("alice") + '\0' + "alice" + '\0' + "s3cret"}))
                .status,
            0);
  EXPECT_EQ(t.s.counters.sasl_derivations.load(), 3u);
}

// An oversized SASL payload is refused from its header (memcached: 0x82 when its
// item allocation fails) and skipped; the connection stays usable.
TEST(sasl, oversized_payload_enomem_and_skipped) {
  const credentials creds = sasl_stack::make();
  stack s(handler_config{.max_value = 64, .sasl = &creds});
  const run_result rr =
      s.run(encode({.opcode = op::sasl_auth, .key = "PLAIN", .value = std::string(65, 'x')}) +
            simple_req(op::version, 2));
  const auto rs = decode_responses(rr.output);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].status, 0x82);
  EXPECT_EQ(rs[0].value, "Out of memory");
  EXPECT_EQ(rs[1].opaque, 2u);
  EXPECT_FALSE(rr.closed);
}

// An unknown opcode's body up to the largest valid packet body is skipped exactly and
// the connection kept; one byte more is answered and closed (counted as an error).
TEST(unknown_opcode, body_limit_edges) {
  stack s(handler_config{.max_value = 64});
  const std::size_t limit = s.h.max_packet_body();
  EXPECT_EQ(limit, 255u + 250u + 64u);
  run_result rr = s.run(encode({.opcode = 0x55, .value = std::string(limit, 'b'), .opaque = 1}) +
                        simple_req(op::noop, 2));
  auto rs = decode_responses(rr.output);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].status, 0x81);
  EXPECT_EQ(rs[1].opaque, 2u);
  EXPECT_FALSE(rr.closed);
  EXPECT_EQ(s.counters.protocol_errors.load(), 0u);
  s.conn.reset();
  rr = s.run(encode({.opcode = 0x55, .value = std::string(limit + 1, 'b'), .opaque = 3}) +
             simple_req(op::noop, 4));
  rs = decode_responses(rr.output);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, 0x81);
  EXPECT_EQ(rs[0].opaque, 3u);
  EXPECT_TRUE(rr.closed);
  EXPECT_EQ(s.counters.protocol_errors.load(), 1u);
  EXPECT_EQ(s.counters.unknown_commands.load(), 2u);
}

// --- interface contract
TEST(contract, need_bytes_reports_whole_packet) {
  stack s;
  const std::string req = store_req(op::set, "k", std::string(1000, 'v'));
  std::vector<std::byte> mem(s.h.min_sink_capacity());
  output_sink sink{mem.data(), mem.size(), 0};
  auto res = s.h.handle(s.conn, {reinterpret_cast<const std::byte*>(req.data()), 10}, sink);
  EXPECT_TRUE(res.need_more);
  EXPECT_EQ(res.consumed, 0u);
  EXPECT_EQ(res.need_bytes, kHeaderSize);
  res = s.h.handle(s.conn, {reinterpret_cast<const std::byte*>(req.data()), 100}, sink);
  EXPECT_TRUE(res.need_more);
  EXPECT_EQ(res.consumed, 0u);
  EXPECT_EQ(res.need_bytes, req.size());
  EXPECT_EQ(sink.size, 0u);
}

TEST(contract, full_sink_stops_before_request_without_side_effect) {
  stack s;
  one(s, store_req(op::set, "a", std::string(500, 'v')));
  const std::string in =
      simple_req(op::noop) + get_req(op::get, "a") + store_req(op::set, "b", "v");
  std::vector<std::byte> mem(s.h.min_sink_capacity());
  output_sink sink{mem.data(), 100, 0};  // room for the NOOP, not for the GET hit after it
  const auto res =
      s.h.handle(s.conn, {reinterpret_cast<const std::byte*>(in.data()), in.size()}, sink);
  EXPECT_TRUE(res.sink_full);
  EXPECT_EQ(res.consumed, kHeaderSize);
  EXPECT_EQ(sink.size, kHeaderSize);
  EXPECT_EQ(s.counters.cmd_get.load(), 0u);
  EXPECT_EQ(s.counters.backpressure_stops.load(), 1u);
  EXPECT_EQ(s.ses.get("b").found, false) << "the SET after the stalled GET did not run";
  // After the flush the rest goes through.
  sink.size = 0;
  sink.capacity = mem.size();
  const auto rest = s.h.handle(
      s.conn,
      {reinterpret_cast<const std::byte*>(in.data()) + res.consumed, in.size() - res.consumed},
      sink);
  EXPECT_EQ(rest.consumed, in.size() - kHeaderSize);
  EXPECT_EQ(decode_responses({reinterpret_cast<const char*>(mem.data()), sink.size}).size(), 2u);
  EXPECT_EQ(s.counters.cmd_get.load(), 1u);
}

TEST(contract, sink_smaller_than_one_response_closes) {
  stack s;
  one(s, store_req(op::set, "a", std::string(500, 'v')));
  const std::string in = get_req(op::get, "a");
  std::vector<std::byte> mem(200);
  output_sink sink{mem.data(), mem.size(), 0};
  const auto res =
      s.h.handle(s.conn, {reinterpret_cast<const std::byte*>(in.data()), in.size()}, sink);
  EXPECT_TRUE(res.close_after_flush);
  EXPECT_EQ(s.counters.protocol_errors.load(), 1u);
}

TEST(contract, closed_connection_consumes_nothing_more) {
  stack s;
  const run_result rr = s.run(simple_req(op::quit) + simple_req(op::noop));
  EXPECT_TRUE(rr.closed);
  EXPECT_EQ(rr.unconsumed, kHeaderSize);
  std::vector<std::byte> mem(256);
  output_sink sink{mem.data(), mem.size(), 0};
  const std::string noop = simple_req(op::noop);
  const auto res =
      s.h.handle(s.conn, {reinterpret_cast<const std::byte*>(noop.data()), noop.size()}, sink);
  EXPECT_TRUE(res.close_after_flush);
  EXPECT_EQ(res.consumed, 0u);
  EXPECT_EQ(sink.size, 0u);
}

TEST(contract, responses_in_request_order_with_opaque_zero) {
  stack s;
  std::string in;
  for (int i = 0; i < 50; ++i) {
    in += store_req(op::set, "k" + std::to_string(i), std::to_string(i));
    in += get_req(op::get, "k" + std::to_string(i));
  }
  const auto rs = roundtrip(s, in);
  ASSERT_EQ(rs.size(), 100u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(rs[2 * static_cast<std::size_t>(i)].opcode, op::set);
    EXPECT_EQ(rs[2 * static_cast<std::size_t>(i) + 1].value, std::to_string(i));
  }
}

}  // namespace
}  // namespace anvil::proto::testing

namespace anvil::proto::testing {
namespace {

// Batched Get lookups (engine get_batch) answer exactly like one-by-one lookups,
// including a batch cut by a full sink and mixed with other commands.
TEST(get_batch, same_bytes_as_single_lookups) {
  std::string in;
  for (int i = 0; i < 40; i += 3)
    in += store_req(op::setq, "b" + std::to_string(i),
                    std::string(static_cast<std::size_t>(i) * 5, 'v'), i);
  for (int i = 0; i < 40; ++i) {
    const std::uint8_t ops[] = {op::get, op::getq, op::getk, op::getkq};
    in += get_req(ops[i % 4], "b" + std::to_string(i), static_cast<std::uint32_t>(i));
    if (i == 20) in += store_req(op::set, "b21", "late");
  }
  in += simple_req(op::noop);
  std::string outputs[2];
  for (int batch = 0; batch < 2; ++batch) {
    for (std::size_t sink : {std::size_t{0}, std::size_t{400}}) {
      stack s(handler_config{.batch_gets = batch == 1});
      const run_result rr = s.run(in, {}, sink);
      std::string norm = rr.output;
      // CAS values differ between engines only by their base; compare without them.
      for (std::size_t pos = 0; pos + kHeaderSize <= norm.size();) {
        std::memset(norm.data() + pos + 16, 0, 8);
        pos += kHeaderSize + load_be32(reinterpret_cast<const std::byte*>(norm.data()) + pos + 8);
      }
      if (outputs[0].empty()) outputs[0] = norm;
      EXPECT_EQ(norm, outputs[0]) << "batch=" << batch << " sink=" << sink;
      EXPECT_EQ(s.counters.cmd_get.load(), 40u);
    }
  }
}

}  // namespace
}  // namespace anvil::proto::testing
