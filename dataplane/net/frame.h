// Ethernet / ARP / IPv4 / ICMP / UDP header layouts, validation and builders.
// Parsing never trusts a length field beyond the bytes actually received (truncated
// frames are real on AF_PACKET vdevs): every view is a subspan of the frame.
#pragma once

#include <cstdint>

#include "dataplane/net/checksum.h"
#include "dataplane/net/counters.h"
#include "dataplane/net/wire.h"

namespace anvil::net {

struct eth_view {
  mac_addr dst, src;
  std::uint16_t type = 0;
  bytes payload;
};

struct ipv4_view {
  ip4_addr src, dst;
  std::uint8_t proto = 0;
  std::uint8_t ttl = 0;
  bytes payload;  // exactly total_length - header, never beyond the frame
};

// Metadata a port may pass with a frame (checksum offload results).
struct rx_meta {
  bool ip_csum_ok = false;  // the NIC verified the IPv4 header checksum
  bool l4_csum_ok = false;  // the NIC verified the TCP/UDP/ICMP checksum
};

inline bool parse_eth(bytes f, eth_view& e, net_counters& c) {
  if (f.size() < kEthHeader) {
    bump(c.drop_eth_short);
    return false;
  }
  e.dst = mac_addr::load(f.data());
  e.src = mac_addr::load(f.data() + 6);
  e.type = load16(f.data() + 12);
  e.payload = f.subspan(kEthHeader);
  return true;
}

// RFC 791 header checks; counts and returns false on anything we do not accept.
inline bool parse_ipv4(bytes p, const rx_meta& meta, ipv4_view& ip, net_counters& c) {
  if (p.size() < kIpv4Header) {
    bump(c.drop_ip_short);
    return false;
  }
  const std::uint8_t vihl = load8(p.data());
  if ((vihl >> 4) != 4) {
    bump(c.drop_ip_version);
    return false;
  }
  const std::size_t ihl = std::size_t{vihl & 0x0fu} * 4;
  if (ihl < kIpv4Header || ihl > p.size()) {
    bump(c.drop_ip_bad_ihl);
    return false;
  }
  const std::size_t total = load16(p.data() + 2);
  if (total > p.size()) {
    bump(c.drop_ip_truncated);  // never "receive" bytes that did not arrive
    return false;
  }
  if (total < ihl) {
    bump(c.drop_ip_bad_len);
    return false;
  }
  if (!meta.ip_csum_ok && !csum_ok(csum_add(0, p.data(), ihl))) {
    bump(c.drop_ip_checksum);
    return false;
  }
  if (ihl != kIpv4Header) {
    bump(c.drop_ip_options);
    return false;
  }
  const std::uint16_t frag = load16(p.data() + 6);
  if ((frag & 0x2000) || (frag & 0x1fff)) {  // MF set or a non-zero offset
    bump(c.drop_ip_fragment);
    return false;
  }
  ip.ttl = load8(p.data() + 8);
  ip.proto = load8(p.data() + 9);
  ip.src = ip4_addr{load32(p.data() + 12)};
  ip.dst = ip4_addr{load32(p.data() + 16)};
  ip.payload = p.subspan(ihl, total - ihl);  // Ethernet padding cut off
  return true;
}

inline void write_eth(std::byte* p, const mac_addr& dst, const mac_addr& src, std::uint16_t type) {
  dst.store(p);
  src.store(p + 6);
  store16(p + 12, type);
}

// A 20-byte IPv4 header with DF set and its checksum.
inline void write_ipv4(std::byte* p, ip4_addr src, ip4_addr dst, std::uint8_t proto,
                       std::size_t payload_len, std::uint16_t id) {
  store8(p, 0x45);
  store8(p + 1, 0);
  store16(p + 2, static_cast<std::uint16_t>(kIpv4Header + payload_len));
  store16(p + 4, id);
  store16(p + 6, 0x4000);  // DF
  store8(p + 8, 64);
  store8(p + 9, proto);
  store16(p + 10, 0);
  store32(p + 12, src.v);
  store32(p + 16, dst.v);
  csum_store(p + 10, csum_finish(csum_add(0, p, kIpv4Header)));
}

// memcached UDP frame header (protocol.txt "UDP protocol"): request id, sequence
// number, total datagrams in this message, reserved (0).
struct udp_frame_header {
  std::uint16_t request_id = 0;
  std::uint16_t seq = 0;
  std::uint16_t count = 0;
  std::uint16_t reserved = 0;
};
constexpr std::size_t kUdpFrameHeader = 8;
// memcached's UDP_MAX_PAYLOAD_SIZE: datagram payload including the frame header.
constexpr std::size_t kUdpMaxPayload = 1400;

}  // namespace anvil::net
