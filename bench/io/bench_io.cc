// bench_io: snapshot write throughput against the same filesystem's O_DIRECT sequential
// write bandwidth (dd, same run), restore rate, and engine get/set p99 latency with and
// without a snapshot running.
//
//   bench_io [--items N] [--dir DIR] [--seconds S] [--benchmark_out=FILE]
//
// Defaults: 10M items of 32-byte values, DIR a fresh directory under /tmp, S = 3 s per
// latency phase. Bounded for a shared 2-core VM: one serving thread, one io thread, the
// dd file and the snapshot are deleted at the end.
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/engine.h"
#include "io/engine_stream.h"
#include "io/snapshot_files.h"
#include "io/snapshot_reader.h"
#include "io/snapshot_writer.h"

namespace {

using steady = std::chrono::steady_clock;
using cache_clock = anvil::cache::clock;
using anvil::cache::engine;
using anvil::cache::engine_config;
using anvil::cache::store_mode;

double secs(steady::duration d) { return std::chrono::duration<double>(d).count(); }

engine_config ecfg(const cache_clock& c, std::size_t items) {
  engine_config e;
  e.memory_limit_bytes = std::max<std::size_t>(256u << 20, items * 140);
  e.max_item_size = 256u << 10;
  e.numa_bind = false;
  e.expected_items = items;
  e.time = &c;
  return e;
}

std::string key_of(std::size_t i) {
  char k[32];
  std::snprintf(k, sizeof k, "key:%010zu", i);
  return k;
}

// dd oflag=direct of `bytes` into dir: bytes per second, or 0.
double dd_direct(const std::string& dir, std::uint64_t bytes) {
  const std::string f = dir + "/dd.tmp";
  const std::uint64_t mib = std::max<std::uint64_t>(64, bytes >> 20);
  const std::string cmd = "dd if=/dev/zero of=" + f + " bs=1M count=" + std::to_string(mib) +
                          " oflag=direct conv=fsync 2>&1";
  const auto t0 = steady::now();
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return 0;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) {
  }
  const int rc = pclose(p);
  const double s = secs(steady::now() - t0);
  std::filesystem::remove(f);
  if (rc != 0) return 0;
  return static_cast<double>(mib << 20) / s;
}

struct latency {
  double get_p50 = 0, get_p99 = 0, set_p50 = 0, set_p99 = 0;
  std::uint64_t ops = 0;
};

