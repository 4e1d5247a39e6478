// session::for_each_item: a partition's live items in log (segment) order.
// Exactly once for every item that stays linked during the walk: each segment
// incarnation is read once, front to back, and an item is reported when the index still
// links its arena offset (both candidate buckets checked under their seqlocks). A cuckoo
// move changes the bucket of an item, never its offset, so it cannot hide or repeat one.
// Never online: a QSBR reader that is online holds back the reuse of every segment
// retired meanwhile, and the walker runs at nice 19, so it may be descheduled for long
// anywhere. It reads the arena only to copy one chunk of a segment (at most kChunkBytes,
// or one item larger than that) into its own buffer, under a hazard on that one segment
// (qsbr.h: protect, re-check live_seq, memcpy, unprotect): a reclaimer that finds the
// segment retired takes another, so even a walker descheduled inside the memcpy holds
// back one segment, never the others. Everything else works without touching the arena:
// waiting for a segment's reservations to commit (committed_end reads only segment
// metadata), parsing and hashing the copy, the index probes (buckets are never freed and
// are read under their seqlocks), and the callback, which gets views into the copy.
// Safety: a chunk is copied only below the segment's committed end and only after the
// segment's live_seq was seen unchanged after the hazard was set: eviction clears
// live_seq before it takes the retire epoch, so the memory is not reused before the
// hazard is cleared. An index probe may see a slot of a later incarnation that reuses the
// same offset; so after probing a batch the walker re-reads live_seq (after the probes'
// acquire fences): unchanged, every slot it saw linking an offset of the batch was the
// copied item's (a later incarnation's link happens after live_seq was cleared);
// changed, the segment was evicted and the rest of it is skipped.
// Items written during the walk: the walk follows the log head for a few rounds (segments
// opened meanwhile, the open segment's new tail), so recently and often written keys are
// caught; a key rewritten after its old version was reported may be reported twice (older
// first, as in the log).
// Stale records (session::for_each_stale): with record_walk on, every reported record's
// (offset, segment incarnation) is kept; after the whole walk each is checked again: a
// record whose segment incarnation changed, that is no longer live (expired, flushed) or
// no longer linked by its key (deleted, replaced) is stale. The same split: a batch's
// headers and keys copied under hazards, then probed, then the incarnation re-checked.
#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cache/engine_impl.h"

namespace anvil::cache {

namespace {

// Items are hashed and their buckets prefetched one batch ahead of the batch checked.
constexpr unsigned kBatch = 32;
// Bytes of a segment copied per hazard window (an item larger than this is copied whole).
constexpr std::size_t kChunkBytes = std::size_t{64} << 10;
// Rounds of following the log head after the segments that were live at the start.
constexpr unsigned kChaseRounds = 4;
// Passes over the open segment's growing tail.
constexpr unsigned kOpenPasses = 4;
// Records the stale check copies per batch.
constexpr std::size_t kStaleBatch = 128;

struct pending {
  std::uint32_t pos;  // in the copy
  std::uint64_t off;  // in the arena
  item_fields f;
  key_hash k;
};

// Offline for a session, keeping its flags true (a callback may have used it).
// (A template: session::impl is private to session, which instantiates it.)
template <class Session>
void go_offline(Session& s) {
  s.e->q->offline(s.slot);
  s.online = false;
  s.views = false;  // a view handed out inside a callback ends with it
  s.view_segs.clear();
}

template <class Session>
class walker {
 public:
  walker(partition& p, std::uint32_t part_index, Session& s, std::uint32_t now,
         const std::function<void(const item_record&)>& fn, std::vector<walked_record>* record)
      : _p(p), _part(part_index), _s(s), _now(now), _fn(fn), _record(record), _buf(kChunkBytes) {}

  // Walks one segment incarnation, following its tail while it is open.
  void segment(const seg_ref& r) {
    std::uint32_t cursor = 0;
    for (unsigned pass = 0; pass < kOpenPasses; ++pass) {
      // Wholly dead segments (common under churn) cost nothing: no stable item is there.
      if (_p.live_items(r.seg) == 0) return;
      std::uint32_t end = 0;
      bool open = false;
      if (!_p.committed_end(r.seg, r.seq, &end, &open)) return;  // evicted
      if (end <= cursor) return;
      if (!range(r, cursor, end)) return;
      cursor = end;
      if (!open) return;
    }
  }

