// Ethernet, ARP, IPv4, ICMP and memcached-UDP handling, and every malformed-frame
// path: each drop is checked against its counter.
#include "tests/net/net_test_util.h"

namespace anvil::net::test {
namespace {

class wire : public ::testing::Test {
 protected:
  struct udp_app : recording_app {
    std::string last_request;
    std::size_t reply_size = 10;
    void on_udp(bytes req, udp_reply& r) {
      last_request = to_string(req);
      for (std::size_t i = 0; i < reply_size && i < r.space.size(); ++i)
        r.space[i] = std::byte(i & 0xff);
      r.len = reply_size;
    }
  };
  udp_app app;
  stack_config cfg = test_config();
  std::unique_ptr<stack<udp_app>> st;
  vector_sink tx;
  nanos now = kNsPerSec;

  void SetUp() override { st = std::make_unique<stack<udp_app>>(cfg, app); }
  std::vector<frame_t> rx(const frame_t& f) {
    st->receive(f, now, tx);
    return tx.take();
  }
  const net_counters& c() const { return st->counters(); }

  static frame_t arp(std::uint16_t op, const mac_addr& eth_dst, const mac_addr& sha, ip4_addr spa,
                     ip4_addr tpa) {
    frame_t f(42);
    write_eth(f.data(), eth_dst, sha, kEtherArp);
    std::byte* p = f.data() + kEthHeader;
    store16(p, 1), store16(p + 2, kEtherIpv4), store8(p + 4, 6), store8(p + 5, 4),
        store16(p + 6, op);
    sha.store(p + 8), store32(p + 14, spa.v), mac_addr{}.store(p + 18), store32(p + 24, tpa.v);
    return f;
  }
  static frame_t icmp_echo(const std::string& data) {
    std::vector<std::byte> m(8 + data.size());
    store8(m.data(), 8), store16(m.data() + 4, 0x1234), store16(m.data() + 6, 1);
    std::memcpy(m.data() + 8, data.data(), data.size());
    csum_store(m.data() + 2, csum_finish(csum_add(0, m.data(), m.size())));
    return ip_frame(kClientIp, kServerIp, kProtoIcmp, m);
  }
  static frame_t udp(std::uint16_t dport, const std::vector<std::byte>& body) {
    std::vector<std::byte> u(8 + body.size());
    store16(u.data(), 5555), store16(u.data() + 2, dport),
        store16(u.data() + 4, static_cast<std::uint16_t>(u.size()));
    std::memcpy(u.data() + 8, body.data(), body.size());
    csum_store(u.data() + 6, csum_finish(csum_pseudo(kClientIp, kServerIp, kProtoUdp, u.size()) +
                                         csum_add(0, u.data(), u.size())));
    return ip_frame(kClientIp, kServerIp, kProtoUdp, u);
  }
  static std::vector<std::byte> mc_frame(std::uint16_t id, std::uint16_t seq, std::uint16_t count,
                                         const std::string& req) {
    std::vector<std::byte> b(8 + req.size());
    store16(b.data(), id), store16(b.data() + 2, seq), store16(b.data() + 4, count),
        store16(b.data() + 6, 0);
    std::memcpy(b.data() + 8, req.data(), req.size());
    return b;
  }
  static void fix_ip_csum(frame_t& f) {
    std::byte* ip = f.data() + kEthHeader;
    store16(ip + 10, 0);
    const std::size_t ihl = std::size_t{load8(ip) & 0xfu} * 4;
    csum_store(ip + 10, csum_finish(csum_add(0, ip, ihl)));
  }
};

// ------------------------------------------------------------------ checksum --
TEST(checksum, rfc1071_example_and_odd_lengths) {
  // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (one's complement sum).
  const std::uint8_t d[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  std::uint16_t folded = csum_fold(csum_add(0, reinterpret_cast<const std::byte*>(d), 8));
  std::byte out[2];
  csum_store(out, folded);
  EXPECT_EQ(load16(out), 0xddf2);
  // Against a byte-at-a-time reference for every length up to 100.
  std::vector<std::byte> buf(100);
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = std::byte((i * 37 + 11) & 0xff);
  for (std::size_t n = 0; n <= buf.size(); ++n) {
    std::uint32_t ref = 0;
    for (std::size_t i = 0; i < n; i += 2)
      ref += (std::to_integer<std::uint32_t>(buf[i]) << 8) |
             (i + 1 < n ? std::to_integer<std::uint32_t>(buf[i + 1]) : 0);
    while (ref >> 16) ref = (ref & 0xffff) + (ref >> 16);
    csum_store(out, csum_fold(csum_add(0, buf.data(), n)));
    EXPECT_EQ(load16(out), n ? ref : 0u) << n;
  }
}

// ----------------------------------------------------------------- Ethernet --
TEST_F(wire, short_frame_wrong_mac_and_unknown_type_are_counted) {
  EXPECT_TRUE(rx(frame_t(10)).empty());
  EXPECT_EQ(c().drop_eth_short.load(), 1u);
  auto f = icmp_echo("x");
  mac_addr other{{0x02, 9, 9, 9, 9, 9}};
  other.store(f.data());
  EXPECT_TRUE(rx(f).empty());
  EXPECT_EQ(c().drop_eth_not_for_us.load(), 1u);
  f = icmp_echo("x");
  store16(f.data() + 12, 0x86dd);
  EXPECT_TRUE(rx(f).empty());
  EXPECT_EQ(c().drop_eth_type.load(), 1u);
}

// ---------------------------------------------------------------------- ARP --
TEST_F(wire, arp_broadcast_request_gets_reply_to_source_mac) {
  auto out = rx(arp(1, kBroadcastMac, kClientMac, kClientIp, kServerIp));
  ASSERT_EQ(out.size(), 1u);
  const auto& f = out[0];
  EXPECT_EQ(mac_addr::load(f.data()), kClientMac);
  EXPECT_EQ(mac_addr::load(f.data() + 6), kServerMac);
  EXPECT_EQ(load16(f.data() + 12), kEtherArp);
  const std::byte* a = f.data() + kEthHeader;
  EXPECT_EQ(load16(a + 6), 2);
  EXPECT_EQ(mac_addr::load(a + 8), kServerMac);
  EXPECT_EQ(load32(a + 14), kServerIp.v);
  EXPECT_EQ(mac_addr::load(a + 18), kClientMac);
  EXPECT_EQ(load32(a + 24), kClientIp.v);
  EXPECT_EQ(c().arp_replies.load(), 1u);
}

TEST_F(wire, arp_unicast_probe_is_answered) {
  // Linux re-validates with a unicast request to our MAC (and probes with spa 0).
  auto out = rx(arp(1, kServerMac, kClientMac, ip4_addr{0}, kServerIp));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(mac_addr::load(out[0].data()), kClientMac);
}

TEST_F(wire, arp_reply_goes_to_frame_source_not_arp_sender) {
  mac_addr via{{0x02, 7, 7, 7, 7, 7}};
  auto f = arp(1, kBroadcastMac, kClientMac, kClientIp, kServerIp);
  via.store(f.data() + 6);  // Ethernet source differs from the ARP sender field
  auto out = rx(f);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(mac_addr::load(out[0].data()), via);
}

TEST_F(wire, arp_for_other_address_or_malformed_is_dropped) {
  EXPECT_TRUE(rx(arp(1, kBroadcastMac, kClientMac, kClientIp, make_ip4(198, 18, 0, 99))).empty());
  EXPECT_EQ(c().drop_arp_not_for_us.load(), 1u);
  auto f = arp(1, kBroadcastMac, kClientMac, kClientIp, kServerIp);
  f.resize(30);
  EXPECT_TRUE(rx(f).empty());
  EXPECT_EQ(c().drop_arp_malformed.load(), 1u);
  EXPECT_TRUE(rx(arp(2, kServerMac, kClientMac, kClientIp, kServerIp)).empty());
}

TEST_F(wire, gratuitous_arp_and_address_takeover) {
  const ip4_addr vip = make_ip4(198, 18, 0, 100);
  EXPECT_TRUE(rx(arp(1, kBroadcastMac, kClientMac, kClientIp, vip)).empty());
  st->add_address(vip);
  ASSERT_TRUE(st->send_gratuitous_arp(vip, tx));
  auto out = tx.take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(mac_addr::load(out[0].data()), kBroadcastMac);
  const std::byte* a = out[0].data() + kEthHeader;
  EXPECT_EQ(load16(a + 6), 1);
  EXPECT_EQ(load32(a + 14), vip.v);
  EXPECT_EQ(load32(a + 24), vip.v);
  EXPECT_EQ(mac_addr::load(a + 8), kServerMac);
  EXPECT_EQ(rx(arp(1, kBroadcastMac, kClientMac, kClientIp, vip)).size(), 1u);
  st->remove_address(vip);
  EXPECT_TRUE(rx(arp(1, kBroadcastMac, kClientMac, kClientIp, vip)).empty());
}

TEST_F(wire, gratuitous_arp_waits_for_a_buffer) {
  tx.limit = 0;
  EXPECT_FALSE(st->send_gratuitous_arp(kServerIp, tx));
  EXPECT_EQ(c().tx_no_buffer.load(), 1u);
}

// --------------------------------------------------------------------- IPv4 --
TEST_F(wire, ipv4_truncated_total_length_is_dropped) {
  auto f = icmp_echo("0123456789");
  f.resize(f.size() - 4);  // the port delivered fewer bytes than the header claims
  EXPECT_TRUE(rx(f).empty());
  EXPECT_EQ(c().drop_ip_truncated.load(), 1u);
}

TEST_F(wire, ipv4_ethernet_padding_is_ignored) {
  auto f = icmp_echo("ab");
  f.resize(60);  // minimum Ethernet frame: padding beyond the IP total length
  auto out = rx(f);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(load16(out[0].data() + kEthHeader + 2), kIpv4Header + 8 + 2);
}

TEST_F(wire, ipv4_bad_version_ihl_length_checksum) {
  auto f = icmp_echo("x");
  store8(f.data() + kEthHeader, 0x65);
  EXPECT_TRUE(rx(f).empty());
  EXPECT_EQ(c().drop_ip_version.load(), 1u);
  f = icmp_echo("x");
  store8(f.data() + kEthHeader, 0x44);
  EXPECT_TRUE(rx(f).empty());
  EXPECT_EQ(c().drop_ip_bad_ihl.load(), 1u);
  f = icmp_echo("x");
  store8(f.data() + kEthHeader, 0x4f);  // 60-byte header beyond a short frame
  EXPECT_TRUE(rx(f).empty());
  EXPECT_EQ(c().drop_ip_bad_ihl.load(), 2u);
  f = icmp_echo("x");
  store16(f.data() + kEthHeader + 2, 10);
  fix_ip_csum(f);
  EXPECT_TRUE(rx(f).empty());
  EXPECT_EQ(c().drop_ip_bad_len.load(), 1u);
  f = icmp_echo("x");
  f[kEthHeader + 10] ^= std::byte{1};
  EXPECT_TRUE(rx(f).empty());
  EXPECT_EQ(c().drop_ip_checksum.load(), 1u);
}

TEST_F(wire, ipv4_short_header) {
  frame_t f(kEthHeader + 10);
  write_eth(f.data(), kServerMac, kClientMac, kEtherIpv4);
  EXPECT_TRUE(rx(f).empty());
  EXPECT_EQ(c().drop_ip_short.load(), 1u);
}

TEST_F(wire, ipv4_options_are_dropped) {
  std::vector<std::byte> m(8);
  store8(m.data(), 8);
  csum_store(m.data() + 2, csum_finish(csum_add(0, m.data(), m.size())));
  frame_t f(kEthHeader + 24 + m.size());
  write_eth(f.data(), kServerMac, kClientMac, kEtherIpv4);
  std::byte* ip = f.data() + kEthHeader;
  write_ipv4(ip, kClientIp, kServerIp, kProtoIcmp, m.size() + 4, 1);
  std::memmove(ip + 24, ip + 20, 0);
  store8(ip, 0x46);
  store32(ip + 20, 0x01010100);  // NOPs + EOL
  std::memcpy(ip + 24, m.data(), m.size());
  fix_ip_csum(f);
  EXPECT_TRUE(rx(f).empty());
  EXPECT_EQ(c().drop_ip_options.load(), 1u);
}

TEST_F(wire, ipv4_fragments_are_dropped) {
  auto f = icmp_echo("x");
  store16(f.data() + kEthHeader + 6, 0x2000);  // MF
  fix_ip_csum(f);
  EXPECT_TRUE(rx(f).empty());
  f = icmp_echo("x");
  store16(f.data() + kEthHeader + 6, 0x0010);  // offset 128
  fix_ip_csum(f);
  EXPECT_TRUE(rx(f).empty());
  EXPECT_EQ(c().drop_ip_fragment.load(), 2u);
}

TEST_F(wire, ipv4_wrong_destination_and_protocol) {
  std::vector<std::byte> m(8);
  EXPECT_TRUE(rx(ip_frame(kClientIp, make_ip4(10, 0, 0, 1), kProtoIcmp, m)).empty());
  EXPECT_EQ(c().drop_ip_not_for_us.load(), 1u);
  EXPECT_TRUE(rx(ip_frame(kClientIp, kServerIp, 47, m)).empty());
  EXPECT_EQ(c().drop_ip_proto.load(), 1u);
}

TEST_F(wire, nic_verified_checksum_is_trusted) {
  auto f = icmp_echo("x");
  f[kEthHeader + 10] ^= std::byte{1};  // wrong, but the port says the NIC checked it
  st->receive(f, now, tx, rx_meta{true, true});
  EXPECT_EQ(tx.take().size(), 1u);
}

// --------------------------------------------------------------------- ICMP --
TEST_F(wire, icmp_echo_reply) {
  auto out = rx(icmp_echo("ping payload"));
  ASSERT_EQ(out.size(), 1u);
  const std::byte* ip = out[0].data() + kEthHeader;
  EXPECT_TRUE(csum_ok(csum_add(0, ip, kIpv4Header)));
  EXPECT_EQ(load32(ip + 12), kServerIp.v);
  EXPECT_EQ(load32(ip + 16), kClientIp.v);
  const std::byte* m = ip + kIpv4Header;
  const std::size_t mlen = load16(ip + 2) - kIpv4Header;
  EXPECT_EQ(load8(m), 0);
  EXPECT_EQ(load16(m + 4), 0x1234);
  EXPECT_TRUE(csum_ok(csum_add(0, m, mlen)));
  EXPECT_EQ(to_string({m + 8, mlen - 8}), "ping payload");
}

TEST_F(wire, icmp_bad_checksum_short_and_other_types) {
  auto f = icmp_echo("x");
  f.back() ^= std::byte{1};
  EXPECT_TRUE(rx(f).empty());
  EXPECT_TRUE(rx(ip_frame(kClientIp, kServerIp, kProtoIcmp, std::vector<std::byte>(4))).empty());
  EXPECT_EQ(c().drop_icmp_malformed.load(), 2u);
  std::vector<std::byte> m(8);
  store8(m.data(), 0);  // an echo reply: not for us to answer
  csum_store(m.data() + 2, csum_finish(csum_add(0, m.data(), 8)));
  EXPECT_TRUE(rx(ip_frame(kClientIp, kServerIp, kProtoIcmp, m)).empty());
  EXPECT_EQ(c().drop_icmp_type.load(), 1u);
}

// ---------------------------------------------------------------------- UDP --
TEST_F(wire, udp_is_off_unless_configured) {
  EXPECT_TRUE(rx(udp(11211, mc_frame(1, 0, 1, "req"))).empty());
  EXPECT_EQ(c().drop_udp_port.load(), 1u);
}

TEST_F(wire, udp_memcached_response_spans_datagrams) {
  cfg.udp_port = 11211;
  SetUp();
  app.reply_size = 3000;  // three datagrams of at most 1392 bytes of data
  auto out = rx(udp(11211, mc_frame(0xbeef, 0, 1, "get k")));
  EXPECT_EQ(app.last_request, "get k");
  ASSERT_EQ(out.size(), 3u);
  std::size_t total = 0;
  for (std::size_t k = 0; k < out.size(); ++k) {
    const std::byte* ip = out[k].data() + kEthHeader;
    const std::byte* u = ip + kIpv4Header;
    const std::size_t ulen = load16(u + 4);
    EXPECT_TRUE(csum_ok(csum_pseudo(kServerIp, kClientIp, kProtoUdp, ulen) + csum_add(0, u, ulen)));
    EXPECT_EQ(load16(u), 11211);
    EXPECT_EQ(load16(u + 2), 5555);
    EXPECT_EQ(load16(u + 8), 0xbeef);
    EXPECT_EQ(load16(u + 10), k);
    EXPECT_EQ(load16(u + 12), 3);
    EXPECT_LE(ulen - 8, kUdpMaxPayload);
    for (std::size_t i = 16; i < ulen; ++i) EXPECT_EQ(u[i], std::byte((total + i - 16) & 0xff));
    total += ulen - 16;
  }
  EXPECT_EQ(total, 3000u);
}

TEST_F(wire, udp_malformed_paths) {
  cfg.udp_port = 11211;
  SetUp();
  EXPECT_TRUE(rx(udp(11211, mc_frame(1, 0, 2, "x"))).empty());     // multi-datagram request
  EXPECT_TRUE(rx(udp(11211, std::vector<std::byte>(4))).empty());  // no frame header
  EXPECT_EQ(c().drop_udp_frame_header.load(), 2u);
  auto f = udp(11211, mc_frame(1, 0, 1, "x"));
  f.back() ^= std::byte{1};
  EXPECT_TRUE(rx(f).empty());
  f = udp(11211, mc_frame(1, 0, 1, "x"));
  store16(f.data() + kEthHeader + kIpv4Header + 4, 200);  // UDP length beyond IP payload
  EXPECT_TRUE(rx(f).empty());
  EXPECT_TRUE(rx(ip_frame(kClientIp, kServerIp, kProtoUdp, std::vector<std::byte>(4))).empty());
  EXPECT_EQ(c().drop_udp_malformed.load(), 3u);
  EXPECT_TRUE(rx(udp(9999, mc_frame(1, 0, 1, "x"))).empty());
  EXPECT_EQ(c().drop_udp_port.load(), 1u);
}

// ---------------------------------------------------------------------- TCP --
TEST_F(wire, tcp_bad_checksum_and_offsets) {
  tcp_segment s;
  s.src_port = 1, s.dst_port = kPort, s.flags = tcp_flag::syn, s.seq = 1;
  auto f = tcp_frame(s);
  f.back() ^= std::byte{1};
  EXPECT_TRUE(rx(f).empty());
  EXPECT_EQ(c().drop_tcp_checksum.load(), 1u);
  f = tcp_frame(s);
  store8(f.data() + kEthHeader + kIpv4Header + 12, 0x40);  // data offset 16 bytes
  EXPECT_TRUE(rx(f).empty());
  f = tcp_frame(s);
  store8(f.data() + kEthHeader + kIpv4Header + 12, 0xf0);  // 60 bytes, beyond the segment
  EXPECT_TRUE(rx(f).empty());
  EXPECT_TRUE(rx(ip_frame(kClientIp, kServerIp, kProtoTcp, std::vector<std::byte>(10))).empty());
  EXPECT_EQ(c().drop_tcp_malformed.load(), 3u);
}

TEST(tcp_options_parse, malformed_options_end_parsing_without_rejecting) {
  std::vector<std::byte> h(32);
  store8(h.data() + 12, 0x80);  // 32-byte header
  store8(h.data() + 20, 2), store8(h.data() + 21, 4), store16(h.data() + 22, 1000);  // MSS
  store8(h.data() + 24, 8), store8(h.data() + 25, 40);  // TS with a length past the end
  tcp_segment s;
  ASSERT_EQ(parse_tcp(h, s), tcp_parse_error::none);
  EXPECT_EQ(s.opt.mss, 1000);
  EXPECT_FALSE(s.opt.has_ts);
  store8(h.data() + 24, 3), store8(h.data() + 25, 3), store8(h.data() + 26, 200);  // WS 200
  ASSERT_EQ(parse_tcp(h, s), tcp_parse_error::none);
  EXPECT_EQ(s.opt.wscale, 14) << "RFC 7323 §2.3: clamp to 14";
  store8(h.data() + 20, 5), store8(h.data() + 21, 0);  // zero-length option
  ASSERT_EQ(parse_tcp(h, s), tcp_parse_error::none);
  EXPECT_EQ(s.opt.mss, 0);
}

}  // namespace
}  // namespace anvil::net::test
