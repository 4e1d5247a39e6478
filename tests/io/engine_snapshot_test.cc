// The engine end to end through io/: fill, snapshot, restore into a fresh engine (also
// after the writing process was SIGKILLed), with varied sizes, flags, expiries and CAS.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "cache/engine.h"
#include "io/engine_stream.h"
#include "io/snapshot_files.h"
#include "io/snapshot_reader.h"
#include "io/snapshot_service.h"
#include "io/snapshot_writer.h"
#include "tests/io/io_test_util.h"

namespace anvil::io {
namespace {

constexpr std::uint32_t kStart = 1'800'000'000;
constexpr std::uint64_t kNode = 5;

cache::engine_config ecfg(const cache::clock& c) {
  cache::engine_config e;
  e.memory_limit_bytes = 64u << 20;
  e.partitions = 4;
  e.numa_bind = false;
  e.time = &c;
  return e;
}

struct expected_item {
  std::string value;
  std::uint32_t flags;
  std::uint32_t exptime;  // wire expiry given to store
  cache::cas_t cas;
};

// Deterministic fill; returns what was stored. Expiries: none, relative short (expire
// before restore), relative long, absolute future.
std::map<std::string, expected_item> fill(cache::engine& e, int n, unsigned seed) {
  std::mt19937 rng(seed);
  auto s = e.open_session();
  std::map<std::string, expected_item> out;
  for (int i = 0; i < n; ++i) {
    const std::string key = "item:" + std::to_string(i);
    const std::size_t size = i % 101 == 0 ? 50'000 + rng() % 100'000 : rng() % 500;
    std::string body(size, '\0');
    for (auto& c : body) c = static_cast<char>(rng());
    const std::string value = test::checked_value(body);
    const std::uint32_t flags = rng();
    std::uint32_t exptime = 0;
    switch (i % 4) {
      case 1:
        exptime = 10;
        break;  // relative 10 s: gone after the restart
      case 2:
        exptime = 100'000;
        break;  // relative, still alive
      case 3:
        exptime = kStart + 200'000;
        break;  // absolute
      default:
        break;
    }
    const auto r = s.store(cache::store_mode::set, key, value, flags, exptime);
    EXPECT_EQ(r.st, cache::status::ok);
    out[key] = {value, flags, exptime, r.cas};
    s.quiescent();
  }
  // Some CAS-changing operations, so CAS values are not just insertion order.
  for (int i = 0; i < n; i += 7) {
    const std::string key = "item:" + std::to_string(i);
    auto& x = out[key];
    const auto r = s.touch(key, x.exptime);
    if (r.st == cache::status::ok) x.cas = r.cas;
    s.quiescent();
  }
  return out;
}

void check_restored(cache::engine& e, const std::map<std::string, expected_item>& items) {
  auto s = e.open_session();
  cache::cas_t max_cas = 0;
  int live = 0, expired = 0;
  for (const auto& [key, x] : items) {
    const auto v = s.get(key);
    if (x.exptime == 10) {
      EXPECT_FALSE(v.found) << key << " expired but restored";
      ++expired;
    } else {
      ASSERT_TRUE(v.found) << key;
      EXPECT_EQ(v.value, x.value) << key;
      EXPECT_EQ(v.flags, x.flags) << key;
      EXPECT_EQ(v.cas, x.cas) << key;
      ++live;
    }
    max_cas = std::max(max_cas, x.cas);
    s.quiescent();
  }
  EXPECT_GT(live, 0);
  EXPECT_GT(expired, 0);
  // CAS values never repeat: a new store gets a CAS above every restored one.
  EXPECT_GE(e.cas_counter(), max_cas);
  const auto r = s.store(cache::store_mode::set, "after-restore", "x", 0, 0);
  ASSERT_EQ(r.st, cache::status::ok);
  EXPECT_GT(r.cas, max_cas);
}

restore_config rcfg(const std::string& dir, std::uint32_t now) {
  restore_config r;
  r.dir = dir;
  r.node_id = kNode;
  r.now_unix = now;
  r.threads = 2;
  return r;
}

TEST(EngineSnapshot, RoundTripIntoAFreshEngine) {
  test::temp_dir d;
  cache::clock clk(kStart);
  std::map<std::string, expected_item> items;
  {
    cache::engine e(ecfg(clk));
    items = fill(e, 4000, 1);
    engine_source src(e);
    writer_config w;
    w.dir = d.path();
    w.node_id = kNode;
    const auto r = write_snapshot(src, w, 1, clk.now());
    ASSERT_TRUE(r.ok) << r.reason;
    EXPECT_EQ(r.items, items.size());
  }
  clk.advance(60);  // the restart takes a minute: the 10 s items are gone
  cache::engine e2(ecfg(clk));
  engine_sink sink(e2);
  const auto rr = restore_latest(sink, rcfg(d.path(), clk.now()));
  ASSERT_TRUE(rr.restored) << rr.cold_start_reason;
  EXPECT_EQ(rr.items_expired, 1000u);
  EXPECT_EQ(rr.items_restored, 3000u);
  check_restored(e2, items);
}

// ---- issue 11: mutations during the walk. A writer and a deleter run while the
// snapshot walks; the source lets them make progress between records (bounded waits on
// their op counters, never on time) and stops them before the walk's end check, so the
// engine's state at that point is the truth the restore must never contradict: no key
// that is absent then (deleted) comes back, and every restored key has its value then.
// Keys stored during the walk that the walk did not reach may be missing (a miss). ----

struct mutators {
  explicit mutators(cache::engine& e, int keys) : _e(e), _keys(keys) {
    _threads.emplace_back([this] { write_loop(); });
    _threads.emplace_back([this] { delete_loop(); });
  }
  ~mutators() { stop(); }
  void stop() {
    _stop = true;
    for (auto& t : _threads)
      if (t.joinable()) t.join();
  }
  // Lets each make `n` more operations and waits (a bounded spin) until they have.
  void let_run(std::int64_t n) {
    _write_budget += n;
    _delete_budget += n;
    for (int i = 0; i < 1'000'000 && !_stop && (_write_budget > 0 || _delete_budget > 0); ++i)
      std::this_thread::yield();
  }
  std::atomic<std::uint64_t> writes{0}, deletes{0};

