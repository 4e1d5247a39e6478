// Quiescent-state-based reclamation over std::atomic (TSan sees every edge).
// A global epoch only grows. Each registered session has an epoch word: 0 = offline (holds
// no pointers into item memory), otherwise the global epoch it observed at its last
// quiescent point. Memory unlinked before `advance()` returned E may be reused once
// `passed(E)`: every online session has published an epoch >= E.
// Orderings: advance is acq_rel; a quiescent point loads the global epoch with acquire and
// publishes it with release; going online is a store followed by a seq_cst fence (the
// reclaimer's seq_cst fence pairs with it: one of the two sees the other).
// Hazards: an offline session may still read one segment of one partition, if it
// protects it first (a hazard pointer: store, seq_cst fence, then the segment's live_seq
// re-checked). A reclaimer reuses a retired segment only if, after passed()'s fence, no
// slot protects it: either it sees the hazard (and takes another segment), or the reader
// sees the segment retired (and reads nothing). Unprotect is a release store, so the
// reads done under the hazard happen before the reuse of a reclaimer that sees it gone.
// The snapshot walker uses this to copy a chunk while offline: however long it is then
// descheduled, it holds back one segment, never the reclamation of all the others.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "cache/stats.h"

namespace anvil::cache {

inline constexpr std::size_t kMaxSessions = 256;

class qsbr {
 public:
  explicit qsbr(std::size_t partitions);
  ~qsbr();
  qsbr(const qsbr&) = delete;
  qsbr& operator=(const qsbr&) = delete;

  // Registers a session; returns its slot or -1 when kMaxSessions are open.
  int claim();
  void release(int slot);

  std::uint64_t current() const { return _global.load(std::memory_order_acquire); }
  std::uint64_t advance() { return _global.fetch_add(1, std::memory_order_acq_rel) + 1; }

  void online(int slot) {
    _slots[slot].epoch.store(current(), std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  void offline(int slot) { _slots[slot].epoch.store(0, std::memory_order_release); }
  // A quiescent point while staying online.
  void quiesce(int slot) { _slots[slot].epoch.store(current(), std::memory_order_release); }

  // `except`: a slot to leave out (the caller, when it knows it holds no such pointers).
  bool passed(std::uint64_t e, int except = -1) const;

  // Hazards (see above). protect() before reading segment `seg` of partition `part` while
  // offline, then check that the segment is still the incarnation to read; unprotect()
  // after the last read. One segment per slot at a time.
  void protect(int slot, std::uint32_t part, std::uint32_t seg) {
    _slots[slot].hazard.store(hazard_code(part, seg), std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  void unprotect(int slot) { _slots[slot].hazard.store(0, std::memory_order_release); }
  // Whether some slot protects the segment. Only after passed() (its seq_cst fence pairs
  // with protect's).
  bool protected_by_any(std::uint32_t part, std::uint32_t seg) const;
  std::uint64_t epoch_of(int slot) const {
    return _slots[slot].epoch.load(std::memory_order_relaxed);
  }

  // The slot's counters, one line per partition (single writer: the slot's session).
  part_counters* counters(int slot) const { return _slots[slot].counters.get(); }
  std::size_t slot_high_water() const { return _high.load(std::memory_order_acquire); }

 private:
  static std::uint64_t hazard_code(std::uint32_t part, std::uint32_t seg) {
    return (std::uint64_t{part} + 1) << 32 | seg;  // 0: none
  }
  struct alignas(64) slot {
    std::atomic<std::uint64_t> epoch{0};
    std::atomic<std::uint64_t> hazard{0};  // hazard_code of a protected segment, or 0
    std::atomic<bool> claimed{false};
    std::unique_ptr<part_counters[]> counters;  // allocated once, freed with the engine
  };
  std::size_t _partitions;
  std::unique_ptr<slot[]> _slots;
  std::atomic<std::uint64_t> _global{1};
  std::atomic<std::size_t> _high{0};
};

}  // namespace anvil::cache
