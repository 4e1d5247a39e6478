// Storage faults on real filesystems (root): ENOSPC and EROFS from a loop-mounted ext4,
// EIO on write, EIO on fsync and a write that never completes from anvil_faultfs. In each
// case the snapshot is abandoned, health says degraded with the reason, the earlier
// snapshot still restores, and a serving thread doing get/set on the engine completes
// every operation throughout (zero failures). Deadlines are checked with wide slack:
// they are behaviour ("gives up"), not performance.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "cache/engine.h"
#include "io/engine_stream.h"
#include "io/snapshot_files.h"
#include "io/snapshot_reader.h"
#include "io/snapshot_service.h"
#include "tests/io/fault_env.h"
#include "tests/io/io_test_util.h"

namespace anvil::io {
namespace {

using namespace std::chrono_literals;
constexpr std::uint32_t kNow = 1'800'000'000;
constexpr int kStable = 2000;

cache::engine_config ecfg(const cache::clock& c, std::size_t mib) {
  cache::engine_config e;
  e.memory_limit_bytes = mib << 20;
  e.partitions = 4;
  e.numa_bind = false;
  e.time = &c;
  return e;
}

std::string stable_value(int i) {
  return test::checked_value("stable:" + std::to_string(i) + std::string(200, 's'));
}

void fill_stable(cache::engine& e) {
  auto s = e.open_session();
  for (int i = 0; i < kStable; ++i) {
    ASSERT_EQ(
        s.store(cache::store_mode::set, "stable:" + std::to_string(i), stable_value(i), 3, 0).st,
        cache::status::ok);
    s.quiescent();
  }
}

// Stands in for the lcores until the server exists: get/set on the engine in a loop.
class serving_load {
 public:
  explicit serving_load(cache::engine& e) : _t([this, &e] { run(e); }) {}
  ~serving_load() {
    _stop = true;
    _t.join();
  }
  std::uint64_t ops() const { return _ops.load(); }
  std::uint64_t failures() const { return _failures.load(); }
  // What failed, for the assertion message: "store_stable=N store=N miss=N wrong=N"
  // and the last failed store's status.
  std::string failure_kinds() const {
    return "store_stable=" + std::to_string(_store_stable.load()) +
           " store=" + std::to_string(_store.load()) + " miss=" + std::to_string(_miss.load()) +
           " wrong=" + std::to_string(_wrong.load()) +
           " last_status=" + std::to_string(_last_status.load());
  }
  // Waits (bounded) until `n` more operations completed: serving is not blocked.
  bool progresses(std::uint64_t n = 1000) const {
    const auto start = ops();
    for (int i = 0; i < 6000 && ops() < start + n; ++i) std::this_thread::sleep_for(5ms);
    return ops() >= start + n;
  }

