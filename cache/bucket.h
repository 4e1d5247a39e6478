// One hash bucket: a cache line holding a version word and seven item slots.
// Slot = tag (16 bits) << 48 | alt bit | (item offset in the partition's arena + 1); 0 = empty.
// Version word is a seqlock: odd while a writer holds the bucket. Writers take it with a
// CAS (acquire) and release it with a store (release); readers read the version, the
// slots, then the version again and retry if it moved (read-validate-retry, no stores).
// A key lives in one slot of one of its two candidate buckets; an update replaces that slot
// in place. An insert into two full buckets may move a resident item to its other bucket
// (one cuckoo step) with both buckets locked, so a two-bucket lookup that misses validates
// both versions before it reports the miss.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace anvil::cache {

inline constexpr unsigned kSlotsPerBucket = 7;
// Slot layout: tag (16) | alt (1: the item sits in its key's alternate bucket) | offset+1 (47).
inline constexpr std::uint64_t kSlotAltBit = std::uint64_t{1} << 47;
inline constexpr std::uint64_t kSlotOffsetMask = kSlotAltBit - 1;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Spin-then-yield for a wait on another thread's short critical section: a bucket holder
// stays a few hundred ns, but if it was preempted, spinning on would only burn the CPU it
// may need to finish.
class backoff {
 public:
  void pause() {
    if (++_n < kSpins)
      cpu_relax();
    else
      std::this_thread::yield();
  }

 private:
  static constexpr unsigned kSpins = 256;
  unsigned _n = 0;
};

struct alignas(64) bucket {
  std::atomic<std::uint64_t> version{0};
  std::atomic<std::uint64_t> slot[kSlotsPerBucket] = {};

  // Waits for an even version; acquire pairs with the writer's release in unlock(), so
  // the slots read afterwards are at least as new as that version.
  std::uint64_t read_begin() const {
    for (backoff b;; b.pause()) {
      const std::uint64_t v = version.load(std::memory_order_acquire);
      if ((v & 1) == 0) return v;
    }
  }
  // The acquire fence orders the slot loads before the re-read of the version: if a
  // writer changed any slot we read, we see its odd (or newer) version and retry.
  bool read_validate(std::uint64_t v) const {
    std::atomic_thread_fence(std::memory_order_acquire);
    return version.load(std::memory_order_relaxed) == v;
  }

  void lock() {
    for (backoff b;; b.pause()) {
      std::uint64_t v = version.load(std::memory_order_relaxed);
      // Acquire: our slot reads/writes inside the critical section stay after the CAS.
      if ((v & 1) == 0 && version.compare_exchange_weak(v, v + 1, std::memory_order_acquire,
                                                        std::memory_order_relaxed))
        return;
    }
  }
  bool try_lock() {
    std::uint64_t v = version.load(std::memory_order_relaxed);
    return (v & 1) == 0 && version.compare_exchange_strong(v, v + 1, std::memory_order_acquire,
                                                           std::memory_order_relaxed);
  }
  // Release: every slot store of the critical section is visible before the even version.
  void unlock() { version.fetch_add(1, std::memory_order_release); }
};
static_assert(sizeof(bucket) == 64);

inline std::uint64_t make_slot(std::uint16_t tag, std::uint64_t offset) {
  return (std::uint64_t{tag} << 48) | (offset + 1);
}
inline std::uint16_t slot_tag(std::uint64_t s) { return static_cast<std::uint16_t>(s >> 48); }
inline bool slot_alt(std::uint64_t s) { return (s & kSlotAltBit) != 0; }
// The slot without its position bit: identifies the item wherever it sits.
inline std::uint64_t slot_item(std::uint64_t s) { return s & ~kSlotAltBit; }
inline std::uint64_t slot_offset(std::uint64_t s) { return (s & kSlotOffsetMask) - 1; }

}  // namespace anvil::cache
