// The stack's keyed PRF: SipHash-2-4 (libsodium's crypto_shorthash_siphash24) with a
// 128-bit key drawn at random per stack (per boot) unless a test fixes it. Every
// value an off-path attacker must not predict or collide is derived from it, each
// under its own domain byte so no output of one use reveals another:
//   isn        RFC 6528 initial sequence numbers (plus the 4 us clock)
//   ts_offset  RFC 7323 §5.4 per-connection timestamp offset
//   table      the connection table's hash (no chosen-collision probe chains)
//   cookie     SYN cookies
// No allocation, no syscall: safe per packet (random_prf_key excepted, called once).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "dataplane/net/tcp_conn.h"

namespace anvil::net {

using prf_key = std::array<std::uint8_t, 16>;

// 16 random bytes from the kernel's CSPRNG (libsodium randombytes_buf: getrandom).
prf_key random_prf_key();

// SipHash-2-4 of `n` bytes, the 8 output bytes read little-endian.
std::uint64_t siphash24(const prf_key& key, const void* data, std::size_t n);

enum class prf_domain : std::uint8_t { isn = 1, ts_offset = 2, table = 3, cookie = 4 };

// PRF over a 4-tuple and two optional words (cookie: client ISN and period).
inline std::uint64_t tuple_prf(const prf_key& key, prf_domain d, const tcp_tuple& t,
                               std::uint32_t a = 0, std::uint32_t b = 0) {
  std::uint8_t m[21];
  m[0] = static_cast<std::uint8_t>(d);
  auto put32 = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) m[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
  };
  put32(1, t.local_ip.v);
  put32(5, t.remote_ip.v);
  put32(9, std::uint32_t{t.local_port} << 16 | t.remote_port);
  put32(13, a);
  put32(17, b);
  return siphash24(key, m, sizeof m);
}

}  // namespace anvil::net