 private:
  void run(cache::engine& e) {
    auto s = e.open_session();
    std::mt19937 rng(7);
    std::uint64_t v = 0;
    while (!_stop.load(std::memory_order_relaxed)) {
      const int i = static_cast<int>(rng() % kStable);
      const auto g = s.get("stable:" + std::to_string(i));
      if (!g.found) {
        // Evicted, not lost: the loop rewrites ~1000 keys as fast as it can, so within
        // seconds the log wraps past the stable items (a FIFO log evicts its oldest
        // segments whatever is read). A client puts it back, as any cache-aside client.
        s.quiescent();
        const auto st =
            s.store(cache::store_mode::set, "stable:" + std::to_string(i), stable_value(i), 3, 0)
                .st;
        if (st != cache::status::ok) fail(_store_stable, st);
      } else if (g.value != stable_value(i)) {
        fail(_wrong);
      }
      const std::string k = "serve:" + std::to_string(rng() % 1000);
      const auto st =
          s.store(cache::store_mode::set, k, test::checked_value(k + std::to_string(++v)), 0, 0).st;
      if (st != cache::status::ok) {
        fail(_store, st);
      } else {
        const auto h = s.get(k);
        if (!h.found)
          fail(_miss);
        else if (!test::value_ok(h.value))
          fail(_wrong);
      }
      s.quiescent();
      _ops.fetch_add(1, std::memory_order_relaxed);
    }
  }
  void fail(std::atomic<std::uint64_t>& kind, cache::status st = cache::status::ok) {
    kind.fetch_add(1);
    _failures.fetch_add(1);
    if (st != cache::status::ok) _last_status.store(static_cast<int>(st));
  }
  std::atomic<bool> _stop{false};
  std::atomic<std::uint64_t> _ops{0}, _failures{0};
  std::atomic<std::uint64_t> _store_stable{0}, _store{0}, _miss{0}, _wrong{0};
  std::atomic<int> _last_status{0};
  std::thread _t;
};

bool have_root() { return geteuid() == 0; }

std::vector<std::string> snapshot_files(const std::string& dir) { return test::files_in(dir); }

// The earlier snapshot restores into a fresh engine with every stable item.
void expect_restores(const std::string& dir, std::uint64_t id) {
  cache::clock clk(kNow);
  cache::engine e(ecfg(clk, 64));
  engine_sink sink(e);
  restore_config rc;
  rc.dir = dir;
  rc.node_id = 9;
  rc.now_unix = kNow;
  rc.threads = 2;
  rc.io_timeout = 5s;
  const auto rr = restore_latest(sink, rc);
  ASSERT_TRUE(rr.restored) << rr.cold_start_reason;
  EXPECT_EQ(rr.snapshot_id, id);
  auto s = e.open_session();
  for (int i = 0; i < kStable; ++i) {
    const auto g = s.get("stable:" + std::to_string(i));
    ASSERT_TRUE(g.found);
    EXPECT_EQ(g.value, stable_value(i));
    s.quiescent();
  }
}

class StorageFault : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_root()) GTEST_SKIP() << "needs root (mount, loop devices, FUSE)";
    test::reap_stale();
  }
};

