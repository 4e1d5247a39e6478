#include "dataplane/net/checksum.h"

namespace anvil::net {

std::uint64_t csum_add(std::uint64_t acc, const std::byte* p, std::size_t n) {
  // Four independent 64-bit accumulators of 32-bit words: no carry handling needed
  // until 2^32 words, and the adds pipeline.
  std::uint64_t a0 = acc, a1 = 0, a2 = 0, a3 = 0;
  while (n >= 16) {
    std::uint32_t w[4];
    std::memcpy(w, p, 16);
    a0 += w[0];
    a1 += w[1];
    a2 += w[2];
    a3 += w[3];
    p += 16;
    n -= 16;
  }
  while (n >= 4) {
    std::uint32_t w;
    std::memcpy(&w, p, 4);
    a0 += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    std::uint16_t w;
    std::memcpy(&w, p, 2);
    a1 += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    std::uint16_t w = 0;
    std::memcpy(&w, p, 1);  // the odd byte is the high-order byte on the wire
    a2 += w;
  }
  // Fold each to at most 33 bits before summing so the total cannot overflow.
  auto f = [](std::uint64_t x) { return (x & 0xffffffffu) + (x >> 32); };
  return f(a0) + f(a1) + f(a2) + f(a3);
}

}  // namespace anvil::net