 private:
  void write_loop() {
    auto s = _e.open_session();
    std::mt19937 rng(11);
    std::uint64_t gen = 0;
    while (!_stop) {
      if (_write_budget <= 0) {
        std::this_thread::yield();
        continue;
      }
      --_write_budget;
      const int k = static_cast<int>(rng() % static_cast<unsigned>(_keys));
      const std::string v = "gen" + std::to_string(++gen) + ":" + std::string(rng() % 200, 'w');
      if (s.store(cache::store_mode::set, "k:" + std::to_string(k), v, 0, 0).st ==
          cache::status::ok)
        ++writes;
      s.quiescent();
    }
  }
  void delete_loop() {
    auto s = _e.open_session();
    std::mt19937 rng(12);
    while (!_stop) {
      if (_delete_budget <= 0) {
        std::this_thread::yield();
        continue;
      }
      --_delete_budget;
      s.remove("k:" + std::to_string(rng() % static_cast<unsigned>(_keys)));
      ++deletes;
      s.quiescent();
    }
  }
  cache::engine& _e;
  int _keys;
  std::atomic<bool> _stop{false};
  std::atomic<std::int64_t> _write_budget{0}, _delete_budget{0};
  std::vector<std::thread> _threads;
};

// engine_source, with a hook every `every` records of the walk and one before the check.
class interleaving_source final : public item_source {
 public:
  interleaving_source(cache::engine& e, std::function<void()> during,
                      std::function<void()> before_check, unsigned every = 16)
      : _src(e), _during(std::move(during)), _before(std::move(before_check)), _every(every) {}
  std::size_t partition_count() override { return _src.partition_count(); }
  std::size_t max_item_size() override { return _src.max_item_size(); }
  void for_each_item(std::size_t p,
                     const std::function<void(const cache::item_record&)>& fn) override {
    _src.for_each_item(p, [&](const cache::item_record& r) {
      fn(r);
      if (++_n % _every == 0) {
        _src.pause();  // the record is written; writers may reclaim while we wait
        _during();
      }
    });
  }
  cache::cas_t cas_counter() override { return _src.cas_counter(); }
  void pause() override { _src.pause(); }
  void for_each_stale(std::size_t p, const std::function<void(std::uint64_t)>& fn,
                      const std::function<void(const cache::item_record&)>& refresh) override {
    if (!_checked) {
      _checked = true;
      _before();
    }
    _src.for_each_stale(p, fn, refresh);
  }

