// large_items: how much of -m large values can use, with the server's own sizing
// (control::plan_cache, as the anvil binary runs it) against the earlier default segment
// (max(1 MiB, -I)). For each row it builds the engine from the plan, writes 3 x -m of
// values through it (distinct keys, so it evicts), and prints a Markdown table: the
// sizing, the bytes of live items as a share of -m at peak and at the end (steady
// eviction), and the bytes of -m per item held at the end. Table in bench/README.md.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cache/engine.h"
#include "control/cache_sizing.h"

namespace {

using namespace anvil;

struct row {
  unsigned m;         // -m (MiB)
  std::uint64_t max;  // -I
  unsigned t;         // lcores
  std::size_t value;  // value bytes
};

struct result {
  cache::sizing sz;
  double peak = 0, steady = 0, bytes_per_item = 0;
};

result run(const row& r, bool old_default) {
  control::server_config c;
  c.memory_mb = r.m;
  c.max_item_size = r.max;
  if (old_default) c.segment_size = std::max<std::uint64_t>(1 << 20, (r.max + 4095) / 4096 * 4096);
  std::vector<unsigned> cpus(r.t);
  for (unsigned i = 0; i < r.t; ++i) cpus[i] = i;
  cache::clock clk(1'700'000'000);
  const control::cache_plan p = control::plan_cache(c, cpus, &clk);
  cache::engine e(p.engine);
  cache::session s = e.open_session();
  const std::string v(r.value, 'v');
  const double limit = static_cast<double>(p.engine.memory_limit_bytes);
  result out;
  out.sz = p.sizing;
  const std::uint64_t stores = 3 * p.engine.memory_limit_bytes / r.value;
  for (std::uint64_t i = 0; i < stores; ++i) {
    s.store(cache::store_mode::set, "k" + std::to_string(i), v, 0, 0);
    s.quiescent();
    out.peak = std::max(out.peak, static_cast<double>(e.total_stats().bytes_used) / limit);
  }
  const cache::partition_stats st = e.total_stats();
  out.steady = static_cast<double>(st.bytes_used) / limit;
  out.bytes_per_item = st.items ? limit / static_cast<double>(st.items) : 0;
  return out;
}

std::string sizing_text(const cache::sizing& s) {
  return std::to_string(s.partitions) + " x " + std::to_string(s.segments_per_partition) + " x " +
         std::to_string(s.segment_bytes >> 10) + "k";
}

}  // namespace

int main() {
  const row rows[] = {
      {64, 1 << 20, 1, 600 << 10},   {64, 1 << 20, 1, 100 << 10},   {160, 1 << 20, 1, 600 << 10},
      {160, 1 << 20, 1, 100 << 10},  {160, 1 << 20, 1, 1000 << 10}, {640, 1 << 20, 4, 600 << 10},
      {1024, 1 << 20, 2, 600 << 10}, {64, 256 << 10, 1, 200 << 10},
  };
  std::printf(
      "| -m | -I | lcores | value | partitions x segments x size (old -> auto) | live share of -m, "
      "peak / steady (old -> auto) | -m bytes per item held (old -> auto) |\n"
      "|---|---|---|---|---|---|---|\n");
  for (const row& r : rows) {
    const result o = run(r, true);
    const result a = run(r, false);
    std::printf(
        "| %u | %lluk | %u | %zuk | %s -> %s | %.1f%% / %.1f%% -> %.1f%% / %.1f%% | %.0f -> %.0f "
        "|\n",
        r.m, static_cast<unsigned long long>(r.max >> 10), r.t, r.value >> 10,
        sizing_text(o.sz).c_str(), sizing_text(a.sz).c_str(), 100 * o.peak, 100 * o.steady,
        100 * a.peak, 100 * a.steady, o.bytes_per_item, a.bytes_per_item);
  }
}
