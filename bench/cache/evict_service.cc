// evict_service: per-operation service time of the cache engine while it is full and
// evicting (issue 13, item 1). One thread, one session, the engine called directly (no
// network), so each sample is the engine's own work for one request.
//
//   evict_service [--mem MiB] [--value B] [--ops N] [--get-ratio R] [--zipf] [--keys N]
//
// Fills the cache with 4x its memory in SETs, then times N operations one by one
// (steady_clock around each call; ~20-40 ns of the figure is the clock itself). Prints a
// log2 histogram of SET service time, p50/p99/p99.9/p99.99/max, how many SETs took over
// 200 us, and the most items one SET dropped from the index (the `evictions` counter's
// largest per-SET step: a whole-segment eviction shows as ~18K at 56-byte items).
// Figures are wall time on a shared machine: read the max and the >200 us count together
// with the load printed at the start.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "bench/cache/workload.h"
#include "cache/engine.h"

namespace {

using anvil::bench::kKeyLen;
using anvil::bench::make_key;
using namespace anvil::cache;

struct options {
  std::size_t mem_mib = 64;
  std::size_t value = 32;
  std::size_t ops = 2'000'000;
  double get_ratio = 0;
  bool zipf = false;
  std::size_t keys = 0;  // 0: 4x what fits
};

double pct(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1)));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "evict_service: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--mem")
      o.mem_mib = std::strtoull(next(), nullptr, 10);
    else if (a == "--value")
      o.value = std::strtoull(next(), nullptr, 10);
    else if (a == "--ops")
      o.ops = std::strtoull(next(), nullptr, 10);
    else if (a == "--get-ratio")
      o.get_ratio = std::strtod(next(), nullptr);
    else if (a == "--keys")
      o.keys = std::strtoull(next(), nullptr, 10);
    else if (a == "--zipf")
      o.zipf = true;
    else {
      std::fprintf(stderr,
                   "usage: evict_service [--mem MiB] [--value B] [--ops N] [--get-ratio R] "
                   "[--zipf] [--keys N]\n");
      return 2;
    }
  }
  if (o.mem_mib == 0 || o.ops == 0 || o.get_ratio < 0 || o.get_ratio > 1) {
    std::fprintf(stderr, "evict_service: --mem and --ops must be > 0, --get-ratio in [0,1]\n");
    return 2;
  }
  anvil::cache::clock clk(1'700'000'000);
  engine_config cfg;
  cfg.memory_limit_bytes = o.mem_mib << 20;
  cfg.partitions = 1;  // one lcore's partition: every eviction lands on this thread
  cfg.time = &clk;
  engine e(cfg);
  session s = e.open_session();
  const std::size_t item = kKeyLen + o.value + 8;
  const std::size_t keys = o.keys ? o.keys : 4 * (cfg.memory_limit_bytes / item);
  const std::string value(o.value, 'v');
  char k[kKeyLen];
  std::mt19937_64 rng(42);
  // Zipf 0.99 over `keys` via the shared YCSB stream when asked, else uniform.
  const std::vector<std::uint32_t>* zs = o.zipf ? &anvil::bench::index_stream(keys, true) : nullptr;
  std::size_t zi = 0;
  auto pick = [&]() -> std::uint64_t {
    if (zs) return (*zs)[zi++ % zs->size()];
    return rng() % keys;
  };
  for (std::size_t i = 0; i < keys; ++i) {  // fill: 4x the memory, so it is evicting
    make_key(i, k);
    s.store(store_mode::set, {k, kKeyLen}, value, 0, 0);
  }
  std::vector<std::uint32_t> set_ns, set_cpu_ns;
  set_ns.reserve(o.ops);
  set_cpu_ns.reserve(o.ops);
  auto cpu_now = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000'000 + std::uint64_t(ts.tv_nsec);
  };
  std::uint64_t hist[32] = {};
  std::uint64_t over200 = 0, cpu_over200 = 0, gets = 0, hits = 0, max_drop = 0, max_visit = 0;
  std::uniform_real_distribution<double> u(0, 1);
  for (std::size_t n = 0; n < o.ops; ++n) {
    const std::uint64_t key = pick();
    make_key(key, k);
    if (o.get_ratio > 0 && u(rng) < o.get_ratio) {
      ++gets;
      hits += s.get({k, kKeyLen}).found;
      s.quiescent();
      continue;
    }
    const partition_stats st0 = e.stats(0);
    const std::uint64_t c0 = cpu_now();
    const auto t0 = std::chrono::steady_clock::now();
    s.store(store_mode::set, {k, kKeyLen}, value, 0, 0);
    const auto t1 = std::chrono::steady_clock::now();
    const std::uint64_t c1 = cpu_now();
    const partition_stats st1 = e.stats(0);
    max_drop = std::max(max_drop, st1.evictions - st0.evictions);
    max_visit = std::max(max_visit, st1.evict_visited - st0.evict_visited);
    set_cpu_ns.push_back(static_cast<std::uint32_t>(c1 - c0));
    if (c1 - c0 > 200'000) ++cpu_over200;
    const auto ns = static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    set_ns.push_back(ns);
    if (ns > 200'000) ++over200;
    unsigned b = 0;
    while ((std::uint64_t{1} << (b + 1)) <= ns && b < 31) ++b;
    ++hist[b];
  }
  const partition_stats t = e.total_stats();
  std::printf(
      "evict_service: -m %zu MiB, %zu-byte values (%zu B items), %zu keys%s, %zu ops, "
      "GET ratio %.2f; evictions %llu, examined %llu, kept %llu\n",
      o.mem_mib, o.value, item, keys, o.zipf ? " zipf 0.99" : " uniform", o.ops, o.get_ratio,
      static_cast<unsigned long long>(t.evictions),
      static_cast<unsigned long long>(t.evict_visited),
      static_cast<unsigned long long>(t.evict_kept));
  std::printf("SET service time histogram (ns, log2 buckets):\n");
  for (unsigned b = 0; b < 32; ++b)
    if (hist[b])
      std::printf("  [%10llu, %10llu) %llu\n", 1ull << b, 1ull << (b + 1),
                  static_cast<unsigned long long>(hist[b]));
  const std::size_t sets = set_ns.size();
  const double p50 = pct(set_ns, 0.5), p99 = pct(set_ns, 0.99), p999 = pct(set_ns, 0.999),
               p9999 = pct(set_ns, 0.9999),
               mx = sets ? *std::max_element(set_ns.begin(), set_ns.end()) / 1000.0 : 0;
  const double c999 = pct(set_cpu_ns, 0.999), c9999 = pct(set_cpu_ns, 0.9999),
               cmx = sets ? *std::max_element(set_cpu_ns.begin(), set_cpu_ns.end()) / 1000.0 : 0;
  std::printf(
      "SETs %zu: wall p50 %.2f us, p99 %.2f us, p99.9 %.2f us, p99.99 %.2f us, max %.1f us, "
      ">200us %llu; thread CPU p99.9 %.2f us, p99.99 %.2f us, max %.1f us, >200us %llu; "
      "most items one SET dropped %llu, examined %llu",
      sets, p50, p99, p999, p9999, mx, static_cast<unsigned long long>(over200), c999, c9999, cmx,
      static_cast<unsigned long long>(cpu_over200), static_cast<unsigned long long>(max_drop),
      static_cast<unsigned long long>(max_visit));
  if (gets) std::printf("; GET hit ratio %.4f", static_cast<double>(hits) / gets);
  std::printf("\n");
  return 0;
}
