// 32-bit TCP sequence-number arithmetic (RFC 9293 §3.4): comparisons are modulo 2^32,
// valid while the two numbers are less than 2^31 apart.
#pragma once

#include <cstdint>

namespace anvil::net {

using seq_t = std::uint32_t;

inline bool seq_lt(seq_t a, seq_t b) { return static_cast<std::int32_t>(a - b) < 0; }
inline bool seq_le(seq_t a, seq_t b) { return static_cast<std::int32_t>(a - b) <= 0; }
inline bool seq_gt(seq_t a, seq_t b) { return seq_lt(b, a); }
inline bool seq_ge(seq_t a, seq_t b) { return seq_le(b, a); }
// a <= x < b, modulo 2^32
inline bool seq_in(seq_t x, seq_t a, seq_t b) { return seq_le(a, x) && seq_lt(x, b); }
inline seq_t seq_max(seq_t a, seq_t b) { return seq_lt(a, b) ? b : a; }
inline seq_t seq_min(seq_t a, seq_t b) { return seq_lt(a, b) ? a : b; }

}  // namespace anvil::net
