// memcached value rules that are independent of storage: expiry conversion and the
// ASCII-decimal numbers that incr/decr operate on.
// Expiry: 0 = never; <= 30 days = relative seconds; larger = absolute unix time (one in
// the past, or now, is already expired). The result is an absolute time, 0 = never.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cache/engine.h"

namespace anvil::cache {

inline std::uint32_t absolute_expiry(exptime_t exptime, std::uint32_t now) {
  if (exptime == 0) return 0;
  if (exptime <= kMaxRelativeExptime) {
    const std::uint64_t t = std::uint64_t{now} + exptime;
    return t > 0xfffffffeu ? 0xfffffffeu : static_cast<std::uint32_t>(t);
  }
  // Absolute: a time at or before now is already expired (live() checks <= now).
  return exptime;
}

// memcached's safe_strtoull on item data (do_add_delta reads the value, which it stores
// followed by "\r\n"): optional leading whitespace, an optional sign, decimal digits,
// then the end or a whitespace character (whatever follows it is ignored: "1 2" reads
// 1); at most UINT64_MAX; a '-' that makes a number at or above 2^63 is refused (a
// smaller negative wraps, as strtoull does). Anything else is not a number.
inline bool parse_counter(std::string_view v, std::uint64_t& out) {
  const auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
  };
  std::size_t i = 0;
  while (i < v.size() && space(v[i])) ++i;
  bool negative = false;
  if (i < v.size() && (v[i] == '+' || v[i] == '-')) negative = v[i++] == '-';
  const std::size_t digits = i;
  std::uint64_t n = 0;
  for (; i < v.size() && v[i] >= '0' && v[i] <= '9'; ++i) {
    const auto d = static_cast<std::uint64_t>(v[i] - '0');
    if (n > (~std::uint64_t{0} - d) / 10) return false;  // ERANGE
    n = n * 10 + d;
  }
  if (i == digits || (i < v.size() && !space(v[i]))) return false;
  if (negative) n = std::uint64_t{0} - n;
  if (negative && static_cast<std::int64_t>(n) < 0) return false;
  out = n;
  return true;
}

// Decimal text of v into buf (at least 20 bytes); returns the length.
inline std::size_t format_counter(std::uint64_t v, char* buf) {
  const auto r = std::to_chars(buf, buf + 20, v);
  return static_cast<std::size_t>(r.ptr - buf);
}

}  // namespace anvil::cache
