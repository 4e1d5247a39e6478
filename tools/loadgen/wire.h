// The few memcached binary-protocol frames (and text lines) the load generator speaks, written here
// on purpose instead of reusing dataplane/proto: the load generator checks the server, so it shares
// no code with it. Requests are memtier's memcache_binary pattern: plain GET and SET (not the quiet
// variants), opaque 0, CAS 0, responses in request order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

namespace anvil::loadgen::wire {

inline constexpr std::uint8_t kRequestMagic = 0x80;
inline constexpr std::uint8_t kResponseMagic = 0x81;
inline constexpr std::uint8_t kOpGet = 0x00;
inline constexpr std::uint8_t kOpSet = 0x01;
inline constexpr std::size_t kHeaderLen = 24;
inline constexpr std::uint16_t kStatusOk = 0x0000;
inline constexpr std::uint16_t kStatusKeyNotFound = 0x0001;

inline void put16(std::byte* p, std::uint16_t v) {
  p[0] = std::byte(v >> 8);
  p[1] = std::byte(v);
}
inline void put32(std::byte* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte(v >> (24 - 8 * i));
}
inline std::uint16_t get16(const std::byte* p) {
  return static_cast<std::uint16_t>((unsigned(p[0]) << 8) | unsigned(p[1]));
}
inline std::uint32_t get32(const std::byte* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}

inline constexpr std::size_t get_len(std::size_t key_len) { return kHeaderLen + key_len; }
inline constexpr std::size_t set_len(std::size_t key_len, std::size_t value_len) {
  return kHeaderLen + 8 + key_len + value_len;
}

// Writes a request header; the remaining bytes are the caller's.
inline void put_header(std::byte* p, std::uint8_t op, std::size_t key_len, std::size_t extras_len,
                       std::size_t body_len) {
  std::memset(p, 0, kHeaderLen);  // datatype, vbucket, opaque, CAS: all 0
  p[0] = std::byte{kRequestMagic};
  p[1] = std::byte{op};
  put16(p + 2, static_cast<std::uint16_t>(key_len));
  p[4] = std::byte(extras_len);
  put32(p + 8, static_cast<std::uint32_t>(body_len));
}

// GET key. `out` must hold get_len(key.size()) bytes; returns the bytes written.
inline std::size_t encode_get(std::byte* out, std::string_view key) {
  put_header(out, kOpGet, key.size(), 0, key.size());
  std::memcpy(out + kHeaderLen, key.data(), key.size());
  return get_len(key.size());
}

// SET key value, flags 0, no expiry. `out` must hold set_len(...) bytes.
inline std::size_t encode_set(std::byte* out, std::string_view key,
                              std::span<const std::byte> value) {
  put_header(out, kOpSet, key.size(), 8, 8 + key.size() + value.size());
  std::memset(out + kHeaderLen, 0, 8);  // flags, expiry
  std::memcpy(out + kHeaderLen + 8, key.data(), key.size());
  if (!value.empty()) std::memcpy(out + kHeaderLen + 8 + key.size(), value.data(), value.size());
  return set_len(key.size(), value.size());
}

// A response header as read from the wire; body = extras, key, value.
struct response {
  std::uint8_t opcode;
  std::uint16_t status;
  std::uint8_t extras_len;
  std::uint16_t key_len;
  std::uint32_t body_len;
  std::uint32_t opaque;
  std::span<const std::byte> value() const { return _value; }
  std::span<const std::byte> _value;
};

enum class parse_result { ok, need_more, bad_magic, bad_lengths };

// Parses one response from the front of `in`. On ok, `consumed` is its total length.
// Bodies are bounded by `max_body` so a corrupt length cannot make us wait forever for
// gigabytes (it is reported as bad_lengths instead).
inline parse_result parse_response(std::span<const std::byte> in, response& r,
                                   std::size_t& consumed, std::size_t max_body = 1u << 20) {
  if (in.size() < kHeaderLen) return parse_result::need_more;
  const std::byte* p = in.data();
  if (p[0] != std::byte{kResponseMagic}) return parse_result::bad_magic;
  r.opcode = std::uint8_t(p[1]);
  r.key_len = get16(p + 2);
  r.extras_len = std::uint8_t(p[4]);
  r.status = get16(p + 6);
  r.body_len = get32(p + 8);
  r.opaque = get32(p + 12);
  if (r.body_len > max_body || std::size_t(r.key_len) + r.extras_len > r.body_len)
    return parse_result::bad_lengths;
  if (in.size() < kHeaderLen + r.body_len) return parse_result::need_more;
  const std::size_t head = kHeaderLen + r.extras_len + r.key_len;
  r._value = in.subspan(head, kHeaderLen + r.body_len - head);
  consumed = kHeaderLen + r.body_len;
  return parse_result::ok;
}

// --- memtier's memcache_text pattern: "get <key>" and "set <key> 0 0 <n>" lines.

inline std::size_t put_text(std::byte* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return s.size();
}
inline std::size_t put_decimal(std::byte* p, std::size_t v) {
  char buf[20];
  std::size_t n = 0;
  do {
    buf[n++] = char('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (std::size_t i = 0; i < n; ++i) p[i] = std::byte(buf[n - 1 - i]);
  return n;
}

inline constexpr std::size_t text_get_len(std::size_t key_len) { return 4 + key_len + 2; }
inline constexpr std::size_t text_set_len(std::size_t key_len, std::size_t value_len) {
  return 4 + key_len + 5 + 20 + 2 + value_len + 2;  // an upper bound (length digits)
}

inline std::size_t encode_text_get(std::byte* out, std::string_view key) {
  std::size_t n = put_text(out, "get ");
  n += put_text(out + n, key);
  return n + put_text(out + n, "\r\n");
}

inline std::size_t encode_text_set(std::byte* out, std::string_view key,
                                   std::span<const std::byte> value) {
  std::size_t n = put_text(out, "set ");
  n += put_text(out + n, key);
  n += put_text(out + n, " 0 0 ");
  n += put_decimal(out + n, value.size());
  n += put_text(out + n, "\r\n");
  if (!value.empty()) std::memcpy(out + n, value.data(), value.size());
  n += value.size();
  return n + put_text(out + n, "\r\n");
}

// Parses the text reply to a request of opcode `op` (kOpGet/kOpSet) from the front of
// `in` into `r` (opcode = op, opaque 0): STORED -> ok; END -> key not found; VALUE ...
// END -> ok with the value; any other line -> status 0xffff. bad_lengths when no line
// ends within `max_line` bytes or a VALUE's data is not followed by "\r\nEND\r\n".
inline parse_result parse_text_response(std::span<const std::byte> in, std::uint8_t op, response& r,
                                        std::size_t& consumed, std::size_t max_body = 1u << 20,
                                        std::size_t max_line = 1024) {
  const std::string_view s(reinterpret_cast<const char*>(in.data()), in.size());
  const std::size_t eol = s.find("\r\n");
  if (eol == std::string_view::npos)
    return s.size() > max_line ? parse_result::bad_lengths : parse_result::need_more;
  r = response{};
  r.opcode = op;
  const std::string_view line = s.substr(0, eol);
  consumed = eol + 2;
  if (op == kOpSet) {
    r.status = line == "STORED" ? kStatusOk : 0xffff;
    return parse_result::ok;
  }
  if (line == "END") {
    r.status = kStatusKeyNotFound;
    return parse_result::ok;
  }
  if (!line.starts_with("VALUE ")) {
    r.status = 0xffff;
    return parse_result::ok;
  }
  const std::size_t sp = line.rfind(' ');
  std::size_t len = 0;
  for (char c : line.substr(sp + 1)) {
    if (c < '0' || c > '9' || len > max_body) return parse_result::bad_lengths;
    len = len * 10 + std::size_t(c - '0');
  }
  if (len > max_body) return parse_result::bad_lengths;
  const std::size_t total = consumed + len + 2 + 5;
  if (s.size() < total) return parse_result::need_more;
  if (s.substr(consumed + len, 7) != "\r\nEND\r\n") return parse_result::bad_lengths;
  r.status = kStatusOk;
  r._value = in.subspan(consumed, len);
  consumed = total;
  return parse_result::ok;
}

}  // namespace anvil::loadgen::wire