TEST_F(StorageFault, FuseEioOnWriteEioOnFsyncAndAStalledWrite) {
  if (!std::filesystem::exists("/dev/fuse")) GTEST_SKIP() << "no /dev/fuse";
  test::fuse_fault_fs fs(ANVIL_FAULTFS_BIN);
  cache::clock clk(kNow);
  cache::engine e(ecfg(clk, 64));
  fill_stable(e);
  serving_load load(e);
  service_config cfg;
  cfg.writer.dir = fs.mnt() + "/snaps";
  cfg.writer.node_id = 9;
  cfg.writer.io_timeout = 1000ms;
  cfg.shutdown_timeout = 2000ms;
  cfg.keep = 2;
  auto svc = std::make_unique<snapshot_service>(engine_source_factory(e), clk, cfg);
  svc->start();
  snapshot_result r;
  ASSERT_TRUE(svc->wait(svc->request_snapshot(), 60s, &r));
  ASSERT_TRUE(r.ok) << r.reason;
  const std::uint64_t good = r.snapshot_id;
  const auto good_files = snapshot_files(cfg.writer.dir);
  ASSERT_TRUE(load.progresses());

  // EIO on write.
  fs.set_mode("eio_write");
  ASSERT_TRUE(svc->wait(svc->request_snapshot(), 60s, &r));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, EIO);
  EXPECT_NE(r.reason.find("write"), std::string::npos) << r.reason;
  EXPECT_TRUE(r.cleaned_up);
  auto h = svc->health().view();
  EXPECT_EQ(h.state, storage_state::degraded);
  EXPECT_NE(h.reason.find("Input/output error"), std::string::npos) << h.reason;
  EXPECT_EQ(snapshot_files(cfg.writer.dir), good_files);
  EXPECT_TRUE(load.progresses());

  // EIO on fsync.
  fs.set_mode("eio_fsync");
  ASSERT_TRUE(svc->wait(svc->request_snapshot(), 60s, &r));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, EIO);
  EXPECT_NE(r.reason.find("fsync"), std::string::npos) << r.reason;
  EXPECT_TRUE(r.cleaned_up);
  EXPECT_EQ(svc->health().state(), storage_state::degraded);
  EXPECT_EQ(snapshot_files(cfg.writer.dir), good_files);
  EXPECT_TRUE(load.progresses());

  // A write that never completes: abandoned at its deadline. While its I/O stays stuck
  // a second attempt is skipped, not stacked on the same dead filesystem (issue 11).
  fs.set_mode("stall_write");
  {
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(svc->wait(svc->request_snapshot(), 60s, &r));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, cfg.writer.io_timeout + 20s);
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(r.stalled);
    EXPECT_NE(r.reason.find("did not complete within 1000 ms"), std::string::npos) << r.reason;
    EXPECT_TRUE(load.progresses());
    ASSERT_TRUE(svc->wait(svc->request_snapshot(), 60s, &r));
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.stalled);
    EXPECT_EQ(r.error, EBUSY);
    EXPECT_NE(r.reason.find("still stuck"), std::string::npos) << r.reason;
    EXPECT_TRUE(load.progresses());
  }
  h = svc->health().view();
  EXPECT_EQ(h.state, storage_state::degraded);
  EXPECT_NE(h.reason.find("still stuck"), std::string::npos) << h.reason;
  EXPECT_EQ(h.counters.io_stalls, 1u);
  EXPECT_EQ(h.counters.rings_abandoned, 1u);
  EXPECT_EQ(h.counters.snapshots_failed, 3u);
  EXPECT_EQ(h.counters.snapshots_skipped, 1u);

  // The earlier snapshot still restores (reads still work on this filesystem).
  expect_restores(cfg.writer.dir, good);

  // The filesystem recovers: so does health, and the stuck rings are reclaimed (their
  // memory freed, the partial files of the stalled attempts removed).
  fs.set_mode("normal");
  ASSERT_TRUE(svc->wait(svc->request_snapshot(), 60s, &r));
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(svc->health().state(), storage_state::ok);
  for (int i = 0; i < 600 && svc->health().get(storage_health::stuck_io_bytes) != 0; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(svc->health().get(storage_health::stuck_io_bytes), 0u);
  EXPECT_EQ(svc->health().get(storage_health::rings_reclaimed), 1u);
  EXPECT_EQ(svc->health().get(storage_health::stuck_helpers), 0u);
  EXPECT_EQ(svc->health().get(storage_health::bytes_leaked), 0u);
  {
    auto files = snapshot_files(cfg.writer.dir);
    std::erase_if(files, [&](const std::string& f) {
      return f.find(manifest_name(r.snapshot_id)) != std::string::npos ||
             f == data_name(r.snapshot_id);
    });
    EXPECT_EQ(files, good_files);  // only the good one and the new one
  }

  // Shutdown while the filesystem hangs: bounded, the io thread is given up on.
  fs.set_mode("stall_write");
  const auto t0 = std::chrono::steady_clock::now();
  svc->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0,
            cfg.shutdown_timeout + 2 * cfg.writer.io_timeout + 20s);
  EXPECT_GE(svc->health().get(storage_health::threads_abandoned), 1u);
  EXPECT_TRUE(load.progresses());
  EXPECT_EQ(load.failures(), 0u) << load.failure_kinds();
  svc.reset();
  fs.set_mode("normal");  // lets the kernel finish the abandoned writes
}

// anvil-iod children of this process, and this process's resident memory.
std::size_t iod_children() {
  std::size_t n = 0;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    std::ifstream f(e.path() / "stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    const auto open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 4 > line.size())
      continue;
    if (line.substr(open + 1, close - open - 1) != "anvil-iod") continue;
    std::istringstream rest(line.substr(close + 2));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == ::getpid()) ++n;
  }
  return n;
}

