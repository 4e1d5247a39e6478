// The neighbour (ARP) cache at the stack level, with crafted frames: a connection's
// segments follow its peer's MAC when a gratuitous ARP moves it (on-link peers, and
// routed peers whose router fails over); ARP replies are accepted; an entry in use
// that ages is re-probed (unicast, then broadcast) while the stale MAC keeps working;
// a full table evicts unreferenced entries and refuses new peers only when every entry
// is in use; unreferenced entries age out; spoofed ARP and segments move nothing.
#include "tests/net/tcp_fixture.h"

namespace anvil::net::test {
namespace {

const mac_addr kNewMac{{0x02, 0, 0, 0, 0, 0x22}};
const mac_addr kRouterMac{{0x02, 0, 0, 0, 0, 0x0a}};
const mac_addr kRouterMac2{{0x02, 0, 0, 0, 0, 0x0b}};
constexpr ip4_addr kRouterIp = make_ip4(198, 18, 0, 254);

frame_t arp_frame(std::uint16_t op, const mac_addr& eth_dst, const mac_addr& sha, ip4_addr spa,
                  ip4_addr tpa, const mac_addr& tha = mac_addr{}) {
  frame_t f(60, std::byte{0});
  write_eth(f.data(), eth_dst, sha, kEtherArp);
  std::byte* p = f.data() + kEthHeader;
  store16(p, 1), store16(p + 2, kEtherIpv4), store8(p + 4, 6), store8(p + 5, 4), store16(p + 6, op);
  sha.store(p + 8), store32(p + 14, spa.v), tha.store(p + 18), store32(p + 24, tpa.v);
  return f;
}
frame_t garp(const mac_addr& mac, ip4_addr ip, std::uint16_t op = 1) {
  return arp_frame(op, kBroadcastMac, mac, ip, ip);
}

class neighbour : public tcp_fixture {
 protected:
  // Feeds a frame; returns every frame the stack sent (ARP included).
  std::vector<frame_t> rx(const frame_t& f) {
    st->receive(f, now, tx);
    return tx.take();
  }
  const net_counters& c() const { return st->counters(); }
  const neighbour_table& table() const { return st->neighbours(); }
  neighbour_table::view entry(ip4_addr ip) const {
    const auto i = table().find(ip);
    EXPECT_NE(i, neighbour_table::kNone);
    return i == neighbour_table::kNone ? neighbour_table::view{} : table().get(i, now);
  }
  // The client ARPs for us first, as a Linux client on the link does.
  void client_arps(const mac_addr& mac = kClientMac) {
    auto out = rx(arp_frame(1, kBroadcastMac, mac, kClientIp, kServerIp));
    ASSERT_EQ(out.size(), 1u);
  }
  // Server writes; returns the destination MACs of the TCP frames and the ARP
  // requests (raw) sent before them.
  struct written {
    std::vector<mac_addr> tcp_dst;
    std::vector<frame_t> arp;
  };
  written write(const std::string& d) {
    auto sp = conn()->send_space();
    std::memcpy(sp.data(), d.data(), d.size());
    conn()->commit_send(d.size());
    st->flush(now, tx);
    written w;
    for (auto& f : tx.take()) {
      if (load16(f.data() + 12) == kEtherArp)
        w.arp.push_back(f);
      else if (auto o = decode_tcp(f))
        w.tcp_dst.push_back(o->dst_mac);
    }
    return w;
  }
  static void expect_request(const frame_t& f, const mac_addr& eth_dst, ip4_addr target) {
    EXPECT_EQ(mac_addr::load(f.data()), eth_dst);
    EXPECT_EQ(mac_addr::load(f.data() + 6), kServerMac);
    const std::byte* a = f.data() + kEthHeader;
    EXPECT_EQ(load16(a + 6), 1) << "a request";
    EXPECT_EQ(mac_addr::load(a + 8), kServerMac);
    EXPECT_EQ(load32(a + 14), kServerIp.v);
    EXPECT_EQ(load32(a + 24), target.v);
  }
};

TEST_F(neighbour, connection_follows_a_gratuitous_arp_to_the_new_mac) {
  client_arps();
  establish();
  EXPECT_EQ(write("a").tcp_dst, std::vector<mac_addr>{kClientMac});
  // The peer's address moves to another NIC (VRRP failover, NIC swap): announced by
  // a gratuitous ARP request, later by a gratuitous reply.
  EXPECT_TRUE(rx(garp(kNewMac, kClientIp)).empty()) << "a GARP is not answered";
  EXPECT_EQ(c().neigh_mac_changed.load(), 1u);
  EXPECT_EQ(write("b").tcp_dst, std::vector<mac_addr>{kNewMac});
  EXPECT_TRUE(rx(garp(kClientMac, kClientIp, 2)).empty());
  EXPECT_EQ(write("c").tcp_dst, std::vector<mac_addr>{kClientMac});
  EXPECT_EQ(c().neigh_mac_changed.load(), 2u);
  EXPECT_EQ(c().arp_replies_received.load(), 1u);
  // Retransmissions take the current MAC too (the connection holds no copy).
  rx(garp(kNewMac, kClientIp));
  auto r = tick(2 * kNsPerSec);
  ASSERT_FALSE(r.empty());
  for (const auto& o : r) EXPECT_EQ(o.dst_mac, kNewMac);
}

TEST_F(neighbour, routed_peers_follow_their_routers_gratuitous_arp) {
  // The client is behind a router: its frames come from the router's MAC, and the
  // router ARPed for us before forwarding.
  EXPECT_EQ(rx(arp_frame(1, kBroadcastMac, kRouterMac, kRouterIp, kServerIp)).size(), 1u);
  client_mac = kRouterMac;
  establish();
  EXPECT_EQ(write("a").tcp_dst, std::vector<mac_addr>{kRouterMac});
  EXPECT_FALSE(entry(kClientIp).from_arp) << "never ARPed for: it may be off-link";
  // Router failover: the backup announces the router's address with its own MAC.
  rx(garp(kRouterMac2, kRouterIp));
  EXPECT_EQ(entry(kRouterIp).mac, kRouterMac2);
  EXPECT_EQ(write("b").tcp_dst, std::vector<mac_addr>{kRouterMac2});
  EXPECT_EQ(c().neigh_mac_changed.load(), 2u) << "the router's entry and the peer behind it";
}

TEST_F(neighbour, peer_learned_from_traffic_follows_the_last_hop_of_accepted_segments) {
  client_mac = kRouterMac;  // no ARP seen: the entry comes from the SYN
  establish();
  client_mac = kRouterMac2;  // the path changed (ECMP, a failover without GARP)
  send_data("x");
  EXPECT_EQ(write("a").tcp_dst, std::vector<mac_addr>{kRouterMac2});
  // A segment the connection refuses (outside the window) moves nothing.
  client_mac = kNewMac;
  send(make(tcp_flag::ack, cseq + 100000, cack, "y"));
  EXPECT_EQ(c().drop_tcp_out_of_window.load(), 1u);
  EXPECT_EQ(write("b").tcp_dst, std::vector<mac_addr>{kRouterMac2});
}

TEST_F(neighbour, arp_learned_peer_is_probed_not_moved_by_a_segment_from_another_mac) {
  client_arps();
  establish();
  // Accepted data from another MAC, but ARP said kClientMac: ask (broadcast) before
  // believing it; the ACK still goes to the MAC ARP gave.
  auto f = tcp_frame(make(tcp_flag::ack | tcp_flag::psh, cseq, cack, "x"));
  kNewMac.store(f.data() + 6);
  ++cseq;
  auto out = rx(f);
  ASSERT_EQ(out.size(), 2u);
  expect_request(out[0], kBroadcastMac, kClientIp);
  auto ack = decode_tcp(out[1]);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->dst_mac, kClientMac) << "kept until an answer";
  EXPECT_TRUE(write("a").arp.empty()) << "one probe per retrans_time";
  // The answer: a reply to us.
  EXPECT_TRUE(rx(arp_frame(2, kServerMac, kNewMac, kClientIp, kServerIp, kServerMac)).empty());
  EXPECT_EQ(write("b").tcp_dst, std::vector<mac_addr>{kNewMac});
  EXPECT_EQ(entry(kClientIp).state, neigh_state::reachable);
}

TEST_F(neighbour, a_syn_from_another_mac_moves_a_traffic_entry_and_probes_an_arp_one) {
  // Learned from traffic: a new connection's SYN through another router moves it.
  client_mac = kRouterMac;
  establish();
  cport = 40001;
  client_mac = kRouterMac2;
  auto syn_ack = send_syn(linux_syn_options());
  EXPECT_EQ(syn_ack.dst_mac, kRouterMac2);
  EXPECT_EQ(entry(kClientIp).refs, 2u);
  // Learned from ARP: the SYN-ACK goes to the MAC ARP gave, after a broadcast probe.
  const ip4_addr other = make_ip4(198, 18, 0, 50);
  rx(arp_frame(1, kBroadcastMac, kClientMac, other, kServerIp));
  tcp_segment s = make(tcp_flag::syn, 1, 0);
  s.src_port = 40002;
  auto f = tcp_frame(s, other);
  kNewMac.store(f.data() + 6);
  auto out = rx(f);
  ASSERT_EQ(out.size(), 2u);
  expect_request(out[0], kBroadcastMac, other);
  EXPECT_EQ(mac_addr::load(out[1].data()), kClientMac);
}

TEST_F(neighbour, entry_in_use_that_ages_is_reprobed_and_the_stale_mac_kept_until_answered) {
  cfg.neigh.reachable_time = 30 * kNsPerSec;
  cfg.neigh.retrans_time = 1 * kNsPerSec;
  rebuild();
  client_arps();
  establish();
  EXPECT_TRUE(write("a").arp.empty()) << "fresh: no probe";
  send_ack();
  now += 31 * kNsPerSec;  // the client said nothing for longer than reachable_time
  EXPECT_EQ(entry(kClientIp).state, neigh_state::stale);
  // Three unicast probes to the cached MAC, one per retrans_time, data still flowing
  // to that MAC; then three broadcast; then `failed`, still sending.
  for (int k = 0; k < 6; ++k) {
    auto w = write("p");
    ASSERT_EQ(w.arp.size(), 1u) << k;
    expect_request(w.arp[0], k < 3 ? kClientMac : kBroadcastMac, kClientIp);
    EXPECT_EQ(w.tcp_dst, std::vector<mac_addr>{kClientMac});
    EXPECT_TRUE(write("q").arp.empty()) << "at most one probe per retrans_time";
    now += kNsPerSec;
  }
  EXPECT_EQ(c().neigh_probes_sent.load(), 6u);
  auto w = write("r");
  EXPECT_TRUE(w.arp.empty());
  EXPECT_EQ(w.tcp_dst, std::vector<mac_addr>{kClientMac});
  EXPECT_EQ(c().neigh_unreachable.load(), 1u);
  EXPECT_EQ(entry(kClientIp).state, neigh_state::failed);
  // A round later it asks again (broadcast); the answer carries a new MAC.
  now += 31 * kNsPerSec;
  w = write("s");
  ASSERT_EQ(w.arp.size(), 1u);
  expect_request(w.arp[0], kBroadcastMac, kClientIp);
  rx(arp_frame(2, kServerMac, kNewMac, kClientIp, kServerIp, kServerMac));
  EXPECT_EQ(entry(kClientIp).state, neigh_state::reachable);
  EXPECT_EQ(write("t").tcp_dst, std::vector<mac_addr>{kNewMac});
}

TEST_F(neighbour, traffic_from_the_peer_confirms_the_entry) {
  client_arps();
  establish();
  for (int k = 0; k < 5; ++k) {
    now += 20 * kNsPerSec;  // beyond reachable_time in total, but the client talks
    send_data("x");
    EXPECT_TRUE(write("a").arp.empty()) << k;
  }
  EXPECT_EQ(c().neigh_probes_sent.load(), 0u);
}

TEST_F(neighbour, arp_replies_are_accepted_for_known_entries_only) {
  // Unsolicited reply for an address we never heard of: counted, not learned.
  EXPECT_TRUE(rx(arp_frame(2, kServerMac, kNewMac, kClientIp, kServerIp)).empty());
  EXPECT_EQ(c().arp_replies_received.load(), 1u);
  EXPECT_EQ(table().find(kClientIp), neighbour_table::kNone);
  EXPECT_EQ(table().size(), 0u);
  // A request to us creates the entry; a reply then updates it.
  client_arps();
  EXPECT_EQ(entry(kClientIp).mac, kClientMac);
  rx(arp_frame(2, kServerMac, kNewMac, kClientIp, kServerIp));
  EXPECT_EQ(entry(kClientIp).mac, kNewMac);
  EXPECT_EQ(c().neigh_learned.load(), 1u);
  // A request between two other hosts updates what we know, creates nothing.
  const ip4_addr other = make_ip4(198, 18, 0, 77);
  rx(arp_frame(1, kBroadcastMac, kRouterMac, other, kRouterIp));
  EXPECT_EQ(table().find(other), neighbour_table::kNone);
  rx(arp_frame(1, kBroadcastMac, kClientMac, kClientIp, kRouterIp));
  EXPECT_EQ(entry(kClientIp).mac, kClientMac);
  EXPECT_EQ(c().drop_arp_not_for_us.load(), 2u);
}

TEST_F(neighbour, spoofed_and_malformed_arp_learns_nothing) {
  client_arps();
  // Someone claims our own address: never learned (and not answered).
  EXPECT_TRUE(rx(garp(kNewMac, kServerIp)).empty());
  EXPECT_EQ(c().drop_arp_our_address.load(), 1u);
  EXPECT_EQ(table().find(kServerIp), neighbour_table::kNone);
  // A multicast/broadcast sender hardware address, an unknown opcode.
  EXPECT_TRUE(rx(arp_frame(1, kBroadcastMac, kBroadcastMac, kClientIp, kServerIp)).empty());
  const mac_addr mcast{{0x01, 0, 0x5e, 0, 0, 1}};
  EXPECT_TRUE(rx(arp_frame(2, kServerMac, mcast, kClientIp, kServerIp)).empty());
  EXPECT_TRUE(rx(arp_frame(3, kServerMac, kNewMac, kClientIp, kServerIp)).empty());
  EXPECT_TRUE(rx(arp_frame(0, kServerMac, kNewMac, kClientIp, kServerIp)).empty());
  EXPECT_TRUE(rx(arp_frame(1, kBroadcastMac, mac_addr{}, kClientIp, kServerIp)).empty());
  EXPECT_EQ(c().drop_arp_malformed.load(), 5u);
  // An RFC 5227 probe (sender address 0) is answered but binds nothing.
  EXPECT_EQ(rx(arp_frame(1, kBroadcastMac, kNewMac, ip4_addr{0}, kServerIp)).size(), 1u);
  EXPECT_EQ(table().find(ip4_addr{0}), neighbour_table::kNone);
  EXPECT_EQ(entry(kClientIp).mac, kClientMac);
  EXPECT_EQ(c().neigh_mac_changed.load(), 0u);
}

// A SYN from `ip` (its own port) as crafted frames; returns the frames sent back.
class neighbour_full : public neighbour {
 protected:
  std::vector<frame_t> syn_from(ip4_addr ip, std::uint16_t port) {
    tcp_segment s;
    s.src_port = port;
    s.dst_port = kPort;
    s.seq = 1000;
    s.flags = tcp_flag::syn;
    s.window = 65535;
    s.opt.mss = 1460;
    auto f = tcp_frame(s, ip);
    return rx(f);
  }
  void SetUp() override {
    cfg.neigh.entries = 2;
    rebuild();
  }
};

TEST_F(neighbour, default_size_follows_the_connection_limit) {
  EXPECT_EQ(table().capacity(), cfg.max_connections + 16);
}

TEST_F(neighbour_full, full_of_referenced_entries_refuses_a_new_peer) {
  const ip4_addr a = make_ip4(198, 18, 0, 10), b = make_ip4(198, 18, 0, 11),
                 d = make_ip4(198, 18, 0, 12);
  EXPECT_EQ(syn_from(a, 1).size(), 1u);
  EXPECT_EQ(syn_from(b, 2).size(), 1u);
  EXPECT_EQ(table().size(), 2u);
  // A third peer: every entry is referenced by a connection.
  EXPECT_TRUE(syn_from(d, 3).empty()) << "no SYN-ACK: the peer retries later";
  EXPECT_EQ(c().neigh_table_full.load(), 1u);
  EXPECT_EQ(st->half_open(), 2u);
  // An ARP request from it is still answered, just not remembered.
  EXPECT_EQ(rx(arp_frame(1, kBroadcastMac, kNewMac, d, kServerIp)).size(), 1u);
  EXPECT_EQ(c().neigh_table_full.load(), 2u);
  EXPECT_EQ(table().find(d), neighbour_table::kNone);
  // A second connection from a known peer needs no new entry.
  EXPECT_EQ(syn_from(a, 4).size(), 1u);
  EXPECT_EQ(entry(a).refs, 2u);
}

TEST_F(neighbour_full, an_unreferenced_entry_is_evicted_for_a_new_peer) {
  const ip4_addr a = make_ip4(198, 18, 0, 10), b = make_ip4(198, 18, 0, 11),
                 d = make_ip4(198, 18, 0, 12);
  rx(arp_frame(1, kBroadcastMac, kRouterMac, a, kServerIp));
  now += kNsPerSec;
  rx(arp_frame(1, kBroadcastMac, kRouterMac2, b, kServerIp));
  EXPECT_EQ(table().size(), 2u);
  EXPECT_EQ(syn_from(d, 3).size(), 1u);
  EXPECT_EQ(c().neigh_evicted.load(), 1u);
  EXPECT_EQ(table().find(a), neighbour_table::kNone) << "the one confirmed longest ago";
  EXPECT_NE(table().find(b), neighbour_table::kNone);
  EXPECT_EQ(entry(d).refs, 1u);
}

TEST_F(neighbour, unreferenced_entries_age_out_referenced_ones_stay) {
  cfg.neigh.gc_stale_time = 60 * kNsPerSec;
  rebuild();
  const ip4_addr other = make_ip4(198, 18, 0, 77);
  rx(arp_frame(1, kBroadcastMac, kNewMac, other, kServerIp));
  client_arps();
  establish();
  EXPECT_EQ(table().size(), 2u);
  now += 59 * kNsPerSec;
  rx(arp_frame(1, kBroadcastMac, kRouterMac, kRouterIp, kServerIp));  // any frame
  EXPECT_EQ(c().neigh_aged.load(), 0u) << "not yet";
  now += 2 * kNsPerSec;
  rx(garp(kRouterMac, kRouterIp));
  EXPECT_EQ(c().neigh_aged.load(), 1u);
  EXPECT_EQ(table().find(other), neighbour_table::kNone);
  EXPECT_NE(table().find(kClientIp), neighbour_table::kNone) << "a connection uses it";
  // Once the connection is gone, its entry ages too.
  conn()->abort();
  st->flush(now, tx);
  tx.take();
  EXPECT_EQ(entry(kClientIp).refs, 0u);
  now += 61 * kNsPerSec;
  rx(garp(kRouterMac, kRouterIp));
  EXPECT_EQ(table().find(kClientIp), neighbour_table::kNone);
  EXPECT_EQ(c().neigh_aged.load(), 3u) << "other, then the client and the idle router";
}

}  // namespace
}  // namespace anvil::net::test
