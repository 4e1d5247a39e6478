// One partition: a bucketized two-choice hash index over a log-structured segment arena,
// with its own allocation lock, eviction and flush mark. Both live in NUMA-bound memory.
// Concurrency rules:
// - Lookups take no lock: bucket seqlock read-validate-retry (a lookup spins while a
//   writer holds the bucket); item memory is immutable while linked and is reused only
//   after a QSBR grace period.
// - Index writers lock the (one or two) candidate buckets, lower index first.
// - The allocation lock (a spinlock: waiters pause, never sleep) guards the segment lists; it may
// be taken before bucket locks
//   (eviction unlinks items), never after one: reserve() is always called lock-free.
//   Waiters spin briefly, then yield. The snapshot walker never takes it
//   (committed_end() is lock-free), so a preempted nice-19 walker cannot stall a writer.
// Eviction (CLOCK over segments, done incrementally):
// - A read hit sets the item's access bit (one bit per 32-byte arena granule, set only
//   when clear, so a hot key's bit costs one store per eviction round).
// - The oldest sealed segment becomes the victim; every reserve() while fewer than
//   `_headroom` segments are free or retired examines victim items until it has freed
//   twice the bytes it reserved, at most kEvictBatch items (a full batch when more than
//   a segment behind), so the work is spread over the stores:
//   an item with its bit set (and small enough, and while the victim's survivors fill at
//   most half a segment) is copied to the open segment and its slot repointed with its
//   bit clear (second chance); every other linked item is unlinked. A victim with no
//   linked items left is retired (pending a grace period) at once.
// - Only when no segment is free at all (a burst, or fewer than 4 segments) does a
//   writer finish a victim inside one request; tests/cache/eviction_bound_test.cc holds
//   the steady state to kEvictBatch items per store.
// - Index pressure follows the same policy: an insert into two full buckets drops a dead
//   item, else the oldest item whose bit is clear; if all 14 were read, the oldest, and
//   the others' bits are cleared.
#pragma once

#include <hwloc.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "cache/bucket.h"
#include "cache/hash.h"
#include "cache/item.h"
#include "cache/qsbr.h"
#include "cache/segment.h"
#include "cache/stats.h"
#include "cache/view_set.h"

namespace anvil::cache {

// What an operation carries into the partition: who it is and what time it is.
struct op_ctx {
  qsbr* q = nullptr;
  int slot = -1;
  bool can_quiesce = false;  // the session holds no item views: it may pass a quiescent point
  const view_set* views = nullptr;  // otherwise: the segments its views may point into
  std::uint32_t part = 0;           // this partition's index (for views)
  part_counters* ctr = nullptr;
  std::uint32_t now = 0;
};

struct reservation {
  std::byte* p = nullptr;
  std::uint64_t off = 0;
  std::uint32_t seg = kNoSegment;
  bool ok() const { return p != nullptr; }
};

// One incarnation of a segment, as the walker saw it.
struct seg_ref {
  std::uint64_t seq = 0;
  std::uint32_t seg = kNoSegment;
};

enum class unlink_reason : std::uint8_t { removed, evicted, expired, flushed };

class partition {
 public:
  struct config {
    std::uint32_t nbuckets = 1;
    std::size_t nsegs = 0;
    std::size_t seg_size = 1u << 20;
    unsigned partition_bits = 0;
    int node = -1;
    bool bind = false;
    hwloc_topology_t topo = nullptr;
  };
  explicit partition(const config& cfg);
  ~partition();
  partition(const partition&) = delete;
  partition& operator=(const partition&) = delete;

  key_hash split(std::uint64_t h) const { return split_hash(h, _pbits, _nbuckets); }
  bucket& bkt(std::uint32_t i) const { return _buckets[i]; }
  std::uint32_t nbuckets() const { return _nbuckets; }
  const std::byte* at(std::uint64_t off) const { return _arena + off; }
  std::byte* at(std::uint64_t off) { return _arena + off; }

  // Lookup in both candidate buckets, taking no lock (spins while a writer holds one); the slot
  // value, or 0 when absent.
  std::uint64_t find(const key_hash& k, std::string_view key) const;
  // A read hit on the item at `off` (CLOCK bit; the caller is online, so the segment is
  // not reused before this returns).
  void note_access(std::uint64_t off) const {
    std::atomic<std::uint8_t>& b = _access[off / kAccessGranule / 8];
    const auto m = static_cast<std::uint8_t>(1u << (off / kAccessGranule % 8));
    if ((b.load(std::memory_order_relaxed) & m) == 0) b.fetch_or(m, std::memory_order_relaxed);
  }
  bool accessed(std::uint64_t off) const {
    const auto m = static_cast<std::uint8_t>(1u << (off / kAccessGranule % 8));
    return (_access[off / kAccessGranule / 8].load(std::memory_order_relaxed) & m) != 0;
  }
  // Not expired and not flushed.
  bool live(std::uint64_t off, const item_fields& f, std::uint32_t now) const {
    if (f.expires_at != 0 && f.expires_at <= now) return false;
    const std::uint64_t fs = _flush_seq.load(std::memory_order_acquire);
    return fs == 0 || _segs[off / _seg_size].seq.load(std::memory_order_relaxed) >= fs;
  }
  unlink_reason dead_reason(const item_fields& f, std::uint32_t now) const {
    return f.expires_at != 0 && f.expires_at <= now ? unlink_reason::expired
                                                    : unlink_reason::flushed;
  }

