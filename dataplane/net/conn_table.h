// Per-core TCP connection table: a fixed-capacity open-addressing hash (linear
// probing, backward-shift deletion, no tombstones) from 4-tuple to slot index.
// Capacity is fixed at construction (2x the connection limit, power of two), so
// lookups never allocate and probe sequences stay short. The hash is keyed (SipHash
// under the stack's secret), so a client choosing source ports cannot build long
// probe chains. Single-threaded by design.
#pragma once

#include <cstdint>
#include <vector>

#include "dataplane/net/keyed_hash.h"
#include "dataplane/net/tcp_conn.h"

namespace anvil::net {

inline std::uint32_t tuple_hash(const prf_key& key, const tcp_tuple& t) {
  return static_cast<std::uint32_t>(tuple_prf(key, prf_domain::table, t));
}

class conn_table {
 public:
  static constexpr std::uint32_t kEmpty = 0xffffffffu;

  conn_table(std::uint32_t max_entries, const prf_key& key) : _key(key) {
    std::uint32_t cap = 16;
    while (cap < 2 * max_entries) cap *= 2;
    _mask = cap - 1;
    _slots.assign(cap, entry{kEmpty, 0});
  }

  // `key_of(index)` returns the tuple stored at a connection slot.
  template <class KeyOf>
  std::uint32_t find(const tcp_tuple& t, KeyOf&& key_of) const {
    const std::uint32_t h = tuple_hash(_key, t);
    for (std::uint32_t i = h & _mask;; i = (i + 1) & _mask) {
      const entry& e = _slots[i];
      if (e.index == kEmpty) return kEmpty;
      if (e.hash == h && key_of(e.index) == t) return e.index;
    }
  }

  void insert(const tcp_tuple& t, std::uint32_t index) {
    const std::uint32_t h = tuple_hash(_key, t);
    std::uint32_t i = h & _mask;
    while (_slots[i].index != kEmpty) i = (i + 1) & _mask;
    _slots[i] = entry{index, h};
    ++_size;
  }

  template <class KeyOf>
  bool erase(const tcp_tuple& t, KeyOf&& key_of) {
    const std::uint32_t h = tuple_hash(_key, t);
    std::uint32_t i = h & _mask;
    for (;; i = (i + 1) & _mask) {
      if (_slots[i].index == kEmpty) return false;
      if (_slots[i].hash == h && key_of(_slots[i].index) == t) break;
    }
    // Backward-shift: pull later members of the probe run into the hole.
    std::uint32_t hole = i;
    for (std::uint32_t j = (i + 1) & _mask; _slots[j].index != kEmpty; j = (j + 1) & _mask) {
      const std::uint32_t home = _slots[j].hash & _mask;
      // Move j into the hole if its home is not in (hole, j] cyclically.
      const bool in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (!in_range) {
        _slots[hole] = _slots[j];
        hole = j;
      }
    }
    _slots[hole] = entry{kEmpty, 0};
    --_size;
    return true;
  }

  std::uint32_t size() const { return _size; }

 private:
  struct entry {
    std::uint32_t index;
    std::uint32_t hash;
  };
  prf_key _key;
  std::vector<entry> _slots;
  std::uint32_t _mask = 0;
  std::uint32_t _size = 0;
};

}  // namespace anvil::net
