// One lcore's replication tap: a single-producer single-consumer ring of fixed-size
// slots, filled by proto::mutation_hook on the lcore and emptied by the control side's
// drain (docs/replication.md).
//
// Invariants:
// - The producer (one lcore) never blocks, allocates, locks or makes a system call: a
//   push copies the opcode, the key (<= 250 bytes) and one 32-bit argument into a
//   preallocated slot and publishes it with one release store. Values are not copied:
//   the drain reads the item's state from the engine after it pops the entry, so the
//   stream carries the item as it is *at or after* that mutation (what makes per-key
//   order hold across lcores; docs/replication.md, "Ordering").
// - A full ring drops the entry and sets `overflowed`: the stream cannot be repaired
//   entry by entry any more, so the drain answers it with a full resync.
// - Only the consumer (one drain thread) calls pop/take_overflow.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string_view>

#include "cache/engine.h"
#include "dataplane/proto/mutation_hook.h"
#include "dataplane/proto/wire.h"

namespace anvil::replication {

// What the drain needs to know about one mutation. 256 bytes: four cache lines.
struct ring_entry {
  std::uint32_t arg = 0;     // flush: its deadline (engine clock), 0 = at once; else unused
  std::uint8_t opcode = 0;   // proto::op (non-quiet): set ... flush
  std::uint8_t key_len = 0;  // 0 for flush
  char key[250] = {};        // memcached's longest key
  std::string_view key_view() const { return {key, key_len}; }
};
static_assert(sizeof(ring_entry) == 256);
inline constexpr std::size_t kRingKeyCapacity = sizeof(ring_entry::key);

class mutation_ring {
 public:
  // capacity: a power of two >= 2. `time`: the engine's clock, read only for a delayed
  // flush (its deadline is fixed when it happens, not when it is drained).
  explicit mutation_ring(std::size_t capacity, const cache::clock* time = nullptr)
      : _mask(capacity - 1), _time(time) {
    if (capacity < 2 || (capacity & (capacity - 1)) != 0)
      throw std::invalid_argument("mutation_ring: capacity must be a power of two >= 2");
    _slots = std::make_unique<ring_entry[]>(capacity);
  }
  mutation_ring(const mutation_ring&) = delete;
  mutation_ring& operator=(const mutation_ring&) = delete;

  std::size_t capacity() const { return _mask + 1; }

  // Producer. False (and overflowed set) when the ring is full or the key does not fit
  // a slot (a key longer than memcached allows never reaches the hook; the check keeps
  // the copy bounded anyway).
  bool push(std::uint8_t opcode, std::string_view key, std::uint32_t arg) {
    const std::uint64_t head = _head.v.load(std::memory_order_relaxed);
    if (head - _tail_cache >= capacity())  // looks full: refresh the consumer's position
      _tail_cache = _tail.v.load(std::memory_order_acquire);
    if (head - _tail_cache >= capacity() || key.size() > kRingKeyCapacity) {
      _overflowed.v.store(true, std::memory_order_release);
      _dropped.v.store(_dropped.v.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return false;
    }
    ring_entry& e = _slots[head & _mask];
    e.opcode = opcode;
    e.key_len = static_cast<std::uint8_t>(key.size());
    e.arg = arg;
    if (!key.empty()) std::memcpy(e.key, key.data(), key.size());
    _head.v.store(head + 1, std::memory_order_release);
    return true;
  }

  // The hook an lcore's handler calls after every successful mutation.
  static void on_mutation(void* ctx, const proto::mutation& m) {
    auto* r = static_cast<mutation_ring*>(ctx);
    std::uint32_t arg = 0;
    if (m.opcode == proto::op::flush && m.exptime != 0)
      arg = (r->_time != nullptr ? r->_time->now() : 0) + m.exptime;
    r->push(m.opcode, m.key, arg);
  }
  proto::mutation_hook hook() { return proto::mutation_hook{this, &on_mutation}; }

  // Consumer: calls fn(const ring_entry&) for up to `max` entries in push order and
  // frees their slots; returns how many.
  template <class F>
  std::size_t pop(std::size_t max, F&& fn) {
    const std::uint64_t tail = _tail.v.load(std::memory_order_relaxed);
    const std::uint64_t head = _head.v.load(std::memory_order_acquire);
    std::size_t n = static_cast<std::size_t>(head - tail);
    if (n > max) n = max;
    for (std::size_t i = 0; i < n; ++i) fn(_slots[(tail + i) & _mask]);
    _tail.v.store(tail + n, std::memory_order_release);
    return n;
  }
  // Consumer: true once per overflow (clears the flag). Entries already in the ring are
  // still valid; the ones dropped are not known.
  bool take_overflow() { return _overflowed.v.exchange(false, std::memory_order_acq_rel); }

  // Any thread, approximate.
  std::uint64_t pushed() const { return _head.v.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const { return _dropped.v.load(std::memory_order_relaxed); }
  std::size_t size() const {
    return static_cast<std::size_t>(_head.v.load(std::memory_order_acquire) -
                                    _tail.v.load(std::memory_order_acquire));
  }

 private:
  template <class T>
  struct alignas(64) line {
    std::atomic<T> v{};
  };
  std::size_t _mask;
  const cache::clock* _time;
  std::unique_ptr<ring_entry[]> _slots;
  line<std::uint64_t> _head;                  // written by the producer only
  alignas(64) std::uint64_t _tail_cache = 0;  // the producer's last view of _tail
  line<std::uint64_t> _tail;                  // written by the consumer only
  line<bool> _overflowed;
  line<std::uint64_t> _dropped;  // written by the producer only
};

}  // namespace anvil::replication
