// Key hashing: one XXH3-64 per key, split into partition, two candidate buckets and a tag.
// Invariants: the partition comes from the top `partition_bits` bits; the primary bucket
// from the low 32 bits (range-reduced without a power of two, so tables can be sized
// exactly); the 16-bit tag from bits 32..47. The alternate bucket is a function of
// (primary, tag) only, so an item never needs its full hash to find its other bucket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL  // the hash is on every request's path: let it inline
#endif
#include <xxhash.h>

namespace anvil::cache {

struct key_hash {
  std::uint64_t h = 0;
  std::uint32_t partition = 0;
  std::uint32_t b1 = 0;  // primary bucket
  std::uint32_t b2 = 0;  // alternate bucket (== b1 when the table has one bucket)
  std::uint16_t tag = 0;
};

inline std::uint64_t hash_key(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

// Lemire's multiply-shift range reduction: maps x uniformly onto [0, n).
inline std::uint32_t fast_range(std::uint32_t x, std::uint32_t n) {
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(x) * n) >> 32);
}

// The other candidate bucket of an item with this tag sitting in bucket b: from the primary
// (alt == false) step forward, from the alternate step back.
inline std::uint32_t other_bucket(std::uint32_t b, std::uint16_t tag, bool alt,
                                  std::uint32_t nbuckets) {
  if (nbuckets <= 1) return b;
  const std::uint32_t step = 1 + fast_range(tag * 0x9E3779B1u, nbuckets - 1);
  const std::uint64_t o = alt ? std::uint64_t{b} + nbuckets - step : std::uint64_t{b} + step;
  return static_cast<std::uint32_t>(o >= nbuckets ? o - nbuckets : o);
}

inline key_hash split_hash(std::uint64_t h, unsigned partition_bits, std::uint32_t nbuckets) {
  key_hash k;
  k.h = h;
  k.partition = partition_bits == 0 ? 0 : static_cast<std::uint32_t>(h >> (64 - partition_bits));
  k.b1 = fast_range(static_cast<std::uint32_t>(h), nbuckets);
  k.tag = static_cast<std::uint16_t>(h >> 32);
  k.b2 = other_bucket(k.b1, k.tag, false, nbuckets);
  return k;
}

}  // namespace anvil::cache
