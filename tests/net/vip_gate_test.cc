// The stack's time-gated address (the failover VIP, dataplane/net/address_gate.h):
// ARP answered and SYNs accepted only while the ownership deadline is ahead of the
// frame's time (boundaries: one ms before, at, after the deadline), gratuitous ARPs on a
// take (count and spacing, a retake, no buffer, a lapse mid-burst), and every VIP
// connection reset — and only those — once the ownership lapses or is released.
#include <climits>

#include "tests/net/tcp_fixture.h"

namespace anvil::net::test {
namespace {

using namespace tcp_flag;

constexpr ip4_addr kVip = make_ip4(198, 18, 0, 100);
const mac_addr kOtherNodeMac{{0x02, 0, 0, 0, 0, 0x33}};

frame_t arp_frame(std::uint16_t op, const mac_addr& eth_dst, const mac_addr& sha, ip4_addr spa,
                  ip4_addr tpa) {
  frame_t f(60, std::byte{0});
  write_eth(f.data(), eth_dst, sha, kEtherArp);
  std::byte* p = f.data() + kEthHeader;
  store16(p, 1), store16(p + 2, kEtherIpv4), store8(p + 4, 6), store8(p + 5, 4), store16(p + 6, op);
  sha.store(p + 8), store32(p + 14, spa.v), mac_addr{}.store(p + 18), store32(p + 24, tpa.v);
  return f;
}

struct arp_seen {
  std::uint16_t op = 0;
  mac_addr eth_dst, sha;
  ip4_addr spa, tpa;
};
std::optional<arp_seen> decode_arp(const frame_t& f) {
  if (f.size() < kEthHeader + 28 || load16(f.data() + 12) != kEtherArp) return std::nullopt;
  const std::byte* a = f.data() + kEthHeader;
  return arp_seen{load16(a + 6), mac_addr::load(f.data()), mac_addr::load(a + 8),
                  ip4_addr{load32(a + 14)}, ip4_addr{load32(a + 24)}};
}

class vip_gate : public tcp_fixture {
 protected:
  std::atomic<std::int64_t> until{address_gate::kNobody};
  std::atomic<std::uint64_t> takes{0};

  void SetUp() override {
    cfg.vip = address_gate{kVip, &until, &takes};
    tcp_fixture::SetUp();
  }
  std::int64_t now_ms() const { return now / kNsPerMs; }
  // The agent's side (vip_lease::take / release), by hand.
  void take(std::int64_t until_ms) {
    takes.store(takes.load() + 1);
    until.store(until_ms);
  }
  void release() { until.store(address_gate::kNobody); }

