// Benchmark workloads shared by every table under test: 16-byte keys made from an index,
// and precomputed index streams (uniform or Zipf 0.99, YCSB's scrambled generator) so
// every implementation sees exactly the same key sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace anvil::bench {

inline constexpr std::size_t kKeyLen = 16;
inline constexpr std::size_t kStreamLen = std::size_t{1} << 22;  // indices per stream

// Writes the 16-byte key for index i ("k" + 15 decimal digits).
inline void make_key(std::uint64_t i, char* out) {
  out[0] = 'k';
  for (int p = 15; p >= 1; --p) {
    out[p] = static_cast<char>('0' + i % 10);
    i /= 10;
  }
}

// kStreamLen indices in [0, n): uniform, or Zipf(0.99) with hot ranks scattered over the
// key space. Cached per (n, zipf).
const std::vector<std::uint32_t>& index_stream(std::size_t n, bool zipf);

}  // namespace anvil::bench