 private:
  engine_source _src;
  std::function<void()> _during, _before;
  unsigned _every;
  std::uint64_t _n = 0;
  bool _checked = false;
};

// The engine's state of keys k:0..n-1 (absent: nullopt).
std::vector<std::optional<std::string>> state_of(cache::engine& e, int n) {
  std::vector<std::optional<std::string>> out(static_cast<std::size_t>(n));
  auto s = e.open_session();
  for (int i = 0; i < n; ++i) {
    const auto g = s.get("k:" + std::to_string(i));
    if (g.found) out[static_cast<std::size_t>(i)] = std::string(g.value);
    s.quiescent();
  }
  return out;
}

// Restores `dir` into a fresh engine and compares with `truth`: the number of keys
// restored, after failing the test on any key that came back deleted or old.
int expect_never_contradicts(const std::string& dir, const cache::clock& clk,
                             const std::vector<std::optional<std::string>>& truth,
                             restore_result* out = nullptr) {
  cache::engine e2(ecfg(clk));
  engine_sink sink(e2);
  const auto rr = restore_latest(sink, rcfg(dir, clk.now()));
  EXPECT_TRUE(rr.restored) << rr.cold_start_reason;
  if (out != nullptr) *out = rr;
  const auto got = state_of(e2, static_cast<int>(truth.size()));
  int present = 0, resurrected = 0, old = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (!got[i]) continue;
    ++present;
    if (!truth[i]) {
      if (++resurrected <= 3) ADD_FAILURE() << "k:" << i << " was deleted and came back";
    } else if (*got[i] != *truth[i]) {
      if (++old <= 3)
        ADD_FAILURE() << "k:" << i << " restored " << got[i]->substr(0, 12) << ", newest "
                      << truth[i]->substr(0, 12);
    }
  }
  EXPECT_EQ(resurrected, 0);
  EXPECT_EQ(old, 0);
  return present;
}

TEST(EngineSnapshot, DeletesAndRewritesDuringTheWalkAreNotUndone) {
  constexpr int kKeys = 20'000;
  test::temp_dir d;
  cache::clock clk(kStart);
  cache::engine e(ecfg(clk));
  {
    auto s = e.open_session();
    for (int i = 0; i < kKeys; ++i) {
      ASSERT_EQ(s.store(cache::store_mode::set, "k:" + std::to_string(i),
                        "gen0:" + std::string(100, 'f'), 0, 0)
                    .st,
                cache::status::ok);
      s.quiescent();
    }
  }
  mutators m(e, kKeys);
  std::uint64_t writes_during = 0, deletes_during = 0;
  interleaving_source src(
      e, [&] { m.let_run(4); },
      [&] {
        m.stop();  // the truth is fixed from here on
        writes_during = m.writes.load();
        deletes_during = m.deletes.load();
      });
  writer_config w;
  w.dir = d.path();
  w.node_id = kNode;
  const auto r = write_snapshot(src, w, 1, clk.now());
  ASSERT_TRUE(r.ok) << r.reason;
  ASSERT_GT(writes_during, 500u);
  ASSERT_GT(deletes_during, 500u);
  EXPECT_GT(r.stale, 0u);
  const auto truth = state_of(e, kKeys);
  int live = 0;
  for (const auto& t : truth) live += t.has_value();
  restore_result rr;
  const int present = expect_never_contradicts(d.path(), clk, truth, &rr);
  EXPECT_EQ(rr.items_stale, r.stale);
  // Most live keys are back (the few written where the walk had passed may not be).
  EXPECT_GT(present, live / 2) << "live " << live;
  std::cout << "during the walk: " << writes_during << " sets, " << deletes_during
            << " deletes; snapshot " << r.items << " records, " << r.stale << " stale; " << present
            << " of " << live << " live keys restored\n";
}

// Keys stored again or touched after the walk reported them (the hottest keys of a
// busy cache) are in the snapshot with their value at the end check, not dropped as
// stale: their live records are added (refreshed), once per key. A key deleted after
// its report stays out.
TEST(EngineSnapshot, KeysRewrittenAfterTheirReportKeepTheirNewestValue) {
  constexpr int kKeys = 4'000;
  test::temp_dir d;
  cache::clock clk(kStart);
  cache::engine e(ecfg(clk));
  auto s = e.open_session();
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_EQ(s.store(cache::store_mode::set, "k:" + std::to_string(i), "old", 0, 0).st,
              cache::status::ok);
    s.quiescent();
  }
  // After the walk, before its end check (the walk reported every key): keys 0..299
  // rewritten three times each, 300..599 touched, 600..699 deleted.
  interleaving_source src(
      e, [] {},
      [&] {
        std::thread([&] {
          auto w = e.open_session();
          for (int round = 0; round < 3; ++round)
            for (int i = 0; i < 300; ++i) {
              ASSERT_EQ(w.store(cache::store_mode::set, "k:" + std::to_string(i),
                                "new" + std::to_string(round), 0, 0)
                            .st,
                        cache::status::ok);
              w.quiescent();
            }
          for (int i = 300; i < 600; ++i) {
            ASSERT_EQ(w.touch("k:" + std::to_string(i), 0).st, cache::status::ok);
            w.quiescent();
          }
          for (int i = 600; i < 700; ++i) {
            ASSERT_EQ(w.remove("k:" + std::to_string(i)), cache::status::ok);
            w.quiescent();
          }
        }).join();
      });
  writer_config w;
  w.dir = d.path();
  w.node_id = kNode;
  const auto r = write_snapshot(src, w, 1, clk.now());
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.refreshed, 600u);
  EXPECT_EQ(r.stale, 700u);  // the reported records of the 600 refreshed and 100 deleted keys
  EXPECT_EQ(r.items, static_cast<std::uint64_t>(kKeys) + 600u);
  const auto truth = state_of(e, kKeys);
  restore_result rr;
  EXPECT_EQ(expect_never_contradicts(d.path(), clk, truth, &rr), kKeys - 100);
  EXPECT_EQ(rr.items_restored, static_cast<std::uint64_t>(kKeys - 100));
  EXPECT_EQ(*truth[0], "new2");
}