 private:
  // Item memory is read here while readers may update an item's state word (a relaxed
  // atomic: item_state in item.h), so the copy reads relaxed atomic words, never a plain
  // memcpy over them. Items start 4-byte aligned and span multiples of 4 bytes, and so do
  // a chunk's offset and length.
  static void copy_words(std::byte* dst, const std::byte* src, std::size_t n) {
    const auto* from = reinterpret_cast<const std::uint32_t*>(src);
    for (std::size_t i = 0; i < n / 4; ++i) {
      const std::uint32_t w = __atomic_load_n(from + i, __ATOMIC_RELAXED);
      std::memcpy(dst + 4 * i, &w, 4);
    }
    for (std::size_t i = n / 4 * 4; i < n; ++i)
      dst[i] = static_cast<std::byte>(
          __atomic_load_n(reinterpret_cast<const unsigned char*>(src) + i, __ATOMIC_RELAXED));
  }

  // Copies [pos, pos + n) of the segment into the buffer if it still is incarnation
  // r.seq, under a hazard on that one segment (qsbr.h): the session stays offline.
  bool copy(const seg_ref& r, std::uint32_t pos, std::size_t n) {
    if (_buf.size() < n) _buf.resize(n);  // one item larger than any before
    qsbr& q = *_s.e->q;
    q.protect(_s.slot, _part, r.seg);
    const bool same = _p.live_seq(r.seg) == r.seq;
    if (same) copy_words(_buf.data(), _p.at(std::uint64_t{r.seg} * _p.segment_size() + pos), n);
    q.unprotect(_s.slot);
    return same;
  }

  // Whether an item starts at `at` and ends within the first n bytes of the copy; its
  // length in *len. An item past n (or a header cut at n) is left for the next chunk.
  bool whole_item(std::size_t at, std::size_t n, std::size_t* len) const {
    if (at >= n || n - at < kItemDescriptorEnd ||
        item_header_len(_buf[at + kItemStateBytes]) > n - at)
      return false;
    *len = item_total_len(read_item(_buf.data() + at));
    return *len <= n - at;
  }

  // Reports the linked items in [from, end) of the segment; false if it was evicted.
  bool range(const seg_ref& r, std::uint32_t from, std::uint32_t end) {
    std::uint32_t pos = from;
    while (pos < end) {
      std::size_t n = std::min<std::size_t>(kChunkBytes, end - pos);
      if (!copy(r, pos, n)) return false;
      std::size_t len = 0;
      if (!whole_item(0, n, &len)) {
        // One item larger than a chunk (below `end`, so complete in the segment): copy it
        // whole. Its header lies within the chunk (kChunkBytes > kMaxItemHeader); an item
        // that would run past `end` cannot be there (committed_end), so stop if it is.
        if (len <= n || pos + len > end) return false;
        n = len;
        if (!copy(r, pos, n)) return false;
      }
      std::size_t used = 0;
      if (!items(r, pos, n, &used)) return false;
      pos += static_cast<std::uint32_t>(used);
    }
    return true;
  }

  // Hashes the whole items of the copy from *at on (at most kBatch) and prefetches their
  // primary buckets.
  unsigned parse(const seg_ref& r, std::uint32_t base_pos, std::size_t* at, std::size_t n,
                 pending* out) {
    unsigned count = 0;
    std::size_t len = 0;
    const std::uint64_t seg_base = std::uint64_t{r.seg} * _p.segment_size();
    while (count < kBatch && whole_item(*at, n, &len)) {
      pending& e = out[count++];
      e.pos = static_cast<std::uint32_t>(*at);
      e.off = seg_base + base_pos + *at;
      e.f = read_item(_buf.data() + *at);
      e.k = _p.split(hash_key(item_key(_buf.data() + *at, e.f)));
      __builtin_prefetch(&_p.bkt(e.k.b1));
      *at += len;
    }
    return count;
  }

  // One batch later the primary bucket is cached: an item it does not hold (moved to or
  // inserted in its alternate, or dead) gets its alternate bucket prefetched. A hint only:
  // unvalidated reads; check() decides under the seqlocks.
  void peek(const pending* b, unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      const pending& e = b[i];
      const bucket& a = _p.bkt(e.k.b1);
      const std::uint64_t want = make_slot(e.k.tag, e.off);
      bool here = false;
      for (unsigned j = 0; j < kSlotsPerBucket; ++j)
        here |= slot_item(a.slot[j].load(std::memory_order_relaxed)) == want;
      if (!here) __builtin_prefetch(&_p.bkt(e.k.b2));
    }
  }

