// memcached value rules that are independent of storage: expiry conversion and the
// ASCII-decimal numbers that incr/decr operate on.
// Expiry: 0 = never; <= 30 days = relative seconds; larger = absolute unix time (one in
// the past, or now, is already expired). The result is an absolute time, 0 = never.
#pragma once

#include <charconv>
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

// memcached's safe_strtoull on item data: decimal digits, optionally followed by spaces
// (memcached pads in-place results with spaces); at most UINT64_MAX. Empty is invalid.
inline bool parse_counter(std::string_view v, std::uint64_t& out) {
  std::size_t end = v.size();
  while (end > 0 && (v[end - 1] == ' ' || v[end - 1] == '\r' || v[end - 1] == '\n')) --end;
  if (end == 0) return false;
  for (std::size_t i = 0; i < end; ++i)
    if (v[i] < '0' || v[i] > '9') return false;
  const auto r = std::from_chars(v.data(), v.data() + end, out);
  return r.ec == std::errc() && r.ptr == v.data() + end;
}

// Decimal text of v into buf (at least 20 bytes); returns the length.
inline std::size_t format_counter(std::uint64_t v, char* buf) {
  const auto r = std::to_chars(buf, buf + 20, v);
  return static_cast<std::size_t>(r.ptr - buf);
}

}  // namespace anvil::cache