// A flush during the walk: every record reported before it is stale, so nothing stored
// before the flush comes back.
TEST(EngineSnapshot, FlushDuringTheWalkIsNotUndone) {
  constexpr int kKeys = 8'000;
  test::temp_dir d;
  cache::clock clk(kStart);
  cache::engine e(ecfg(clk));
  {
    auto s = e.open_session();
    for (int i = 0; i < kKeys; ++i) {
      ASSERT_EQ(
          s.store(cache::store_mode::set, "k:" + std::to_string(i), std::string(64, 'f'), 0, 0).st,
          cache::status::ok);
      s.quiescent();
    }
  }
  int calls = 0;
  interleaving_source src(
      e,
      [&] {
        if (++calls == 250) {  // about half way through the walk, on another thread
          std::thread([&] { e.open_session().flush(); }).join();
        }
      },
      [] {});
  writer_config w;
  w.dir = d.path();
  w.node_id = kNode;
  const auto r = write_snapshot(src, w, 1, clk.now());
  ASSERT_TRUE(r.ok) << r.reason;
  ASSERT_GE(calls, 250) << "the walk ended before the flush";
  EXPECT_GT(r.items, 0u);
  EXPECT_EQ(r.stale, r.items);
  const auto truth = state_of(e, kKeys);
  for (const auto& t : truth) ASSERT_FALSE(t.has_value());
  restore_result rr;
  EXPECT_EQ(expect_never_contradicts(d.path(), clk, truth, &rr), 0);
  EXPECT_EQ(rr.items_restored, 0u);
}

