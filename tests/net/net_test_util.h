// Helpers for the stack tests: craft frames as a client would send them, decode what
// the stack sent, and an application that records its callbacks.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "dataplane/net/checksum.h"
#include "dataplane/net/frame.h"
#include "dataplane/net/stack.h"
#include "dataplane/net/tcp_segment.h"
#include "dataplane/net/vector_sink.h"

namespace anvil::net::test {

inline const mac_addr kServerMac{{0x02, 0, 0, 0, 0, 0x01}};
inline const mac_addr kClientMac{{0x02, 0, 0, 0, 0, 0x02}};
inline constexpr ip4_addr kServerIp = make_ip4(198, 18, 0, 1);
inline constexpr ip4_addr kClientIp = make_ip4(198, 18, 0, 2);
inline constexpr std::uint16_t kPort = 11211;

using frame_t = std::vector<std::byte>;

inline std::vector<std::byte> to_bytes(const std::string& s) {
  std::vector<std::byte> v(s.size());
  if (!s.empty()) std::memcpy(v.data(), s.data(), s.size());
  return v;
}
inline std::string to_string(bytes b) {
  return b.empty() ? std::string() : std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// An IPv4 frame (valid checksums) carrying `l4`.
inline frame_t ip_frame(ip4_addr src, ip4_addr dst, std::uint8_t proto,
                        const std::vector<std::byte>& l4, const mac_addr& smac = kClientMac,
                        const mac_addr& dmac = kServerMac) {
  frame_t f(kEthHeader + kIpv4Header + l4.size());
  write_eth(f.data(), dmac, smac, kEtherIpv4);
  write_ipv4(f.data() + kEthHeader, src, dst, proto, l4.size(), 7);
  if (!l4.empty()) std::memcpy(f.data() + kEthHeader + kIpv4Header, l4.data(), l4.size());
  return f;
}

// A TCP segment from the client (src_port/dst_port taken from seg) in a frame.
inline frame_t tcp_frame(const tcp_segment& seg, ip4_addr src = kClientIp,
                         ip4_addr dst = kServerIp) {
  std::vector<std::byte> l4(tcp_header_len(seg.opt) + seg.payload.size());
  const std::size_t hl = write_tcp_header(l4.data(), seg);
  if (!seg.payload.empty()) std::memcpy(l4.data() + hl, seg.payload.data(), seg.payload.size());
  csum_store(l4.data() + 16, csum_finish(csum_pseudo(src, dst, kProtoTcp, l4.size()) +
                                         csum_add(0, l4.data(), l4.size())));
  return ip_frame(src, dst, kProtoTcp, l4);
}

struct out_segment {
  tcp_segment seg;
  std::vector<std::byte> payload;
  mac_addr dst_mac;
  ip4_addr src_ip, dst_ip;
};

// Decodes a TCP frame the stack sent, checking its IPv4 and TCP checksums.
inline std::optional<out_segment> decode_tcp(const frame_t& f) {
  if (f.size() < kEthHeader + kIpv4Header + kTcpHeader) return std::nullopt;
  if (load16(f.data() + 12) != kEtherIpv4) return std::nullopt;
  const std::byte* ip = f.data() + kEthHeader;
  if (load8(ip + 9) != kProtoTcp) return std::nullopt;
  EXPECT_TRUE(csum_ok(csum_add(0, ip, kIpv4Header)));
  const std::size_t total = load16(ip + 2);
  const bytes l4{ip + kIpv4Header, total - kIpv4Header};
  out_segment o;
  o.src_ip = ip4_addr{load32(ip + 12)};
  o.dst_ip = ip4_addr{load32(ip + 16)};
  o.dst_mac = mac_addr::load(f.data());
  EXPECT_TRUE(csum_ok(csum_pseudo(o.src_ip, o.dst_ip, kProtoTcp, l4.size()) +
                      csum_add(0, l4.data(), l4.size())));
  if (parse_tcp(l4, o.seg) != tcp_parse_error::none) return std::nullopt;
  o.payload.assign(o.seg.payload.begin(), o.seg.payload.end());
  o.seg.payload = {};
  return o;
}

struct recording_app {
  int accepts = 0, closes = 0, data_events = 0, writables = 0;
  std::string received;
  bool echo = false;
  bool auto_consume = true;
  bool close_on_eof = false;
  tcp_conn* last = nullptr;
  std::vector<close_reason> reasons;

  void on_accept(tcp_conn& c) {
    ++accepts;
    last = &c;
  }
  void on_data(tcp_conn& c) {
    ++data_events;
    if (auto_consume) {
      auto v = c.recv_view();
      if (!v.empty()) received.append(reinterpret_cast<const char*>(v.data()), v.size());
      if (echo && !v.empty()) {
        auto sp = c.send_space();
        const std::size_t n = std::min(sp.size(), v.size());
        std::memcpy(sp.data(), v.data(), n);
        c.commit_send(n);
      }
      c.consume(v.size());
    }
    if (close_on_eof && c.peer_closed()) c.close();
  }
  void on_writable(tcp_conn&) { ++writables; }
  void on_close(tcp_conn& c) {
    ++closes;
    reasons.push_back(c.reason());
    if (last == &c) last = nullptr;
  }
};

inline stack_config test_config() {
  stack_config cfg;
  cfg.mac = kServerMac;
  cfg.addresses = {kServerIp};
  cfg.tcp_ports = {kPort};
  cfg.max_connections = 16;
  cfg.syn_backlog = 4;
  cfg.tcp.rx_buffer = 16 * 1024;
  cfg.tcp.tx_buffer = 16 * 1024;
  cfg.secret = prf_key{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};  // reproducible runs
  return cfg;
}

// Linux's SYN options (TESTBED.md): MSS 1460, SACK-permitted, timestamps, wscale 10.
inline tcp_options linux_syn_options(std::uint32_t tsval = 1000) {
  tcp_options o;
  o.mss = 1460;
  o.sack_permitted = true;
  o.has_ts = true;
  o.ts_val = tsval;
  o.wscale = 10;
  return o;
}

}  // namespace anvil::net::test
