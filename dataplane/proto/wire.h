// The memcached binary protocol on the wire: opcodes, statuses, the 24-byte header and
// big-endian load/store helpers. Values follow memcached's protocol_binary.h (1.6).
//
// Invariants: every multi-byte field on the wire is big-endian; the header is exactly
// kHeaderSize bytes; nothing here allocates or touches the network.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace anvil::proto {

inline constexpr std::size_t kHeaderSize = 24;
inline constexpr std::uint8_t kRequestMagic = 0x80;
inline constexpr std::uint8_t kResponseMagic = 0x81;
inline constexpr std::size_t kMaxKeyLength = 250;  // memcached KEY_MAX_LENGTH

namespace op {
inline constexpr std::uint8_t get = 0x00;
inline constexpr std::uint8_t set = 0x01;
inline constexpr std::uint8_t add = 0x02;
inline constexpr std::uint8_t replace = 0x03;
inline constexpr std::uint8_t del = 0x04;
inline constexpr std::uint8_t incr = 0x05;
inline constexpr std::uint8_t decr = 0x06;
inline constexpr std::uint8_t quit = 0x07;
inline constexpr std::uint8_t flush = 0x08;
inline constexpr std::uint8_t getq = 0x09;
inline constexpr std::uint8_t noop = 0x0a;
inline constexpr std::uint8_t version = 0x0b;
inline constexpr std::uint8_t getk = 0x0c;
inline constexpr std::uint8_t getkq = 0x0d;
inline constexpr std::uint8_t append = 0x0e;
inline constexpr std::uint8_t prepend = 0x0f;
inline constexpr std::uint8_t stat = 0x10;
inline constexpr std::uint8_t setq = 0x11;
inline constexpr std::uint8_t addq = 0x12;
inline constexpr std::uint8_t replaceq = 0x13;
inline constexpr std::uint8_t delq = 0x14;
inline constexpr std::uint8_t incrq = 0x15;
inline constexpr std::uint8_t decrq = 0x16;
inline constexpr std::uint8_t quitq = 0x17;
inline constexpr std::uint8_t flushq = 0x18;
inline constexpr std::uint8_t appendq = 0x19;
inline constexpr std::uint8_t prependq = 0x1a;
inline constexpr std::uint8_t verbosity = 0x1b;
inline constexpr std::uint8_t touch = 0x1c;
inline constexpr std::uint8_t gat = 0x1d;
inline constexpr std::uint8_t gatq = 0x1e;
inline constexpr std::uint8_t sasl_list_mechs = 0x20;
inline constexpr std::uint8_t sasl_auth = 0x21;
inline constexpr std::uint8_t sasl_step = 0x22;
inline constexpr std::uint8_t gatk = 0x23;
inline constexpr std::uint8_t gatkq = 0x24;
}  // namespace op

enum class status : std::uint16_t {
  success = 0x00,
  key_enoent = 0x01,
  key_eexists = 0x02,
  e2big = 0x03,
  einval = 0x04,
  not_stored = 0x05,
  delta_badval = 0x06,
  not_my_vbucket = 0x07,  // this node does not own the key: not the shard's primary
  auth_error = 0x20,
  auth_continue = 0x21,
  unknown_command = 0x81,
  enomem = 0x82,
  temporary_failure = 0x86,  // memcached's ETMPFAIL: retry (a switchover's write fence)
};

// The body text memcached sends with each error status (write_bin_error).
constexpr std::string_view error_text(status s) {
  switch (s) {
    case status::enomem:
      return "Out of memory";
    case status::unknown_command:
      return "Unknown command";
    case status::key_enoent:
      return "Not found";
    case status::einval:
      return "Invalid arguments";
    case status::key_eexists:
      return "Data exists for key.";
    case status::e2big:
      return "Too large.";
    case status::delta_badval:
      return "Non-numeric server-side value for incr or decr";
    case status::not_stored:
      return "Not stored.";
    case status::auth_error:
      return "Auth failure.";
    case status::temporary_failure:
      return "Temporary failure";
    case status::not_my_vbucket:
      return "Not my vbucket: this node is not primary";
    default:
      return "";
  }
}
// The longest error_text(): response writers reserve this much for any error.
inline constexpr std::size_t kMaxErrorText = 46;

inline std::uint16_t load_be16(const std::byte* p) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) |
                                    std::to_integer<unsigned>(p[1]));
}
inline std::uint32_t load_be32(const std::byte* p) {
  return (std::uint32_t{load_be16(p)} << 16) | load_be16(p + 2);
}
inline std::uint64_t load_be64(const std::byte* p) {
  return (std::uint64_t{load_be32(p)} << 32) | load_be32(p + 4);
}
inline void store_be16(std::byte* p, std::uint16_t v) {
  p[0] = std::byte(v >> 8);
  p[1] = std::byte(v);
}
inline void store_be32(std::byte* p, std::uint32_t v) {
  store_be16(p, static_cast<std::uint16_t>(v >> 16));
  store_be16(p + 2, static_cast<std::uint16_t>(v));
}
inline void store_be64(std::byte* p, std::uint64_t v) {
  store_be32(p, static_cast<std::uint32_t>(v >> 32));
  store_be32(p + 4, static_cast<std::uint32_t>(v));
}

// A decoded request header (host byte order). `opaque` stays as raw wire bytes so it
// is echoed exactly, whatever its byte order means to the client.
struct request_header {
  std::uint8_t magic = 0;
  std::uint8_t opcode = 0;
  std::uint16_t keylen = 0;
  std::uint8_t extlen = 0;
  std::uint8_t datatype = 0;
  std::uint16_t vbucket = 0;
  std::uint32_t bodylen = 0;
  std::uint32_t opaque = 0;
  std::uint64_t cas = 0;
};

inline request_header decode_header(const std::byte* p) {
  request_header h;
  h.magic = std::to_integer<std::uint8_t>(p[0]);
  h.opcode = std::to_integer<std::uint8_t>(p[1]);
  h.keylen = load_be16(p + 2);
  h.extlen = std::to_integer<std::uint8_t>(p[4]);
  h.datatype = std::to_integer<std::uint8_t>(p[5]);
  h.vbucket = load_be16(p + 6);
  h.bodylen = load_be32(p + 8);
  std::memcpy(&h.opaque, p + 12, 4);
  h.cas = load_be64(p + 16);
  return h;
}

}  // namespace anvil::proto
