// session::for_each_item: a partition's live items in log (segment) order.
// Exactly once for every item that stays linked during the walk: each segment
// incarnation is read once, front to back, and an item is reported when the index still
// links its arena offset (both candidate buckets checked under their seqlocks). A cuckoo
// move changes the bucket of an item, never its offset, so it cannot hide or repeat one.
// Safety: items are read only below a segment's committed end (no reservation in flight,
// see partition::committed_end), and only while the segment's live_seq matches, checked
// after every quiescent point: eviction clears live_seq before it takes the retire epoch,
// so the memory cannot be reused before the walker's next quiescent point.
// Items written during the walk: the walk follows the log head for a few rounds (segments
// opened meanwhile, the open segment's new tail), so recently and often written keys are
// caught; a key rewritten after its old version was reported may be reported twice (older
// first, as in the log).
// Stale records (session::for_each_stale): with record_walk on, every reported record's
// (offset, segment incarnation) is kept; after the whole walk each is checked again: a
// record whose segment incarnation changed, that is no longer live (expired, flushed) or
// no longer linked by its key (deleted, replaced) is stale. The item's memory is read only
// while its incarnation matches after the last quiescent point (the walk's own rule).
#include <algorithm>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cache/engine_impl.h"

namespace anvil::cache {

namespace {

// Items are hashed and their buckets prefetched one batch ahead of the batch checked.
constexpr unsigned kBatch = 32;
// A quiescent point every this many batches (and at every segment).
constexpr unsigned kQuiesceBatches = 4;
// Rounds of following the log head after the segments that were live at the start.
constexpr unsigned kChaseRounds = 4;
// Passes over the open segment's growing tail.
constexpr unsigned kOpenPasses = 4;

struct pending {
  std::uint64_t off;
  item_fields f;
  key_hash k;
};

class walker {
 public:
  walker(partition& p, qsbr& q, int slot, std::uint32_t now,
         const std::function<void(const item_record&)>& fn, std::vector<walked_record>* record)
      : _p(p), _q(q), _slot(slot), _now(now), _fn(fn), _record(record) {}

  // Asked for from inside the callback (session::walk_pause), which holds no item
  // pointer any more: the walker goes offline, so it holds back no reclamation however
  // long the callback then waits (a quiescent point would still pin every segment
  // retired after it). Back online when the callback returns, the walk checks its
  // segment's incarnation before it reads on.
  void pause() {
    _q.offline(_slot);
    _paused = true;
  }

