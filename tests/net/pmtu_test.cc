// Path MTU (RFC 1191 + RFC 5927) at the stack level with crafted ICMP frames: a valid
// "fragmentation needed" lowers the connection's MSS and what follows fits the path;
// one quoting a sequence number not in flight, naming no connection, or with a
// truncated/invalid quoted header is dropped and counted; the MTU has a floor.
#include "dataplane/net/pmtu.h"

#include "tests/net/tcp_fixture.h"

namespace anvil::net::test {
namespace {

constexpr ip4_addr kRouterIp = make_ip4(198, 18, 0, 254);

class pmtu : public tcp_fixture {
 protected:
  // An ICMP type 3 code 4 from a router, quoting the header of a segment we sent
  // (server -> client) with `seq`; `quote` bytes of the quoted TCP header are kept.
  frame_t frag_needed(std::uint16_t mtu, seq_t seq, std::size_t quote = 8,
                      std::uint16_t quoted_len = 1500) const {
    std::vector<std::byte> m(8 + kIpv4Header + quote);
    store8(m.data(), kIcmpUnreachable);
    store8(m.data() + 1, kIcmpFragNeeded);
    store16(m.data() + 6, mtu);
    std::byte* in = m.data() + 8;
    write_ipv4(in, kServerIp, kClientIp, kProtoTcp, quoted_len - kIpv4Header, 1);
    std::byte tcp[8];
    store16(tcp, kPort);
    store16(tcp + 2, cport);
    store32(tcp + 4, seq);
    std::memcpy(in + kIpv4Header, tcp, std::min<std::size_t>(quote, 8));
    return finish(m);
  }
  static frame_t finish(std::vector<std::byte>& m) {
    store16(m.data() + 2, 0);
    csum_store(m.data() + 2, csum_finish(csum_add(0, m.data(), m.size())));
    return ip_frame(kRouterIp, kServerIp, kProtoIcmp, m);
  }
  std::vector<out_segment> rx(const frame_t& f) {
    st->receive(f, now, tx);
    return drain();
  }
  const net_counters& c() const { return st->counters(); }
  std::uint64_t dropped() const {
    return c().drop_icmp_pmtu_malformed.load() + c().drop_icmp_pmtu_no_conn.load() +
           c().drop_icmp_pmtu_out_of_window.load() + c().drop_icmp_malformed.load() +
           c().drop_icmp_type.load();
  }
  // Established with Linux's options; 3000 bytes written and not yet acknowledged.
  void in_flight() {
    establish();
    auto out = server_write(std::string(3000, 'a'));
    ASSERT_EQ(out.size(), 3u);
    ASSERT_EQ(out[0].payload.size(), 1448u) << "1460 - 12 bytes of timestamps";
  }
};

TEST_F(pmtu, valid_frag_needed_lowers_mss_and_later_segments_fit) {
  in_flight();
  const seq_t una = conn()->snd_una();
  auto out = rx(frag_needed(1000, una + 1448));  // the second segment was too big
  EXPECT_EQ(c().icmp_pmtu_lowered.load(), 1u);
  EXPECT_EQ(conn()->send_mss(), 1000 - 40 - 12);
  // What was in flight goes again at the new size, from SND.UNA, at once.
  ASSERT_EQ(out.size(), 4u) << "3000 bytes in segments of 948";
  seq_t expect = una;
  for (const auto& o : out) {
    EXPECT_EQ(o.seg.seq, expect);
    EXPECT_LE(o.payload.size(), 948u);
    EXPECT_LE(kIpv4Header + tcp_header_len(o.seg.opt) + o.payload.size(), 1000u);
    expect += static_cast<seq_t>(o.payload.size());
  }
  EXPECT_EQ(expect, una + 3000);
  // The client acknowledges; new data is segmented at the new size too.
  cack = una + 3000;
  send_ack();
  auto more = server_write(std::string(2000, 'b'));
  ASSERT_EQ(more.size(), 3u);
  for (const auto& o : more) EXPECT_LE(o.payload.size(), 948u);
}

TEST_F(pmtu, frag_needed_quoting_a_sequence_not_in_flight_is_ignored) {
  in_flight();
  const seq_t una = conn()->snd_una(), max = conn()->snd_max();
  ASSERT_EQ(max - una, 3000u);
  for (seq_t bad : {una - 1, max, max + 1, una + 0x80000000u, una - 1448}) {
    EXPECT_TRUE(rx(frag_needed(1000, bad)).empty()) << bad;
    EXPECT_EQ(conn()->send_mss(), 1448) << "unchanged by a blind guess";
  }
  EXPECT_EQ(c().drop_icmp_pmtu_out_of_window.load(), 5u);
  EXPECT_EQ(c().icmp_pmtu_lowered.load(), 0u);
  // The edges that are in flight: SND.UNA and SND.MAX - 1.
  EXPECT_FALSE(rx(frag_needed(1400, max - 1)).empty());
  EXPECT_EQ(conn()->send_mss(), 1400 - 52);
  rx(frag_needed(1300, una));
  EXPECT_EQ(conn()->send_mss(), 1300 - 52);
  EXPECT_EQ(c().icmp_pmtu_lowered.load(), 2u);
}

TEST_F(pmtu, nothing_in_flight_means_nothing_can_have_been_too_big) {
  establish();
  EXPECT_EQ(conn()->snd_una(), conn()->snd_max());
  EXPECT_TRUE(rx(frag_needed(1000, conn()->snd_una())).empty());
  EXPECT_EQ(c().drop_icmp_pmtu_out_of_window.load(), 1u);
  EXPECT_EQ(conn()->send_mss(), 1448);
}

TEST_F(pmtu, malformed_or_foreign_quotes_are_dropped_and_counted) {
  in_flight();
  const seq_t s = conn()->snd_una();
  // The quoted TCP header cut short: 0 and 7 of the 8 bytes RFC 792 promises.
  EXPECT_TRUE(rx(frag_needed(1000, s, 0)).empty());
  EXPECT_TRUE(rx(frag_needed(1000, s, 7)).empty());
  EXPECT_EQ(c().drop_icmp_pmtu_malformed.load(), 2u);
  // Only the ICMP header (no quoted IP header at all) and a quoted IP header cut short.
  {
    std::vector<std::byte> m(8);
    store8(m.data(), kIcmpUnreachable), store8(m.data() + 1, kIcmpFragNeeded);
    store16(m.data() + 6, 1000);
    EXPECT_TRUE(rx(finish(m)).empty());
    auto f = frag_needed(1000, s);
    std::vector<std::byte> m2(f.begin() + kEthHeader + kIpv4Header,
                              f.begin() + kEthHeader + kIpv4Header + 8 + 19);
    EXPECT_TRUE(rx(finish(m2)).empty());
  }
  EXPECT_EQ(c().drop_icmp_pmtu_malformed.load(), 4u);
  // Quoted header: version 6, IHL 4, UDP, a quoted total length below its own header,
  // and a quoted source that is not us.
  auto mutate = [&](auto&& f) {
    auto fr = frag_needed(1000, s);
    std::vector<std::byte> m(fr.begin() + kEthHeader + kIpv4Header, fr.end());
    f(m.data() + 8);
    return finish(m);
  };
  EXPECT_TRUE(rx(mutate([](std::byte* in) { store8(in, 0x65); })).empty());
  EXPECT_TRUE(rx(mutate([](std::byte* in) { store8(in, 0x44); })).empty());
  EXPECT_TRUE(rx(mutate([](std::byte* in) { store8(in + 9, kProtoUdp); })).empty());
  EXPECT_TRUE(rx(mutate([](std::byte* in) { store16(in + 2, 27); })).empty());
  EXPECT_TRUE(rx(mutate([](std::byte* in) { store32(in + 12, kRouterIp.v); })).empty());
  EXPECT_EQ(c().drop_icmp_pmtu_malformed.load(), 9u);
  // A quote for a connection we do not have (other port).
  EXPECT_TRUE(rx(mutate([](std::byte* in) { store16(in + 22, 1); })).empty());
  EXPECT_EQ(c().drop_icmp_pmtu_no_conn.load(), 1u);
  // A bad ICMP checksum never reaches the quote.
  auto bad = frag_needed(1000, s);
  bad[kEthHeader + kIpv4Header + 2] ^= std::byte{1};
  EXPECT_TRUE(rx(bad).empty());
  EXPECT_EQ(c().drop_icmp_malformed.load(), 1u);
  EXPECT_EQ(conn()->send_mss(), 1448) << "nothing malformed changed the connection";
  EXPECT_EQ(c().icmp_pmtu_lowered.load(), 0u);
}

TEST_F(pmtu, mtu_floor_plateau_and_no_raise) {
  in_flight();
  const seq_t s = conn()->snd_una();
  // MTU 0: an RFC 1191 §7 plateau below the quoted length (1500 -> 1492).
  rx(frag_needed(0, s));
  EXPECT_EQ(conn()->send_mss(), 1492 - 52);
  // Higher or equal MTUs never raise it back.
  rx(frag_needed(65535, s));
  rx(frag_needed(1492, s));
  EXPECT_EQ(conn()->send_mss(), 1492 - 52);
  EXPECT_EQ(c().icmp_pmtu_ignored.load(), 2u);
  // Forged tiny MTUs stop at Linux's min_pmtu (552).
  for (std::uint16_t tiny : {1, 68, 551}) rx(frag_needed(tiny, s));
  EXPECT_EQ(conn()->send_mss(), kMinPathMtu - 52);
  EXPECT_EQ(c().icmp_pmtu_lowered.load(), 2u);
  auto out = server_write(std::string(600, 'c'));
  for (const auto& o : out) EXPECT_LE(o.payload.size(), 500u);
}

TEST(pmtu_parse, plateaus_and_mss_arithmetic) {
  EXPECT_EQ(pmtu_plateau_below(1500), 1492);
  EXPECT_EQ(pmtu_plateau_below(1492), 1006);
  EXPECT_EQ(pmtu_plateau_below(69), 68);
  EXPECT_EQ(pmtu_plateau_below(68), 68);
  EXPECT_EQ(pmtu_plateau_below(0), 68);
  EXPECT_EQ(pmtu_plateau_below(65535), 32000);
  EXPECT_EQ(mss_for_path_mtu(1500, false), 1460);
  EXPECT_EQ(mss_for_path_mtu(1500, true), 1448);
  EXPECT_EQ(mss_for_path_mtu(0, false), 512);
  EXPECT_EQ(mss_for_path_mtu(552, true), 500);
}

}  // namespace
}  // namespace anvil::net::test
