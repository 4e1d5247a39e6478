// Private state behind engine and session (engine.h). Shared by engine.cc and session*.cc.
// Invariants: partitions and the QSBR registry live as long as the engine; every session
// must be destroyed before its engine. Flush state packs (generation << 32 | deadline) in
// one word so a reader never pairs a generation with another flush's deadline.
#pragma once

#include <hwloc.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cache/engine.h"
#include "cache/partition.h"
#include "cache/qsbr.h"
#include "cache/view_set.h"

namespace anvil::cache {

// CAS values are handed to sessions in blocks, so stores do not all hit one atomic.
inline constexpr std::uint64_t kCasBlock = 1024;

struct stat_baseline {
  std::atomic<std::uint64_t> hits{0}, misses{0}, sets{0}, evictions{0}, expired{0},
      cas_mismatches{0};
};

struct engine::impl {
  explicit impl(const engine_config& cfg);
  ~impl();

  // Owns the hwloc topology (also when the constructor throws).
  struct topology_owner {
    hwloc_topology_t t = nullptr;
    ~topology_owner() {
      if (t) hwloc_topology_destroy(t);
    }
  };

  topology_owner topo_owner;
  engine_config cfg;
  std::size_t seg_size = 1u << 20;
  unsigned partition_bits = 0;
  hwloc_topology_t topo = nullptr;
  std::vector<std::unique_ptr<partition>> parts;
  std::unique_ptr<stat_baseline[]> baseline;
  std::unique_ptr<qsbr> q;
  alignas(64) std::atomic<std::uint64_t> cas_counter{0};  // highest CAS handed out
  std::atomic<std::uint64_t> cas_gen{0};                  // bumped by raise_cas_counter
  // Restored CAS values up to here can no longer be handed out (session::restore).
  std::atomic<std::uint64_t> restore_cas_mark{0};
  std::atomic<std::uint64_t> flush_state{0};

  std::uint32_t now() const { return cfg.time->now(); }
  // Item last-access times are kept relative to this (item_state, 28 bits).
  std::uint32_t epoch = 0;
  std::uint32_t rel_time(std::uint32_t t) const { return t > epoch ? t - epoch : 0; }
  partition_stats stats(std::size_t p) const;
};

// Header + key of a new item at r (state word included); returns where the value goes.
inline std::byte* write_head(const reservation& r, std::string_view key, std::uint32_t vlen,
                             std::uint64_t cas, std::uint32_t flags, std::uint32_t expires_at,
                             std::uint32_t state) {
  const std::uint32_t h = write_item_header(r.p, key, vlen, cas, flags, expires_at, state);
  return r.p + h + key.size();
}

// Arena bytes of an item (padding included): what reserve() is asked for.
inline std::size_t item_size(std::string_view key, std::size_t vlen, std::uint64_t cas,
                             std::uint32_t flags, std::uint32_t expires_at) {
  return align_item(item_header_len(static_cast<std::uint32_t>(vlen), cas, flags, expires_at) +
                    key.size() + vlen);
}

// A record session::for_each_item reported: its arena offset and its segment's
// incarnation (session::record_walk, for_each_stale).
struct walked_record {
  std::uint64_t off;
  std::uint64_t seq;
};

struct session::impl {
  struct located {
    std::size_t p;
    partition* part;
    key_hash k;
  };
  // RAII bracket for one operation: online on entry, offline on exit unless views are out.
  class scope {
   public:
    explicit scope(impl& s) : _s(s) { _s.enter(); }
    ~scope() { _s.leave(); }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

   private:
    impl& _s;
  };

  engine::impl* e = nullptr;
  int slot = -1;
  bool online = false;
  bool views = false;  // item views handed out since the last quiescent point
  // record_walk: per partition, where each reported record lives (cache/walk.cc).
  bool record_walk = false;
  std::vector<std::vector<walked_record>> walked;
  view_set view_segs;  // ... and the segments they point into
  std::uint64_t cas_next = 0;
  std::uint64_t cas_end = 0;
  std::uint64_t cas_gen = 0;
  part_counters* ctr = nullptr;
  std::string scratch;

  // Every operation runs between enter() and leave().
  void enter() {
    if (!online) {
      e->q->online(slot);
      online = true;
    }
  }
  void leave() {
    if (!views) {
      e->q->offline(slot);
      online = false;
    }
  }
  op_ctx ctx(std::size_t part, std::uint32_t now) {
    op_ctx c;
    c.q = e->q.get();
    c.slot = slot;
    c.can_quiesce = !views;
    c.views = &view_segs;
    c.part = static_cast<std::uint32_t>(part);
    c.ctr = &ctr[part];
    c.now = now;
    return c;
  }
  std::uint64_t next_cas();
  void note_view(std::size_t part, std::uint64_t off) {
    views = true;
    view_segs.add(static_cast<std::uint32_t>(part), static_cast<std::uint32_t>(off / e->seg_size));
  }
  located locate(std::string_view key) const {
    const std::uint64_t h = hash_key(key);
    const std::size_t p =
        e->partition_bits ? static_cast<std::size_t>(h >> (64 - e->partition_bits)) : 0;
    partition* part = e->parts[p].get();
    return {p, part, part->split(h)};
  }
  void drop_key(located& l, std::string_view key, std::uint32_t now);
  // Links an empty item carrying the recache token (session_meta.cc).
  std::uint64_t vivify(located& l, std::string_view key, exptime_t exptime, bool key_binary,
                       std::uint32_t now, bool* created);
  // The view of an item, its state word included (session.cc).
  item_view view_of(const std::byte* p, const item_fields& f) const;
  // A hit: fetched, last access = now (stores only when the word changes).
  void mark_fetched(const std::byte* p, std::uint32_t now) const;
  // The state word of a new item: these flags, last access = now.
  std::uint32_t fresh_state(std::uint32_t flags, std::uint32_t now) const;
  // Copies the item with a new expiry (same CAS); returns its slot value, 0 when absent.
  std::uint64_t touch_item(located& l, std::string_view key, exptime_t exptime, std::uint32_t now,
                           item_fields* out, bool* no_memory);
  // Applies a flush whose deadline has passed to partition p (once per flush).
  void check_flush(std::size_t p, std::uint32_t now) {
    const std::uint64_t fs = e->flush_state.load(std::memory_order_acquire);
    const auto deadline = static_cast<std::uint32_t>(fs);
    const auto gen = static_cast<std::uint32_t>(fs >> 32);
    if (deadline != 0 && now >= deadline && e->parts[p]->flush_gen_applied() != gen)
      e->parts[p]->flush_cut(gen);
  }
};

}  // namespace anvil::cache