  std::vector<frame_t> rx(const frame_t& f) {
    st->receive(f, now, tx);
    return tx.take();
  }
  // ARP requests "who has `ip`" from the client; the replies for `ip`.
  std::size_t arp_replies_for(ip4_addr ip) {
    std::size_t n = 0;
    for (const auto& f : rx(arp_frame(1, kBroadcastMac, kClientMac, kClientIp, ip))) {
      const auto a = decode_arp(f);
      if (a && a->op == 2 && a->spa == ip && a->sha == kServerMac && a->tpa == kClientIp) ++n;
    }
    return n;
  }
  // poll_gate at the current time; the gratuitous ARPs and TCP segments it sent.
  struct polled {
    std::vector<arp_seen> garps;
    std::vector<out_segment> tcp;
  };
  polled poll() {
    st->poll_gate(now, tx);
    polled p;
    for (const auto& f : tx.take()) {
      if (auto a = decode_arp(f)) {
        if (a->op == 1 && a->spa == kVip && a->tpa == kVip) p.garps.push_back(*a);
      } else if (auto o = decode_tcp(f)) {
        p.tcp.push_back(*o);
      }
    }
    return p;
  }
  const net_counters& c() const { return st->counters(); }
};

TEST_F(vip_gate, arp_for_the_vip_is_answered_only_before_the_deadline) {
  EXPECT_EQ(arp_replies_for(kVip), 0u) << "never taken";
  EXPECT_EQ(c().drop_vip_not_held.load(), 1u);
  take(now_ms() + 2);
  EXPECT_EQ(arp_replies_for(kVip), 1u);
  now += kNsPerMs;  // deadline - 1 ms
  EXPECT_EQ(arp_replies_for(kVip), 1u);
  now += kNsPerMs;  // at the deadline: gone, with nobody writing anything
  EXPECT_EQ(arp_replies_for(kVip), 0u);
  now += 1;  // and after it
  EXPECT_EQ(arp_replies_for(kVip), 0u);
  EXPECT_EQ(c().drop_vip_not_held.load(), 3u);
  EXPECT_EQ(arp_replies_for(kServerIp), 1u) << "the node's own address is not gated";
}

TEST_F(vip_gate, release_stops_answering_at_once_and_a_late_extension_cannot_revive_it) {
  take(now_ms() + 1000);
  EXPECT_EQ(arp_replies_for(kVip), 1u);
  release();
  EXPECT_EQ(arp_replies_for(kVip), 0u);
  take(LLONG_MAX);  // the largest deadline: held at any time
  now += 1000 * kNsPerSec;
  EXPECT_EQ(arp_replies_for(kVip), 1u);
}

TEST_F(vip_gate, a_disabled_gate_answers_nothing_for_the_address) {
  cfg.vip = address_gate{kVip, nullptr, nullptr};
  rebuild();
  take(now_ms() + 1000);
  EXPECT_EQ(arp_replies_for(kVip), 0u);
  EXPECT_EQ(c().drop_vip_not_held.load(), 0u) << "not gated at all: an unknown address";
  EXPECT_EQ(c().drop_arp_not_for_us.load(), 1u);
  EXPECT_TRUE(poll().garps.empty());
}

TEST_F(vip_gate, another_node_claiming_the_vip_is_never_learned_as_a_neighbour) {
  take(now_ms() + 1000);
  const auto before = c().drop_arp_our_address.load();
  EXPECT_TRUE(rx(arp_frame(1, kBroadcastMac, kOtherNodeMac, kVip, kVip)).empty());
  release();
  EXPECT_TRUE(rx(arp_frame(2, kBroadcastMac, kOtherNodeMac, kVip, kVip)).empty());
  EXPECT_EQ(c().drop_arp_our_address.load(), before + 2);
  EXPECT_EQ(st->neighbours().find(kVip), neighbour_table::kNone);
}

TEST_F(vip_gate, a_syn_to_the_vip_is_accepted_only_while_held) {
  server_ip = kVip;
  auto r = send(make(syn, c_isn, 0));
  EXPECT_TRUE(r.empty()) << "not held: no SYN-ACK, no RST (the owner answers)";
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(st->connections(), 0u);
  take(now_ms() + 1000);
  const auto synack = send_syn(linux_syn_options());
  EXPECT_EQ(synack.src_ip, kVip);
  EXPECT_EQ(synack.seg.flags, syn | ack);
  send_ack();
  ASSERT_NE(conn(), nullptr);
  EXPECT_EQ(conn()->state(), tcp_state::established);
  EXPECT_EQ(app.accepts, 1);
}

TEST_F(vip_gate, a_lapse_resets_the_vip_connections_and_only_them) {
  take(now_ms() + 100);
  poll();  // the take
  // One connection to the node's address, one to the VIP.
  establish();
  tcp_conn* own = conn();
  ASSERT_NE(own, nullptr);
  server_ip = kVip;
  cport = 40001;
  establish();
  send_data("get k\r\n");
  ASSERT_NE(conn(), nullptr);
  ASSERT_EQ(app.accepts, 2);

  now += 99 * kNsPerMs;
  EXPECT_TRUE(poll().tcp.empty()) << "still held 1 ms before the deadline";
  now += kNsPerMs;
  // Segments for the VIP connection between the deadline and the next poll: dropped.
  const auto before = c().drop_vip_not_held.load();
  EXPECT_TRUE(send_data("more").empty());
  EXPECT_EQ(c().drop_vip_not_held.load(), before + 1);
  const auto p = poll();
  ASSERT_EQ(p.tcp.size(), 1u);
  EXPECT_TRUE(p.tcp[0].seg.has(rst));
  EXPECT_EQ(p.tcp[0].src_ip, kVip);
  EXPECT_EQ(p.tcp[0].seg.dst_port, 40001);
  EXPECT_EQ(p.tcp[0].dst_mac, kClientMac);
  EXPECT_EQ(conn(), nullptr) << "the VIP connection is gone";
  EXPECT_EQ(app.closes, 1);
  EXPECT_EQ(st->find(tcp_tuple{kServerIp, kClientIp, kPort, 40000}), own);
  EXPECT_EQ(own->state(), tcp_state::established);
  EXPECT_EQ(c().vip_lost.load(), 1u);
  EXPECT_EQ(c().vip_conns_reset.load(), 1u);
  EXPECT_TRUE(poll().tcp.empty()) << "reset once";
  EXPECT_EQ(c().vip_lost.load(), 1u);
}

TEST_F(vip_gate, a_release_resets_half_open_and_closing_vip_connections_too) {
  take(now_ms() + 10'000);
  poll();
  server_ip = kVip;
  send_syn(linux_syn_options());  // SYN_RECEIVED
  ASSERT_NE(conn(), nullptr);
  cport = 40002;
  c_isn = 9000;
  cseq = 9001;
  establish();
  send_data("bye", fin);  // the peer closes first: CLOSE_WAIT
  ASSERT_EQ(conn()->state(), tcp_state::close_wait);
  release();
  const auto p = poll();
  EXPECT_EQ(p.tcp.size(), 2u) << "an RST for each";
  for (const auto& o : p.tcp) EXPECT_TRUE(o.seg.has(rst));
  EXPECT_EQ(st->connections(), 0u);
  EXPECT_EQ(c().vip_conns_reset.load(), 2u);
}

TEST_F(vip_gate, a_take_sends_three_gratuitous_arps_fifty_ms_apart) {
  EXPECT_TRUE(poll().garps.empty()) << "not held";
  take(now_ms() + 10'000);
  auto p = poll();
  ASSERT_EQ(p.garps.size(), 1u);
  EXPECT_EQ(p.garps[0].eth_dst, kBroadcastMac);
  EXPECT_EQ(p.garps[0].sha, kServerMac);
  EXPECT_EQ(c().vip_taken.load(), 1u);
  now += kGratuitousArpSpacing - 1;
  EXPECT_TRUE(poll().garps.empty());
  now += 1;
  EXPECT_EQ(poll().garps.size(), 1u);
  now += kGratuitousArpSpacing;
  EXPECT_EQ(poll().garps.size(), 1u);
  now += 10 * kGratuitousArpSpacing;
  EXPECT_TRUE(poll().garps.empty()) << "three in all";
  EXPECT_EQ(c().arp_gratuitous.load(), kGratuitousArpCount);
  EXPECT_EQ(st->gratuitous_arps_pending(), 0u);
}

TEST_F(vip_gate, a_retake_between_two_polls_starts_a_new_burst_and_resets) {
  take(now_ms() + 10'000);
  poll();
  server_ip = kVip;
  establish();
  // Released and taken again (a new epoch) before this lcore polled.
  release();
  take(now_ms() + 10'000);
  const auto p = poll();
  EXPECT_EQ(p.garps.size(), 1u);
  ASSERT_EQ(p.tcp.size(), 1u);
  EXPECT_TRUE(p.tcp[0].seg.has(rst));
  EXPECT_EQ(c().vip_taken.load(), 2u);
  EXPECT_EQ(st->gratuitous_arps_pending(), kGratuitousArpCount - 1);
}

TEST_F(vip_gate, a_lapse_mid_burst_cancels_the_rest_and_no_buffer_retries) {
  take(now_ms() + 60);
  tx.limit = 0;  // the port has no buffer this time
  EXPECT_TRUE(poll().garps.empty());
  EXPECT_EQ(st->gratuitous_arps_pending(), kGratuitousArpCount) << "still owed";
  tx.limit = SIZE_MAX;
  now += kNsPerMs;
  EXPECT_EQ(poll().garps.size(), 1u) << "sent at the next poll";
  now += kGratuitousArpSpacing;
  EXPECT_EQ(poll().garps.size(), 1u);
  now += 10 * kNsPerMs;  // past the deadline
  EXPECT_TRUE(poll().garps.empty());
  EXPECT_EQ(st->gratuitous_arps_pending(), 0u);
  now += kGratuitousArpSpacing;
  EXPECT_TRUE(poll().garps.empty());
}

TEST_F(vip_gate, icmp_to_the_vip_follows_the_gate) {
  std::vector<std::byte> echo(8, std::byte{0});
  store8(echo.data(), 8);
  csum_store(echo.data() + 2, csum_finish(csum_add(0, echo.data(), echo.size())));
  EXPECT_TRUE(rx(ip_frame(kClientIp, kVip, kProtoIcmp, echo)).empty());
  take(now_ms() + 1000);
  const auto out = rx(ip_frame(kClientIp, kVip, kProtoIcmp, echo));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(load32(out[0].data() + kEthHeader + 12), kVip.v) << "the reply comes from the VIP";
}

}  // namespace
}  // namespace anvil::net::test
