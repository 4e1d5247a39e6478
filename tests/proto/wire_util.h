// Test helpers for the binary protocol: build request packets (well-formed or not)
// and decode response streams into fields. Shared by the unit, differential, fuzz and
// benchmark code; allocation is fine here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/proto/wire.h"

namespace anvil::proto::testing {

using bytes = std::string;  // raw bytes; std::string keeps literals and printing easy

struct req_spec {
  std::uint8_t opcode = 0;
  std::string key;
  std::string extras;
  std::string value;
  std::uint32_t opaque = 0;  // written big-endian
  std::uint64_t cas = 0;
  std::uint8_t magic = kRequestMagic;
  // Overrides of the computed header lengths, for malformed packets.
  std::optional<std::uint16_t> keylen;
  std::optional<std::uint8_t> extlen;
  std::optional<std::uint32_t> bodylen;
};

inline std::string be32s(std::uint32_t v) {
  std::string s(4, '\0');
  store_be32(reinterpret_cast<std::byte*>(s.data()), v);
  return s;
}
inline std::string be64s(std::uint64_t v) {
  std::string s(8, '\0');
  store_be64(reinterpret_cast<std::byte*>(s.data()), v);
  return s;
}

inline bytes encode(const req_spec& r) {
  std::string h(kHeaderSize, '\0');
  auto* p = reinterpret_cast<std::byte*>(h.data());
  p[0] = std::byte{r.magic};
  p[1] = std::byte{r.opcode};
  store_be16(p + 2, r.keylen.value_or(static_cast<std::uint16_t>(r.key.size())));
  p[4] = std::byte{r.extlen.value_or(static_cast<std::uint8_t>(r.extras.size()))};
  store_be32(p + 8, r.bodylen.value_or(static_cast<std::uint32_t>(r.key.size() + r.extras.size() +
                                                                  r.value.size())));
  store_be32(p + 12, r.opaque);
  store_be64(p + 16, r.cas);
  return h + r.extras + r.key + r.value;
}

// Convenience builders for well-formed requests.
inline bytes get_req(std::uint8_t opcode, std::string key, std::uint32_t opaque = 0) {
  return encode({.opcode = opcode, .key = std::move(key), .opaque = opaque});
}
inline bytes store_req(std::uint8_t opcode, std::string key, std::string value,
                       std::uint32_t flags = 0, std::uint32_t exptime = 0, std::uint64_t cas = 0,
                       std::uint32_t opaque = 0) {
  const bool has_extras = opcode != op::append && opcode != op::appendq && opcode != op::prepend &&
                          opcode != op::prependq;
  return encode({.opcode = opcode,
                 .key = std::move(key),
                 .extras = has_extras ? be32s(flags) + be32s(exptime) : std::string(),
                 .value = std::move(value),
                 .opaque = opaque,
                 .cas = cas});
}
inline bytes arith_req(std::uint8_t opcode, std::string key, std::uint64_t delta,
                       std::uint64_t initial, std::uint32_t exptime, std::uint64_t cas = 0,
                       std::uint32_t opaque = 0) {
  return encode({.opcode = opcode,
                 .key = std::move(key),
                 .extras = be64s(delta) + be64s(initial) + be32s(exptime),
                 .opaque = opaque,
                 .cas = cas});
}
inline bytes touch_req(std::uint8_t opcode, std::string key, std::uint32_t exptime,
                       std::uint32_t opaque = 0) {
  return encode(
      {.opcode = opcode, .key = std::move(key), .extras = be32s(exptime), .opaque = opaque});
}
inline bytes simple_req(std::uint8_t opcode, std::uint32_t opaque = 0) {
  return encode({.opcode = opcode, .opaque = opaque});
}

struct response {
  std::uint8_t magic = 0;
  std::uint8_t opcode = 0;
  std::uint16_t status = 0;
  std::uint32_t opaque = 0;
  std::uint64_t cas = 0;
  std::uint8_t datatype = 0;
  std::string extras, key, value;
};

// Decodes whole responses; a trailing partial one is left in *rest (if given).
inline std::vector<response> decode_responses(std::string_view s, std::string* rest = nullptr) {
  std::vector<response> out;
  while (s.size() >= kHeaderSize) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    const std::uint32_t bodylen = load_be32(p + 8);
    if (s.size() < kHeaderSize + bodylen) break;
    response r;
    r.magic = std::to_integer<std::uint8_t>(p[0]);
    r.opcode = std::to_integer<std::uint8_t>(p[1]);
    const std::uint16_t keylen = load_be16(p + 2);
    const std::uint8_t extlen = std::to_integer<std::uint8_t>(p[4]);
    r.datatype = std::to_integer<std::uint8_t>(p[5]);
    r.status = load_be16(p + 6);
    r.opaque = load_be32(p + 12);
    r.cas = load_be64(p + 16);
    const std::string_view body = s.substr(kHeaderSize, bodylen);
    r.extras = std::string(body.substr(0, extlen));
    r.key = std::string(body.substr(extlen, keylen));
    r.value = std::string(body.substr(std::min<std::size_t>(body.size(), extlen + keylen)));
    out.push_back(std::move(r));
    s.remove_prefix(kHeaderSize + bodylen);
  }
  if (rest != nullptr) *rest = std::string(s);
  return out;
}

}  // namespace anvil::proto::testing
