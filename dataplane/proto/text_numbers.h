// memcached's number parsing for text command tokens (its util.c safe_strto*), so the
// text protocol accepts and refuses exactly the numbers memcached does, quirks included:
// leading whitespace and a sign are accepted (strtoul), a number may be followed only by
// whitespace, overflow of the C type fails, a negative number that wraps to a value
// below 2^63 is accepted (strtoul negates), and the 32-bit forms truncate the 64-bit
// result (memcached assigns a long to an int32/uint32). Pure functions on views.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace anvil::proto::text {

constexpr bool is_c_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

struct c_number {
  bool ok = false;        // digits were read and the token ends after them (or in space)
  bool negative = false;  // a '-' sign was read
  bool overflow = false;  // the magnitude exceeds 2^64 - 1
  std::uint64_t magnitude = 0;
};

// strtoull's reading of `s` (base 10), plus memcached's end-of-number rule.
constexpr c_number read_c_number(std::string_view s) {
  c_number r;
  std::size_t i = 0;
  while (i < s.size() && is_c_space(s[i])) ++i;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) r.negative = s[i++] == '-';
  const std::size_t digits_at = i;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    const std::uint64_t d = static_cast<std::uint64_t>(s[i] - '0');
    if (r.magnitude > (UINT64_MAX - d) / 10) r.overflow = true;
    r.magnitude = r.magnitude * 10 + d;
  }
  if (i == digits_at) return r;  // no digits: endptr == str
  r.ok = i == s.size() || is_c_space(s[i]);
  return r;
}

constexpr bool has_minus(std::string_view s) { return s.find('-') != std::string_view::npos; }

// safe_strtoull
constexpr std::optional<std::uint64_t> to_u64(std::string_view s) {
  const c_number n = read_c_number(s);
  if (!n.ok || n.overflow) return std::nullopt;
  const std::uint64_t v = n.negative ? std::uint64_t{0} - n.magnitude : n.magnitude;
  if (static_cast<std::int64_t>(v) < 0 && has_minus(s)) return std::nullopt;
  return v;
}

// safe_strtoul (unsigned long is 64-bit; the result is truncated to 32 bits)
constexpr std::optional<std::uint32_t> to_u32(std::string_view s) {
  const auto v = to_u64(s);
  if (!v) return std::nullopt;
  return static_cast<std::uint32_t>(*v);
}

// safe_strtol (long is 64-bit: ERANGE outside it; the result is truncated to 32 bits)
constexpr std::optional<std::int32_t> to_i32(std::string_view s) {
  const c_number n = read_c_number(s);
  if (!n.ok || n.overflow) return std::nullopt;
  constexpr std::uint64_t kMaxPos = static_cast<std::uint64_t>(INT64_MAX);
  if (n.magnitude > kMaxPos + (n.negative ? 1 : 0)) return std::nullopt;  // ERANGE
  const std::uint64_t v = n.negative ? std::uint64_t{0} - n.magnitude : n.magnitude;
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
}

// The fast paths' number: 1 to 9 ASCII digits starting at `p` (so below 2^31, where
// every reading above -- strtoul, strtol, the 32-bit truncations -- gives the same
// value). Advances `p` past the digits; -1 when there is no digit or a tenth one (the
// caller then checks what ends the token and takes the general path on anything odd).
constexpr std::int32_t plain_number(std::string_view s, std::size_t& p) {
  const std::size_t start = p;
  std::int32_t v = 0;
  while (p < s.size()) {
    const unsigned d = static_cast<unsigned char>(s[p]) - unsigned{'0'};
    if (d > 9) break;
    if (p - start == 9) return -1;  // a tenth digit: checked before it could overflow
    v = v * 10 + static_cast<std::int32_t>(d);
    ++p;
  }
  return p == start ? -1 : v;
}

}  // namespace anvil::proto::text
