// The memcached binary protocol as the e2e clients speak it: request encoding and a
// response view. Written from protocol_binary.h / BinaryProtocolRevamped, independent
// of dataplane/proto, so a shared misreading cannot hide a bug on both sides.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace anvil::e2e {

enum opcode : std::uint8_t {
  op_get = 0x00,
  op_set = 0x01,
  op_noop = 0x0a,
  op_stat = 0x10,
  op_setq = 0x11,
};

constexpr std::uint8_t kRequestMagic = 0x80;
constexpr std::uint8_t kResponseMagic = 0x81;
constexpr std::size_t kHeaderSize = 24;

inline void put16(std::string& s, std::uint16_t v) {
  s += char(v >> 8);
  s += char(v & 0xff);
}
inline void put32(std::string& s, std::uint32_t v) {
  put16(s, std::uint16_t(v >> 16));
  put16(s, std::uint16_t(v & 0xffff));
}
inline std::uint16_t get16(const unsigned char* p) { return std::uint16_t(p[0] << 8 | p[1]); }
inline std::uint32_t get32(const unsigned char* p) {
  return std::uint32_t(get16(p)) << 16 | get16(p + 2);
}

// A complete request: header (opaque as given, cas 0) + extras + key + value.
inline std::string request(std::uint8_t op, std::string_view key, std::string_view extras = {},
                           std::string_view value = {}, std::uint32_t opaque = 0) {
  std::string s;
  s.reserve(kHeaderSize + extras.size() + key.size() + value.size());
  s += char(kRequestMagic);
  s += char(op);
  put16(s, std::uint16_t(key.size()));
  s += char(extras.size());
  s += char(0);  // data type
  put16(s, 0);   // vbucket
  put32(s, std::uint32_t(extras.size() + key.size() + value.size()));
  put32(s, opaque);
  put32(s, 0);
  put32(s, 0);
  s += extras;
  s += key;
  s += value;
  return s;
}

inline std::string set_request(std::string_view key, std::string_view value, std::uint32_t flags,
                               std::uint32_t opaque = 0) {
  std::string extras;
  put32(extras, flags);
  put32(extras, 0);  // no expiry
  return request(op_set, key, extras, value, opaque);
}

// A view of one complete response at the front of a buffer.
struct response {
  const unsigned char* p = nullptr;
  std::uint8_t magic() const { return p[0]; }
  std::uint8_t opcode() const { return p[1]; }
  std::uint16_t key_len() const { return get16(p + 2); }
  std::uint8_t extras_len() const { return p[4]; }
  std::uint16_t status() const { return get16(p + 6); }
  std::uint32_t body_len() const { return get32(p + 8); }
  std::uint32_t opaque() const { return get32(p + 12); }
  std::size_t size() const { return kHeaderSize + body_len(); }
  std::string_view extras() const {
    return {reinterpret_cast<const char*>(p) + kHeaderSize, extras_len()};
  }
  std::string_view key() const {
    return {reinterpret_cast<const char*>(p) + kHeaderSize + extras_len(), key_len()};
  }
  std::string_view value() const {
    const std::size_t off = kHeaderSize + extras_len() + key_len();
    return {reinterpret_cast<const char*>(p) + off, body_len() - (off - kHeaderSize)};
  }
  // The header is self-consistent (extras + key fit in the body).
  bool sane() const { return std::size_t(extras_len()) + key_len() <= body_len(); }
};

// Bytes of the first complete response in [p, p+n), or 0 when more are needed.
inline std::size_t complete_response(const unsigned char* p, std::size_t n) {
  if (n < kHeaderSize) return 0;
  const std::size_t total = kHeaderSize + get32(p + 8);
  return n >= total ? total : 0;
}

// The first `n` bytes as hex, for failure messages.
inline std::string hex(std::string_view s, std::size_t n = 48) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < n; ++i) {
    out += d[(unsigned char)s[i] >> 4];
    out += d[(unsigned char)s[i] & 15];
    if (i % 4 == 3) out += ' ';
  }
  if (s.size() > n) out += "...";
  return out;
}

}  // namespace anvil::e2e