  // --- with both candidate buckets locked (see pair_lock) ---
  std::atomic<std::uint64_t>* find_locked(const key_hash& k, std::string_view key);
  // Inserts a new slot; evicts one resident item if both buckets are full.
  void insert_locked(const key_hash& k, std::uint64_t slot_value, op_ctx& ctx);
  // Replaces an existing slot with a new item (the old one stops being live).
  void replace_locked(std::atomic<std::uint64_t>* s, std::uint64_t slot_value, op_ctx& ctx);
  void unlink_locked(std::atomic<std::uint64_t>* s, op_ctx& ctx, unlink_reason why);

  // Reserves n contiguous bytes for a new item; does the bounded eviction work described
  // above (a whole victim only when no segment can be opened at all).
  // Must be called with no bucket lock held. Fails (ok() == false) only when no segment
  // can be freed: the limit is below one segment, or a grace period is blocked.
  reservation reserve(std::size_t n, std::uint32_t expires_at, op_ctx& ctx);
  // Ends a reservation (linked or abandoned); its header must be written by then.
  void commit(const reservation& r) {
    // Release: the item bytes are complete before an evictor sees writers == 0.
    _segs[r.seg].writers.fetch_sub(1, std::memory_order_release);
  }

  // --- log-order iteration (cache/walk.cc) ---
  // Held for a whole walk: eviction then drops read items instead of moving them, so an
  // item linked for the whole walk keeps its offset and is reported exactly once (a move
  // would show it twice, or, past the walk's last chase round, not at all).
  class walk_guard {
   public:
    explicit walk_guard(partition& p) : _p(p) {
      _p._walkers.fetch_add(1, std::memory_order_relaxed);
      // Pairs with the fence in keep_locked: either that mover sees us, or our first
      // bucket read sees its bucket lock (and then the moved slot).
      std::atomic_thread_fence(std::memory_order_seq_cst);
    }
    ~walk_guard() { _p._walkers.fetch_sub(1, std::memory_order_release); }
    walk_guard(const walk_guard&) = delete;
    walk_guard& operator=(const walk_guard&) = delete;

   private:
    partition& _p;
  };
  // The incarnation of a segment: its seq while open or sealed, 0 once eviction began.
  std::uint64_t live_seq(std::uint32_t seg) const {
    return _segs[seg].live_seq.load(std::memory_order_acquire);
  }
  // Items of the segment linked in the index. An item linked before this call counts.
  std::uint32_t live_items(std::uint32_t seg) const {
    return _segs[seg].live_items.load(std::memory_order_relaxed);
  }
  std::size_t segment_size() const { return _seg_size; }
  // Open or sealed segments with seq > after, oldest first (lock-free, racy with writers:
  // a segment opened meanwhile may be missing; one opened before the call is not).
  void live_segments(std::uint64_t after, std::vector<seg_ref>& out) const;
  // Bytes [0, *end) of `seg` hold only complete items, if it still is incarnation `seq`
  // (false: evicted since). Waits out reservations in flight: a sealed segment gets no new
  // ones; an open segment that is never idle is sealed after a while (only a steady write
  // load keeps it busy, and that load fills the next segment quickly). *open: more items
  // may follow *end.
  bool committed_end(std::uint32_t seg, std::uint64_t seq, std::uint32_t* end, bool* open);
  // Whether the item at `off` is linked (validated under both bucket seqlocks).
  bool linked(const key_hash& k, std::uint64_t off) const;

  // Flush: every segment opened before now is dead. Idempotent per generation.
  void flush_cut(std::uint32_t gen);
  std::uint32_t flush_gen_applied() const { return _flush_gen.load(std::memory_order_acquire); }

  // Memory held by segments that are not free.
  std::uint64_t segment_bytes() const {
    return _in_use.load(std::memory_order_relaxed) * _seg_size;
  }
  std::uint64_t limit_bytes() const { return _nsegs * _seg_size; }
  std::uint64_t index_bytes() const { return std::uint64_t{_nbuckets} * sizeof(bucket); }
  int numa_node() const { return _node; }
  // Eviction work since construction: items examined, and survivors copied forward.
  std::uint64_t evict_visited() const { return _evict_visited.load(std::memory_order_relaxed); }
  std::uint64_t evict_kept() const { return _evict_kept.load(std::memory_order_relaxed); }