  // Probes the batch, then re-checks the incarnation (see the header), then reports the
  // linked items; false if the segment was evicted.
  bool check(const seg_ref& r, const pending* b, unsigned n) {
    bool linked[kBatch];
    for (unsigned i = 0; i < n; ++i)
      linked[i] = _p.live(b[i].off, b[i].f, _now) && _p.linked(b[i].k, b[i].off);
    if (_p.live_seq(r.seg) != r.seq) return false;
    for (unsigned i = 0; i < n; ++i) {
      if (!linked[i]) continue;
      const pending& e = b[i];
      const std::byte* p = _buf.data() + e.pos;
      item_record rec;
      rec.key = item_key(p, e.f);
      rec.value = item_value(p, e.f);
      rec.flags = e.f.flags;
      rec.expires_at = e.f.expires_at;
      rec.cas = e.f.cas;
      if (_record != nullptr) _record->push_back({e.off, r.seq});
      _fn(rec);
    }
    return true;
  }

  // The whole items of the copy's first n bytes (*used: their length). Three batches in
  // flight: hashed (primary bucket prefetched), peeked (alternate prefetched if needed),
  // checked. Two random lines per item would halve the rate: the walk is bound by how many
  // random lines are in flight, and most items sit in their primary bucket.
  bool items(const seg_ref& r, std::uint32_t base_pos, std::size_t n, std::size_t* used) {
    pending ring[3][kBatch];
    unsigned count[3] = {0, 0, 0};
    std::size_t at = 0;
    count[0] = parse(r, base_pos, &at, n, ring[0]);
    count[1] = parse(r, base_pos, &at, n, ring[1]);
    peek(ring[0], count[0]);
    for (unsigned batch = 0; count[batch % 3] != 0; ++batch) {
      const unsigned cur = batch % 3, mid = (batch + 1) % 3, nxt = (batch + 2) % 3;
      count[nxt] = parse(r, base_pos, &at, n, ring[nxt]);
      peek(ring[mid], count[mid]);
      if (!check(r, ring[cur], count[cur])) return false;
      count[cur] = 0;
    }
    *used = at;
    return true;
  }

  partition& _p;
  std::uint32_t _part;
  Session& _s;
  std::uint32_t _now;
  const std::function<void(const item_record&)>& _fn;
  std::vector<walked_record>* _record;
  std::vector<std::byte> _buf;  // the chunk being reported (the callbacks' views)
};

}  // namespace

void session::for_each_item(std::size_t partition_index,
                            const std::function<void(const item_record&)>& fn) {
  impl& s = *_impl;
  engine::impl& e = *s.e;
  if (partition_index >= e.parts.size()) return;
  partition& part = *e.parts[partition_index];
  const std::uint32_t now = e.now();
  {
    s.views = false;  // earlier views end here
    s.view_segs.clear();
    impl::scope scope(s);
    s.check_flush(partition_index, now);
  }
  const partition::walk_guard walking(part);  // no eviction moves during the walk
  std::vector<walked_record>* record = nullptr;
  if (s.record_walk) {
    if (s.walked.size() < e.parts.size()) s.walked.resize(e.parts.size());
    record = &s.walked[partition_index];
    record->clear();
  }
  walker<impl> w(part, static_cast<std::uint32_t>(partition_index), s, now, fn, record);
  std::vector<seg_ref> segs;
  std::uint64_t after = 0;
  // Round 0: every segment live now, oldest first. Then segments opened meanwhile.
  for (unsigned round = 0; round <= kChaseRounds; ++round) {
    part.live_segments(after, segs);
    if (segs.empty()) break;
    for (const seg_ref& r : segs) w.segment(r);
    after = segs.back().seq;
  }
  go_offline(s);
}

void session::record_walk(bool on) {
  _impl->record_walk = on;
  if (!on) _impl->walked.clear();
}

