// Unit tests for every engine operation and memcached edge case (issue 3, "Unit tests").
#include <gtest/gtest.h>

#include <string>

#include "cache/engine.h"

namespace anvil::cache {
namespace {

constexpr std::uint32_t kT0 = 1'700'000'000;

class ops : public ::testing::Test {
 protected:
  ops() : e(make_cfg()), s(e.open_session()) {}
  engine_config make_cfg() {
    engine_config c;
    c.memory_limit_bytes = 8u << 20;
    c.partitions = 2;
    c.time = &clk;
    return c;
  }
  std::string val(std::string_view k) {
    const item_view v = s.get(k);
    return v.found ? std::string(v.value) : std::string("<miss>");
  }
  clock clk{kT0};
  engine e;
  session s;
};

TEST_F(ops, set_get_roundtrip_with_flags_and_unique_cas) {
  const store_result a = s.store(store_mode::set, "k", "v1", 42, 0);
  ASSERT_EQ(a.st, status::ok);
  item_view v = s.get("k");
  ASSERT_TRUE(v.found);
  EXPECT_EQ(v.key, "k");
  EXPECT_EQ(v.value, "v1");
  EXPECT_EQ(v.flags, 42u);
  EXPECT_EQ(v.cas, a.cas);
  const store_result b = s.store(store_mode::set, "k", "v2", 0, 0);
  EXPECT_NE(b.cas, a.cas);
  EXPECT_EQ(val("k"), "v2");
  EXPECT_EQ(s.get("k").flags, 0u);
}

TEST_F(ops, binary_keys_and_empty_values) {
  const std::string key("a\0b\xff", 4);
  ASSERT_EQ(s.store(store_mode::set, key, "", 0, 0).st, status::ok);
  item_view v = s.get(key);
  ASSERT_TRUE(v.found);
  EXPECT_EQ(v.value.size(), 0u);
  EXPECT_FALSE(s.get(std::string("a\0c\xff", 4)).found);
}

TEST_F(ops, key_length_limits) {
  EXPECT_EQ(s.store(store_mode::set, "", "v", 0, 0).st, status::bad_key);
  EXPECT_EQ(s.store(store_mode::set, std::string(251, 'x'), "v", 0, 0).st, status::bad_key);
  EXPECT_EQ(s.store(store_mode::set, std::string(250, 'x'), "v", 0, 0).st, status::ok);
  EXPECT_EQ(val(std::string(250, 'x')), "v");
  EXPECT_FALSE(s.get("").found);
  EXPECT_EQ(s.remove(""), status::bad_key);
}

TEST_F(ops, add_only_when_absent) {
  EXPECT_EQ(s.store(store_mode::add, "k", "a", 0, 0).st, status::ok);
  EXPECT_EQ(s.store(store_mode::add, "k", "b", 0, 0).st, status::exists);
  EXPECT_EQ(val("k"), "a");
}

TEST_F(ops, add_succeeds_over_expired_item) {
  s.store(store_mode::set, "k", "a", 0, 10);
  clk.advance(10);
  EXPECT_EQ(s.store(store_mode::add, "k", "b", 0, 0).st, status::ok);
  EXPECT_EQ(val("k"), "b");
}

TEST_F(ops, replace_only_when_present) {
  EXPECT_EQ(s.store(store_mode::replace, "k", "a", 0, 0).st, status::not_found);
  EXPECT_EQ(val("k"), "<miss>");
  s.store(store_mode::set, "k", "a", 0, 0);
  EXPECT_EQ(s.store(store_mode::replace, "k", "b", 7, 0).st, status::ok);
  EXPECT_EQ(val("k"), "b");
  EXPECT_EQ(s.get("k").flags, 7u);
}

TEST_F(ops, cas_store) {
  EXPECT_EQ(s.store(store_mode::set, "k", "a", 0, 0, 123).st, status::not_found);
  const cas_t c1 = s.store(store_mode::set, "k", "a", 0, 0).cas;
  EXPECT_EQ(s.store(store_mode::set, "k", "b", 0, 0, c1 + 1000).st, status::exists);
  EXPECT_EQ(e.total_stats().cas_mismatches, 1u);
  const store_result r = s.store(store_mode::set, "k", "b", 0, 0, c1);
  EXPECT_EQ(r.st, status::ok);
  EXPECT_NE(r.cas, c1);
  EXPECT_EQ(s.store(store_mode::set, "k", "c", 0, 0, c1).st, status::exists);
  EXPECT_EQ(val("k"), "b");
  EXPECT_EQ(s.store(store_mode::replace, "k", "d", 0, 0, r.cas).st, status::ok);
  EXPECT_EQ(val("k"), "d");
}

TEST_F(ops, append_prepend_keep_flags_and_expiry) {
  EXPECT_EQ(s.store(store_mode::append, "k", "x", 0, 0).st, status::not_stored);
  EXPECT_EQ(s.store(store_mode::prepend, "k", "x", 0, 0).st, status::not_stored);
  const cas_t c = s.store(store_mode::set, "k", "mid", 9, 100).cas;
  const store_result a = s.store(store_mode::append, "k", "_end", 1, 0);
  ASSERT_EQ(a.st, status::ok);
  EXPECT_NE(a.cas, c);
  ASSERT_EQ(s.store(store_mode::prepend, "k", "start_", 2, 5).st, status::ok);
  item_view v = s.get("k");
  EXPECT_EQ(v.value, "start_mid_end");
  EXPECT_EQ(v.flags, 9u);
  clk.advance(99);
  EXPECT_TRUE(s.get("k").found);
  clk.advance(1);
  EXPECT_FALSE(s.get("k").found);  // expiry of the original set (100 s) was kept
}

TEST_F(ops, append_with_cas) {
  EXPECT_EQ(s.store(store_mode::append, "k", "x", 0, 0, 5).st, status::not_found);
  const cas_t c = s.store(store_mode::set, "k", "a", 0, 0).cas;
  EXPECT_EQ(s.store(store_mode::append, "k", "b", 0, 0, c + 1).st, status::exists);
  EXPECT_EQ(s.store(store_mode::append, "k", "b", 0, 0, c).st, status::ok);
  EXPECT_EQ(val("k"), "ab");
}

TEST_F(ops, delete_with_and_without_cas) {
  EXPECT_EQ(s.remove("k"), status::not_found);
  const cas_t c = s.store(store_mode::set, "k", "a", 0, 0).cas;
  EXPECT_EQ(s.remove("k", c + 1), status::exists);
  EXPECT_EQ(val("k"), "a");
  EXPECT_EQ(s.remove("k", c), status::ok);
  EXPECT_EQ(val("k"), "<miss>");
  s.store(store_mode::set, "k", "a", 0, 0);
  EXPECT_EQ(s.remove("k"), status::ok);
  EXPECT_EQ(s.remove("k"), status::not_found);
}

TEST_F(ops, incr_decr_semantics) {
  s.store(store_mode::set, "n", "10", 5, 0);
  arith_result r = s.incr_decr("n", true, 5, 0, 0);
  EXPECT_EQ(r.st, status::ok);
  EXPECT_EQ(r.value, 15u);
  EXPECT_EQ(val("n"), "15");
  EXPECT_EQ(s.get("n").flags, 5u);  // flags kept
  EXPECT_EQ(s.get("n").cas, r.cas);
  r = s.incr_decr("n", false, 100, 0, 0);
  EXPECT_EQ(r.value, 0u);  // decr floors at 0
  EXPECT_EQ(val("n"), "0");
  s.store(store_mode::set, "n", "18446744073709551615", 0, 0);
  r = s.incr_decr("n", true, 2, 0, 0);
  EXPECT_EQ(r.value, 1u);                     // wraps at 2^64
  s.store(store_mode::set, "n", "9 ", 0, 0);  // memcached pads in-place results with spaces
  EXPECT_EQ(s.incr_decr("n", true, 1, 0, 0).value, 10u);
}

TEST_F(ops, incr_non_numeric) {
  for (std::string_view bad : {"abc", "", " ", "-1", "-", "+", "12a", "1-", "18446744073709551616",
                               "-9223372036854775807"}) {
    s.store(store_mode::set, "n", bad, 0, 0);
    EXPECT_EQ(s.incr_decr("n", true, 1, 0, 0).st, status::non_numeric) << bad;
    EXPECT_EQ(val("n"), bad);
  }
}

// memcached reads a counter with strtoull (probed against 1.6.18): leading whitespace
// and a sign are read, and a whitespace character ends the number (the rest is ignored).
TEST_F(ops, incr_reads_numbers_as_memcached_does) {
  const std::pair<std::string_view, std::uint64_t> cases[] = {{" 1", 2},
                                                              {"1 2", 2},
                                                              {"1\t2", 2},
                                                              {"+5", 6},
                                                              {"-0", 1},
                                                              {"\t7 ", 8},
                                                              {"18446744073709551615", 0},
                                                              {"-18446744073709551615", 2}};
  for (const auto& [text, want] : cases) {
    s.store(store_mode::set, "n", text, 0, 0);
    const arith_result r = s.incr_decr("n", true, 1, 0, 0);
    EXPECT_EQ(r.st, status::ok) << text;
    EXPECT_EQ(r.value, want) << text;
  }
}

TEST_F(ops, incr_creates_with_initial_unless_ffffffff) {
  EXPECT_EQ(s.incr_decr("c", true, 5, 77, 0xffffffffu).st, status::not_found);
  EXPECT_EQ(val("c"), "<miss>");
  arith_result r = s.incr_decr("c", true, 5, 77, 0);
  EXPECT_EQ(r.st, status::ok);
  EXPECT_EQ(r.value, 77u);  // created with initial, delta not applied
  EXPECT_TRUE(r.created);   // the protocol counts it as a new item, not a hit
  EXPECT_EQ(val("c"), "77");
  r = s.incr_decr("c", true, 5, 77, 0);
  EXPECT_EQ(r.value, 82u);
  EXPECT_FALSE(r.created);
  EXPECT_EQ(s.get("c").flags, 0u);
  r = s.incr_decr("d", false, 5, 3, 10);
  EXPECT_EQ(r.value, 3u);
  clk.advance(10);
  EXPECT_EQ(val("d"), "<miss>");  // created item took the given expiry
}

TEST_F(ops, incr_with_cas) {
  const cas_t c = s.store(store_mode::set, "n", "1", 0, 0).cas;
  EXPECT_EQ(s.incr_decr("n", true, 1, 0, 0, c + 9).st, status::exists);
  EXPECT_EQ(s.incr_decr("n", true, 1, 0, 0, c).value, 2u);
}

TEST_F(ops, expiry_relative_absolute_and_never) {
  s.store(store_mode::set, "rel", "v", 0, 100);
  s.store(store_mode::set, "max_rel", "v", 0, kMaxRelativeExptime);  // still relative
  s.store(store_mode::set, "abs", "v", 0, kT0 + 50);
  s.store(store_mode::set, "past", "v", 0, kT0 - 1);  // absolute in the past: expired at once
  s.store(store_mode::set, "now", "v", 0, kT0);
  s.store(store_mode::set, "never", "v", 0, 0);
  EXPECT_EQ(val("past"), "<miss>");
  EXPECT_EQ(val("now"), "<miss>");
  EXPECT_EQ(val("abs"), "v");
  clk.advance(49);
  EXPECT_EQ(val("abs"), "v");
  clk.advance(1);
  EXPECT_EQ(val("abs"), "<miss>");
  EXPECT_EQ(val("rel"), "v");
  clk.advance(50);
  EXPECT_EQ(val("rel"), "<miss>");
  EXPECT_EQ(val("max_rel"), "v");
  clk.advance(kMaxRelativeExptime);
  EXPECT_EQ(val("max_rel"), "<miss>");
  EXPECT_EQ(val("never"), "v");
}

TEST_F(ops, touch_and_gat_keep_cas_and_set_expiry) {
  EXPECT_EQ(s.touch("k", 10).st, status::not_found);
  EXPECT_FALSE(s.get_and_touch("k", 10).found);
  const cas_t c = s.store(store_mode::set, "k", "v", 3, 5).cas;
  const store_result t = s.touch("k", 100);
  EXPECT_EQ(t.st, status::ok);
  EXPECT_EQ(t.cas, c);
  clk.advance(50);
  item_view g = s.get_and_touch("k", 0);  // 0 = never expires
  ASSERT_TRUE(g.found);
  EXPECT_EQ(g.value, "v");
  EXPECT_EQ(g.flags, 3u);
  EXPECT_EQ(g.cas, c);
  clk.advance(1000);
  EXPECT_EQ(val("k"), "v");
}

TEST_F(ops, flush_now_and_items_after_survive) {
  s.store(store_mode::set, "a", "1", 0, 0);
  s.store(store_mode::set, "b", "2", 0, 0);
  s.flush();
  EXPECT_EQ(val("a"), "<miss>");
  EXPECT_EQ(val("b"), "<miss>");
  s.store(store_mode::set, "a", "3", 0, 0);
  EXPECT_EQ(val("a"), "3");
  EXPECT_EQ(s.store(store_mode::add, "b", "4", 0, 0).st, status::ok);
}

TEST_F(ops, flush_with_delay_and_replacement) {
  s.store(store_mode::set, "old", "1", 0, 0);
  s.flush(10);
  EXPECT_EQ(val("old"), "1");
  clk.advance(5);
  s.store(store_mode::set, "mid", "2", 0, 0);  // stored before the deadline: flushed too
  clk.advance(5);
  EXPECT_EQ(val("old"), "<miss>");
  EXPECT_EQ(val("mid"), "<miss>");
  s.store(store_mode::set, "after", "3", 0, 0);  // stored at the deadline: survives
  clk.advance(100);
  EXPECT_EQ(val("after"), "3");

  // A later flush replaces the pending one.
  s.store(store_mode::set, "x", "1", 0, 0);
  s.flush(10);
  s.flush(20);
  clk.advance(10);
  EXPECT_EQ(val("x"), "1");
  clk.advance(10);
  EXPECT_EQ(val("x"), "<miss>");
  // An earlier, completed flush stays in force after a new one is scheduled.
  s.store(store_mode::set, "y", "1", 0, 0);
  s.flush(0);
  s.flush(30);
  EXPECT_EQ(val("y"), "<miss>");
}

// What the health canary reads to tell "a flush came between my set and my get" from a
// lost item: the generation of the last flush applied to the key's partition.
TEST_F(ops, applied_flush_generation_moves_when_a_flush_takes_effect) {
  const std::uint32_t g0 = s.applied_flush_generation("k");
  EXPECT_EQ(g0, 0u);  // none yet
  s.store(store_mode::set, "k", "1", 0, 0);
  EXPECT_EQ(s.applied_flush_generation("k"), g0);  // stores and gets change nothing
  s.flush();                                       // immediate: applied at once
  const std::uint32_t g1 = s.applied_flush_generation("k");
  EXPECT_NE(g1, g0);
  s.flush(10);  // delayed: nothing applied before the deadline
  EXPECT_EQ(s.applied_flush_generation("k"), g1);
  clk.advance(10);
  EXPECT_EQ(s.applied_flush_generation("k"), g1);  // not until the partition is touched
  EXPECT_EQ(val("k"), "<miss>");                   // the first access applies it
  EXPECT_NE(s.applied_flush_generation("k"), g1);
}

TEST_F(ops, too_large_removes_old_value) {
  engine_config c = make_cfg();
  c.max_item_size = 1024;
  engine small(c);
  session t = small.open_session();
  ASSERT_EQ(t.store(store_mode::set, "k", "old", 0, 0).st, status::ok);
  EXPECT_EQ(t.store(store_mode::set, "k", std::string(1100, 'x'), 0, 0).st, status::too_large);
  EXPECT_FALSE(t.get("k").found);
  t.store(store_mode::set, "k", "old", 0, 0);
  EXPECT_EQ(t.store(store_mode::add, "k", std::string(1100, 'x'), 0, 0).st, status::too_large);
  EXPECT_FALSE(t.get("k").found);
  // The limit counts key + value + header.
  EXPECT_EQ(t.store(store_mode::set, "k", std::string(1000, 'x'), 0, 0).st, status::ok);
  EXPECT_EQ(t.store(store_mode::append, "k", std::string(100, 'y'), 0, 0).st, status::too_large);
}

TEST_F(ops, default_max_item_is_one_mib) {
  EXPECT_EQ(s.store(store_mode::set, "big", std::string(1u << 20, 'x'), 0, 0).st,
            status::too_large);
  const std::string ok(1000 * 1000, 'y');
  ASSERT_EQ(s.store(store_mode::set, "big", ok, 0, 0).st, status::ok);
  EXPECT_EQ(s.get("big").value, ok);
}

TEST_F(ops, get_batch_matches_get) {
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) {
    keys.push_back("key" + std::to_string(i));
    if (i % 3 != 0) s.store(store_mode::set, keys.back(), "v" + std::to_string(i), i, 0);
  }
  keys.push_back("");  // a bad key is a miss
  std::vector<std::string_view> views(keys.begin(), keys.end());
  std::vector<item_view> out(views.size());
  s.get_batch(views, out);
  for (std::size_t i = 0; i < views.size(); ++i) {
    const item_view one = s.get(views[i]);
    EXPECT_EQ(out[i].found, one.found) << i;
    if (one.found) {
      EXPECT_EQ(out[i].value, one.value);
      EXPECT_EQ(out[i].key, views[i]);
      EXPECT_EQ(out[i].flags, one.flags);
      EXPECT_EQ(out[i].cas, one.cas);
    }
  }
}

TEST_F(ops, stats_count_operations) {
  s.store(store_mode::set, "a", "1", 0, 0);
  s.store(store_mode::set, "b", "22", 0, 0);
  s.get("a");
  s.get("zz");
  partition_stats t = e.total_stats();
  EXPECT_EQ(t.items, 2u);
  EXPECT_EQ(t.hits, 1u);
  EXPECT_EQ(t.misses, 1u);
  EXPECT_EQ(t.sets, 2u);
  EXPECT_GT(t.bytes_used, 3u);
  EXPECT_EQ(t.bytes_limit, 8u << 20);
  e.reset_stats();
  t = e.total_stats();
  EXPECT_EQ(t.hits, 0u);
  EXPECT_EQ(t.sets, 0u);
  EXPECT_EQ(t.items, 2u);
  s.remove("a");
  EXPECT_EQ(e.total_stats().items, 1u);
  s.store(store_mode::set, "e", "v", 0, 1);
  clk.advance(1);
  EXPECT_FALSE(s.get("e").found);
  s.store(store_mode::set, "e", "w", 0, 0);  // replaces the expired item: reclaimed
  EXPECT_EQ(e.total_stats().expired_reclaimed, 1u);
  std::uint64_t sum = 0;
  for (std::size_t p = 0; p < e.partition_count(); ++p) sum += e.stats(p).items;
  EXPECT_EQ(sum, e.total_stats().items);
}

TEST_F(ops, iteration_and_restore_roundtrip) {
  for (int i = 0; i < 500; ++i)
    s.store(store_mode::set, "k" + std::to_string(i), "v" + std::to_string(i), i, i % 2 ? 0 : 1000);
  s.store(store_mode::set, "gone", "x", 0, 1);
  clk.advance(1);
  struct rec {
    std::string key, value;
    std::uint32_t flags, exp;
    cas_t cas;
  };
  std::vector<rec> all;
  for (std::size_t p = 0; p < e.partition_count(); ++p)
    s.for_each_item(p, [&](const item_record& r) {
      all.push_back({std::string(r.key), std::string(r.value), r.flags, r.expires_at, r.cas});
    });
  ASSERT_EQ(all.size(), 500u);

  clock clk2(kT0 + 1);
  engine_config c = make_cfg();
  c.time = &clk2;
  engine e2(c);
  session s2 = e2.open_session();
  // A session that took its CAS block before the restore must move above it after.
  session s3 = e2.open_session();
  ASSERT_EQ(s3.store(store_mode::set, "early", "x", 0, 0).st, status::ok);
  cas_t maxcas = 0;
  for (const rec& r : all) {
    ASSERT_EQ(s2.restore({r.key, r.value, r.flags, r.exp, r.cas}), status::ok);
    maxcas = std::max(maxcas, r.cas);
  }
  EXPECT_EQ(s2.restore({"dead", "x", 0, kT0, 5}), status::not_found);
  EXPECT_GE(e2.cas_counter(), maxcas);
  EXPECT_GT(s3.store(store_mode::set, "late", "x", 0, 0).cas, maxcas);
  EXPECT_GT(s2.store(store_mode::set, "late2", "x", 0, 0).cas, maxcas);
  for (const rec& r : all) {
    item_view v = s2.get(r.key);
    ASSERT_TRUE(v.found);
    EXPECT_EQ(v.value, r.value);
    EXPECT_EQ(v.flags, r.flags);
    EXPECT_EQ(v.cas, r.cas);
  }
  EXPECT_GT(s2.store(store_mode::set, "new", "v", 0, 0).cas, maxcas);
  clk2.advance(1000);
  EXPECT_FALSE(s2.get("k0").found);  // absolute expiry carried
  EXPECT_TRUE(s2.get("k1").found);
}

TEST_F(ops, restore_keeps_a_newer_live_item) {
  const cas_t c = s.store(store_mode::set, "k", "live", 1, 0).cas;
  EXPECT_EQ(s.restore({"k", "old", 2, 0, 5}), status::exists);
  EXPECT_EQ(val("k"), "live");
  EXPECT_EQ(s.get("k").cas, c);
}

TEST_F(ops, views_stay_intact_while_the_same_session_churns_memory) {
  // A view pins its segment until quiescent(): stores from the same session in a tiny
  // cache must never overwrite the bytes it points to (at worst they get no_memory).
  engine_config c = make_cfg();
  c.memory_limit_bytes = 1u << 20;
  c.segment_size = 64u << 10;
  c.max_item_size = 16u << 10;
  c.partitions = 1;
  engine tiny(c);
  session t = tiny.open_session();
  const std::string first(3000, 'A');
  ASSERT_EQ(t.store(store_mode::set, "pinned", first, 0, 0).st, status::ok);
  const item_view v = t.get("pinned");
  ASSERT_TRUE(v.found);
  const std::string filler(4000, 'z');
  int ok = 0, no_memory = 0;
  for (int i = 0; i < 2000; ++i) {  // ~8 MB through a 1 MiB cache
    const status st = t.store(store_mode::set, "f" + std::to_string(i), filler, 0, 0).st;
    ok += st == status::ok;
    no_memory += st == status::no_memory;
    ASSERT_TRUE(st == status::ok || st == status::no_memory);
    ASSERT_EQ(v.value, first) << "a view's bytes were reused before quiescent()";
    ASSERT_EQ(v.key, "pinned");
  }
  EXPECT_GT(ok, 1500);
  EXPECT_EQ(ok + no_memory, 2000);
  t.quiescent();
  for (int i = 0; i < 500; ++i)
    ASSERT_EQ(t.store(store_mode::set, "g" + std::to_string(i), filler, 0, 0).st, status::ok);
  EXPECT_GT(tiny.total_stats().evictions, 0u);
}

TEST_F(ops, raise_cas_counter_moves_open_sessions) {
  s.store(store_mode::set, "a", "1", 0, 0);
  e.raise_cas_counter(1'000'000);
  EXPECT_GE(e.cas_counter(), 1'000'000u);
  EXPECT_GT(s.store(store_mode::set, "a", "2", 0, 0).cas, 1'000'000u);
}

TEST_F(ops, config_and_partitions) {
  EXPECT_EQ(e.partition_count(), 2u);
  EXPECT_EQ(e.config().memory_limit_bytes, 8u << 20);
  clock c0;
  engine_config c;
  c.time = &c0;
  c.partitions = 3;
  EXPECT_THROW(engine{c}, std::invalid_argument);
  c.partitions = 0;
  engine d(c);
  EXPECT_GE(d.partition_count(), 1u);
  EXPECT_EQ(d.partition_count() & (d.partition_count() - 1), 0u);
}

TEST_F(ops, no_memory_below_one_segment) {
  engine_config c = make_cfg();
  c.memory_limit_bytes = 512 << 10;
  c.partitions = 1;
  engine tiny(c);
  session t = tiny.open_session();
  EXPECT_EQ(t.store(store_mode::set, "k", "v", 0, 0).st, status::no_memory);
}

TEST_F(ops, sessions_move) {
  session a = e.open_session();
  session b = std::move(a);
  EXPECT_EQ(b.store(store_mode::set, "m", "v", 0, 0).st, status::ok);
  a = std::move(b);
  EXPECT_TRUE(a.get("m").found);
}

}  // namespace
}  // namespace anvil::cache
