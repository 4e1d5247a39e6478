// bench_io: snapshot write throughput against the same filesystem's O_DIRECT sequential
// write bandwidth (fio and dd, interleaved with the snapshots in the same run), restore
// rate, and engine get/set p99 latency with and without snapshots running.
//
//   bench_io [--items N] [--dir DIR] [--rounds R] [--qd Q] [--block-size BYTES]
//            [--seconds S] [--phases P] [--snapshot-only] [--plain-buffers]
//            [--benchmark_out=FILE]
//
// Defaults: 10M items of 32-byte values (12-byte keys), DIR a fresh directory under /tmp,
// R = 3 rounds, Q = 8 writes in flight, 1 MiB blocks, S = 3 s per latency phase, P = 2
// (idle, busy, idle, busy). Each round writes one snapshot, one `fio` (O_DIRECT, io_uring,
// same block size and queue depth, same byte count, end fsync) and one `dd oflag=direct
// conv=fsync bs=1M`; the order rotates per round (snapshot/fio/dd, fio/dd/snapshot,
// dd/snapshot/fio) so that a disk that speeds up or slows down over the run does not
// favour one of them. Ratios are per round (same minute of disk weather) plus the median.
// Bounded for a shared 2-core VM: one serving thread, one io thread; every file written
// is deleted at the end. `fio` is optional (tools/deps.sh installs it); without it the
// dd column is the only baseline.
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
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

std::string run_capture(const std::string& cmd, int& rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    rc = -1;
    return out;
  }
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  rc = pclose(p);
  return out;
}

// dd oflag=direct conv=fsync of `bytes` (whole MiB, rounded up) into dir: bytes per
// second as dd reports them (its time includes the fsync), or 0.
double dd_direct(const std::string& dir, std::uint64_t bytes) {
  const std::string f = dir + "/dd.tmp";
  const std::uint64_t mib = std::max<std::uint64_t>(64, (bytes + (1u << 20) - 1) >> 20);
  int rc = 0;
  const std::string out = run_capture("dd if=/dev/zero of=" + f + " bs=1M count=" +
                                          std::to_string(mib) + " oflag=direct conv=fsync 2>&1",
                                      rc);
  std::filesystem::remove(f);
  // "671088640 bytes (671 MB, 640 MiB) copied, 2.99012 s, 224 MB/s"
  const auto c = out.find(" copied, ");
  if (rc != 0 || c == std::string::npos) return 0;
  const double s = std::strtod(out.c_str() + c + 9, nullptr);
  return s > 0 ? static_cast<double>(mib << 20) / s : 0;
}

bool have_fio() {
  int rc = 0;
  run_capture("command -v fio >/dev/null 2>&1", rc);
  return rc == 0;
}

