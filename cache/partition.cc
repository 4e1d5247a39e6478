// Partition index operations, segment allocation and incremental CLOCK eviction.
#include "cache/partition.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "cache/numa.h"

namespace anvil::cache {

namespace {
// How long a writer waits for other sessions to pass a quiescent point before it reports
// no_memory (each round is a yield; only reached when every segment awaits a grace period).
// Bounded because writers that hold views wait for each other: a poll loop passes a
// quiescent point every iteration, so a short wait is enough when the loops are running.
constexpr unsigned kMaxWaitRounds = 2048;
// Victim search looks this far into the FIFO for a segment that costs nothing to evict.
constexpr std::size_t kVictimScan = 8;
// A walker waiting for the reservations in a segment to commit spins this many rounds,
// then yields; past kSealAfterRounds it seals an open segment that is never idle.
constexpr unsigned kSpinRounds = 64;
constexpr unsigned kSealAfterRounds = 256;
// A writer waiting for the allocation lock spins this many rounds, then yields. Holders
// keep it for a bounded time (at most kEvictBatch items of eviction work in the steady
// state), so the spin usually wins; the yield lets a preempted holder on this CPU run.
constexpr unsigned kLockSpins = 256;
}  // namespace

partition::partition(const config& cfg)
    : _nbuckets(cfg.nbuckets ? cfg.nbuckets : 1),
      _pbits(cfg.partition_bits),
      _nsegs(cfg.nsegs),
      _seg_size(cfg.seg_size),
      _segs(std::make_unique<seg_meta[]>(cfg.nsegs ? cfg.nsegs : 1)),
      _access(std::make_unique<std::atomic<std::uint8_t>[]>(
          cfg.nsegs * cfg.seg_size / kAccessGranule / 8 + 1)),
      _sealed(cfg.nsegs),
      _pending(cfg.nsegs),
      _headroom(cfg.nsegs >= 4 ? std::clamp<std::size_t>(cfg.nsegs / 16, 1, 8) : 0) {
  int bound = -1;
  _buckets = static_cast<bucket*>(
      numa_alloc(cfg.topo, index_bytes(), cfg.node, cfg.bind, &bound));  // zero-filled
  int abound = -1;
  if (_nsegs)
    _arena =
        static_cast<std::byte*>(numa_alloc(cfg.topo, limit_bytes(), cfg.node, cfg.bind, &abound));
  _node = (bound >= 0 && (abound >= 0 || !_nsegs)) ? bound : -1;
  _free.reserve(_nsegs);
  for (std::size_t i = _nsegs; i > 0; --i) _free.push_back(static_cast<std::uint32_t>(i - 1));
}

partition::~partition() {
  numa_free(_buckets, index_bytes());
  numa_free(_arena, limit_bytes());
}

std::uint64_t partition::scan(const bucket& b, std::uint16_t tag, std::string_view key) const {
  for (unsigned i = 0; i < kSlotsPerBucket; ++i) {
    // Acquire: pairs with the writer's release store of the slot, so the item bytes it
    // points to are visible. The item stays readable until our next quiescent point.
    const std::uint64_t s = b.slot[i].load(std::memory_order_acquire);
    if (s == 0 || slot_tag(s) != tag) continue;
    const std::byte* p = at(slot_offset(s));
    const item_fields f = read_item(p);
    if (f.key_len == key.size() && std::memcmp(p + f.header_len, key.data(), key.size()) == 0)
      return s;
  }
  return 0;
}

std::uint64_t partition::find(const key_hash& k, std::string_view key) const {
  const bucket& a = _buckets[k.b1];
  const bucket& b = _buckets[k.b2];
  for (;;) {
    const std::uint64_t va = a.read_begin();
    std::uint64_t s = scan(a, k.tag, key);
    if (s != 0 || k.b1 == k.b2) {
      if (a.read_validate(va)) return s;
      continue;
    }
    const std::uint64_t vb = b.read_begin();
    s = scan(b, k.tag, key);
    if (!b.read_validate(vb)) continue;
    if (s != 0) return s;
    // A miss must hold for both buckets at once: an item moved from b to a after we
    // scanned a changed a's version (the mover locks both).
    if (a.read_validate(va)) return 0;
  }
}

std::atomic<std::uint64_t>* partition::find_locked(const key_hash& k, std::string_view key) {
  for (std::uint32_t bi : {k.b1, k.b2}) {
    bucket& b = _buckets[bi];
    for (unsigned i = 0; i < kSlotsPerBucket; ++i) {
      const std::uint64_t s = b.slot[i].load(std::memory_order_relaxed);
      if (s == 0 || slot_tag(s) != k.tag) continue;
      const std::byte* p = at(slot_offset(s));
      const item_fields f = read_item(p);
      if (f.key_len == key.size() && std::memcmp(p + f.header_len, key.data(), key.size()) == 0)
        return &b.slot[i];
    }
    if (k.b1 == k.b2) break;
  }
  return nullptr;
}

void partition::account_link(std::uint64_t off) {
  _segs[off / _seg_size].live_items.fetch_add(1, std::memory_order_relaxed);
}

void partition::link_slot(std::atomic<std::uint64_t>* s, std::uint64_t slot_value, op_ctx& ctx) {
  // Release: the item bytes written before are visible to whoever loads the slot.
  s->store(slot_value, std::memory_order_release);
  const std::uint64_t off = slot_offset(slot_value);
  account_link(off);
  bump(ctx.ctr->items);
  bump(ctx.ctr->bytes, item_total_len(read_item(at(off))));
}

std::atomic<std::uint64_t>* partition::displace_locked(const key_hash& k) {
  // One cuckoo step: move a resident item of b1 or b2 to its other bucket if that has room.
  // The other bucket is locked with try_lock only (we already hold two bucket locks, so
  // waiting could deadlock); a busy bucket is simply skipped.
  for (std::uint32_t bi : {k.b1, k.b2}) {
    bucket& b = _buckets[bi];
    for (unsigned i = 0; i < kSlotsPerBucket; ++i) {
      const std::uint64_t s = b.slot[i].load(std::memory_order_relaxed);
      const std::uint32_t to = other_bucket(bi, slot_tag(s), slot_alt(s), _nbuckets);
      if (to == k.b1 || to == k.b2) continue;  // full (we are here because both are)
      bucket& t = _buckets[to];
      if (!t.try_lock()) continue;
      for (unsigned j = 0; j < kSlotsPerBucket; ++j) {
        if (t.slot[j].load(std::memory_order_relaxed) != 0) continue;
        // Copy first, then clear: a reader may see the item twice, never zero times
        // (and both versions move, so a reader that raced the move retries).
        t.slot[j].store(s ^ kSlotAltBit, std::memory_order_release);
        b.slot[i].store(0, std::memory_order_release);
        t.unlock();
        return &b.slot[i];
      }
      t.unlock();
    }
    if (k.b1 == k.b2) break;
  }
  return nullptr;
}

void partition::insert_locked(const key_hash& k, std::uint64_t slot_value, op_ctx& ctx) {
  // Primary bucket first, so most hits cost one cache line.
  for (std::uint32_t bi : {k.b1, k.b2}) {
    bucket& b = _buckets[bi];
    const std::uint64_t v = (bi == k.b1) ? slot_value : slot_value | kSlotAltBit;
    for (unsigned i = 0; i < kSlotsPerBucket; ++i)
      if (b.slot[i].load(std::memory_order_relaxed) == 0) return link_slot(&b.slot[i], v, ctx);
    if (k.b1 == k.b2) break;
  }
  if (auto* freed = displace_locked(k)) {
    const bool in_b1 =
        freed >= &_buckets[k.b1].slot[0] && freed < &_buckets[k.b1].slot[0] + kSlotsPerBucket;
    return link_slot(freed, in_b1 ? slot_value : slot_value | kSlotAltBit, ctx);
  }
  // Both buckets full and nothing movable: the segment CLOCK's bit decides here too. Drop
  // an expired/flushed item, else the oldest item not read since it was written (or last
  // moved), else (all 14 were read) the oldest, clearing the others' bits: their second
  // chance is spent, as when the segment hand passes them.
  std::atomic<std::uint64_t>* victim = nullptr;
  bool victim_in_b1 = true;
  std::uint64_t victim_rank = ~std::uint64_t{0};  // read bit << 63 | segment seq
  bool victim_dead = false;
  for (std::uint32_t bi : {k.b1, k.b2}) {
    bucket& b = _buckets[bi];
    for (unsigned i = 0; i < kSlotsPerBucket && !victim_dead; ++i) {
      const std::uint64_t off = slot_offset(b.slot[i].load(std::memory_order_relaxed));
      const item_fields f = read_item(at(off));
      const std::uint64_t seq = _segs[off / _seg_size].seq.load(std::memory_order_relaxed);
      const std::uint64_t rank = (accessed(off) ? std::uint64_t{1} << 63 : 0) | seq;
      const bool dead = !live(off, f, ctx.now);
      if (dead || rank < victim_rank) {
        victim = &b.slot[i];
        victim_in_b1 = bi == k.b1;
        victim_rank = rank;
        victim_dead = dead;
      }
    }
    if (k.b1 == k.b2) break;
  }
  if (!victim_dead && (victim_rank >> 63) != 0) {
    for (std::uint32_t bi : {k.b1, k.b2}) {
      for (unsigned i = 0; i < kSlotsPerBucket; ++i)
        clear_access(slot_offset(_buckets[bi].slot[i].load(std::memory_order_relaxed)));
      if (k.b1 == k.b2) break;
    }
  }
  const item_fields vf = read_item(at(slot_offset(victim->load(std::memory_order_relaxed))));
  unlink_locked(victim, ctx, victim_dead ? dead_reason(vf, ctx.now) : unlink_reason::evicted);
  link_slot(victim, victim_in_b1 ? slot_value : slot_value | kSlotAltBit, ctx);
}

void partition::replace_locked(std::atomic<std::uint64_t>* s, std::uint64_t slot_value,
                               op_ctx& ctx) {
  const std::uint64_t old = s->load(std::memory_order_relaxed);
  const std::uint64_t old_off = slot_offset(old);
  const std::size_t old_len = item_total_len(read_item(at(old_off)));
  // Release: publishes the new item's bytes; the old item stays readable for readers
  // that already hold it until they pass a quiescent point. The slot keeps its position bit.
  s->store(slot_value | (old & kSlotAltBit), std::memory_order_release);
  _segs[old_off / _seg_size].live_items.fetch_sub(1, std::memory_order_relaxed);
  account_link(slot_offset(slot_value));
  const std::size_t new_len = item_total_len(read_item(at(slot_offset(slot_value))));
  bump(ctx.ctr->bytes, static_cast<std::uint64_t>(new_len) - old_len);
}

void partition::unlink_locked(std::atomic<std::uint64_t>* s, op_ctx& ctx, unlink_reason why) {
  const std::uint64_t old = s->load(std::memory_order_relaxed);
  const std::uint64_t off = slot_offset(old);
  const std::size_t len = item_total_len(read_item(at(off)));
  s->store(0, std::memory_order_release);
  _segs[off / _seg_size].live_items.fetch_sub(1, std::memory_order_relaxed);
  bump(ctx.ctr->items, ~std::uint64_t{0});
  bump(ctx.ctr->bytes, ~static_cast<std::uint64_t>(len) + 1);
  if (why == unlink_reason::evicted) bump(ctx.ctr->evictions);
  if (why == unlink_reason::expired) bump(ctx.ctr->expired);
}

void partition::lock_alloc() {
  for (unsigned spins = 0;;) {
    // Acquire: the segment lists written by the previous holder are visible.
    if (!_alloc_lock.exchange(true, std::memory_order_acquire)) return;
    while (_alloc_lock.load(std::memory_order_relaxed)) {
      if (++spins < kLockSpins)
        cpu_relax();
      else
        std::this_thread::yield();
    }
  }
}

void partition::seal_locked() {
  if (_open == kNoSegment) return;
  _sealed.push_back(_open);
  _open = kNoSegment;
  // Release: every write_off store of the segment precedes it (committed_end).
  _open_pub.store(kNoSegment, std::memory_order_release);
}

void partition::open_segment_locked(std::uint32_t s) {
  seg_meta& m = _segs[s];
  // Its access bits: the grace period has passed, so no reader can still set one for an
  // item of its last incarnation. (With a segment size that is not a multiple of
  // 8 * kAccessGranule the edge bytes are shared with a neighbour: a few bits lost.)
  const std::uint64_t base = std::uint64_t{s} * _seg_size;
  for (std::uint64_t i = base / kAccessGranule / 8;
       i <= (base + _seg_size - 1) / kAccessGranule / 8; ++i)
    _access[i].store(0, std::memory_order_relaxed);
  m.seq.store(_next_seq, std::memory_order_relaxed);
  m.write_off.store(0, std::memory_order_relaxed);
  m.max_expiry = 0;
  _open = s;
  // Before live_seq: a walker that sees the new incarnation also sees that it is open.
  _open_pub.store(s, std::memory_order_release);
  m.live_seq.store(_next_seq++, std::memory_order_release);
  _in_use.store(_nsegs - _free.size(), std::memory_order_relaxed);
}

std::uint32_t partition::take_free_locked(op_ctx& ctx) {
  if (!_free.empty()) {
    const std::uint32_t s = _free.back();
    _free.pop_back();
    return s;
  }
  if (_pending.empty()) return kNoSegment;
  // We hold no item pointers here, so our own session may pass a quiescent point.
  if (ctx.can_quiesce) ctx.q->quiesce(ctx.slot);
  for (std::size_t i = 0; i < _pending.size(); ++i) {
    const std::uint32_t s = _pending.at(i);
    // Our own session counts only if its views may point into this segment: this thread
    // holds no other item pointers while it reserves.
    const int except = self_blocks(ctx, s) ? -1 : ctx.slot;
    // A segment an offline walker protects (qsbr.h, hazards) waits; another is taken.
    if (ctx.q->passed(_segs[s].retire_epoch, except) && !ctx.q->protected_by_any(ctx.part, s))
      return _pending.take(i);
  }
  return kNoSegment;
}

bool partition::self_blocks(const op_ctx& ctx, std::uint32_t seg) const {
  if (ctx.can_quiesce) return false;
  return (!ctx.views || ctx.views->may_hold(ctx.part, seg)) &&
         ctx.q->epoch_of(ctx.slot) < _segs[seg].retire_epoch;
}

std::size_t partition::pick_victim_locked(std::uint32_t now) const {
  const std::uint64_t fs = _flush_seq.load(std::memory_order_relaxed);
  std::size_t oldest_idle = _sealed.size();
  for (std::size_t i = 0; i < _sealed.size(); ++i) {
    const seg_meta& m = _segs[_sealed.at(i)];
    // Acquire: pairs with commit()'s release; all item headers in the segment are written.
    if (m.writers.load(std::memory_order_acquire) != 0) continue;
    if (i < kVictimScan) {
      const bool free_to_take = m.live_items.load(std::memory_order_relaxed) == 0 ||
                                m.seq.load(std::memory_order_relaxed) < fs ||
                                (m.max_expiry != kNeverExpires && m.max_expiry <= now);
      if (free_to_take) return i;
    }
    if (oldest_idle == _sealed.size()) oldest_idle = i;
    if (i >= kVictimScan) break;
  }
  return oldest_idle;
}

bool partition::evict_some_locked(unsigned* budget, std::size_t* debt, op_ctx& ctx) {
  if (_victim == kNoSegment) {
    const std::size_t v = pick_victim_locked(ctx.now);
    if (v >= _sealed.size()) return false;
    _victim = _sealed.take(v);
    _victim_off = 0;
    _victim_kept = 0;
  }
  seg_meta& m = _segs[_victim];
  const std::uint64_t base = std::uint64_t{_victim} * _seg_size;
  const std::uint32_t end = m.write_off.load(std::memory_order_relaxed);
  std::uint64_t visited = 0;
  while (*budget > 0 && (!debt || *debt > 0) && _victim_off < end &&
         m.live_items.load(std::memory_order_relaxed) != 0) {
    const std::uint64_t off = base + _victim_off;
    const std::byte* p = at(off);
    const item_fields f = read_item(p);
    const std::size_t len = item_total_len(f);
    _victim_off += static_cast<std::uint32_t>(len);
    --*budget;
    ++visited;
    if (debt) *debt -= std::min(*debt, len);  // a kept item gives its bytes back below
    const key_hash k = split(hash_key(item_key(p, f)));
    // Replaced or deleted since: no lock needed (nothing can link this offset again).
    if (!linked(k, off)) continue;
    // Second chance: read since written (or since its last move), small enough to copy
    // within the request's bound, and the victim's survivors stay under half a segment so
    // every victim frees at least half its space.
    if (accessed(off) && live(off, f, ctx.now) && len <= kKeepMaxItem &&
        _victim_kept + len <= _seg_size / 2 && keep_locked(off, f, k, ctx)) {
      if (debt) *debt += len;  // moved, not freed
      continue;
    }
    const std::uint64_t want = make_slot(k.tag, off);
    pair_lock lk(*this, k);
    for (std::uint32_t bi : {k.b1, k.b2}) {
      bucket& b = _buckets[bi];
      for (unsigned i = 0; i < kSlotsPerBucket; ++i) {
        if (slot_item(b.slot[i].load(std::memory_order_relaxed)) != want) continue;
        unlink_locked(&b.slot[i], ctx,
                      live(off, f, ctx.now) ? unlink_reason::evicted : dead_reason(f, ctx.now));
      }
      if (k.b1 == k.b2) break;
    }
  }
  add(_evict_visited, visited);
  if (_victim_off >= end || m.live_items.load(std::memory_order_relaxed) == 0)
    retire_victim_locked(ctx);
  return true;
}

bool partition::keep_locked(std::uint64_t off, const item_fields& f, const key_hash& k,
                            op_ctx& ctx) {
  (void)ctx;
  if (_open == kNoSegment || _walkers.load(std::memory_order_relaxed) != 0) return false;
  seg_meta& o = _segs[_open];
  const std::size_t len = item_total_len(f);
  const std::uint32_t wo = o.write_off.load(std::memory_order_relaxed);
  if (wo + len > _seg_size) return false;
  const std::uint64_t to = std::uint64_t{_open} * _seg_size + wo;
  // The same protocol as reserve()/commit(): a walker sees writers != 0 until the copy
  // is complete.
  o.writers.fetch_add(1, std::memory_order_relaxed);
  o.write_off.store(wo + static_cast<std::uint32_t>(len), std::memory_order_release);
  if (f.expires_at == 0)
    o.max_expiry = kNeverExpires;
  else if (o.max_expiry != kNeverExpires)
    o.max_expiry = std::max(o.max_expiry, f.expires_at);
  // Same bytes, same CAS: the item moves, it is not rewritten. The state word is the one
  // part readers may change meanwhile, so it is copied with atomics (here and again
  // under the bucket locks, where a recache win is set).
  std::memcpy(at(to) + kItemStateBytes, at(off) + kItemStateBytes, len - kItemStateBytes);
  item_state::store(at(to), item_state::load(at(off)));
  bool moved = false;
  bool walking = false;
  {
    const std::uint64_t want = make_slot(k.tag, off);
    pair_lock lk(*this, k);
    // A walk that began after the check above: leave the item where it is (walk_guard).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    walking = _walkers.load(std::memory_order_relaxed) != 0;
    for (std::uint32_t bi : {k.b1, k.b2}) {
      if (walking) break;
      bucket& b = _buckets[bi];
      for (unsigned i = 0; i < kSlotsPerBucket && !moved; ++i) {
        const std::uint64_t s = b.slot[i].load(std::memory_order_relaxed);
        if (slot_item(s) != want) continue;
        item_state::store(at(to), item_state::load(at(off)));
        // Release: the copied bytes are visible to whoever loads the new slot. The old
        // copy stays readable for readers that hold it until their next quiescent point.
        b.slot[i].store(make_slot(k.tag, to) | (s & kSlotAltBit), std::memory_order_release);
        _segs[off / _seg_size].live_items.fetch_sub(1, std::memory_order_relaxed);
        account_link(to);
        moved = true;
      }
      if (k.b1 == k.b2 || moved) break;
    }
  }
  o.writers.fetch_sub(1, std::memory_order_release);
  if (moved) {
    _victim_kept += static_cast<std::uint32_t>(len);
    add(_evict_kept, 1);
  }
  // Not moved: replaced or deleted since linked() looked (nothing left to do), or a walk
  // began (the caller drops it instead). The copy is dead space.
  return !walking;
}

void partition::retire_victim_locked(op_ctx& ctx) {
  seg_meta& m = _segs[_victim];
  // Every unlink and move of its items (in this and earlier requests) happens before the
  // epoch advance (acq_rel): a session that observes the new epoch can no longer find
  // them. The same for live_seq: a walker that still sees the seq after its quiescent
  // point holds an epoch below retire_epoch.
  m.live_seq.store(0, std::memory_order_release);
  m.retire_epoch = ctx.q->advance();
  _pending.push_back(_victim);
  _victim = kNoSegment;
}

void partition::evict_ahead_locked(std::size_t n, op_ctx& ctx) {
  // Keep `_headroom` segments free or retired, so the grace period of a retired segment
  // has usually passed (every lcore looped once) before it is needed. Paced: each store
  // frees twice the bytes it took (so the victim is done when the open segment is half
  // full), at most kEvictBatch items; a full batch when more than a segment behind.
  if (_free.size() + _pending.size() >= _headroom) {
    _evict_debt = 0;
    return;
  }
  _evict_debt += 2 * n;
  unsigned budget = kEvictBatch;
  while (budget > 0 && _free.size() + _pending.size() < _headroom) {
    const bool behind = _free.size() + _pending.size() + 1 < _headroom;
    if (!behind && _evict_debt == 0) break;
    if (!evict_some_locked(&budget, behind ? nullptr : &_evict_debt, ctx)) break;
  }
}

reservation partition::reserve(std::size_t n, std::uint32_t expires_at, op_ctx& ctx) {
  if (n > _seg_size || _nsegs == 0) return {};
  lock_alloc();
  for (unsigned round = 0;; ++round) {
    if (_open != kNoSegment && _seal_request.load(std::memory_order_relaxed) == _open) {
      _seal_request.store(kNoSegment, std::memory_order_relaxed);
      seal_locked();  // a walker waits for it to drain (committed_end)
    }
    if (_open != kNoSegment) {
      seg_meta& m = _segs[_open];
      const std::uint32_t wo = m.write_off.load(std::memory_order_relaxed);
      if (wo + n <= _seg_size) {
        reservation r;
        r.seg = _open;
        r.off = std::uint64_t{_open} * _seg_size + wo;
        r.p = _arena + r.off;
        // writers first, then write_off (release): see committed_end.
        m.writers.fetch_add(1, std::memory_order_relaxed);
        m.write_off.store(wo + static_cast<std::uint32_t>(n), std::memory_order_release);
        if (expires_at == 0)
          m.max_expiry = kNeverExpires;
        else if (m.max_expiry != kNeverExpires)
          m.max_expiry = std::max(m.max_expiry, expires_at);
        evict_ahead_locked(n, ctx);
        unlock_alloc();
        return r;
      }
      seal_locked();
    }
    const std::uint32_t s = take_free_locked(ctx);
    if (s != kNoSegment) {
      open_segment_locked(s);
      continue;
    }
    // No segment to open: the evict-ahead fell behind (a burst of large items, or fewer
    // than 4 segments, so no headroom). Finish a victim now, whatever it costs.
    unsigned unbounded = ~0u;
    if (evict_some_locked(&unbounded, nullptr, ctx)) continue;
    // Nothing to evict right now: segments await writers or a grace period.
    // If our own session's views pin every retired segment, waiting cannot help: only our
    // caller's next quiescent() would.
    bool we_block = !_pending.empty();
    for (std::size_t i = 0; i < _pending.size() && we_block; ++i)
      we_block = self_blocks(ctx, _pending.at(i));
    if (round >= kMaxWaitRounds || we_block || (_pending.empty() && _sealed.empty())) {
      unlock_alloc();
      return {};
    }
    unlock_alloc();
    std::this_thread::yield();
    lock_alloc();
  }
}

bool partition::holds(const bucket& b, std::uint64_t item) {
  for (unsigned i = 0; i < kSlotsPerBucket; ++i)
    if (slot_item(b.slot[i].load(std::memory_order_relaxed)) == item) return true;
  return false;
}

bool partition::linked(const key_hash& k, std::uint64_t off) const {
  // find() without the key compare: the offset identifies the item.
  const std::uint64_t want = make_slot(k.tag, off);
  const bucket& a = _buckets[k.b1];
  const bucket& b = _buckets[k.b2];
  for (;;) {
    const std::uint64_t va = a.read_begin();
    const bool in_a = holds(a, want);
    if (in_a || k.b1 == k.b2) {
      if (a.read_validate(va)) return in_a;
      continue;
    }
    const std::uint64_t vb = b.read_begin();
    const bool in_b = holds(b, want);
    if (!b.read_validate(vb)) continue;
    if (in_b) return true;
    // Absent from both at once: a move from b to a after we scanned a changed a's version.
    if (a.read_validate(va)) return false;
  }
}

void partition::live_segments(std::uint64_t after, std::vector<seg_ref>& out) const {
  out.clear();
  for (std::size_t i = 0; i < _nsegs; ++i) {
    const std::uint64_t q = _segs[i].live_seq.load(std::memory_order_acquire);
    if (q > after) out.push_back({q, static_cast<std::uint32_t>(i)});
  }
  std::sort(out.begin(), out.end(),
            [](const seg_ref& a, const seg_ref& b) { return a.seq < b.seq; });
}

bool partition::committed_end(std::uint32_t seg, std::uint64_t seq, std::uint32_t* end,
                              bool* open) {
  // Lock-free, so a walker preempted here (it runs at nice 19) holds nothing a writer
  // waits for. Order matters: open flag, then write_off, then writers (each acquire).
  // A segment seen not open was sealed after its last write_off store (seal_locked's
  // release), so that end is final; writers == 0 read after write_off (which reserve()
  // stores after raising writers) means every item below it was committed (commit()'s
  // release), so its bytes are visible.
  seg_meta& m = _segs[seg];
  for (unsigned round = 0;; ++round) {
    if (m.live_seq.load(std::memory_order_acquire) != seq) return false;
    const bool is_open = _open_pub.load(std::memory_order_acquire) == seg;
    const std::uint32_t wo = m.write_off.load(std::memory_order_acquire);
    if (m.writers.load(std::memory_order_acquire) == 0) {
      // Still the same incarnation: wo was not a later one's (seq never repeats).
      if (m.live_seq.load(std::memory_order_acquire) != seq) return false;
      *end = wo;
      *open = is_open;
      return true;
    }
    // The next reserve() seals it; no new reservation can start there after that.
    if (is_open && round >= kSealAfterRounds) _seal_request.store(seg, std::memory_order_relaxed);
    if (round < kSpinRounds)
      cpu_relax();
    else
      std::this_thread::yield();
  }
}

void partition::flush_cut(std::uint32_t gen) {
  lock_alloc();
  if (_flush_gen.load(std::memory_order_relaxed) != gen) {
    seal_locked();
    // Every segment opened so far has seq < _next_seq: all of them are now dead.
    _flush_seq.store(_next_seq, std::memory_order_release);
    _flush_gen.store(gen, std::memory_order_release);
  }
  unlock_alloc();
}

}  // namespace anvil::cache
