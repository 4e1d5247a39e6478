// Helpers for port tests: a plain AF_PACKET socket on the client side of a testnet,
// frame builders, and polling a port until frames arrive (sleeping, never spinning).
#pragma once

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/port/frame.h"
#include "tests/support/netns.h"

namespace anvil::test {

using bytes = std::vector<std::byte>;

inline port::mac_address parse_mac(const std::string& s) {
  port::mac_address m{};
  unsigned v[6];
  if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) == 6)
    for (int i = 0; i < 6; ++i) m[i] = static_cast<std::uint8_t>(v[i]);
  return m;
}

inline constexpr port::mac_address kBroadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

// dst, src, an experimental ethertype (0x88b5: local experimental), then a 4-byte tag,
// a 4-byte sequence number and filler up to `len`.
inline bytes tagged_frame(port::mac_address dst, port::mac_address src, std::uint32_t tag,
                          std::uint32_t seq, std::size_t len = 60) {
  bytes f(len, std::byte{0x5a});
  std::memcpy(f.data(), dst.data(), 6);
  std::memcpy(f.data() + 6, src.data(), 6);
  f[12] = std::byte{0x88};
  f[13] = std::byte{0xb5};
  if (len >= 22) {
    std::memcpy(f.data() + 14, &tag, 4);
    std::memcpy(f.data() + 18, &seq, 4);
  }
  return f;
}

inline bool has_tag(std::span<const std::byte> f, std::uint32_t tag) {
  return f.size() >= 22 && f[12] == std::byte{0x88} && f[13] == std::byte{0xb5} &&
         std::memcmp(f.data() + 14, &tag, 4) == 0;
}
inline std::uint32_t seq_of(std::span<const std::byte> f) {
  std::uint32_t s;
  std::memcpy(&s, f.data() + 18, 4);
  return s;
}

// An IPv4/UDP frame (checksums zero: UDP checksum 0 means "none" in IPv4) whose flow
// is (src_port -> dst_port); the fanout hash reads these fields.
inline bytes udp_frame(port::mac_address dst, port::mac_address src, std::uint16_t sport,
                       std::uint16_t dport, std::uint32_t tag) {
  bytes f(14 + 20 + 8 + 8, std::byte{0});
  std::memcpy(f.data(), dst.data(), 6);
  std::memcpy(f.data() + 6, src.data(), 6);
  f[12] = std::byte{0x08};
  auto* ip = reinterpret_cast<std::uint8_t*>(f.data() + 14);
  ip[0] = 0x45;
  const std::uint16_t tot = htons(20 + 8 + 8);
  std::memcpy(ip + 2, &tot, 2);
  ip[8] = 64;
  ip[9] = 17;
  const std::uint8_t s[4] = {198, 18, 0, 2}, d[4] = {198, 18, 0, 1};
  std::memcpy(ip + 12, s, 4);
  std::memcpy(ip + 16, d, 4);
  std::uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (ip[i] << 8) | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  const std::uint16_t csum = htons(static_cast<std::uint16_t>(~sum));
  std::memcpy(ip + 10, &csum, 2);
  auto* udp = ip + 20;
  const std::uint16_t sp = htons(sport), dp = htons(dport), ul = htons(16);
  std::memcpy(udp, &sp, 2);
  std::memcpy(udp + 2, &dp, 2);
  std::memcpy(udp + 4, &ul, 2);
  std::memcpy(udp + 8, &tag, 4);
  return f;
}

// A plain packet socket bound to one interface in a namespace (the "wire" peer).
class raw_socket {
 public:
  raw_socket(const std::string& ns, const std::string& ifname) {
    _fd = socket_in_netns(ns, AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(ifindex_in_netns(ns, ifname));
    EXPECT_EQ(::bind(_fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll), 0) << strerror(errno);
    int big = 8 << 20;
    ::setsockopt(_fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    ::setsockopt(_fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
    int one = 1;
    ::setsockopt(_fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  }
  ~raw_socket() { ::close(_fd); }
  raw_socket(const raw_socket&) = delete;
  raw_socket& operator=(const raw_socket&) = delete;

  ssize_t send(const bytes& f) { return ::send(_fd, f.data(), f.size(), 0); }

  // Every frame carrying `tag` until `quiet_ms` pass with nothing arriving.
  std::vector<bytes> recv_tagged(std::uint32_t tag, int quiet_ms = 300) {
    std::vector<bytes> out;
    bytes buf(70000);
    for (;;) {
      pollfd p{_fd, POLLIN, 0};
      if (::poll(&p, 1, quiet_ms) <= 0) return out;
      ssize_t n = ::recv(_fd, buf.data(), buf.size(), 0);
      if (n <= 0) continue;
      std::span<const std::byte> f(buf.data(), static_cast<std::size_t>(n));
      if (has_tag(f, tag)) out.emplace_back(f.begin(), f.end());
    }
  }
  int fd() const { return _fd; }

 private:
  int _fd = -1;
};

// Polls `port` until `want` frames matching `pred` have arrived or `timeout` passes;
// sleeps 200 us on an empty burst. Frames are copied (they die at the next burst).
template <class Port, class Pred>
std::vector<std::pair<bytes, port::csum_state>> collect(Port& port, std::size_t want, Pred pred,
                                                        std::chrono::milliseconds timeout,
                                                        std::size_t* max_burst = nullptr) {
  std::vector<std::pair<bytes, port::csum_state>> out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
    auto burst = port.rx_burst();
    if (burst.empty()) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    if (max_burst != nullptr && burst.size() > *max_burst) *max_burst = burst.size();
    for (const auto& f : burst)
      if (pred(f.bytes)) out.emplace_back(bytes(f.bytes.begin(), f.bytes.end()), f.csum);
  }
  return out;
}

template <class Port>
void send_frame(Port& port, const bytes& f) {
  auto buf = port.begin_frame();
  ASSERT_GE(buf.size(), f.size());
  std::memcpy(buf.data(), f.data(), f.size());
  port.commit_frame(f.size());
}

}  // namespace anvil::test
