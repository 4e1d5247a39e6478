// Session registry and grace-period check for the engine's QSBR (see qsbr.h).
#include "cache/qsbr.h"

namespace anvil::cache {

qsbr::qsbr(std::size_t partitions)
    : _partitions(partitions), _slots(std::make_unique<slot[]>(kMaxSessions)) {
  // Counters exist for every slot from the start, so readers never race an allocation.
  for (std::size_t i = 0; i < kMaxSessions; ++i)
    _slots[i].counters = std::make_unique<part_counters[]>(_partitions);
}

qsbr::~qsbr() = default;

int qsbr::claim() {
  for (std::size_t i = 0; i < kMaxSessions; ++i) {
    bool expected = false;
    // Acquire: the previous owner's counter writes (released in release()) are ours now.
    if (_slots[i].claimed.compare_exchange_strong(expected, true, std::memory_order_acquire,
                                                  std::memory_order_relaxed)) {
      std::size_t h = _high.load(std::memory_order_relaxed);
      while (h < i + 1 && !_high.compare_exchange_weak(h, i + 1, std::memory_order_release,
                                                       std::memory_order_relaxed)) {
      }
      return static_cast<int>(i);
    }
  }
  return -1;
}

void qsbr::release(int s) {
  offline(s);
  unprotect(s);
  _slots[s].claimed.store(false, std::memory_order_release);
}

bool qsbr::passed(std::uint64_t e, int except) const {
  // Pairs with the fence in online(): either we see that session's epoch, or it sees
  // every unlink that happened before this check.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const std::size_t n = _high.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    if (static_cast<int>(i) == except) continue;
    // Acquire pairs with the session's release: its reads before it published happen
    // before our reuse of the memory.
    const std::uint64_t v = _slots[i].epoch.load(std::memory_order_acquire);
    if (v != 0 && v < e) return false;
  }
  return true;
}

bool qsbr::protected_by_any(std::uint32_t part, std::uint32_t seg) const {
  const std::uint64_t code = hazard_code(part, seg);
  const std::size_t n = _high.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i)
    // Acquire pairs with unprotect's release: the reads made under the hazard happen
    // before the caller's reuse.
    if (_slots[i].hazard.load(std::memory_order_acquire) == code) return true;
  return false;
}

}  // namespace anvil::cache
