// Response encoding into a caller-provided, append-only, bounded byte buffer (the TCP
// layer hands over its send buffer). One response is written whole or not at all:
// a write that does not fit leaves the sink untouched and returns false. Opaque and
// opcode are echoed exactly as received (quiet opcodes included). No allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "dataplane/proto/wire.h"

namespace anvil::proto {

struct output_sink {
  std::byte* data = nullptr;
  std::size_t capacity = 0;
  std::size_t size = 0;  // bytes appended so far; the caller drains and resets it

  std::size_t room() const { return capacity - size; }
};

// What a response echoes from its request.
struct echo {
  std::uint8_t opcode = 0;
  std::uint32_t opaque = 0;  // raw wire bytes
};

inline std::size_t response_size(std::size_t extlen, std::size_t keylen, std::size_t valuelen) {
  return kHeaderSize + extlen + keylen + valuelen;
}

inline void encode_response_header(std::byte* p, echo e, status st, std::uint8_t extlen,
                                   std::uint16_t keylen, std::uint32_t bodylen, std::uint64_t cas) {
  p[0] = std::byte{kResponseMagic};
  p[1] = std::byte{e.opcode};
  store_be16(p + 2, keylen);
  p[4] = std::byte{extlen};
  p[5] = std::byte{0};  // datatype: raw bytes
  store_be16(p + 6, static_cast<std::uint16_t>(st));
  store_be32(p + 8, bodylen);
  std::memcpy(p + 12, &e.opaque, 4);
  store_be64(p + 16, cas);
}

inline bool write_response(output_sink& out, echo e, status st, std::uint64_t cas,
                           std::span<const std::byte> extras, std::string_view key,
                           std::string_view value) {
  const std::size_t n = response_size(extras.size(), key.size(), value.size());
  if (n > out.room()) return false;
  std::byte* p = out.data + out.size;
  encode_response_header(p, e, st, static_cast<std::uint8_t>(extras.size()),
                         static_cast<std::uint16_t>(key.size()),
                         static_cast<std::uint32_t>(n - kHeaderSize), cas);
  p += kHeaderSize;
  if (!extras.empty()) std::memcpy(p, extras.data(), extras.size());
  p += extras.size();
  if (!key.empty()) std::memcpy(p, key.data(), key.size());
  p += key.size();
  if (!value.empty()) std::memcpy(p, value.data(), value.size());
  out.size += n;
  return true;
}

// An error response carries memcached's text for the status as its value.
inline bool write_error(output_sink& out, echo e, status st) {
  return write_response(out, e, st, 0, {}, {}, error_text(st));
}

// Largest response that needs no lookup (every error, store/incr/delete/flush/noop,
// SASL replies): the handler requires this much room before it executes a mutation,
// so a mutation is never executed without its response being written.
inline constexpr std::size_t kSmallResponseMax = kHeaderSize + 64;
static_assert(kHeaderSize + kMaxErrorText <= kSmallResponseMax);

}  // namespace anvil::proto
