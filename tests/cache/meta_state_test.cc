// The per-item state word behind memcached's meta commands (cache/item.h item_state):
// fetched and last access (mg h/l), the recache token (N/R vivify and win, W/Z), stale
// items (md I, ms I: X), binary keys, explicit CAS, and which operations keep the state.
// Also: of many threads racing for one recache token, exactly one wins.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "cache/engine.h"

namespace anvil::cache {
namespace {

constexpr std::uint32_t kT0 = 1'700'000'000;

class meta_state : public ::testing::Test {
 protected:
  meta_state() : e(make_cfg()), s(e.open_session()) {}
  engine_config make_cfg() {
    engine_config c;
    c.memory_limit_bytes = 8u << 20;
    c.partitions = 2;
    c.time = &clk;
    return c;
  }
  meta_get_result mg(std::string_view k, meta_get_args a = {}) {
    const meta_get_result r = s.meta_get(k, a);
    return r;
  }
  clock clk{kT0};
  engine e;
  session s;
};

TEST_F(meta_state, fetched_and_last_access_are_as_before_the_request) {
  ASSERT_EQ(s.store(store_mode::set, "k", "v", 0, 0).st, status::ok);
  item_view v = s.peek("k");
  ASSERT_TRUE(v.found);
  EXPECT_FALSE(v.fetched);
  EXPECT_EQ(v.last_access, kT0);  // the store counts as the last access
  clk.advance(7);
  v = s.get("k");
  EXPECT_FALSE(v.fetched);        // not fetched before this get
  EXPECT_EQ(v.last_access, kT0);  // ... and last accessed at the store
  v = s.peek("k");
  EXPECT_TRUE(v.fetched);
  EXPECT_EQ(v.last_access, kT0 + 7);
  // peek and u (bump = false) leave both alone.
  clk.advance(5);
  meta_get_args a;
  a.bump = false;
  EXPECT_TRUE(mg("k", a).item.found);
  EXPECT_EQ(s.peek("k").last_access, kT0 + 7);
  EXPECT_EQ(mg("k").item.last_access, kT0 + 7);
  EXPECT_EQ(s.peek("k").last_access, kT0 + 12);
}

TEST_F(meta_state, hits_through_every_read_path_mark_fetched) {
  for (const char* k : {"a", "b", "c", "d"})
    ASSERT_EQ(s.store(store_mode::set, k, "v", 0, 0).st, status::ok);
  s.get("a");
  const std::string_view keys[] = {"b"};
  item_view out[1];
  s.get_batch(keys, out);
  s.get_and_touch("c", 100);
  s.touch("d", 100);
  for (const char* k : {"a", "b", "c", "d"}) EXPECT_TRUE(s.peek(k).fetched) << k;
  // A new store starts unfetched again.
  ASSERT_EQ(s.store(store_mode::set, "a", "w", 0, 0).st, status::ok);
  EXPECT_FALSE(s.peek("a").fetched);
}

TEST_F(meta_state, vivify_creates_an_empty_item_with_the_token) {
  meta_get_args a;
  a.vivify = true;
  a.vivify_exptime = 30;
  meta_get_result r = mg("v", a);
  ASSERT_TRUE(r.item.found);
  EXPECT_TRUE(r.created);
  EXPECT_TRUE(r.won);
  EXPECT_EQ(r.item.value, "");
  EXPECT_EQ(r.item.expires_at, kT0 + 30);
  r = mg("v", a);  // the next client finds it, token already handed out
  EXPECT_FALSE(r.created);
  EXPECT_FALSE(r.won);
  EXPECT_TRUE(r.item.win_sent);
  // Without N a miss stays a miss.
  EXPECT_FALSE(mg("nothing").item.found);
  EXPECT_FALSE(s.peek("nothing").found);
}

TEST_F(meta_state, recache_wins_once_when_the_ttl_is_below_the_token) {
  ASSERT_EQ(s.store(store_mode::set, "r", "v", 0, 100).st, status::ok);
  meta_get_args a;
  a.recache = true;
  a.recache_exptime = 30;  // 100 s left: not below 30
  EXPECT_FALSE(mg("r", a).won);
  a.recache_exptime = 200;
  meta_get_result r = mg("r", a);
  EXPECT_TRUE(r.won);
  EXPECT_FALSE(r.item.win_sent);
  r = mg("r", a);
  EXPECT_FALSE(r.won);
  EXPECT_TRUE(r.item.win_sent);
  // An item that never expires never wins by R.
  ASSERT_EQ(s.store(store_mode::set, "forever", "v", 0, 0).st, status::ok);
  EXPECT_FALSE(mg("forever", a).won);
  // R compares with the TTL after T when T came first.
  ASSERT_EQ(s.store(store_mode::set, "t", "v", 0, 1000).st, status::ok);
  a.touch = true;
  a.touch_exptime = 10;
  a.recache_after_touch = false;
  r = mg("t", a);
  EXPECT_FALSE(r.won);  // 1000 s before the touch
  EXPECT_EQ(r.item.expires_at, kT0 + 10);
  EXPECT_EQ(r.expires_before, kT0 + 1000);
  a.recache_after_touch = true;
  EXPECT_TRUE(mg("t", a).won);  // 10 s after it
}

TEST_F(meta_state, invalidate_marks_stale_with_a_new_cas_and_frees_the_token) {
  const store_result st = s.store(store_mode::set, "i", "data", 5, 0);
  ASSERT_EQ(st.st, status::ok);
  meta_get_args n;
  n.recache = true;
  n.recache_exptime = 1;
  EXPECT_EQ(s.invalidate("i", st.cas + 1, false, 0).st, status::exists);
  EXPECT_EQ(s.invalidate("missing", 0, false, 0).st, status::not_found);
  const store_result inv = s.invalidate("i", st.cas, true, 30);
  ASSERT_EQ(inv.st, status::ok);
  EXPECT_NE(inv.cas, st.cas);
  meta_get_result r = mg("i");
  EXPECT_TRUE(r.item.stale);
  EXPECT_TRUE(r.won);  // stale and no token out: this reader recaches
  EXPECT_EQ(r.item.value, "data");
  EXPECT_EQ(r.item.flags, 5u);
  EXPECT_EQ(r.item.cas, inv.cas);
  EXPECT_EQ(r.item.expires_at, kT0 + 30);
  r = mg("i");
  EXPECT_FALSE(r.won);
  EXPECT_TRUE(r.item.win_sent);
  // Invalidating again frees the token for the next reader.
  ASSERT_EQ(s.invalidate("i", 0, false, 0, 777).st, status::ok);  // explicit CAS
  r = mg("i");
  EXPECT_EQ(r.item.cas, 777u);
  EXPECT_TRUE(r.won);
  // A plain store replaces a stale item with a fresh one.
  ASSERT_EQ(s.store(store_mode::set, "i", "new", 0, 0).st, status::ok);
  r = mg("i");
  EXPECT_FALSE(r.item.stale);
  EXPECT_FALSE(r.won);
}

TEST_F(meta_state, stale_store_needs_an_older_cas_and_keeps_the_expiry_and_token) {
  const store_result st = s.store(store_mode::set, "s", "v1", 0, 50);
  ASSERT_EQ(st.st, status::ok);
  meta_get_args r;
  r.recache = true;
  r.recache_exptime = 100;
  ASSERT_TRUE(mg("s", r).won);  // the token is out
  store_options opt;
  opt.invalidate = true;
  // A newer CAS than the item's is a plain mismatch.
  EXPECT_EQ(s.store(store_mode::set, "s", "v2", 0, 0, st.cas + 1000, opt).st, status::exists);
  // The item's own CAS is an ordinary CAS store.
  const store_result ok = s.store(store_mode::set, "s", "v2", 0, 0, st.cas, opt);
  ASSERT_EQ(ok.st, status::ok);
  EXPECT_FALSE(s.peek("s").stale);
  EXPECT_EQ(s.peek("s").expires_at, 0u);
  ASSERT_TRUE(mg("s", r).item.found);
  ASSERT_EQ(s.store(store_mode::set, "s", "v3", 0, 70).st, status::ok);
  ASSERT_TRUE(mg("s", r).won);
  // An older one stores, as stale, with the old expiry and the token state.
  const store_result stale = s.store(store_mode::set, "s", "v4", 9, 0, st.cas, opt);
  ASSERT_EQ(stale.st, status::ok);
  const item_view v = s.peek("s");
  EXPECT_EQ(v.value, "v4");
  EXPECT_EQ(v.flags, 9u);
  EXPECT_TRUE(v.stale);
  EXPECT_TRUE(v.win_sent);
  EXPECT_EQ(v.expires_at, kT0 + 70);
  EXPECT_EQ(v.cas, stale.cas);
  // Without the option an older CAS is a mismatch, as always.
  EXPECT_EQ(s.store(store_mode::set, "s", "v5", 0, 0, st.cas).st, status::exists);
}

TEST_F(meta_state, explicit_cas_and_binary_keys) {
  store_options opt;
  opt.new_cas = 4242;
  opt.key_binary = true;
  ASSERT_EQ(s.store(store_mode::set, "b", "v", 0, 0, 0, opt).cas, 4242u);
  item_view v = s.peek("b");
  EXPECT_EQ(v.cas, 4242u);
  EXPECT_TRUE(v.key_binary);
  EXPECT_FALSE(s.peek("b").stale);
  arith_options ao;
  ao.new_cas = 99;
  ASSERT_EQ(s.store(store_mode::set, "n", "1", 0, 0).st, status::ok);
  const arith_result ar = s.incr_decr("n", true, 1, 0, 0, 0, ao);
  ASSERT_EQ(ar.st, status::ok);
  EXPECT_EQ(ar.cas, 99u);
  EXPECT_EQ(s.peek("n").cas, 99u);
}

TEST_F(meta_state, incr_keeps_the_state_and_can_set_the_ttl) {
  ASSERT_EQ(s.store(store_mode::set, "c", "10", 0, 100).st, status::ok);
  ASSERT_EQ(s.invalidate("c", 0, false, 0).st, status::ok);
  s.get("c");
  arith_options ao;
  ao.set_exptime = true;
  ao.exptime = 500;
  const arith_result ar = s.incr_decr("c", true, 5, 0, 0, 0, ao);
  ASSERT_EQ(ar.st, status::ok);
  EXPECT_EQ(ar.value, 15u);
  EXPECT_EQ(ar.expires_before, kT0 + 100);
  EXPECT_EQ(ar.expires_at, kT0 + 500);
  const item_view v = s.peek("c");
  EXPECT_TRUE(v.stale);  // memcached rewrites a counter in place: flags stay
  EXPECT_TRUE(v.fetched);
  EXPECT_EQ(v.expires_at, kT0 + 500);
  // Without set_exptime the expiry stays.
  EXPECT_EQ(s.incr_decr("c", true, 1, 0, 0).expires_at, kT0 + 500);
}

TEST_F(meta_state, touch_keeps_the_state_append_starts_fresh) {
  ASSERT_EQ(s.store(store_mode::set, "t", "v", 0, 0).st, status::ok);
  ASSERT_EQ(s.invalidate("t", 0, false, 0).st, status::ok);
  ASSERT_EQ(s.touch("t", 100).st, status::ok);
  EXPECT_TRUE(s.peek("t").stale);
  EXPECT_TRUE(s.peek("t").fetched);
  ASSERT_EQ(s.store(store_mode::append, "t", "w", 0, 0).st, status::ok);
  const item_view v = s.peek("t");
  EXPECT_EQ(v.value, "vw");
  EXPECT_FALSE(v.stale);
  EXPECT_FALSE(v.fetched);
}

TEST_F(meta_state, peek_counts_nothing) {
  ASSERT_EQ(s.store(store_mode::set, "p", "v", 0, 0).st, status::ok);
  const partition_stats before = e.total_stats();
  s.peek("p");
  s.peek("absent");
  const partition_stats after = e.total_stats();
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.misses, before.misses);
}

// Many clients ask for the recache token of one item at once: exactly one gets W.
TEST(meta_state_race, exactly_one_client_wins_the_recache_token) {
  clock clk{kT0};
  engine_config c;
  c.memory_limit_bytes = 8u << 20;
  c.partitions = 1;
  c.time = &clk;
  engine e(c);
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  {
    session s = e.open_session();
    for (int round = 0; round < kRounds; ++round)
      ASSERT_EQ(s.store(store_mode::set, "k" + std::to_string(round), "v", 0, 10).st, status::ok);
  }
  std::atomic<int> wins[kRounds] = {};
  std::atomic<int> ready{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&] {
      session s = e.open_session();
      ready.fetch_add(1);
      while (ready.load() < kThreads) {
      }
      meta_get_args a;
      a.recache = true;
      a.recache_exptime = 100;
      for (int round = 0; round < kRounds; ++round) {
        if (s.meta_get("k" + std::to_string(round), a).won) wins[round].fetch_add(1);
        // A touch racing the claim (it copies the item) must not lose the token.
        s.touch("k" + std::to_string(round), 10);
        s.quiescent();
      }
    });
  }
  for (auto& t : ts) t.join();
  for (int round = 0; round < kRounds; ++round) EXPECT_EQ(wins[round].load(), 1) << round;
}

}  // namespace
}  // namespace anvil::cache
