// Item encoding inside a segment: a variable-length header, then key, then value.
//   byte 0   descriptor: bits 0-1 value-length bytes - 1, bits 2-4 CAS bytes - 1,
//            bit 5 flags present (4 bytes), bit 6 expiry present (4 bytes)
//   byte 1   key length (1..250)
//   then value length, CAS (little-endian, minimal width), flags?, expiry?, key, value.
// A typical item (flags 0, no expiry, CAS < 2^32, value < 64 KiB) costs 8 bytes of header.
// Items are immutable once linked into the index: readers copy nothing and lock nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace anvil::cache {

inline constexpr std::size_t kMaxItemHeader = 2 + 4 + 8 + 4 + 4;

struct item_fields {
  std::uint32_t key_len = 0;
  std::uint32_t value_len = 0;
  std::uint64_t cas = 0;
  std::uint32_t flags = 0;
  std::uint32_t expires_at = 0;  // absolute unix time, 0 = never
  std::uint32_t header_len = 0;
};

namespace detail {
inline unsigned bytes_for(std::uint64_t v) {
  unsigned n = 1;
  while (n < 8 && (v >> (8 * n)) != 0) ++n;
  return n;
}
inline void put_le(std::byte* p, std::uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline std::uint64_t get_le(const std::byte* p, unsigned n) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, n);  // little-endian host (x86-64, aarch64)
  return v;
}
}  // namespace detail

inline std::uint32_t item_header_len(std::uint32_t value_len, std::uint64_t cas,
                                     std::uint32_t flags, std::uint32_t expires_at) {
  return 2 + detail::bytes_for(value_len) + detail::bytes_for(cas) + (flags ? 4 : 0) +
         (expires_at ? 4 : 0);
}

// Writes the header and key; returns the header length. The value goes at p + hdr + klen.
inline std::uint32_t write_item_header(std::byte* p, std::string_view key, std::uint32_t value_len,
                                       std::uint64_t cas, std::uint32_t flags,
                                       std::uint32_t expires_at) {
  const unsigned vb = detail::bytes_for(value_len);
  const unsigned cb = detail::bytes_for(cas);
  p[0] = static_cast<std::byte>((vb - 1) | ((cb - 1) << 2) | (flags ? 0x20 : 0) |
                                (expires_at ? 0x40 : 0));
  p[1] = static_cast<std::byte>(key.size());
  std::size_t o = 2;
  detail::put_le(p + o, value_len, vb);
  o += vb;
  detail::put_le(p + o, cas, cb);
  o += cb;
  if (flags) {
    detail::put_le(p + o, flags, 4);
    o += 4;
  }
  if (expires_at) {
    detail::put_le(p + o, expires_at, 4);
    o += 4;
  }
  std::memcpy(p + o, key.data(), key.size());
  return static_cast<std::uint32_t>(o);
}

// The header length from the descriptor byte alone (so a parser of a copied range can
// tell whether a whole header lies inside it before it reads one).
inline std::uint32_t item_header_len(std::byte descriptor) {
  const auto d = static_cast<unsigned>(descriptor);
  return 2 + (d & 3) + 1 + ((d >> 2) & 7) + 1 + ((d & 0x20) ? 4 : 0) + ((d & 0x40) ? 4 : 0);
}

inline item_fields read_item(const std::byte* p) {
  item_fields f;
  const auto d = static_cast<unsigned>(p[0]);
  const unsigned vb = (d & 3) + 1;
  const unsigned cb = ((d >> 2) & 7) + 1;
  f.key_len = static_cast<unsigned>(p[1]);
  std::size_t o = 2;
  f.value_len = static_cast<std::uint32_t>(detail::get_le(p + o, vb));
  o += vb;
  f.cas = detail::get_le(p + o, cb);
  o += cb;
  if (d & 0x20) {
    f.flags = static_cast<std::uint32_t>(detail::get_le(p + o, 4));
    o += 4;
  }
  if (d & 0x40) {
    f.expires_at = static_cast<std::uint32_t>(detail::get_le(p + o, 4));
    o += 4;
  }
  f.header_len = static_cast<std::uint32_t>(o);
  return f;
}

inline std::string_view item_key(const std::byte* p, const item_fields& f) {
  return {reinterpret_cast<const char*>(p + f.header_len), f.key_len};
}
inline std::string_view item_value(const std::byte* p, const item_fields& f) {
  return {reinterpret_cast<const char*>(p + f.header_len + f.key_len), f.value_len};
}
inline std::size_t item_total_len(const item_fields& f) {
  return std::size_t{f.header_len} + f.key_len + f.value_len;
}

}  // namespace anvil::cache