  // Walks one segment incarnation, following its tail while it is open.
  void segment(const seg_ref& r) {
    std::uint32_t cursor = 0;
    for (unsigned pass = 0; pass < kOpenPasses; ++pass) {
      // Wholly dead segments (common under churn) cost nothing: no stable item is there.
      if (_p.live_items(r.seg) == 0) return;
      _q.quiesce(_slot);
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
  // Hashes the items from *pos on (at most kBatch, below end) and prefetches their primary
  // buckets.
  unsigned parse(std::uint64_t base, std::uint32_t* pos, std::uint32_t end, pending* out) {
    unsigned n = 0;
    while (n < kBatch && *pos < end) {
      const std::byte* p = _p.at(base + *pos);
      pending& e = out[n++];
      e.off = base + *pos;
      e.f = read_item(p);
      e.k = _p.split(hash_key(item_key(p, e.f)));
      __builtin_prefetch(&_p.bkt(e.k.b1));
      *pos += static_cast<std::uint32_t>(item_total_len(e.f));
    }
    return n;
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

  bool check(const pending* b, unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      const pending& e = b[i];
      if (!_p.live(e.off, e.f, _now) || !_p.linked(e.k, e.off)) continue;
      const std::byte* p = _p.at(e.off);
      item_record rec;
      rec.key = item_key(p, e.f);
      rec.value = item_value(p, e.f);
      rec.flags = e.f.flags;
      rec.expires_at = e.f.expires_at;
      rec.cas = e.f.cas;
      if (_record != nullptr) _record->push_back({e.off, _cur.seq});
      _fn(rec);
      if (_paused) {
        _paused = false;
        _q.online(_slot);  // then the incarnation check (qsbr.h: online's fence pairs)
        if (_p.live_seq(_cur.seg) != _cur.seq) return false;  // evicted meanwhile
      }
    }
    return true;
  }

  // Reports the linked items in [from, end) of the segment; false if it was evicted.
  // Three batches in flight: hashed (primary bucket prefetched), peeked (alternate
  // prefetched if needed), checked. Two random lines per item would halve the rate: the
  // walk is bound by how many random lines are in flight, and most items sit in their
  // primary bucket.
  bool range(const seg_ref& r, std::uint32_t from, std::uint32_t end) {
    const std::uint64_t base = std::uint64_t{r.seg} * _p.segment_size();
    _cur = r;
    pending ring[3][kBatch];
    unsigned count[3] = {0, 0, 0};
    std::uint32_t pos = from;
    count[0] = parse(base, &pos, end, ring[0]);
    count[1] = parse(base, &pos, end, ring[1]);
    peek(ring[0], count[0]);
    for (unsigned batch = 0; count[batch % 3] != 0; ++batch) {
      const unsigned cur = batch % 3, mid = (batch + 1) % 3, nxt = (batch + 2) % 3;
      count[nxt] = parse(base, &pos, end, ring[nxt]);
      peek(ring[mid], count[mid]);
      if (!check(ring[cur], count[cur])) return false;
      count[cur] = 0;
      if ((batch + 1) % kQuiesceBatches == 0) {
        // Writers may reuse what was retired before this point; our segment is safe to
        // read on only if it still is the same incarnation.
        _q.quiesce(_slot);
        if (_p.live_seq(r.seg) != r.seq) return false;
      }
    }
    return true;
  }

  partition& _p;
  qsbr& _q;
  int _slot;
  std::uint32_t _now;
  const std::function<void(const item_record&)>& _fn;
  std::vector<walked_record>* _record;
  seg_ref _cur{};
  bool _paused = false;
};

}  // namespace

void session::for_each_item(std::size_t partition_index,
                            const std::function<void(const item_record&)>& fn) {
  impl& s = *_impl;
  engine::impl& e = *s.e;
  if (partition_index >= e.parts.size()) return;
  s.views = false;  // we pass quiescent points below: earlier views end here
  s.view_segs.clear();
  impl::scope scope(s);
  partition& part = *e.parts[partition_index];
  const partition::walk_guard walking(part);  // no eviction moves during the walk
  const std::uint32_t now = e.now();
  s.check_flush(partition_index, now);
  std::vector<walked_record>* record = nullptr;
  if (s.record_walk) {
    if (s.walked.size() < e.parts.size()) s.walked.resize(e.parts.size());
    record = &s.walked[partition_index];
    record->clear();
  }
  walker w(part, *e.q, s.slot, now, fn, record);
  s.pause_walk = [&w] { w.pause(); };
  struct clear_on_exit {
    impl& s;
    ~clear_on_exit() { s.pause_walk = nullptr; }
  } clear{s};
  std::vector<seg_ref> segs;
  std::uint64_t after = 0;
  // Round 0: every segment live now, oldest first. Then segments opened meanwhile.
  for (unsigned round = 0; round <= kChaseRounds; ++round) {
    part.live_segments(after, segs);
    if (segs.empty()) break;
    for (const seg_ref& r : segs) w.segment(r);
    after = segs.back().seq;
  }
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
  s.views = false;
  s.view_segs.clear();
  impl::scope scope(s);
  partition& part = *e.parts[partition_index];
  const partition::walk_guard checking(part);  // no eviction moves during the check
  const std::uint32_t now = e.now();
  s.check_flush(partition_index, now);
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
  bool paused = false;
  s.pause_walk = [&] {
    e.q->offline(s.slot);
    paused = true;
  };
  struct clear_on_exit {
    impl& s;
    ~clear_on_exit() { s.pause_walk = nullptr; }
  } clear{s};
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i % (kBatch * kQuiesceBatches) == 0) e.q->quiesce(s.slot);
    const auto& w = list[i];
    const auto seg = static_cast<std::uint32_t>(w.off / part.segment_size());
    bool current = false;
    std::uint64_t replacement = 0;  // the key's live item now, when it was stored again
    if (part.live_seq(seg) == w.seq) {
      // The incarnation matched after our last quiescent point: the memory is not reused
      // before the next one.
      const std::byte* p = part.at(w.off);
      const item_fields f = read_item(p);
      const key_hash k = part.split(hash_key(item_key(p, f)));
      const bool live = part.live(w.off, f, now);
      current = live && part.linked(k, w.off);
      if (!current && live && refresh) replacement = part.find(k, item_key(p, f));
    }
    if (!current) fn(i);
    if (replacement == 0) continue;
    const std::uint64_t off = slot_offset(replacement);
    const auto rseg = static_cast<std::uint32_t>(off / part.segment_size());
    const std::uint64_t rseq = part.live_seq(rseg);
    const std::byte* p = part.at(off);
    const item_fields f = read_item(p);
    if (rseq == 0 || !part.live(off, f, now) || reported(off, rseq)) continue;
    item_record rec;
    rec.key = item_key(p, f);
    rec.value = item_value(p, f);
    rec.flags = f.flags;
    rec.expires_at = f.expires_at;
    rec.cas = f.cas;
    if (!refreshed.emplace(rec.key).second) continue;  // one record per key: the first
    refresh(rec);
    if (paused) {  // the callback waited offline: back online before reading on
      paused = false;
      e.q->online(s.slot);
    }
  }
}

void session::walk_pause() {
  if (_impl->pause_walk) _impl->pause_walk();
}

}  // namespace anvil::cache
