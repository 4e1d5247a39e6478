// Segment bookkeeping for one partition's log-structured arena.
// A segment is a fixed-size run of the arena that items are appended to. Life cycle:
//   free -> open (appended to) -> sealed (full, in FIFO age order) -> victim (being
//   evicted, a bounded number of items per request) -> pending (every item unlinked or
//   copied out, waiting for a QSBR grace period) -> free.
// Items are never freed one by one: a whole segment is reclaimed, its recently read items
// copied to the open segment first (partition.h, "Eviction"). `writers` counts
// reservations not yet committed: a segment is evicted only when it is sealed and has no
// writers, so every item header in it is complete. `seq` orders segments by opening
// time and implements flush (segments with seq below the partition's flush mark are dead).
// `live_seq` is seq while the segment is open, sealed or a victim, and 0 from the moment it
// is retired (before its retire epoch is taken), so a lock-free walker that sees its seq
// after a quiescent point knows the memory cannot be reused before its next one.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace anvil::cache {

inline constexpr std::uint32_t kNoSegment = ~std::uint32_t{0};
inline constexpr std::uint32_t kNeverExpires = ~std::uint32_t{0};

// Two cache lines, split by who writes them: a GET hit after a flush reads `seq` (live())
// on the segment of every item it returns, and a SET into the open segment writes
// `writers`, `live_items` and `write_off`. In one 40-byte struct they shared a line, so
// every hit missed on a line that SETs kept taking exclusive. Line 0 is written only when
// the segment opens or is evicted; line 1 on every store.
struct seg_meta {
  alignas(64) std::atomic<std::uint64_t> seq{0};      // set when opened; read lock-free by readers
  std::atomic<std::uint64_t> live_seq{0};             // seq while open, sealed or a victim, else 0
  std::uint64_t retire_epoch = 0;                     // guarded by the partition's allocation lock
  alignas(64) std::atomic<std::uint32_t> writers{0};  // uncommitted reservations
  std::atomic<std::uint32_t> live_items{0};           // items linked in the index
  // Written under the partition's allocation lock, after `writers` is raised (release),
  // so a lock-free reader that sees writers == 0 after loading it (acquire) knows every
  // item below it is complete (partition::committed_end).
  std::atomic<std::uint32_t> write_off{0};
  // Below: guarded by the partition's allocation lock.
  std::uint32_t max_expiry = 0;  // latest expiry of any item; kNeverExpires if any never does
};
static_assert(alignof(seg_meta) == 64 && sizeof(seg_meta) == 128);
static_assert(offsetof(seg_meta, seq) / 64 != offsetof(seg_meta, writers) / 64 &&
                  offsetof(seg_meta, seq) / 64 != offsetof(seg_meta, live_items) / 64 &&
                  offsetof(seg_meta, seq) / 64 != offsetof(seg_meta, write_off) / 64,
              "what readers check and what writers bump must not share a cache line");

// Fixed-capacity FIFO of segment numbers (never allocates after construction).
class seg_ring {
 public:
  explicit seg_ring(std::size_t cap) : _v(cap ? cap : 1) {}
  std::size_t size() const { return _n; }
  bool empty() const { return _n == 0; }
  std::uint32_t at(std::size_t i) const { return _v[(_head + i) % _v.size()]; }
  std::uint32_t front() const { return at(0); }
  void push_back(std::uint32_t s) {
    _v[(_head + _n) % _v.size()] = s;
    ++_n;
  }
  std::uint32_t pop_front() {
    const std::uint32_t s = _v[_head];
    _head = (_head + 1) % _v.size();
    --_n;
    return s;
  }
  // Removes element i, keeping the others in order.
  std::uint32_t take(std::size_t i) {
    const std::uint32_t s = at(i);
    for (std::size_t j = i; j > 0; --j)
      _v[(_head + j) % _v.size()] = _v[(_head + j - 1) % _v.size()];
    _head = (_head + 1) % _v.size();
    --_n;
    return s;
  }

 private:
  std::vector<std::uint32_t> _v;
  std::size_t _head = 0;
  std::size_t _n = 0;
};

}  // namespace anvil::cache
