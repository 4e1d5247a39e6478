#include "tests/e2e/raw_frames.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "tests/support/netns.h"

namespace anvil::e2e {
namespace {

std::uint32_t sum16(const std::uint8_t* p, std::size_t n, std::uint32_t acc = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2) acc += std::uint32_t(p[i] << 8 | p[i + 1]);
  if (n & 1) acc += std::uint32_t(p[n - 1] << 8);
  return acc;
}
std::uint16_t fold(std::uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return std::uint16_t(~acc & 0xffff);
}
void be16(std::uint8_t* p, std::uint32_t v) {
  p[0] = std::uint8_t(v >> 8);
  p[1] = std::uint8_t(v);
}
void be32(std::uint8_t* p, std::uint32_t v) {
  be16(p, v >> 16);
  be16(p + 2, v & 0xffff);
}

// Ethernet + IPv4 header (20 bytes, DF, TTL 64) for an L4 payload of `l4_len` bytes.
frame eth_ip(const mac& src, const mac& dst, std::uint32_t sip, std::uint32_t dip,
             std::uint8_t proto, std::size_t l4_len) {
  frame f(14 + 20 + l4_len, 0);
  std::memcpy(f.data(), dst.data(), 6);
  std::memcpy(f.data() + 6, src.data(), 6);
  f[12] = 0x08;
  std::uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  be16(ip + 2, std::uint32_t(20 + l4_len));
  be16(ip + 4, 0x1234);
  ip[6] = 0x40;  // DF
  ip[8] = 64;
  ip[9] = proto;
  be32(ip + 12, sip);
  be32(ip + 16, dip);
  be16(ip + 10, fold(sum16(ip, 20)));
  return f;
}

std::uint32_t pseudo(std::uint32_t sip, std::uint32_t dip, std::uint8_t proto, std::size_t len) {
  return (sip >> 16) + (sip & 0xffff) + (dip >> 16) + (dip & 0xffff) + proto + std::uint32_t(len);
}

}  // namespace

mac parse_mac(const std::string& text) {
  mac m{};
  unsigned v[6] = {};
  std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
  for (int i = 0; i < 6; ++i) m[std::size_t(i)] = std::uint8_t(v[i]);
  return m;
}

std::uint32_t parse_ip(const std::string& dotted) {
  in_addr a{};
  ::inet_pton(AF_INET, dotted.c_str(), &a);
  return ntohl(a.s_addr);
}

frame tcp_frame(const tcp_spec& s) {
  const std::size_t hl = s.mss_option ? 24 : 20;
  const std::size_t l4 = hl + s.payload.size();
  frame f = eth_ip(s.src_mac, s.dst_mac, s.src_ip, s.dst_ip, 6, l4);
  std::uint8_t* t = f.data() + 34;
  be16(t, s.sport);
  be16(t + 2, s.dport);
  be32(t + 4, s.seq);
  be32(t + 8, s.ack);
  t[12] = std::uint8_t((hl / 4) << 4);
  t[13] = s.flags;
  be16(t + 14, 64240);
  if (s.mss_option) {
    t[20] = 2;
    t[21] = 4;
    be16(t + 22, 1460);
  }
  std::memcpy(t + hl, s.payload.data(), s.payload.size());
  be16(t + 16, fold(sum16(t, l4, pseudo(s.src_ip, s.dst_ip, 6, l4))));
  return f;
}

frame udp_frame(const mac& src_mac, const mac& dst_mac, std::uint32_t src_ip, std::uint32_t dst_ip,
                std::uint16_t sport, std::uint16_t dport, const std::string& payload) {
  const std::size_t l4 = 8 + payload.size();
  frame f = eth_ip(src_mac, dst_mac, src_ip, dst_ip, 17, l4);
  std::uint8_t* u = f.data() + 34;
  be16(u, sport);
  be16(u + 2, dport);
  be16(u + 4, std::uint32_t(l4));
  std::memcpy(u + 8, payload.data(), payload.size());
  std::uint16_t c = fold(sum16(u, l4, pseudo(src_ip, dst_ip, 17, l4)));
  be16(u + 6, c == 0 ? 0xffff : c);
  return f;
}

void fix_ip_checksum(frame& f) {
  if (f.size() < 34) return;
  std::uint8_t* ip = f.data() + 14;
  const std::size_t ihl = std::size_t(ip[0] & 0x0f) * 4;
  if (ihl < 20 || 14 + ihl > f.size()) return;
  be16(ip + 10, 0);
  be16(ip + 10, fold(sum16(ip, ihl)));
}

raw_sender::raw_sender(const std::string& ns, const std::string& ifname) {
  _fd = test::socket_in_netns(ns, AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = int(test::ifindex_in_netns(ns, ifname));
  ::bind(_fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll);
  int big = 4 << 20;
  ::setsockopt(_fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
}

raw_sender::~raw_sender() { ::close(_fd); }

bool raw_sender::send(const frame& f) {
  return ::send(_fd, f.data(), f.size(), 0) == ssize_t(f.size());
}

}  // namespace anvil::e2e
