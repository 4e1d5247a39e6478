// Item encoding inside a segment: a 4-byte state word, a variable-length header, then
// key, then value, padded to a multiple of 4 bytes (every item starts 4-byte aligned).
//   bytes 0-3 state word (item_state below): the only bytes of a linked item that change,
//            always through atomics (std::atomic_ref), never by a plain copy
//   byte 4   descriptor: bits 0-1 value-length bytes - 1, bits 2-4 CAS bytes - 1,
//            bit 5 flags present (4 bytes), bit 6 expiry present (4 bytes)
//   byte 5   key length (1..250)
//   then value length, CAS (little-endian, minimal width), flags?, expiry?, key, value.
// A typical item (flags 0, no expiry, CAS < 2^32, value < 64 KiB) costs 12 bytes of header
// plus 0-3 bytes of padding.
// Everything but the state word is immutable once linked: readers copy nothing and lock
// nothing. The state word carries what memcached keeps in it_flags and it->time for the
// meta commands (issue 16): fetched, recache token sent, stale, binary key, last access.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace anvil::cache {

inline constexpr std::size_t kItemStateBytes = 4;
inline constexpr std::size_t kItemAlign = 4;
// Widest header (state word, descriptor, key length, widths at their maximum) plus the
// largest padding: the bound size checks use, so the limit does not move with the CAS.
inline constexpr std::size_t kMaxItemHeader = kItemStateBytes + 2 + 4 + 8 + 4 + 4 + kItemAlign - 1;

// The state word. Bits 0-3 are flags; bits 4-31 the last access time in seconds since the
// engine's epoch (engine construction), saturating at 2^28 - 1 (8.5 years).
//   fetched     read since stored (memcached ITEM_FETCHED); set by hits unless told not to
//   win_sent    a client was handed the recache token W (ITEM_TOKEN_SENT); set under the
//               key's bucket locks, so exactly one client wins
//   stale       invalidated (meta delete I, or a meta set I with an older CAS): X
//   key_binary  stored with a base64 key (meta b): mg k answers the key in base64
// stale and key_binary are written with the item and never change while it is linked.
namespace item_state {
inline constexpr std::uint32_t kFetched = 1u << 0;
inline constexpr std::uint32_t kWinSent = 1u << 1;
inline constexpr std::uint32_t kStale = 1u << 2;
inline constexpr std::uint32_t kKeyBinary = 1u << 3;
inline constexpr std::uint32_t kFlagMask = 0xfu;
inline constexpr unsigned kTimeShift = 4;
inline constexpr std::uint32_t kMaxTime = (1u << 28) - 1;
inline std::uint32_t time_of(std::uint32_t w) { return w >> kTimeShift; }
inline std::uint32_t with_time(std::uint32_t w, std::uint32_t t) {
  return (w & kFlagMask) | ((t > kMaxTime ? kMaxTime : t) << kTimeShift);
}
inline std::atomic_ref<std::uint32_t> word(const std::byte* p) {
  // The arena is written only through this word at this offset (4-byte aligned).
  return std::atomic_ref<std::uint32_t>(
      *reinterpret_cast<std::uint32_t*>(const_cast<std::byte*>(p)));
}
inline std::uint32_t load(const std::byte* p) { return word(p).load(std::memory_order_relaxed); }
inline void store(std::byte* p, std::uint32_t w) { word(p).store(w, std::memory_order_relaxed); }
}  // namespace item_state

inline std::size_t align_item(std::size_t n) { return (n + kItemAlign - 1) & ~(kItemAlign - 1); }

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
  return kItemStateBytes + 2 + detail::bytes_for(value_len) + detail::bytes_for(cas) +
         (flags ? 4 : 0) + (expires_at ? 4 : 0);
}

// Writes the state word, header and key; returns the header length. The value goes at
// p + hdr + klen. p must be 4-byte aligned (reserve sizes are align_item()ed).
inline std::uint32_t write_item_header(std::byte* p, std::string_view key, std::uint32_t value_len,
                                       std::uint64_t cas, std::uint32_t flags,
                                       std::uint32_t expires_at, std::uint32_t state = 0) {
  const unsigned vb = detail::bytes_for(value_len);
  const unsigned cb = detail::bytes_for(cas);
  item_state::store(p, state);
  p[4] = static_cast<std::byte>((vb - 1) | ((cb - 1) << 2) | (flags ? 0x20 : 0) |
                                (expires_at ? 0x40 : 0));
  p[5] = static_cast<std::byte>(key.size());
  std::size_t o = 6;
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

// The descriptor byte's offset: the first kItemDescriptorEnd bytes of an item (state word,
// descriptor) tell its header length.
inline constexpr std::size_t kItemDescriptorEnd = kItemStateBytes + 1;
// The header length (state word included) from the descriptor byte alone, p[4] of the
// item (so a parser of a copied range can tell whether a whole header lies inside it
// before it reads one).
inline std::uint32_t item_header_len(std::byte descriptor) {
  const auto d = static_cast<unsigned>(descriptor);
  return kItemStateBytes + 2 + (d & 3) + 1 + ((d >> 2) & 7) + 1 + ((d & 0x20) ? 4 : 0) +
         ((d & 0x40) ? 4 : 0);
}

inline item_fields read_item(const std::byte* p) {
  item_fields f;
  const auto d = static_cast<unsigned>(p[4]);
  const unsigned vb = (d & 3) + 1;
  const unsigned cb = ((d >> 2) & 7) + 1;
  f.key_len = static_cast<unsigned>(p[5]);
  std::size_t o = 6;
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
// Bytes the item occupies in its segment, padding included (the next item starts there).
inline std::size_t item_total_len(const item_fields& f) {
  return align_item(std::size_t{f.header_len} + f.key_len + f.value_len);
}

}  // namespace anvil::cache