// ---- kill -9: a child process fills and snapshots through the service, then is
// SIGKILLed (mid periodic snapshots); this process restores. ----

int child_main(const std::string& dir, int ready_fd) {
  cache::clock clk(kStart);
  cache::engine e(ecfg(clk));
  fill(e, 3000, 2);
  service_config cfg;
  cfg.writer.dir = dir;
  cfg.writer.node_id = kNode;
  cfg.interval = std::chrono::milliseconds(5);  // keep writing: the kill lands mid-snapshot too
  cfg.keep = 2;
  snapshot_service svc(engine_source_factory(e), clk, cfg);
  svc.start();
  snapshot_result r;
  if (!svc.wait(svc.request_snapshot(), std::chrono::seconds(60), &r) || !r.ok) return 2;
  const char c = 'r';
  if (write(ready_fd, &c, 1) != 1) return 3;
  for (;;) pause();  // until SIGKILL
}

std::string g_self;

TEST(EngineSnapshot, RestoreAfterKill9) {
  test::temp_dir d;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    const std::string arg = "--kill9-child=" + d.path();
    const std::string fd = std::to_string(fds[1]);
    execl(g_self.c_str(), g_self.c_str(), arg.c_str(), fd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  char c = 0;
  const auto n = read(fds[0], &c, 1);
  close(fds[0]);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // let periodic ones run
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_EQ(n, 1) << "child failed, status " << status;
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  // The reference: the same deterministic fill in this process.
  cache::clock ref_clk(kStart);
  cache::engine ref(ecfg(ref_clk));
  const auto items = fill(ref, 3000, 2);

  cache::clock clk(kStart + 60);
  cache::engine e(ecfg(clk));
  engine_sink sink(e);
  const auto rr = restore_latest(sink, rcfg(d.path(), clk.now()));
  ASSERT_TRUE(rr.restored) << rr.cold_start_reason;
  // Whatever the kill interrupted is either complete or rejected for lack of a manifest.
  for (const auto& rej : rr.rejected)
    EXPECT_NE(rej.reason.find("no manifest"), std::string::npos) << rej.reason;
  check_restored(e, items);
}

TEST(EngineSnapshot, ServiceSnapshotsTheEngineAndRestoresAfterRestart) {
  test::temp_dir d;
  cache::clock clk(kStart);
  std::map<std::string, expected_item> items;
  {
    cache::engine e(ecfg(clk));
    items = fill(e, 2000, 3);
    service_config cfg;
    cfg.writer.dir = d.path();
    cfg.writer.node_id = kNode;
    snapshot_service svc(engine_source_factory(e), clk, cfg);
    svc.start();
    svc.stop();  // graceful shutdown: the final snapshot
    EXPECT_EQ(svc.health().get(storage_health::snapshots_ok), 1u);
    EXPECT_EQ(svc.health().state(), storage_state::ok);
  }
  clk.advance(60);
  cache::engine e2(ecfg(clk));
  engine_sink sink(e2);
  storage_health h;
  const auto rr = restore_latest(sink, rcfg(d.path(), clk.now()), &h);
  ASSERT_TRUE(rr.restored) << rr.cold_start_reason;
  EXPECT_EQ(h.get(storage_health::restored_items), rr.items_restored);
  check_restored(e2, items);
}

}  // namespace
}  // namespace anvil::io

int main(int argc, char** argv) {
  anvil::io::g_self = "/proc/self/exe";
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) anvil::io::g_self.assign(buf, static_cast<std::size_t>(n));
  if (argc >= 3 && std::strncmp(argv[1], "--kill9-child=", 14) == 0) {
    return anvil::io::child_main(argv[1] + 14, std::atoi(argv[2]));
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