// fio sequential write, O_DIRECT, io_uring, `bs` blocks with `qd` in flight (the writer's
// own I/O shape), `bytes` rounded up to bs, no preallocation (the writer has none): bytes
// over fio's write time plus an fsync of the file timed here (the snapshot's time includes
// its fsyncs too; fio's own bandwidth figure may not include end_fsync), or 0.
double fio_direct(const std::string& dir, std::uint64_t bytes, std::size_t bs, unsigned qd,
                  double* fsync_seconds) {
  const std::string f = dir + "/fio.tmp";
  const std::uint64_t size = std::max<std::uint64_t>(64u << 20, (bytes + bs - 1) / bs * bs);
  int rc = 0;
  const std::string out = run_capture(
      "fio --name=anvil-seqwrite --filename=" + f + " --rw=write --bs=" + std::to_string(bs) +
          " --direct=1 --ioengine=io_uring --iodepth=" + std::to_string(qd) +
          " --size=" + std::to_string(size) +
          " --fallocate=none --output-format=json 2>/dev/null",
      rc);
  double sync_s = -1;
  if (rc == 0) {
    const int fd = ::open(f.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      const auto t0 = steady::now();
      if (::fsync(fd) == 0) sync_s = secs(steady::now() - t0);
      ::close(fd);
    }
  }
  std::filesystem::remove(f);
  if (rc != 0 || sync_s < 0) return 0;
  try {
    const auto j = nlohmann::json::parse(out.substr(out.find('{')));
    const auto& w = j.at("jobs").at(0).at("write");
    const double io_s = w.at("runtime").get<double>() / 1e3;  // ms
    *fsync_seconds = sync_s;
    const double b = w.at("io_bytes").get<double>();
    return io_s > 0 ? b / (io_s + sync_s) : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
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
  unsigned rounds = 3, qd = 8, phases = 2;
  std::size_t block = 1u << 20;
  bool snapshot_only = false, fixed_buffers = true;
  std::string dir, out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool more = i + 1 < argc;
    if (a == "--items" && more)
      items = std::stoull(argv[++i]);
    else if (a == "--dir" && more)
      dir = argv[++i];
    else if (a == "--seconds" && more)
      seconds = std::stod(argv[++i]);
    else if (a == "--rounds" && more)
      rounds = static_cast<unsigned>(std::max(1, std::stoi(argv[++i])));
    else if (a == "--qd" && more)
      qd = static_cast<unsigned>(std::max(1, std::stoi(argv[++i])));
    else if (a == "--block-size" && more)
      block = std::stoull(argv[++i]);
    else if (a == "--phases" && more)
      phases = static_cast<unsigned>(std::max(1, std::stoi(argv[++i])));
    else if (a == "--snapshot-only")
      snapshot_only = true;
    else if (a == "--plain-buffers")
      fixed_buffers = false;
    else if (a.rfind("--benchmark_out=", 0) == 0)
      out = a.substr(16);
    // other --benchmark_* flags (make bench passes them) are ignored
  }
  spdlog::set_level(spdlog::level::warn);
  bool own_dir = false;
  if (dir.empty()) {
    std::string t = "/tmp/anvil-bench-io-XXXXXX";
    if (mkdtemp(t.data()) == nullptr) return 1;
    dir = t;
    own_dir = true;
  }
  std::printf("load average at start: %s\n", load_average().c_str());
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

  // 1. Snapshot writes interleaved with fio and dd (O_DIRECT, same size, same directory).
  anvil::io::writer_config w;
  w.dir = dir;
  w.node_id = 1;
  w.queue_depth = qd;
  w.block_size = block;
  w.fixed_buffers = fixed_buffers;
  const bool fio = have_fio();
  if (!fio) std::printf("fio not found: dd is the only baseline (tools/deps.sh installs fio)\n");
  struct round_result {
    anvil::io::snapshot_result snap;
    double snap_bw = 0, fio_bw = 0, dd_bw = 0, fio_sync = 0;
    std::string load;
  };
  std::vector<round_result> rounds_v(rounds);
  std::uint64_t size = 0;
  for (unsigned r = 0; r < rounds; ++r) {
    round_result& x = rounds_v[r];
    const char* order[3][3] = {
        {"snapshot", "fio", "dd"}, {"fio", "dd", "snapshot"}, {"dd", "snapshot", "fio"}};
    std::string seq;
    for (const char* what : order[r % 3]) {
      const std::string s = what;
      if (s == "snapshot") {
        if (r > 0) {  // keep only the newest snapshot (restore reads it)
          std::filesystem::remove(dir + "/" + anvil::io::data_name(r));
          std::filesystem::remove(dir + "/" + anvil::io::manifest_name(r));
        }
        anvil::io::engine_source src(e);
        x.snap = anvil::io::write_snapshot(src, w, r + 1, clk.now());
        if (!x.snap.ok) {
          std::fprintf(stderr, "snapshot failed: %s\n", x.snap.reason.c_str());
          return 1;
        }
        x.snap_bw = static_cast<double>(x.snap.bytes) / x.snap.seconds;
        size = x.snap.bytes;
      } else {
        // Round 0 writes the snapshot first, so the size is known here.
        if (s == "fio" && fio) x.fio_bw = fio_direct(dir, size, block, qd, &x.fio_sync);
        if (s == "dd") x.dd_bw = dd_direct(dir, size);
      }
      seq += (seq.empty() ? "" : ",") + s;
    }
    x.load = load_average();
    const auto& sn = x.snap;
    std::printf(
        "round %u (%s; load %s): snapshot %.0f MB/s (%.1f MB in %.2f s: blocks %.2f s of which "
        "io wait %.2f s, finish %.3f s of which data fsync %.3f s)",
        r + 1, seq.c_str(), x.load.c_str(), x.snap_bw / 1e6, sn.bytes / 1e6, sn.seconds,
        sn.blocks_seconds, sn.io_wait_seconds, sn.finish_seconds, sn.data_sync_seconds);
    if (fio)
      std::printf("; fio %.0f MB/s (its fsync %.3f s) -> %.0f%%", x.fio_bw / 1e6, x.fio_sync,
                  100 * x.snap_bw / x.fio_bw);
    std::printf("; dd %.0f MB/s -> %.0f%%\n", x.dd_bw / 1e6, 100 * x.snap_bw / x.dd_bw);
  }
  std::vector<double> snap_v, fio_v, dd_v, rf, rd;
  for (const auto& x : rounds_v) {
    snap_v.push_back(x.snap_bw);
    if (x.fio_bw > 0) fio_v.push_back(x.fio_bw), rf.push_back(x.snap_bw / x.fio_bw);
    if (x.dd_bw > 0) dd_v.push_back(x.dd_bw), rd.push_back(x.snap_bw / x.dd_bw);
  }
  const auto& last = rounds_v.back().snap;
  std::printf(
      "snapshot: %llu items, %.1f MB, direct=%d, %zu KiB blocks, QD %u, %s buffers; median of %u "
      "rounds: snapshot %.0f MB/s",
      static_cast<unsigned long long>(last.items), last.bytes / 1e6, last.direct, block >> 10, qd,
      fixed_buffers ? "fixed" : "plain", rounds, median(snap_v) / 1e6);
  if (fio) std::printf(", fio %.0f MB/s, ratio %.0f%%", median(fio_v) / 1e6, 100 * median(rf));
  std::printf(", dd %.0f MB/s, ratio %.0f%% (median of per-round ratios)\n", median(dd_v) / 1e6,
              100 * median(rd));

  anvil::io::restore_result rr;
  latency idle, busy;
  std::vector<latency> idle_v, busy_v;
  int snaps_overlapped = 0;
  if (!snapshot_only) {
    // 2. Restore the newest snapshot into a fresh engine (verify pass + load pass, 2
    //    inserting threads).
    {
      cache_clock clk2(clk.now());
      engine e2(ecfg(clk2, items));
      anvil::io::engine_sink sink(e2);
      anvil::io::restore_config rc;
      rc.dir = dir;
      rc.node_id = 1;
      rc.now_unix = clk2.now();
      rc.threads = 2;
      rc.queue_depth = qd;
      rr = anvil::io::restore_latest(sink, rc);
    }
    if (!rr.restored) {
      std::fprintf(stderr, "restore failed: %s\n", rr.cold_start_reason.c_str());
      return 1;
    }
    std::printf(
        "restore (load %s): %llu items in %.2f s (verify %.2f s) = %.2f M items/s, %.2f GB/s "
        "of snapshot\n",
        load_average().c_str(), static_cast<unsigned long long>(rr.items_restored), rr.seconds,
        rr.verify_seconds, rr.items_restored / rr.seconds / 1e6, rr.data_bytes / rr.seconds / 1e9);

    // 3. Serving latency, phases alternating: without, then with snapshots running back to
    //    back (an io thread writing snapshot after snapshot into the same directory).
    for (unsigned ph = 0; ph < phases; ++ph) {
      idle_v.push_back(measure(e, items, seconds, nullptr));
      std::atomic<bool> run{true};
      std::atomic<int> snaps{0};
      std::thread io([&] {
        std::uint64_t id = 1000 + ph * 100;
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
      busy_v.push_back(measure(e, items, seconds, nullptr));
      run = false;
      io.join();
      snaps_overlapped += snaps.load();
      const auto& a = idle_v.back();
      const auto& b = busy_v.back();
      std::printf(
          "serving phase pair %u (load %s): get p50 %.0f -> %.0f ns, p99 %.0f -> %.0f ns "
          "(%+.1f%%); set p99 %.0f -> %.0f ns (%+.1f%%); %d snapshots overlapped\n",
          ph + 1, load_average().c_str(), a.get_p50, b.get_p50, a.get_p99, b.get_p99,
          100 * (b.get_p99 / a.get_p99 - 1), a.set_p99, b.set_p99,
          100 * (b.set_p99 / a.set_p99 - 1), snaps.load());
    }
    auto med = [](const std::vector<latency>& v, double latency::*f) {
      std::vector<double> x;
      for (const auto& l : v) x.push_back(l.*f);
      return median(x);
    };
    idle.get_p50 = med(idle_v, &latency::get_p50);
    idle.get_p99 = med(idle_v, &latency::get_p99);
    idle.set_p99 = med(idle_v, &latency::set_p99);
    busy.get_p50 = med(busy_v, &latency::get_p50);
    busy.get_p99 = med(busy_v, &latency::get_p99);
    busy.set_p99 = med(busy_v, &latency::set_p99);
    std::printf(
        "serving p99 (ns, median of %u phases each) get %.0f -> %.0f (%+.1f%%), set %.0f -> %.0f "
        "(%+.1f%%); p50 get %.0f -> %.0f; %d snapshots overlapped\n",
        phases, idle.get_p99, busy.get_p99, 100 * (busy.get_p99 / idle.get_p99 - 1), idle.set_p99,
        busy.set_p99, 100 * (busy.set_p99 / idle.set_p99 - 1), idle.get_p50, busy.get_p50,
        snaps_overlapped);
  }
  std::printf("load average at end: %s\n", load_average().c_str());

  if (!out.empty()) {
    nlohmann::json j;
    j["items"] = last.items;
    j["snapshot_bytes"] = last.bytes;
    j["block_size"] = block;
    j["queue_depth"] = qd;
    for (const auto& x : rounds_v) {
      j["rounds"].push_back({{"snapshot_MBps", x.snap_bw / 1e6},
                             {"snapshot_seconds", x.snap.seconds},
                             {"io_wait_seconds", x.snap.io_wait_seconds},
                             {"fio_MBps", x.fio_bw / 1e6},
                             {"fio_fsync_seconds", x.fio_sync},
                             {"dd_MBps", x.dd_bw / 1e6},
                             {"load", x.load}});
    }
    j["median_ratio_fio"] = median(rf);
    j["median_ratio_dd"] = median(rd);
    if (!snapshot_only) {
      j["restore_seconds"] = rr.seconds;
      j["restore_items_per_s"] = rr.items_restored / rr.seconds;
      j["restore_GBps"] = rr.data_bytes / rr.seconds / 1e9;
      j["get_p99_ns"] = {idle.get_p99, busy.get_p99};
      j["set_p99_ns"] = {idle.set_p99, busy.set_p99};
    }
    std::ofstream(out) << j.dump(1) << "\n";
  }
  std::filesystem::remove(dir + "/" + anvil::io::data_name(rounds));
  std::filesystem::remove(dir + "/" + anvil::io::manifest_name(rounds));
  if (own_dir) std::filesystem::remove_all(dir);
  return 0;
}