void session::for_each_stale(std::size_t partition_index,
                             const std::function<void(std::uint64_t)>& fn,
                             const std::function<void(const item_record&)>& refresh) {
  impl& s = *_impl;
  engine::impl& e = *s.e;
  if (partition_index >= s.walked.size()) return;
  std::vector<walked_record> list = std::move(s.walked[partition_index]);
  s.walked[partition_index] = {};
  partition& part = *e.parts[partition_index];
  const auto pidx = static_cast<std::uint32_t>(partition_index);
  const partition::walk_guard checking(part);  // no eviction moves during the check
  const std::uint32_t now = e.now();
  {
    s.views = false;
    s.view_segs.clear();
    impl::scope scope(s);
    s.check_flush(partition_index, now);
  }
  // Each segment incarnation's records are one run of `list`, in offset order (the walk
  // reads an incarnation once, front to back): where each run is, to tell whether a
  // record was reported.
  std::unordered_map<std::uint64_t, std::pair<std::size_t, std::size_t>> runs;
  if (refresh) {
    for (std::size_t i = 0; i < list.size();) {
      std::size_t j = i + 1;
      while (j < list.size() && list[j].seq == list[i].seq) ++j;
      runs.emplace(list[i].seq, std::pair{i, j});
      i = j;
    }
  }
  auto reported = [&](std::uint64_t off, std::uint64_t seq) {
    const auto it = runs.find(seq);
    if (it == runs.end()) return false;
    const auto first = list.begin() + static_cast<std::ptrdiff_t>(it->second.first);
    const auto last = list.begin() + static_cast<std::ptrdiff_t>(it->second.second);
    const auto at = std::lower_bound(
        first, last, off, [](const walked_record& w, std::uint64_t o) { return w.off < o; });
    return at != last && at->off == off;
  };
  std::unordered_set<std::string> refreshed;
  // The live record of a replaced key, copied while online: find() compares keys in
  // whatever segments the key's buckets point to, so no one-segment hazard covers it. A
  // bounded window (one lookup and one item copy, no callback), and only for the keys
  // rewritten since the walk reported them.
  std::string rkey, rvalue;
  auto fetch_replacement = [&](const key_hash& k, std::string_view key, item_record* out) {
    impl::scope scope(s);
    const std::uint64_t slot = part.find(k, key);
    if (slot == 0) return false;
    const std::uint64_t off = slot_offset(slot);
    const auto rseg = static_cast<std::uint32_t>(off / part.segment_size());
    const std::uint64_t rseq = part.live_seq(rseg);
    const std::byte* p = part.at(off);
    const item_fields f = read_item(p);
    if (rseq == 0 || !part.live(off, f, now) || reported(off, rseq)) return false;
    rkey.assign(item_key(p, f));
    rvalue.assign(item_value(p, f));
    out->key = rkey;
    out->value = rvalue;
    out->flags = f.flags;
    out->expires_at = f.expires_at;
    out->cas = f.cas;
    return true;
  };
  // Per record of a batch: its fields and key copied under a hazard on its segment
  // (empty: the incarnation had already changed), then checked.
  struct copied {
    item_fields f;
    std::uint32_t key_at = 0;
    bool present = false;
  };
  std::vector<copied> batch(kStaleBatch);
  std::vector<char> keys(kStaleBatch * kMaxKeyLength);
  for (std::size_t at = 0; at < list.size(); at += kStaleBatch) {
    const std::size_t n = std::min(kStaleBatch, list.size() - at);
    std::uint32_t key_bytes = 0;
    std::uint32_t guarded = kNoSegment;
    for (std::size_t i = 0; i < n; ++i) {
      const walked_record& w = list[at + i];
      copied& c = batch[i];
      const auto seg = static_cast<std::uint32_t>(w.off / part.segment_size());
      if (seg != guarded) {  // records come in log order: one hazard per segment run
        e.q->protect(s.slot, pidx, seg);
        guarded = seg;
      }
      // The incarnation matched after the hazard was set: the memory is not reused before
      // it is cleared.
      c.present = part.live_seq(seg) == w.seq;
      if (!c.present) continue;
      const std::byte* p = part.at(w.off);
      c.f = read_item(p);
      c.key_at = key_bytes;
      std::memcpy(keys.data() + key_bytes, p + c.f.header_len, c.f.key_len);
      key_bytes += c.f.key_len;
    }
    e.q->unprotect(s.slot);
    for (std::size_t i = 0; i < n; ++i) {
      const walked_record& w = list[at + i];
      const copied& c = batch[i];
      bool current = false;
      bool live = false;
      key_hash k{};
      const std::string_view key{keys.data() + c.key_at, c.present ? c.f.key_len : 0};
      if (c.present) {
        k = part.split(hash_key(key));
        // Probed without protection: a link seen at this offset is the recorded item's
        // only if the incarnation is still the same after the probe (see the header).
        const auto seg = static_cast<std::uint32_t>(w.off / part.segment_size());
        live = part.live(w.off, c.f, now);
        current = live && part.linked(k, w.off) && part.live_seq(seg) == w.seq;
      }
      if (!current) fn(at + i);
      if (current || !live || !refresh || refreshed.count(std::string(key)) != 0) continue;
      item_record rec;
      if (!fetch_replacement(k, key, &rec)) continue;
      refreshed.emplace(rec.key);  // one record per key: the first
      refresh(rec);                // offline, on the copy
    }
  }
}

void session::walk_pause() {
  // The walk calls its callback offline, so there is nothing left to release here.
}

}  // namespace anvil::cache
