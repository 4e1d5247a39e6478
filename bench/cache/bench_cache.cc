// bench_cache: the Anvil cache engine vs tbb::concurrent_hash_map vs std::unordered_map
// behind a std::shared_mutex, in one binary and one run (issue 3, "Benchmarks").
// Workloads: GET hit, GET miss, SET (overwrite), 90/10 GET/SET; 1M and 10M keys; 16-byte
// keys with 32- and 512-byte values; uniform and Zipf 0.99; 1 and 2 threads; for the
// engine also batched lookups (32 keys per get_batch call).
// Each (table, keys, value size) is populated once, measured, and freed before the next,
// so at most one 10M-key table is resident. Counters: items_per_second, hit (hit ratio),
// ovh_B (bytes per item beyond key + value: the engine's own accounting of segments +
// index; for the others the RSS delta of population), rss_ovh_B (RSS delta for all).
// Every op reads the first value byte (a server would copy the value out).
// Run `bench_cache --benchmark_filter=...` to select; the default run is the full table.
// One-thread rows are CPU time, two-thread rows wall time (see register_all).
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <oneapi/tbb/concurrent_hash_map.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "bench/cache/workload.h"
#include "cache/engine.h"
#include "cache/hash.h"

namespace anvil::bench {
namespace {

using cache::store_mode;

enum class table : int { engine = 0, tbb = 1, stdmap = 2 };
enum class op : int { get_hit = 0, get_miss = 1, set = 2, mixed = 3 };
constexpr const char* kTableName[] = {"anvil", "tbb_chm", "umap_shmtx"};
constexpr const char* kOpName[] = {"get_hit", "get_miss", "set", "get90_set10"};
constexpr std::size_t kBatch = 32;

std::size_t rss_bytes() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

struct key16 {
  std::array<char, kKeyLen> b;
  bool operator==(const key16& o) const { return std::memcmp(b.data(), o.b.data(), kKeyLen) == 0; }
};
key16 key_of(std::uint64_t i) {
  key16 k;
  make_key(i, k.b.data());
  return k;
}
struct key16_hash {
  std::size_t operator()(const key16& k) const { return cache::hash_key({k.b.data(), kKeyLen}); }
  // tbb hash_compare interface
  std::size_t hash(const key16& k) const { return (*this)(k); }
  bool equal(const key16& a, const key16& b) const { return a == b; }
};

// ---- the three tables, one at a time -------------------------------------------------
struct anvil_table {
  cache::clock clk{1'700'000'000};
  std::unique_ptr<cache::engine> e;
  anvil_table(std::size_t n, std::size_t vsize) {
    cache::engine_config cfg;
    // Room for the data set plus 10% for overwrites; segments are touched only when used.
    cfg.memory_limit_bytes =
        static_cast<std::size_t>(static_cast<double>(n) * (kKeyLen + vsize + 12) * 1.1) +
        (64u << 20);
    cfg.expected_items = n;
    cfg.time = &clk;
    e = std::make_unique<cache::engine>(cfg);
  }
  void fill(std::size_t n, const std::string& value) {
    cache::session s = e->open_session();
    char k[kKeyLen];
    for (std::size_t i = 0; i < n; ++i) {
      make_key(i, k);
      s.store(store_mode::set, {k, kKeyLen}, value, 0, 0);
    }
  }
  double own_overhead(std::size_t vsize) const {
    const cache::partition_stats t = e->total_stats();
    return t.items ? static_cast<double>(t.segment_bytes + t.index_bytes) /
                             static_cast<double>(t.items) -
                         static_cast<double>(kKeyLen + vsize)
                   : 0;
  }
};

struct tbb_table {
  using map = oneapi::tbb::concurrent_hash_map<key16, std::string, key16_hash>;
  map m;
  tbb_table(std::size_t n, std::size_t) : m(n) {}
  void fill(std::size_t n, const std::string& value) {
    for (std::size_t i = 0; i < n; ++i) {
      map::accessor a;
      m.insert(a, key_of(i));
      a->second = value;
    }
  }
};

struct std_table {
  std::unordered_map<key16, std::string, key16_hash> m;
  mutable std::shared_mutex mu;
  std_table(std::size_t n, std::size_t) { m.reserve(n); }
  void fill(std::size_t n, const std::string& value) {
    for (std::size_t i = 0; i < n; ++i) m.emplace(key_of(i), value);
  }
};

// The resident table and what population cost.
struct resident {
  table t;
  std::size_t n = 0, vsize = 0;
  std::unique_ptr<anvil_table> anvil;
  std::unique_ptr<tbb_table> tbb;
  std::unique_ptr<std_table> stdm;
  double ovh = 0, rss_ovh = 0;
};
resident g_res;
std::atomic<std::uint64_t> g_res_id{0};

std::uint64_t config_id(table t, std::size_t n, std::size_t v) {
  return (static_cast<std::uint64_t>(t) + 1) << 56 | (static_cast<std::uint64_t>(n) << 16) | v;
}

void ensure(table t, std::size_t n, std::size_t vsize) {
  const std::uint64_t id = config_id(t, n, vsize);
  if (g_res_id.load() == id) return;
  g_res_id.store(0);
  g_res.anvil.reset();
  g_res.tbb.reset();
  g_res.stdm.reset();
  malloc_trim(0);
  (void)index_stream(n, false);  // streams are built before the RSS baseline
  (void)index_stream(n, true);
  const std::size_t rss0 = rss_bytes();
  const std::string value(vsize, 'v');
  g_res.t = t;
  g_res.n = n;
  g_res.vsize = vsize;
  switch (t) {
    case table::engine:
      g_res.anvil = std::make_unique<anvil_table>(n, vsize);
      g_res.anvil->fill(n, value);
      break;
    case table::tbb:
      g_res.tbb = std::make_unique<tbb_table>(n, vsize);
      g_res.tbb->fill(n, value);
      break;
    case table::stdmap:
      g_res.stdm = std::make_unique<std_table>(n, vsize);
      g_res.stdm->fill(n, value);
      break;
  }
  const double per =
      (static_cast<double>(rss_bytes()) - static_cast<double>(rss0)) / static_cast<double>(n);
  g_res.rss_ovh = per - static_cast<double>(kKeyLen + vsize);
  g_res.ovh = t == table::engine ? g_res.anvil->own_overhead(vsize) : g_res.rss_ovh;
  g_res_id.store(id);
}

struct params {
  table t;
  op o;
  std::size_t n;
  std::size_t vsize;
  bool zipf;
  bool batched;
};

// ---- per-table loops -------------------------------------------------------------------
void run_anvil(benchmark::State& st, const params& p, const std::vector<std::uint32_t>& idx,
               std::size_t pos, std::uint64_t& hits, std::uint64_t& ops) {
  cache::session s = g_res.anvil->e->open_session();
  const std::string value(p.vsize, 'w');
  const std::size_t mask = idx.size() - 1;
  const std::uint64_t miss_base = p.o == op::get_miss ? p.n : 0;
  std::uint64_t sink = 0;
  if (p.batched) {
    char keys[kBatch][kKeyLen];
    std::string_view kv[kBatch];
    cache::item_view out[kBatch];
    for (std::size_t i = 0; i < kBatch; ++i) kv[i] = {keys[i], kKeyLen};
    for (auto _ : st) {
      for (std::size_t i = 0; i < kBatch; ++i) make_key(idx[pos++ & mask] + miss_base, keys[i]);
      s.get_batch(kv, out);
      for (std::size_t i = 0; i < kBatch; ++i)
        if (out[i].found) {
          ++hits;
          sink += static_cast<unsigned char>(out[i].value[0]);
        }
      ops += kBatch;
      s.quiescent();  // one poll-loop iteration per burst
    }
  } else {
    char k[kKeyLen];
    unsigned q = 0;
    for (auto _ : st) {
      const std::size_t at = pos++;
      make_key(idx[at & mask] + miss_base, k);
      const bool write = p.o == op::set || (p.o == op::mixed && at % 10 == 0);
      if (write) {
        s.store(store_mode::set, {k, kKeyLen}, value, 0, 0);
      } else {
        const cache::item_view v = s.get({k, kKeyLen});
        if (v.found) {
          ++hits;
          sink += static_cast<unsigned char>(v.value[0]);
        }
      }
      ++ops;
      if (++q == kBatch) {
        q = 0;
        s.quiescent();
      }
    }
  }
  benchmark::DoNotOptimize(sink);
}

template <class Get, class Put>
void run_map(benchmark::State& st, const params& p, const std::vector<std::uint32_t>& idx,
             std::size_t pos, std::uint64_t& hits, std::uint64_t& ops, Get&& get, Put&& put) {
  const std::string value(p.vsize, 'w');
  const std::size_t mask = idx.size() - 1;
  const std::uint64_t miss_base = p.o == op::get_miss ? p.n : 0;
  std::uint64_t sink = 0;
  for (auto _ : st) {
    const std::size_t at = pos++;
    const key16 k = key_of(idx[at & mask] + miss_base);
    const bool write = p.o == op::set || (p.o == op::mixed && at % 10 == 0);
    if (write) {
      put(k, value);
    } else {
      const int c = get(k);
      if (c >= 0) {
        ++hits;
        sink += static_cast<unsigned>(c);
      }
    }
    ++ops;
  }
  benchmark::DoNotOptimize(sink);
}

void bench(benchmark::State& st, params p) {
  if (st.thread_index() == 0) ensure(p.t, p.n, p.vsize);
  const std::uint64_t id = config_id(p.t, p.n, p.vsize);
  while (g_res_id.load() != id) std::this_thread::yield();  // thread 0 is populating
  const std::vector<std::uint32_t>& idx = index_stream(p.n, p.zipf);
  const std::size_t pos = static_cast<std::size_t>(st.thread_index()) * (idx.size() / 2) + 12345;
  std::uint64_t hits = 0, ops = 0;
  switch (p.t) {
    case table::engine:
      run_anvil(st, p, idx, pos, hits, ops);
      break;
    case table::tbb: {
      auto& m = g_res.tbb->m;
      run_map(
          st, p, idx, pos, hits, ops,
          [&](const key16& k) {
            tbb_table::map::const_accessor a;
            return m.find(a, k) ? static_cast<unsigned char>(a->second[0]) : -1;
          },
          [&](const key16& k, const std::string& v) {
            tbb_table::map::accessor a;
            m.insert(a, k);
            a->second = v;
          });
      break;
    }
    case table::stdmap: {
      auto& t = *g_res.stdm;
      run_map(
          st, p, idx, pos, hits, ops,
          [&](const key16& k) {
            std::shared_lock lk(t.mu);
            auto it = t.m.find(k);
            return it == t.m.end() ? -1 : static_cast<unsigned char>(it->second[0]);
          },
          [&](const key16& k, const std::string& v) {
            std::unique_lock lk(t.mu);
            t.m[k] = v;
          });
      break;
    }
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(ops));
  st.counters["hit"] =
      benchmark::Counter(static_cast<double>(hits) / static_cast<double>(ops ? ops : 1),
                         benchmark::Counter::kAvgThreads);
  st.counters["ovh_B"] = benchmark::Counter(g_res.ovh, benchmark::Counter::kAvgThreads);
  st.counters["rss_ovh_B"] = benchmark::Counter(g_res.rss_ovh, benchmark::Counter::kAvgThreads);
}

void register_all() {
  // Order: one resident table per (keys, value size, table); reads before writes, since
  // SET overwrites can make the engine evict (its limit is the data set + 10%).
  for (std::size_t n : {std::size_t{1'000'000}, std::size_t{10'000'000}})
    for (std::size_t v : {std::size_t{32}, std::size_t{512}})
      for (table t : {table::engine, table::tbb, table::stdmap})
        for (op o : {op::get_hit, op::get_miss, op::mixed, op::set})
          for (bool zipf : {false, true})
            for (int threads : {1, 2})
              for (bool batched : {false, true}) {
                if (batched && (t != table::engine || (o != op::get_hit && o != op::get_miss)))
                  continue;
                const params p{t, o, n, v, zipf, batched};
                std::string name = std::string(kTableName[static_cast<int>(t)]) + "/" +
                                   kOpName[static_cast<int>(o)] + "/" +
                                   std::to_string(n / 1'000'000) + "M/v" + std::to_string(v) + "/" +
                                   (zipf ? "zipf" : "unif") + "/" +
                                   (batched ? "batch32" : "single");
                auto* b = benchmark::RegisterBenchmark(name.c_str(), [p](benchmark::State& st) {
                            bench(st, p);
                          })->Threads(threads);
                // One thread: CPU time (this VM is shared, wall time includes other tenants'
                // work). Two threads: wall time, the only meaningful aggregate.
                if (threads > 1) b->UseRealTime();
              }
}

}  // namespace
}  // namespace anvil::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  anvil::bench::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
