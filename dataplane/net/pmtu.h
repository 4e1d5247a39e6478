// Path MTU discovery input (RFC 1191, hardened per RFC 5927): parsing an ICMP
// "destination unreachable, fragmentation needed and DF set" (type 3 code 4) and the
// MTU -> MSS arithmetic. The stack validates the quoted TCP sequence number against the
// connection (SND.UNA <= seq < SND.MAX) before it lowers anything: an attacker who
// cannot see the connection's traffic cannot shrink its segments.
//
// Invariants: nothing here trusts a length beyond the bytes received; the MTU used is
// never below kMinPathMtu (Linux's min_pmtu, 552), so a forged "MTU 68" cannot turn
// a connection into a stream of tiny segments.
#pragma once

#include <cstdint>

#include "dataplane/net/wire.h"

namespace anvil::net {

constexpr std::uint8_t kIcmpUnreachable = 3;
constexpr std::uint8_t kIcmpFragNeeded = 4;
constexpr std::uint16_t kMinPathMtu = 552;  // Linux net.ipv4.route.min_pmtu

// What a frag-needed message says about one of our TCP segments.
struct frag_needed {
  std::uint16_t mtu = 0;  // next-hop MTU (RFC 1191 §4), or a plateau estimate when 0
  ip4_addr src, dst;      // the quoted datagram: we sent it, so src is ours
  std::uint16_t sport = 0, dport = 0;
  std::uint32_t seq = 0;  // the quoted TCP sequence number
};

// RFC 1191 §7: routers that predate it send MTU 0; guess the largest plateau below
// the quoted datagram's length.
inline std::uint16_t pmtu_plateau_below(std::uint16_t len) {
  constexpr std::uint16_t kPlateaus[] = {32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68};
  for (std::uint16_t p : kPlateaus)
    if (p < len) return p;
  return 68;
}

// `m` is the whole ICMP message (checksum already verified). False when the quoted
// IPv4 header or the first 8 TCP bytes are missing or invalid, or the quote is not TCP.
inline bool parse_frag_needed(bytes m, frag_needed& out) {
  constexpr std::size_t kIcmpHeader = 8;
  if (m.size() < kIcmpHeader + kIpv4Header) return false;
  const bytes in = m.subspan(kIcmpHeader);
  const std::uint8_t vihl = load8(in.data());
  const std::size_t ihl = std::size_t{vihl & 0x0fu} * 4;
  if ((vihl >> 4) != 4 || ihl < kIpv4Header) return false;
  // RFC 792 quotes the header and 64 bits of data: the ports and the sequence number.
  if (in.size() < ihl + 8) return false;
  if (load8(in.data() + 9) != kProtoTcp) return false;
  const std::uint16_t quoted_len = load16(in.data() + 2);
  if (quoted_len < ihl + 8) return false;
  const std::uint16_t mtu = load16(m.data() + 6);
  out.mtu = mtu != 0 ? mtu : pmtu_plateau_below(quoted_len);
  out.src = ip4_addr{load32(in.data() + 12)};
  out.dst = ip4_addr{load32(in.data() + 16)};
  out.sport = load16(in.data() + ihl);
  out.dport = load16(in.data() + ihl + 2);
  out.seq = load32(in.data() + ihl + 4);
  return true;
}

// The send MSS that fits `mtu` (floored at kMinPathMtu) with 20-byte IPv4 and TCP
// headers plus the timestamp option when the connection uses it.
inline std::uint16_t mss_for_path_mtu(std::uint16_t mtu, bool timestamps) {
  const std::uint16_t m = mtu < kMinPathMtu ? kMinPathMtu : mtu;
  return static_cast<std::uint16_t>(m - kIpv4Header - kTcpHeader - (timestamps ? 12 : 0));
}

}  // namespace anvil::net
