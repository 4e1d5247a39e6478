// Peers that send what RFC 9293 allows but nobody expects (a packetdrill-style table):
// tiny or absent MSS, odd window scales, timestamps on only some segments, sequence
// numbers about to wrap, a window closed for minutes. Each must be served (or refused)
// without hurting the other connections of the lcore.
#include "tests/net/tcp_peers.h"

namespace anvil::net::test {
namespace {

using namespace tcp_flag;

// What we may put in one segment for a peer's MSS option (0: the option is absent).
std::uint16_t expected_send_mss(std::uint16_t peer_mss, bool ts) {
  std::uint16_t m = peer_mss ? peer_mss : 536;
  m = std::min<std::uint16_t>(m, 1460);
  m = std::max<std::uint16_t>(m, kMinPeerMss);
  return static_cast<std::uint16_t>(m - (ts ? kTsOptionLen : 0));
}

class odd_peers : public multi_peer_fixture {
 protected:
  void SetUp() override {
    cfg.max_connections = 64;
    cfg.syn_backlog = 64;
    multi_peer_fixture::SetUp();
  }
  // Acknowledges until `p` has `n` bytes or nothing moves any more; checks every frame.
  void transfer(peer& p, std::size_t n) {
    for (int i = 0; i < 5000 && p.received.size() < n; ++i) {
      const std::size_t before = p.received.size();
      ack_all(p);
      if (p.received.size() == before) tick(kNsPerMs);
    }
    for (const auto& o : p.out) {
      const std::size_t frame =
          kEthHeader + kIpv4Header + tcp_header_len(o.seg.opt) + o.payload.size();
      EXPECT_LE(frame, kMaxFrame);
      EXPECT_LE(o.payload.size(), find(p) ? find(p)->send_mss() : 1460u);
    }
  }
  std::size_t tick(nanos dt) {
    now += dt;
    st->poll_timers(now, tx);
    return route();
  }
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

// Issue 12 item 1: MSS <= 11 with timestamps wrapped `mss - 12` to 65532+, a segment
// no frame holds. Every MSS from 0 to 65535 must give a payload size that fits.
TEST_F(odd_peers, mss_is_clamped_before_the_timestamp_option_is_subtracted) {
  const std::uint16_t values[] = {0,  1,   8,   11,   12,   13,   87,   88,
                                  89, 100, 536, 1460, 1461, 9000, 65535};
  std::uint16_t port = 30000;
  for (bool ts : {true, false}) {
    for (std::uint16_t mss : values) {
      SCOPED_TRACE(testing::Message()
                   << "MSS " << mss << (ts ? " with" : " without") << " timestamps");
      auto p = std::make_unique<peer>();
      p->port = port++;
      p->syn_opt = linux_syn_options();
      p->syn_opt.mss = mss;
      p->syn_opt.has_ts = ts;
      open(*p);
      ASSERT_NE(find(*p), nullptr);
      EXPECT_EQ(find(*p)->send_mss(), expected_send_mss(mss, ts));
      const std::size_t n = queue(*p, 16 * 1024);
      ASSERT_EQ(n, 16u * 1024);
      transfer(*p, n);
      EXPECT_EQ(p->received.size(), n);
      EXPECT_TRUE(p->received == pattern(n));
      find(*p)->abort();
      st->flush(now, tx);
      route();
      std::erase(peers, p.get());
    }
  }
  EXPECT_EQ(st->counters().tcp_tx_oversize_aborts.load(), 0u);
}

// An MSS option carrying 0 on the wire (not representable in tcp_options: 0 there
// means "absent") is treated as absent, like Linux: 536.
TEST_F(odd_peers, mss_option_with_value_zero_on_the_wire) {
  peer p;
  p.port = 30500;
  peers.push_back(&p);
  tcp_segment s = segment(p, syn);
  s.seq = p.isn;
  s.opt = linux_syn_options();
  s.opt.mss = 1;  // placeholder, patched to 0 below
  frame_t f = tcp_frame(s);
  std::byte* t = f.data() + kEthHeader + kIpv4Header;
  ASSERT_EQ(load8(t + 20), 2);  // MSS is the first option
  store16(t + 22, 0);
  store16(t + 16, 0);
  const std::size_t l4 = f.size() - kEthHeader - kIpv4Header;
  csum_store(t + 16,
             csum_finish(csum_pseudo(kClientIp, kServerIp, kProtoTcp, l4) + csum_add(0, t, l4)));
  st->receive(f, now, tx);
  route();
  ASSERT_EQ(p.out.size(), 1u);
  p.seq = p.isn + 1;
  p.ack = p.out[0].seg.seq + 1;
  burst({{&p, segment(p, ack)}});
  ASSERT_NE(find(p), nullptr);
  EXPECT_EQ(find(p)->send_mss(), 536 - kTsOptionLen);
}

// The denial of service itself: one peer announcing MSS 8 with timestamps must not
// stop the lcore's other connections, whatever their order on the output list.
TEST_F(odd_peers, tiny_mss_peer_does_not_freeze_the_other_connections) {
  for (bool tiny_first : {true, false}) {
    SCOPED_TRACE(tiny_first ? "tiny-MSS connection queued first" : "queued second");
    peer tiny, normal;
    tiny.port = static_cast<std::uint16_t>(tiny_first ? 31000 : 31002);
    normal.port = static_cast<std::uint16_t>(tiny_first ? 31001 : 31003);
    tiny.syn_opt.mss = 8;
    open(tiny);
    open(normal);
    if (tiny_first) {
      queue(tiny, 16 * 1024);
      queue(normal, 100);
    } else {
      queue(normal, 100);
      queue(tiny, 16 * 1024);
    }
    st->flush(now, tx);
    route();
    EXPECT_TRUE(normal.received == pattern(100)) << normal.received.size() << " bytes";
    EXPECT_FALSE(tiny.received.empty());
    // Retransmissions of the normal connection also still go out.
    queue(normal, 50);
    st->flush(now, tx);
    route();
    const std::size_t before = normal.out.size();
    tick(2 * kNsPerSec);
    EXPECT_GT(normal.out.size(), before) << "RTO retransmission of the normal connection";
    find(tiny)->abort();
    find(normal)->abort();
    st->flush(now, tx);
    route();
    peers.clear();
  }
}

// flush's defence: a segment larger than any frame (whatever produced it) aborts its
// own connection, counted, instead of blocking the output list as if the sink were full.
TEST_F(odd_peers, segment_larger_than_a_frame_aborts_only_its_connection) {
  peer bad, good;
  bad.port = 32000;
  good.port = 32001;
  open(bad);
  open(good);
  find(bad)->set_send_mss_unchecked(4000);
  queue(bad, 8000);
  queue(good, 100);
  st->flush(now, tx);
  route();
  EXPECT_TRUE(good.received == pattern(100)) << good.received.size() << " bytes";
  EXPECT_EQ(find(bad), nullptr) << "the connection was aborted and released";
  ASSERT_FALSE(bad.out.empty());
  EXPECT_TRUE(bad.out.back().seg.has(rst));
  EXPECT_EQ(st->counters().tcp_tx_oversize_aborts.load(), 1u);
  ASSERT_FALSE(app.reasons.empty());
  EXPECT_EQ(app.reasons.back(), close_reason::aborted);
}

// ------------------------------------------------ the rest of the odd-peer table --

// RFC 7323 §2.3: a shift above 14 is used as 14. The peer's window field is scaled.
TEST_F(odd_peers, window_scale_14_and_15) {
  for (int ws : {14, 15}) {
    SCOPED_TRACE(ws);
    peer p;
    p.port = static_cast<std::uint16_t>(33500 + ws);
    p.syn_opt.wscale = static_cast<std::int8_t>(ws);  // 15 as sent on the wire
    p.window = 1;                                     // 1 << 14 = 16 KiB
    open(p);
    EXPECT_EQ(find(p)->snd_wscale(), 14);
    EXPECT_EQ(find(p)->snd_wnd(), 1u << 14);
    const std::size_t n = queue(p, 16 * 1024);
    transfer(p, n);
    EXPECT_TRUE(p.received == pattern(n));
    find(p)->abort();
    st->flush(now, tx);
    route();
    peers.clear();
  }
}

// A SYN with no options at all: MSS 536, no scaling, no timestamps; it still works.
TEST_F(odd_peers, syn_without_any_option) {
  peer p;
  p.port = 33600;
  p.syn_opt = tcp_options{};
  p.window = 65535;
  open(p);
  ASSERT_NE(find(p), nullptr);
  EXPECT_EQ(find(p)->send_mss(), 536);
  EXPECT_FALSE(find(p)->timestamps_on());
  EXPECT_EQ(find(p)->snd_wscale(), 0);
  const std::size_t n = queue(p, 16 * 1024);
  transfer(p, n);
  EXPECT_TRUE(p.received == pattern(n));
  for (const auto& o : p.out) EXPECT_FALSE(o.seg.opt.has_ts);
}

// Timestamps negotiated, then the peer puts them on only some segments. Like Linux
// (not RFC 7323 §3.2's SHOULD drop), segments without a TSopt are accepted; PAWS
// still rejects one that carries an old timestamp.
TEST_F(odd_peers, timestamps_only_on_some_segments) {
  peer p;
  p.port = 33700;
  open(p);
  std::string sent;
  for (int i = 0; i < 8; ++i) {
    p.ts = (i % 2 == 0);
    const std::string d(10, static_cast<char>('0' + i));
    p.tsval += 10;
    burst({{&p, segment(p, ack | psh, d)}});
    p.seq += static_cast<seq_t>(d.size());
    sent += d;
  }
  EXPECT_EQ(app.received, sent);
  p.ts = true;
  p.tsval -= 1000;  // older than TS.recent
  const std::size_t before = app.received.size();
  burst({{&p, segment(p, ack | psh, "old")}});
  EXPECT_EQ(app.received.size(), before) << "PAWS";
  EXPECT_EQ(st->counters().drop_tcp_paws.load(), 1u);
}

// The peer's sequence numbers wrap 2^32 in the middle of its data.
TEST_F(odd_peers, peer_iss_near_2_to_the_32) {
  peer p;
  p.port = 33800;
  p.isn = 0xfffffe00u;
  open(p);
  std::string sent;
  for (int i = 0; i < 10; ++i) {
    const std::string d(100, static_cast<char>('a' + i));
    burst({{&p, segment(p, ack | psh, d)}});
    p.seq += static_cast<seq_t>(d.size());
    sent += d;
  }
  EXPECT_EQ(app.received, sent);
  EXPECT_EQ(find(p)->rcv_nxt(), p.seq);
  EXPECT_LT(p.seq, 0x1000u) << "the test did cross the wrap";
  ASSERT_FALSE(p.out.empty());
  EXPECT_EQ(p.out.back().seg.ack, p.seq);
}

// A receiver whose window stays closed for ten minutes: the server keeps probing with
// backoff (answered each time), never gives up, and delivers everything once the
// window opens.
TEST_F(odd_peers, zero_window_for_ten_minutes) {
  peer p;
  p.port = 33900;
  open(p);
  p.window = 0;
  ack_all(p);  // the window closes
  const std::size_t n = queue(p, 4096);
  st->flush(now, tx);
  route();
  EXPECT_TRUE(p.received.empty());
  std::size_t probes = 0;
  for (int s = 0; s < 600; ++s) {
    const std::size_t before = p.out.size();
    tick(kNsPerSec);
    for (std::size_t i = before; i < p.out.size(); ++i) {
      if (!p.out[i].payload.empty()) {
        ++probes;
        ack_all(p);  // the peer answers every probe: still zero
      }
    }
  }
  ASSERT_NE(find(p), nullptr) << "gave up on a live peer with a closed window";
  EXPECT_EQ(find(p)->state(), tcp_state::established);
  EXPECT_GE(probes, 10u);
  EXPECT_LE(probes, 60u) << "probes back off";
  EXPECT_EQ(st->counters().tcp_zero_window_probes.load(), probes);
  p.window = 1000;
  transfer(p, n);
  EXPECT_TRUE(p.received == pattern(n));
}

}  // namespace
}  // namespace anvil::net::test
