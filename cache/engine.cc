// Engine construction (sizing per cache/sizing.h, NUMA placement), sessions, stats and CAS
// counter.
#include <stdexcept>

#include "cache/engine_impl.h"
#include "cache/numa.h"
#include "cache/sizing.h"

namespace anvil::cache {

namespace {
bool is_pow2(std::size_t v) { return v != 0 && (v & (v - 1)) == 0; }
}  // namespace

engine::impl::impl(const engine_config& c) : cfg(c) {
  if (!cfg.time) throw std::invalid_argument("engine_config.time is required");
  epoch = cfg.time->now();
  if (hwloc_topology_init(&topo_owner.t) == 0) {
    if (hwloc_topology_load(topo_owner.t) == 0) {
      topo = topo_owner.t;
    }
  } else {
    topo_owner.t = nullptr;
  }
  if (cfg.partitions && !is_pow2(cfg.partitions))
    throw std::invalid_argument("engine_config.partitions must be a power of two");
  const std::size_t wanted =
      cfg.cpus.empty() ? default_partition_count(topo) : partition_count_for(cfg.cpus.size());
  const sizing sz = plan_sizing(cfg, wanted);
  seg_size = sz.segment_bytes;
  const std::size_t n = sz.partitions;
  while ((std::size_t{1} << partition_bits) < n) ++partition_bits;
  cfg.partitions = n;

  const std::vector<int> nodes = place_partitions(topo, n, cfg.cpus);
  q = std::make_unique<qsbr>(n);
  baseline = std::make_unique<stat_baseline[]>(n);
  for (std::size_t i = 0; i < n; ++i) {
    partition::config pc;
    pc.nbuckets = sz.buckets_per_partition;
    pc.nsegs = sz.segments_per_partition;
    pc.seg_size = seg_size;
    pc.partition_bits = partition_bits;
    pc.node = nodes[i];
    pc.bind = cfg.numa_bind;
    pc.topo = topo;
    parts.push_back(std::make_unique<partition>(pc));
  }
}

engine::impl::~impl() { parts.clear(); }

partition_stats engine::impl::stats(std::size_t p) const {
  partition_stats s;
  const std::size_t n = q->slot_high_water();
  for (std::size_t i = 0; i < n; ++i) {
    const part_counters& c = q->counters(static_cast<int>(i))[p];
    s.items += c.items.load(std::memory_order_relaxed);
    s.bytes_used += c.bytes.load(std::memory_order_relaxed);
    s.hits += c.hits.load(std::memory_order_relaxed);
    s.misses += c.misses.load(std::memory_order_relaxed);
    s.sets += c.sets.load(std::memory_order_relaxed);
    s.evictions += c.evictions.load(std::memory_order_relaxed);
    s.expired_reclaimed += c.expired.load(std::memory_order_relaxed);
    s.cas_mismatches += c.cas_mismatches.load(std::memory_order_relaxed);
  }
  const stat_baseline& b = baseline[p];
  s.hits -= b.hits.load(std::memory_order_relaxed);
  s.misses -= b.misses.load(std::memory_order_relaxed);
  s.sets -= b.sets.load(std::memory_order_relaxed);
  s.evictions -= b.evictions.load(std::memory_order_relaxed);
  s.expired_reclaimed -= b.expired.load(std::memory_order_relaxed);
  s.cas_mismatches -= b.cas_mismatches.load(std::memory_order_relaxed);
  const partition& part = *parts[p];
  s.bytes_limit = part.limit_bytes();
  s.numa_node = part.numa_node();
  s.segment_bytes = part.segment_bytes();
  s.index_bytes = part.index_bytes();
  s.index_slots = std::uint64_t{part.nbuckets()} * kSlotsPerBucket;
  s.evict_visited = part.evict_visited();
  s.evict_kept = part.evict_kept();
  return s;
}

engine::engine(const engine_config& cfg) : _impl(std::make_unique<impl>(cfg)) {}
engine::~engine() = default;

session engine::open_session() {
  const int slot = _impl->q->claim();
  if (slot < 0) throw std::runtime_error("anvil cache: too many open sessions");
  auto s = std::make_unique<session::impl>();
  s->e = _impl.get();
  s->slot = slot;
  s->ctr = _impl->q->counters(slot);
  return session(std::move(s));
}

std::size_t engine::partition_count() const { return _impl->parts.size(); }
partition_stats engine::stats(std::size_t partition) const { return _impl->stats(partition); }

partition_stats engine::total_stats() const {
  partition_stats t;
  for (std::size_t p = 0; p < _impl->parts.size(); ++p) {
    const partition_stats s = _impl->stats(p);
    t.items += s.items;
    t.bytes_used += s.bytes_used;
    t.bytes_limit += s.bytes_limit;
    t.hits += s.hits;
    t.misses += s.misses;
    t.sets += s.sets;
    t.evictions += s.evictions;
    t.expired_reclaimed += s.expired_reclaimed;
    t.cas_mismatches += s.cas_mismatches;
    t.segment_bytes += s.segment_bytes;
    t.index_bytes += s.index_bytes;
    t.index_slots += s.index_slots;
    t.evict_visited += s.evict_visited;
    t.evict_kept += s.evict_kept;
    if (p == 0)
      t.numa_node = s.numa_node;
    else if (t.numa_node != s.numa_node)
      t.numa_node = -1;  // mixed: no single node
  }
  return t;
}

void engine::reset_stats() {
  for (std::size_t p = 0; p < _impl->parts.size(); ++p) {
    const partition_stats s = _impl->stats(p);
    stat_baseline& b = _impl->baseline[p];
    // stats() already subtracted the old baseline: add it back to get the raw sums.
    b.hits.fetch_add(s.hits, std::memory_order_relaxed);
    b.misses.fetch_add(s.misses, std::memory_order_relaxed);
    b.sets.fetch_add(s.sets, std::memory_order_relaxed);
    b.evictions.fetch_add(s.evictions, std::memory_order_relaxed);
    b.expired.fetch_add(s.expired_reclaimed, std::memory_order_relaxed);
    b.cas_mismatches.fetch_add(s.cas_mismatches, std::memory_order_relaxed);
  }
}

cas_t engine::cas_counter() const { return _impl->cas_counter.load(std::memory_order_acquire); }

void engine::raise_cas_counter(cas_t at_least) {
  std::uint64_t cur = _impl->cas_counter.load(std::memory_order_relaxed);
  while (cur < at_least &&
         !_impl->cas_counter.compare_exchange_weak(cur, at_least, std::memory_order_acq_rel,
                                                   std::memory_order_relaxed)) {
  }
  // Release: a session that sees the new generation drops its block and takes a fresh one
  // above at_least.
  if (cur < at_least) _impl->cas_gen.fetch_add(1, std::memory_order_release);
}

const engine_config& engine::config() const { return _impl->cfg; }

}  // namespace anvil::cache
