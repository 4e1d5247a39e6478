// The engine end to end through io/: fill, snapshot, restore into a fresh engine (also
// after the writing process was SIGKILLed), with varied sizes, flags, expiries and CAS.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <thread>

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
