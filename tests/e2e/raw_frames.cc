#include "tests/e2e/raw_frames.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <poll.h>
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
  const std::size_t hl = 20 + (s.mss_option ? 4 : 0) + (s.timestamps ? 12 : 0);
  const std::size_t l4 = hl + s.payload.size();
  frame f = eth_ip(s.src_mac, s.dst_mac, s.src_ip, s.dst_ip, 6, l4);
  std::uint8_t* t = f.data() + 34;
  be16(t, s.sport);
  be16(t + 2, s.dport);
  be32(t + 4, s.seq);
  be32(t + 8, s.ack);
  t[12] = std::uint8_t((hl / 4) << 4);
  t[13] = s.flags;
  be16(t + 14, s.window);
  std::uint8_t* o = t + 20;
  if (s.mss_option) {
    o[0] = 2;
    o[1] = 4;
    be16(o + 2, s.mss);
    o += 4;
  }
  if (s.timestamps) {
    o[0] = 1;
    o[1] = 1;
    o[2] = 8;
    o[3] = 10;
    be32(o + 4, s.ts_val);
    be32(o + 8, s.ts_ecr);
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

std::optional<tcp_seen> parse_tcp(const frame& f) {
  auto get16 = [&](std::size_t at) { return std::uint16_t(f[at] << 8 | f[at + 1]); };
  auto get32 = [&](std::size_t at) { return std::uint32_t(get16(at)) << 16 | get16(at + 2); };
  if (f.size() < 54 || f[12] != 0x08 || f[13] != 0x00 || f[14] != 0x45 || f[23] != 6)
    return std::nullopt;
  const std::size_t ip_len = get16(16);
  if (ip_len < 40 || 14 + ip_len > f.size()) return std::nullopt;
  const std::size_t t = 34;
  const std::size_t hl = std::size_t(f[t + 12] >> 4) * 4;
  if (hl < 20 || 20 + hl > ip_len) return std::nullopt;
  tcp_seen s;
  s.src_ip = get32(26);
  s.dst_ip = get32(30);
  s.sport = get16(t);
  s.dport = get16(t + 2);
  s.seq = get32(t + 4);
  s.ack = get32(t + 8);
  s.flags = f[t + 13];
  s.window = get16(t + 14);
  for (std::size_t i = t + 20; i < t + hl;) {
    const std::uint8_t kind = f[i];
    if (kind == 0) break;
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= t + hl || f[i + 1] < 2) break;
    if (kind == 8 && f[i + 1] == 10 && i + 10 <= t + hl) {
      s.has_ts = true;
      s.ts_val = get32(i + 2);
    }
    i += f[i + 1];
  }
  s.payload.assign(reinterpret_cast<const char*>(f.data()) + t + hl, 14 + ip_len - t - hl);
  return s;
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

std::optional<frame> raw_sender::receive(std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  frame buf(65536);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() < 0) return std::nullopt;
    pollfd p{_fd, POLLIN, 0};
    if (::poll(&p, 1, int(left.count())) <= 0) return std::nullopt;
    sockaddr_ll from{};
    socklen_t len = sizeof from;
    const ssize_t n =
        ::recvfrom(_fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0) return std::nullopt;
    if (from.sll_pkttype == PACKET_OUTGOING) continue;  // our own frames
    buf.resize(std::size_t(n));
    return buf;
  }
}

}  // namespace anvil::e2e
