// Internet checksum (RFC 1071) in software. The sum is accumulated over native-order
// 32-bit words in a 64-bit accumulator (the one's-complement sum is byte-order
// independent), folded once at the end, and stored with memcpy so the bytes on the
// wire are right on any endianness. Odd lengths are allowed only for the last chunk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dataplane/net/wire.h"

namespace anvil::net {

std::uint64_t csum_add(std::uint64_t acc, const std::byte* p, std::size_t n);

inline std::uint16_t csum_fold(std::uint64_t acc) {
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffffu) + (acc >> 16);
  acc = (acc & 0xffffu) + (acc >> 16);
  return static_cast<std::uint16_t>(acc);
}

// The value to store (memcpy) in a checksum field whose bytes were zero while summing.
inline std::uint16_t csum_finish(std::uint64_t acc) {
  return static_cast<std::uint16_t>(~csum_fold(acc));
}

// True when a sum that covered the checksum field itself verifies.
inline bool csum_ok(std::uint64_t acc) { return csum_fold(acc) == 0xffff; }

inline void csum_store(std::byte* field, std::uint16_t native_value) {
  std::memcpy(field, &native_value, 2);
}

// Sum of the IPv4 pseudo-header for TCP/UDP (addresses in host order).
inline std::uint64_t csum_pseudo(ip4_addr src, ip4_addr dst, std::uint8_t proto,
                                 std::size_t l4_len) {
  std::byte ph[12];
  store32(ph, src.v);
  store32(ph + 4, dst.v);
  ph[8] = std::byte{0};
  ph[9] = std::byte{proto};
  store16(ph + 10, static_cast<std::uint16_t>(l4_len));
  return csum_add(0, ph, sizeof ph);
}

}  // namespace anvil::net