// Resident shared memory: the rings' arenas (memfd, shared with their anvil-iod child).
// Not VmRSS: the engine beside it fills its own (anonymous) memory under the load.
std::uint64_t rss_shmem_bytes() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("RssShmem:", 0) == 0) return std::stoull(line.substr(9)) * 1024;
  return 0;
}

// issue 11: a filesystem that hangs and stays hung over many intervals. Before, every
// interval stranded another anvil-iod child with another set of block buffers, without
// bound. Now one attempt is stuck, the rest are skipped: children and RSS stay flat,
// serving goes on, and the first interval after the stall lifts writes a snapshot.
TEST_F(StorageFault, HungFilesystemOverManyIntervalsHoldsOneStuckAttempt) {
  if (!std::filesystem::exists("/dev/fuse")) GTEST_SKIP() << "no /dev/fuse";
  test::fuse_fault_fs fs(ANVIL_FAULTFS_BIN);
  cache::clock clk(kNow);
  cache::engine e(ecfg(clk, 64));
  fill_stable(e);
  serving_load load(e);
  service_config cfg;
  cfg.writer.dir = fs.mnt() + "/snaps";
  cfg.writer.node_id = 9;
  // Not shorter: the anvil-iod children run at nice 19, and on a loaded 2-core host a
  // starved child misses a 300 ms deadline on a healthy filesystem.
  cfg.writer.io_timeout = 1000ms;
  cfg.interval = 100ms;
  cfg.keep = 2;
  cfg.snapshot_at_shutdown = false;
  auto svc = std::make_unique<snapshot_service>(engine_source_factory(e), clk, cfg);
  svc->start();
  auto wait_for = [&](storage_health::counter c, std::uint64_t n) {
    for (int i = 0; i < 1200 && svc->health().get(c) < n; ++i) std::this_thread::sleep_for(50ms);
    return svc->health().get(c) >= n;
  };
  ASSERT_TRUE(wait_for(storage_health::snapshots_ok, 1));

  fs.set_mode("stall_all");
  ASSERT_TRUE(wait_for(storage_health::snapshots_skipped, 3));
  const std::size_t children_at_start = iod_children();
  const std::uint64_t shmem_at_start = rss_shmem_bytes();
  const std::uint64_t held_at_start = svc->health().get(storage_health::stuck_io_bytes);
  const std::uint64_t failed_at_start = svc->health().get(storage_health::snapshots_failed);
  const std::uint64_t rings_at_start = svc->health().get(storage_health::rings_abandoned);
  std::size_t children_max = children_at_start;
  for (std::uint64_t k = 4; k <= 15; ++k) {  // many more intervals, the disk still hung
    ASSERT_TRUE(wait_for(storage_health::snapshots_skipped, k));
    children_max = std::max(children_max, iod_children());
  }
  EXPECT_TRUE(load.progresses());
  const auto h = svc->health().view();
  EXPECT_EQ(h.state, storage_state::degraded);
  EXPECT_NE(h.reason.find("still stuck"), std::string::npos) << h.reason;
  EXPECT_EQ(h.counters.snapshots_failed, failed_at_start);  // no new attempt started
  EXPECT_EQ(h.counters.rings_abandoned, rings_at_start);
  EXPECT_GE(h.counters.stuck_helpers, 1u);
  EXPECT_EQ(h.counters.stuck_io_bytes, held_at_start);
  EXPECT_LE(children_max, 2u) << "anvil-iod children grew while the disk stayed hung";
  EXPECT_LE(children_max, children_at_start + 1);
  // Before the fix every interval pinned another ~4 MiB: 12 intervals would be ~48 MiB.
  EXPECT_LT(rss_shmem_bytes(), shmem_at_start + (8u << 20))
      << "ring memory grew while the disk stayed hung";

  fs.set_mode("normal");
  const std::uint64_t ok_before = svc->health().get(storage_health::snapshots_ok);
  ASSERT_TRUE(wait_for(storage_health::snapshots_ok, ok_before + 1));
  EXPECT_EQ(svc->health().state(), storage_state::ok) << svc->health().reason();
  for (int i = 0;
       i < 600 && (svc->health().get(storage_health::stuck_helpers) != 0 || iod_children() > 0);
       ++i)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(svc->health().get(storage_health::stuck_helpers), 0u);
  EXPECT_EQ(svc->health().get(storage_health::stuck_io_bytes), 0u);
  EXPECT_EQ(iod_children(), 0u);
  svc->stop();
  EXPECT_TRUE(load.progresses());
  EXPECT_EQ(load.failures(), 0u) << load.failure_kinds();
}