  // Items one reserve() examines for eviction ahead of need (see the header comment).
  static constexpr unsigned kEvictBatch = 32;
  // Largest item eviction copies forward: bounds the bytes one request moves.
  static constexpr std::size_t kKeepMaxItem = 4096;
  // Arena bytes per access bit (an item shorter than this may share its bit).
  static constexpr std::size_t kAccessGranule = 32;

 private:
  std::uint64_t scan(const bucket& b, std::uint16_t tag, std::string_view key) const;
  static bool holds(const bucket& b, std::uint64_t item);
  void link_slot(std::atomic<std::uint64_t>* s, std::uint64_t slot_value, op_ctx& ctx);
  std::atomic<std::uint64_t>* displace_locked(const key_hash& k);
  void lock_alloc();
  void unlock_alloc() { _alloc_lock.store(false, std::memory_order_release); }
  void seal_locked();
  std::uint32_t take_free_locked(op_ctx& ctx);
  // Whether our own session's views may still point into a pending segment.
  bool self_blocks(const op_ctx& ctx, std::uint32_t seg) const;
  std::size_t pick_victim_locked(std::uint32_t now) const;
  // Processes up to *budget items of the victim (choosing one if there is none),
  // decrementing *budget per item; false when there was nothing to evict.
  // With `debt`, stops once that many bytes were freed (and lowers it accordingly).
  bool evict_some_locked(unsigned* budget, std::size_t* debt, op_ctx& ctx);
  // Copies the victim's item at `off` to the open segment and repoints its slot; false
  // when it does not fit (the caller unlinks it instead).
  bool keep_locked(std::uint64_t off, const item_fields& f, const key_hash& k, op_ctx& ctx);
  void retire_victim_locked(op_ctx& ctx);
  void evict_ahead_locked(std::size_t n, op_ctx& ctx);
  void open_segment_locked(std::uint32_t s);
  void clear_access(std::uint64_t off) const {
    const auto m = static_cast<std::uint8_t>(1u << (off / kAccessGranule % 8));
    _access[off / kAccessGranule / 8].fetch_and(static_cast<std::uint8_t>(~m),
                                                std::memory_order_relaxed);
  }
  static void add(std::atomic<std::uint64_t>& c, std::uint64_t d) {  // under the alloc lock
    c.store(c.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
  }
  void account_link(std::uint64_t off);

  std::uint32_t _nbuckets;
  unsigned _pbits;
  std::size_t _nsegs;
  std::size_t _seg_size;
  bucket* _buckets = nullptr;
  std::byte* _arena = nullptr;
  int _node = -1;
  std::unique_ptr<seg_meta[]> _segs;
  // CLOCK bits, one per kAccessGranule arena bytes; cleared when a segment is opened.
  std::unique_ptr<std::atomic<std::uint8_t>[]> _access;

  std::atomic<std::uint64_t> _flush_seq{0};
  std::atomic<std::uint32_t> _flush_gen{0};
  std::atomic<std::uint64_t> _in_use{0};

  alignas(64) std::atomic<bool> _alloc_lock{false};
  // Guarded by _alloc_lock:
  std::uint32_t _open = kNoSegment;
  std::uint64_t _next_seq = 1;
  std::vector<std::uint32_t> _free;
  seg_ring _sealed;
  seg_ring _pending;
  std::size_t _headroom;               // segments kept free or retired ahead of need
  std::uint32_t _victim = kNoSegment;  // sealed segment being evicted
  std::uint32_t _victim_off = 0;       // next item of the victim to examine
  std::uint32_t _victim_kept = 0;      // bytes of the victim copied forward so far
  std::size_t _evict_debt = 0;         // bytes evict-ahead still owes the stores (x2)
  // The open segment, readable without the lock (committed_end); a walker asks for it to
  // be sealed through _seal_request instead of taking the lock.
  std::atomic<std::uint32_t> _open_pub{kNoSegment};
  std::atomic<std::uint32_t> _seal_request{kNoSegment};
  std::atomic<std::uint32_t> _walkers{0};  // walk_guards alive
  std::atomic<std::uint64_t> _evict_visited{0};
  std::atomic<std::uint64_t> _evict_kept{0};
};

// Locks a key's candidate buckets in index order (no deadlock between two writers).
class pair_lock {
 public:
  pair_lock(partition& p, const key_hash& k) : _a(&p.bkt(k.b1 < k.b2 ? k.b1 : k.b2)) {
    _b = k.b1 == k.b2 ? nullptr : &p.bkt(k.b1 < k.b2 ? k.b2 : k.b1);
    _a->lock();
    if (_b) _b->lock();
  }
  ~pair_lock() {
    if (_b) _b->unlock();
    _a->unlock();
  }
  pair_lock(const pair_lock&) = delete;
  pair_lock& operator=(const pair_lock&) = delete;

 private:
  bucket* _a;
  bucket* _b;
};

}  // namespace anvil::cache