double pct(std::vector<std::uint32_t>& v, double q) {
  if (v.empty()) return 0;
  const std::size_t i =
      std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

// One serving thread: 90% get / 10% set over the whole key space, each op timed.
latency measure(engine& e, std::size_t items, double seconds, const std::atomic<bool>* keep_going) {
  auto s = e.open_session();
  std::mt19937_64 rng(1);
  std::vector<std::uint32_t> g, st;
  g.reserve(1 << 22);
  st.reserve(1 << 20);
  const std::string val(32, 'w');
  const auto end = steady::now() + std::chrono::duration<double>(seconds);
  latency l;
  while (steady::now() < end && (keep_going == nullptr || keep_going->load())) {
    const std::string k = key_of(rng() % items);
    const bool set = rng() % 10 == 0;
    const auto t0 = steady::now();
    if (set) {
      s.store(store_mode::set, k, val, 0, 0);
    } else {
      (void)s.get(k);
    }
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now() - t0).count();
    (set ? st : g).push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(ns, UINT32_MAX)));
    s.quiescent();
    ++l.ops;
  }
  l.get_p50 = pct(g, 0.5);
  l.get_p99 = pct(g, 0.99);
  l.set_p50 = pct(st, 0.5);
  l.set_p99 = pct(st, 0.99);
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t items = 10'000'000;
  double seconds = 3;
  std::string dir, out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--items" && i + 1 < argc)
      items = std::stoull(argv[++i]);
    else if (a == "--dir" && i + 1 < argc)
      dir = argv[++i];
    else if (a == "--seconds" && i + 1 < argc)
      seconds = std::stod(argv[++i]);
    else if (a.rfind("--benchmark_out=", 0) == 0)
      out = a.substr(16);
  }
  spdlog::set_level(spdlog::level::warn);
  bool own_dir = false;
  if (dir.empty()) {
    std::string t = "/tmp/anvil-bench-io-XXXXXX";
    if (mkdtemp(t.data()) == nullptr) return 1;
    dir = t;
    own_dir = true;
  }
  cache_clock clk(1'800'000'000);
  engine e(ecfg(clk, items));
  const auto tf = steady::now();
  {
    auto s = e.open_session();
    std::string val(32, 'v');
    for (std::size_t i = 0; i < items; ++i) {
      std::memcpy(val.data(), &i, sizeof i);
      s.store(store_mode::set, key_of(i), val, static_cast<std::uint32_t>(i), 0);
      if ((i & 63) == 0) s.quiescent();
    }
  }
  const double fill_s = secs(steady::now() - tf);
  const auto total = e.total_stats();
  std::printf("filled %llu items in %.1f s\n", static_cast<unsigned long long>(total.items),
              fill_s);

  // 1. Snapshot write vs dd oflag=direct of the same size, same filesystem.
  anvil::io::writer_config w;
  w.dir = dir;
  w.node_id = 1;
  w.queue_depth = 8;
  w.block_size = 1u << 20;
  anvil::io::snapshot_result snap;
  {
    anvil::io::engine_source src(e);
    snap = anvil::io::write_snapshot(src, w, 1, clk.now());
  }
  if (!snap.ok) {
    std::fprintf(stderr, "snapshot failed: %s\n", snap.reason.c_str());
    return 1;
  }
  const double snap_bw = static_cast<double>(snap.bytes) / snap.seconds;
  const double dd_bw = dd_direct(dir, snap.bytes);
  std::printf("snapshot: io wait %.2f s\n", snap.io_wait_seconds);
  std::printf(
      "snapshot: %llu items, %.1f MB in %.2f s = %.0f MB/s (direct=%d); dd oflag=direct: %.0f "
      "MB/s; ratio %.0f%%\n",
      static_cast<unsigned long long>(snap.items), snap.bytes / 1e6, snap.seconds, snap_bw / 1e6,
      snap.direct, dd_bw / 1e6, dd_bw > 0 ? 100 * snap_bw / dd_bw : 0.0);

  // 2. Restore into a fresh engine (verify pass + load pass, 2 inserting threads).
  anvil::io::restore_result rr;
  {
    cache_clock clk2(clk.now());
    engine e2(ecfg(clk2, items));
    anvil::io::engine_sink sink(e2);
    anvil::io::restore_config rc;
    rc.dir = dir;
    rc.node_id = 1;
    rc.now_unix = clk2.now();
    rc.threads = 2;
    rc.queue_depth = 8;
    rr = anvil::io::restore_latest(sink, rc);
  }
  if (!rr.restored) {
    std::fprintf(stderr, "restore failed: %s\n", rr.cold_start_reason.c_str());
    return 1;
  }
  std::printf(
      "restore: %llu items in %.2f s (verify %.2f s) = %.2f M items/s, %.2f GB/s of snapshot\n",
      static_cast<unsigned long long>(rr.items_restored), rr.seconds, rr.verify_seconds,
      rr.items_restored / rr.seconds / 1e6, rr.data_bytes / rr.seconds / 1e9);

  // 3. Serving latency without, then with, snapshots running (back to back).
  const latency idle = measure(e, items, seconds, nullptr);
  std::atomic<bool> run{true};
  std::atomic<int> snaps{0};
  std::thread io([&] {
    std::uint64_t id = 2;
    while (run.load()) {
      anvil::io::engine_source src(e);
      const auto r = anvil::io::write_snapshot(src, w, id, clk.now());
      std::filesystem::remove(dir + "/" + anvil::io::data_name(id));
      std::filesystem::remove(dir + "/" + anvil::io::manifest_name(id));
      ++id;
      if (r.ok) ++snaps;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the snapshot is under way
  const latency busy = measure(e, items, seconds, nullptr);
  run = false;
  io.join();
  std::printf(
      "serving p99 (ns) get %.0f -> %.0f (%+.1f%%), set %.0f -> %.0f (%+.1f%%); p50 get %.0f -> "
      "%.0f; %d snapshots overlapped\n",
      idle.get_p99, busy.get_p99, 100 * (busy.get_p99 / idle.get_p99 - 1), idle.set_p99,
      busy.set_p99, 100 * (busy.set_p99 / idle.set_p99 - 1), idle.get_p50, busy.get_p50,
      snaps.load());

  if (!out.empty()) {
    std::ofstream j(out);
    j << "{\"items\":" << snap.items << ",\"snapshot_bytes\":" << snap.bytes
      << ",\"snapshot_seconds\":" << snap.seconds << ",\"snapshot_MBps\":" << snap_bw / 1e6
      << ",\"dd_direct_MBps\":" << dd_bw / 1e6 << ",\"ratio\":" << (dd_bw > 0 ? snap_bw / dd_bw : 0)
      << ",\"restore_seconds\":" << rr.seconds
      << ",\"restore_items_per_s\":" << rr.items_restored / rr.seconds
      << ",\"restore_GBps\":" << rr.data_bytes / rr.seconds / 1e9 << ",\"get_p99_ns\":["
      << idle.get_p99 << "," << busy.get_p99 << "],\"set_p99_ns\":[" << idle.set_p99 << ","
      << busy.set_p99 << "]}\n";
  }
  std::filesystem::remove(dir + "/" + anvil::io::data_name(1));
  std::filesystem::remove(dir + "/" + anvil::io::manifest_name(1));
  if (own_dir) std::filesystem::remove_all(dir);
  return 0;
}