TEST_F(StorageFault, Ext4ReadOnlyAndFull) {
  std::unique_ptr<test::loop_ext4> fs;
  try {
    fs = std::make_unique<test::loop_ext4>(48);
  } catch (const std::exception& ex) {
    GTEST_SKIP() << ex.what();
  }
  cache::clock clk(kNow);
  // Room for the big items below with a wide margin: the serving load rewrites its keys
  // as fast as it can, so the log wraps tens of MB a second and evicts the unread big
  // items first; with 160 MiB and 60k items, a slow walk sometimes found only ~33k (less
  // than the 48 MiB filesystem) and ENOSPC never came.
  cache::engine e(ecfg(clk, 512));
  fill_stable(e);
  serving_load load(e);
  service_config cfg;
  cfg.writer.dir = fs->mnt() + "/snaps";
  cfg.writer.node_id = 9;
  cfg.writer.io_timeout = 5000ms;
  cfg.keep = 2;
  cfg.snapshot_at_shutdown = false;
  snapshot_service svc(engine_source_factory(e), clk, cfg);
  svc.start();
  snapshot_result r;
  ASSERT_TRUE(svc.wait(svc.request_snapshot(), 60s, &r));
  ASSERT_TRUE(r.ok) << r.reason;
  const std::uint64_t good = r.snapshot_id;
  const auto good_files = snapshot_files(cfg.writer.dir);

  // EROFS.
  ASSERT_TRUE(fs->remount(true));
  ASSERT_TRUE(svc.wait(svc.request_snapshot(), 60s, &r));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, EROFS);
  EXPECT_NE(svc.health().reason().find("Read-only file system"), std::string::npos)
      << svc.health().reason();
  EXPECT_EQ(svc.health().state(), storage_state::degraded);
  EXPECT_TRUE(load.progresses());
  ASSERT_TRUE(fs->remount(false));

  // ENOSPC: more items than the filesystem holds.
  const auto free_before = fs->free_bytes();
  {
    auto s = e.open_session();
    const std::string big(1000, 'b');
    for (int i = 0; i < 200'000; ++i) {
      ASSERT_EQ(s.store(cache::store_mode::set, "big:" + std::to_string(i), big, 0, 0).st,
                cache::status::ok);
      s.quiescent();
    }
  }
  ASSERT_TRUE(svc.wait(svc.request_snapshot(), 60s, &r));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, ENOSPC);
  EXPECT_TRUE(r.cleaned_up);
  const auto h = svc.health().view();
  EXPECT_EQ(h.state, storage_state::degraded);
  EXPECT_NE(h.reason.find("No space left on device"), std::string::npos) << h.reason;
  EXPECT_EQ(h.counters.io_errors, 2u);
  EXPECT_EQ(snapshot_files(cfg.writer.dir), good_files);
  EXPECT_GE(fs->free_bytes() + (1u << 20), free_before);  // the partial file is gone
  EXPECT_TRUE(load.progresses());

  expect_restores(cfg.writer.dir, good);
  svc.stop();
  EXPECT_EQ(load.failures(), 0u) << load.failure_kinds();
}

}  // namespace
}  // namespace anvil::io
