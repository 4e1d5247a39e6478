// Wire-format primitives shared by every layer of the stack: big-endian loads and
// stores on byte spans, MAC and IPv4 address types, protocol constants and the
// monotonic time type. Nothing here allocates or reads a clock.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace anvil::net {

// Monotonic time in nanoseconds, always passed in by the caller (the poll loop).
using nanos = std::int64_t;
constexpr nanos kNsPerMs = 1'000'000;
constexpr nanos kNsPerSec = 1'000'000'000;
constexpr nanos kNever = INT64_MAX;

using bytes = std::span<const std::byte>;
using mut_bytes = std::span<std::byte>;

inline std::uint16_t load16(const std::byte* p) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) |
                                    std::to_integer<unsigned>(p[1]));
}
inline std::uint32_t load32(const std::byte* p) {
  return (std::uint32_t{std::to_integer<std::uint8_t>(p[0])} << 24) |
         (std::uint32_t{std::to_integer<std::uint8_t>(p[1])} << 16) |
         (std::uint32_t{std::to_integer<std::uint8_t>(p[2])} << 8) |
         std::uint32_t{std::to_integer<std::uint8_t>(p[3])};
}
inline std::uint8_t load8(const std::byte* p) { return std::to_integer<std::uint8_t>(*p); }
inline void store8(std::byte* p, std::uint8_t v) { *p = std::byte{v}; }
inline void store16(std::byte* p, std::uint16_t v) {
  p[0] = std::byte(v >> 8);
  p[1] = std::byte(v & 0xff);
}
inline void store32(std::byte* p, std::uint32_t v) {
  p[0] = std::byte(v >> 24);
  p[1] = std::byte((v >> 16) & 0xff);
  p[2] = std::byte((v >> 8) & 0xff);
  p[3] = std::byte(v & 0xff);
}

struct mac_addr {
  std::array<std::uint8_t, 6> b{};
  static mac_addr load(const std::byte* p) {
    mac_addr m;
    std::memcpy(m.b.data(), p, 6);
    return m;
  }
  void store(std::byte* p) const { std::memcpy(p, b.data(), 6); }
  bool is_broadcast() const {
    return b == std::array<std::uint8_t, 6>{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  }
  bool is_multicast() const { return (b[0] & 1) != 0; }
  friend bool operator==(const mac_addr&, const mac_addr&) = default;
};
constexpr mac_addr kBroadcastMac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

// IPv4 address in host byte order (a.b.c.d == a<<24 | b<<16 | c<<8 | d).
struct ip4_addr {
  std::uint32_t v = 0;
  friend bool operator==(const ip4_addr&, const ip4_addr&) = default;
};
constexpr ip4_addr make_ip4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return ip4_addr{(std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) |
                  d};
}

constexpr std::size_t kEthHeader = 14;
constexpr std::size_t kMtu = 1500;
constexpr std::size_t kMaxFrame = kMtu + kEthHeader;  // 1514: what a sink buffer must hold
constexpr std::size_t kIpv4Header = 20;
constexpr std::size_t kTcpHeader = 20;
constexpr std::size_t kUdpHeader = 8;
constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherArp = 0x0806;
constexpr std::uint8_t kProtoIcmp = 1;
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;

}  // namespace anvil::net
