// The TCP state machine through crafted segments: a fixture per state, a test per
// (state, event) worth testing, each named after the RFC step it exercises.
#include "tests/net/tcp_fixture.h"

namespace anvil::net::test {
namespace {

using namespace tcp_flag;

// ------------------------------------------------------------------------- LISTEN --
class listen_state : public tcp_fixture {};

TEST_F(listen_state, syn_linux_options_gets_mss_ws_ts_and_sack) {
  auto sa = send_syn(linux_syn_options());
  EXPECT_EQ(sa.seg.flags, syn | ack);
  EXPECT_EQ(sa.seg.opt.mss, 1460);
  EXPECT_TRUE(sa.seg.opt.has_ts);
  EXPECT_EQ(sa.seg.opt.ts_ecr, cts);
  EXPECT_EQ(sa.seg.opt.wscale, 0);  // 16 KiB buffer fits unscaled
  EXPECT_TRUE(sa.seg.opt.sack_permitted);
  EXPECT_EQ(conn()->state(), tcp_state::syn_received);
}

// Every combination of MSS / WS / SACK-permitted / TS in the SYN.
TEST_F(listen_state, syn_every_option_combination) {
  for (int mask = 0; mask < 16; ++mask) {
    SCOPED_TRACE(mask);
    cport = static_cast<std::uint16_t>(41000 + mask);
    tcp_options o;
    if (mask & 1) o.mss = 1200;
    if (mask & 2) o.wscale = 7;
    if (mask & 4) o.sack_permitted = true;
    if (mask & 8) o.has_ts = true, o.ts_val = cts;
    use_ts = o.has_ts;
    auto sa = send_syn(o);
    EXPECT_EQ(sa.seg.opt.mss, 1460) << "MSS is always sent";
    EXPECT_EQ(sa.seg.opt.wscale >= 0, (mask & 2) != 0);
    EXPECT_EQ(sa.seg.opt.has_ts, (mask & 8) != 0);
    EXPECT_EQ(sa.seg.opt.sack_permitted, (mask & 4) != 0) << "echoed only when offered";
    EXPECT_TRUE(send_ack().empty());
    ASSERT_NE(conn(), nullptr);
    EXPECT_EQ(conn()->state(), tcp_state::established);
    const std::uint16_t peer_mss = (mask & 1) ? 1200 : 536;
    EXPECT_EQ(conn()->send_mss(), peer_mss - ((mask & 8) ? 12 : 0));
    EXPECT_EQ(conn()->snd_wscale(), (mask & 2) ? 7 : 0);
    EXPECT_EQ(conn()->timestamps_on(), (mask & 8) != 0);
  }
  EXPECT_EQ(app.accepts, 16);
}

TEST_F(listen_state, large_buffer_uses_window_scaling) {
  cfg.tcp.rx_buffer = 1 << 20;
  cfg.max_connections = 2;
  rebuild();
  auto sa = send_syn(linux_syn_options());
  EXPECT_EQ(sa.seg.opt.wscale, 5);   // 1 MiB >> 5 == 32 KiB fits in 16 bits
  EXPECT_EQ(sa.seg.window, 0xffff);  // a SYN's window is never scaled
  send_ack();
  auto r = send_data("x");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.window, (1u << 20) >> 5);  // consumed: the whole buffer is free
}

TEST_F(listen_state, syn_to_closed_port_gets_rst_ack) {
  auto s = make(syn, c_isn, 0);
  s.dst_port = 9;
  auto r = send(s);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, rst | ack);
  EXPECT_EQ(r[0].seg.ack, c_isn + 1);
  EXPECT_EQ(st->counters().drop_tcp_no_listener.load(), 1u);
}

TEST_F(listen_state, ack_without_connection_gets_rst_seq_ack) {  // RFC 9293 §3.10.7.1
  auto r = send(make(ack, 777, 12345));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, rst);
  EXPECT_EQ(r[0].seg.seq, 12345u);
  EXPECT_EQ(st->counters().drop_tcp_bad_cookie.load(), 1u);
}

TEST_F(listen_state, rst_without_connection_is_ignored) {
  EXPECT_TRUE(send(make(rst, 1, 0)).empty());
  EXPECT_TRUE(send(make(rst | ack, 1, 5)).empty());
}

TEST_F(listen_state, syn_fin_and_flagless_segments_are_dropped) {
  EXPECT_TRUE(send(make(syn | fin, c_isn, 0)).empty());
  EXPECT_TRUE(send(make(syn | rst, c_isn, 0)).empty());
  EXPECT_TRUE(send(make(0, c_isn, 0)).empty());
  EXPECT_TRUE(send(make(fin, c_isn, 0)).empty());
  EXPECT_EQ(st->counters().drop_tcp_bad_flags.load(), 4u);
  EXPECT_EQ(st->connections(), 0u);
}

TEST_F(listen_state, connection_limit_refuses_new_syns) {
  cfg.max_connections = 2;
  cfg.syn_backlog = 8;
  rebuild();
  for (int i = 0; i < 3; ++i) {
    cport = static_cast<std::uint16_t>(42000 + i);
    auto r = send(make(syn, c_isn, 0));
    EXPECT_EQ(r.size(), i < 2 ? 1u : 0u);
  }
  EXPECT_EQ(st->connections(), 2u);
  EXPECT_EQ(st->counters().tcp_conn_limit.load(), 1u);
}

// SYN flood: spoofed SYNs fill the backlog, then SYN cookies take over; a real client
// still connects, and memory in use stays at the backlog.
TEST_F(listen_state, syn_flood_cannot_exhaust_the_backlog) {
  cfg.max_connections = 64;
  cfg.syn_backlog = 4;
  rebuild();
  for (int i = 0; i < 1000; ++i) {
    cport = static_cast<std::uint16_t>(20000 + i);
    auto r = send(make(syn, c_isn + i, 0));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].seg.flags, syn | ack);
  }
  EXPECT_EQ(st->half_open(), 4u);
  EXPECT_EQ(st->connections(), 4u);
  EXPECT_EQ(st->counters().tcp_syn_cookies_sent.load(), 996u);
  // A legitimate client under the flood: its SYN-ACK is a cookie, its ACK establishes.
  cport = 55555;
  auto sa = send_syn(linux_syn_options());
  EXPECT_EQ(st->connections(), 4u) << "no state kept for a cookie SYN-ACK";
  EXPECT_EQ(sa.seg.opt.mss, 1460);
  auto r = send_data("get");  // the third ACK carries data
  ASSERT_NE(conn(), nullptr);
  EXPECT_EQ(conn()->state(), tcp_state::established);
  EXPECT_EQ(app.received, "get");
  EXPECT_EQ(conn()->snd_wscale(), 10) << "window scale carried in the TSval";
  EXPECT_EQ(conn()->send_mss(), 1460 - 12);
  EXPECT_EQ(st->counters().tcp_syn_cookies_ok.load(), 1u);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.ack, cseq);
  EXPECT_GE(r[0].seg.opt.ts_val, sa.seg.opt.ts_val) << "TSval monotonic after the cookie";
}

TEST_F(listen_state, forged_cookie_ack_gets_rst) {
  cfg.syn_backlog = 0;
  rebuild();
  auto sa = send_syn(linux_syn_options());
  auto r = send(make(ack, cseq, cack + 1000));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, rst);
  EXPECT_EQ(st->counters().drop_tcp_bad_cookie.load(), 1u);
  EXPECT_EQ(st->connections(), 0u);
  (void)sa;
}

TEST_F(listen_state, cookie_expires_after_two_periods) {
  cfg.syn_backlog = 0;
  rebuild();
  send_syn(linux_syn_options());
  now += 3 * syn_cookies::kPeriod;
  auto r = send_ack();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, rst);
}

TEST_F(listen_state, cookie_without_timestamps_runs_unscaled) {
  cfg.syn_backlog = 0;
  rebuild();
  tcp_options o;
  o.mss = 1460;
  o.wscale = 10;
  use_ts = false;
  auto sa = send_syn(o);
  EXPECT_LT(sa.seg.opt.wscale, 0) << "scaling cannot be remembered without timestamps";
  send_ack();
  ASSERT_NE(conn(), nullptr);
  EXPECT_EQ(conn()->snd_wscale(), 0);
  EXPECT_EQ(conn()->rcv_wscale(), 0);
}

TEST_F(listen_state, full_table_recycles_time_wait) {
  cfg.max_connections = 1;
  rebuild();
  establish();
  conn()->close();
  st->flush(now, tx);
  drain();
  send(make(ack, cseq, cack + 1));
  cack += 1;
  send_data("", fin);
  ASSERT_EQ(conn()->state(), tcp_state::time_wait);
  cport = 50000;
  c_isn = 1;
  auto sa = send_syn(linux_syn_options());
  EXPECT_EQ(sa.seg.flags, syn | ack);
  EXPECT_EQ(st->counters().tcp_time_wait_recycled.load(), 1u);
  EXPECT_EQ(st->connections(), 1u);
}

// ---------------------------------------------------------------------- SYN-SENT --
// Active open (the simulator's client; replication later).
class syn_sent_state : public tcp_fixture {
 protected:
  out_segment syn_out;
  void SetUp() override {
    tcp_fixture::SetUp();
    ASSERT_NE(st->connect(tuple(), kClientMac, now), nullptr);
    st->flush(now, tx);
    auto r = drain();
    ASSERT_EQ(r.size(), 1u);
    syn_out = r[0];
    cack = syn_out.seg.seq + 1;
    ASSERT_EQ(conn()->state(), tcp_state::syn_sent);
  }
  tcp_segment synack(const tcp_options& o) {
    auto s = make(syn | ack, c_isn, cack);
    s.opt = o;
    s.opt.ts_ecr = syn_out.seg.opt.ts_val;
    return s;
  }
};

TEST_F(syn_sent_state, syn_offers_mss_ws_ts) {
  EXPECT_EQ(syn_out.seg.flags, syn);
  EXPECT_EQ(syn_out.seg.opt.mss, 1460);
  EXPECT_GE(syn_out.seg.opt.wscale, 0);
  EXPECT_TRUE(syn_out.seg.opt.has_ts);
  EXPECT_EQ(syn_out.dst_mac, kClientMac);
}

TEST_F(syn_sent_state, synack_establishes_and_acks) {  // §3.10.7.3
  auto r = send(synack(linux_syn_options(cts)));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, ack);
  EXPECT_EQ(r[0].seg.ack, c_isn + 1);
  EXPECT_EQ(conn()->state(), tcp_state::established);
  EXPECT_EQ(app.accepts, 1);
  EXPECT_EQ(conn()->snd_wscale(), 10);
}

TEST_F(syn_sent_state, synack_without_options_falls_back) {
  use_ts = false;
  auto r = send(synack(tcp_options{}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(conn()->send_mss(), 536);
  EXPECT_EQ(conn()->rcv_wscale(), 0);
  EXPECT_FALSE(conn()->timestamps_on());
  EXPECT_FALSE(r[0].seg.opt.has_ts);
}

TEST_F(syn_sent_state, bad_ack_gets_rst) {
  auto r = send(make(syn | ack, c_isn, cack + 7));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, rst);
  EXPECT_EQ(r[0].seg.seq, cack + 7);
  EXPECT_EQ(conn()->state(), tcp_state::syn_sent);
}

TEST_F(syn_sent_state, rst_ack_refuses) {
  EXPECT_TRUE(send(make(rst | ack, 0, cack)).empty());
  EXPECT_EQ(conn(), nullptr);
}

TEST_F(syn_sent_state, rst_without_ack_is_ignored) {
  EXPECT_TRUE(send(make(rst, 0, 0)).empty());
  EXPECT_EQ(conn()->state(), tcp_state::syn_sent);
}

TEST_F(syn_sent_state, syn_is_retransmitted_with_backoff) {
  auto r = tick(1 * kNsPerSec);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, syn);
  EXPECT_TRUE(tick(1990 * kNsPerMs).empty());
  r = tick(10 * kNsPerMs);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, syn);
}

// ------------------------------------------------------------------ SYN-RECEIVED --
class syn_received_state : public tcp_fixture {
 protected:
  out_segment synack;
  void SetUp() override {
    tcp_fixture::SetUp();
    synack = send_syn(linux_syn_options());
    ASSERT_EQ(conn()->state(), tcp_state::syn_received);
  }
};

TEST_F(syn_received_state, ack_establishes_and_calls_on_accept) {  // §3.10.7.4 fifth
  EXPECT_TRUE(send_ack().empty());
  EXPECT_EQ(conn()->state(), tcp_state::established);
  EXPECT_EQ(app.accepts, 1);
  EXPECT_EQ(st->half_open(), 0u);
}

TEST_F(syn_received_state, duplicate_syn_resends_synack) {
  auto s = make(syn, c_isn, 0);
  s.opt = linux_syn_options(cts);
  auto r = send(s);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, syn | ack);
  EXPECT_EQ(r[0].seg.seq, synack.seg.seq);
  EXPECT_EQ(st->connections(), 1u);
}

TEST_F(syn_received_state, unacceptable_ack_gets_rst_seq_ack) {
  auto r = send(make(ack, cseq, cack + 100));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, rst);
  EXPECT_EQ(r[0].seg.seq, cack + 100);
  EXPECT_EQ(conn()->state(), tcp_state::syn_received);
}

TEST_F(syn_received_state, rst_in_sequence_closes_silently) {  // §3.10.7.4 second
  EXPECT_TRUE(send(make(rst, cseq, 0)).empty());
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(app.accepts, 0);
  EXPECT_EQ(app.closes, 0) << "the application never saw it";
  EXPECT_EQ(st->half_open(), 0u);
}

TEST_F(syn_received_state, rst_in_window_not_exact_gets_challenge_ack) {  // RFC 5961 §3.2
  auto r = send(make(rst, cseq + 10, 0));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, ack);
  EXPECT_NE(conn(), nullptr);
}

TEST_F(syn_received_state, synack_retransmitted_with_backoff_then_given_up) {
  // RFC 6298 (2.1): initial RTO 1 s, doubled on each expiry; 5 retries then CLOSED.
  EXPECT_TRUE(tick(999 * kNsPerMs).empty());
  nanos wait = 1 * kNsPerSec;
  for (int i = 0; i < cfg.tcp.max_syn_retransmits; ++i) {
    auto r = tick(i == 0 ? kNsPerMs : wait - kNsPerMs);
    if (i > 0) {
      EXPECT_TRUE(r.empty()) << "not before " << wait;
      r = tick(kNsPerMs);
    }
    ASSERT_EQ(r.size(), 1u) << i;
    EXPECT_EQ(r[0].seg.flags, syn | ack);
    EXPECT_EQ(r[0].seg.seq, synack.seg.seq);
    wait *= 2;
  }
  tick(wait);
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(st->half_open(), 0u);
}

TEST_F(syn_received_state, data_with_the_ack_is_delivered) {
  send_data("hello");
  EXPECT_EQ(conn()->state(), tcp_state::established);
  EXPECT_EQ(app.received, "hello");
}

// ------------------------------------------------------------------- ESTABLISHED --
class established_state : public tcp_fixture {
 protected:
  void SetUp() override {
    tcp_fixture::SetUp();
    establish();
  }
};

TEST_F(established_state, in_order_data_is_acked_in_the_same_call) {
  // A quiet GETKQ miss produces no response: the ACK must not wait for a timer.
  auto r = send_data("quiet-miss");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, ack);
  EXPECT_EQ(r[0].seg.ack, cseq);
  EXPECT_EQ(app.received, "quiet-miss");
}

TEST_F(established_state, burst_gets_one_ack) {
  std::vector<frame_t> frames;
  for (int i = 0; i < 4; ++i) {
    frames.push_back(tcp_frame(make(ack | psh, cseq, cack, "abcd")));
    cseq += 4;
  }
  std::vector<bytes> views(frames.begin(), frames.end());
  st->receive_burst(views, now, tx);
  auto r = drain();
  ASSERT_EQ(r.size(), 1u) << "one ACK per connection per burst";
  EXPECT_EQ(r[0].seg.ack, cseq);
  EXPECT_EQ(app.received, "abcdabcdabcdabcd");
}

TEST_F(established_state, sink_back_pressure_keeps_output_pending) {
  tx.limit = 0;  // the port has no buffer right now
  auto sp = conn()->send_space();
  std::memcpy(sp.data(), "later", 5);
  conn()->commit_send(5);
  st->flush(now, tx);
  EXPECT_TRUE(drain().empty());
  EXPECT_GE(st->counters().tx_no_buffer.load(), 1u);
  tx.limit = SIZE_MAX;
  st->flush(now, tx);
  auto r = drain();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(to_string(r[0].payload), "later");
}

TEST_F(established_state, response_piggybacks_the_ack) {
  app.echo = true;
  auto r = send_data("get k");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(to_string(r[0].payload), "get k");
  EXPECT_EQ(r[0].seg.ack, cseq);
}

TEST_F(established_state, out_of_order_is_queued_and_dup_acked) {
  const seq_t base = cseq;
  auto r = send(make(ack | psh, base + 5, cack, "world"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.ack, base) << "duplicate ACK for the hole";
  EXPECT_EQ(app.received, "");
  EXPECT_EQ(conn()->ooo_ranges(), 1u);
  r = send(make(ack | psh, base, cack, "hello"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.ack, base + 10);
  EXPECT_EQ(app.received, "helloworld");
  EXPECT_EQ(conn()->ooo_ranges(), 0u);
}

TEST_F(established_state, out_of_order_queue_is_bounded) {
  app.auto_consume = false;
  const seq_t base = cseq;
  for (int i = 0; i < 12; ++i) send(make(ack | psh, base + 2 + 4 * i, cack, "ab"));
  EXPECT_EQ(conn()->ooo_ranges(), 8u);
  EXPECT_EQ(st->counters().drop_tcp_ooo_full.load(), 4u);
  // Fill every hole: the stored ranges are delivered.
  send(make(ack | psh, base, cack, std::string(34, 'x')));
  EXPECT_EQ(conn()->rcv_nxt(), base + 34);
}

TEST_F(established_state, overlapping_retransmission_is_trimmed) {
  const seq_t base = cseq;
  send_data("abcdef");
  auto r = send(make(ack | psh, base + 3, cack, "defghi"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.ack, base + 9);
  EXPECT_EQ(app.received, "abcdefghi");
}

TEST_F(established_state, old_duplicate_is_acked_and_dropped) {  // §3.10.7.4 first
  const seq_t base = cseq;
  send_data("abc");
  auto r = send(make(ack | psh, base, cack, "abc"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.ack, base + 3);
  EXPECT_EQ(app.received, "abc");
  EXPECT_EQ(st->counters().drop_tcp_out_of_window.load(), 1u);
}

TEST_F(established_state, beyond_window_is_acked_and_dropped) {
  auto r = send(make(ack | psh, cseq + 1'000'000, cack, "zzz"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.ack, cseq);
  EXPECT_EQ(app.received, "");
}

TEST_F(established_state, paws_drops_old_timestamp) {  // RFC 7323 §5.3
  cts = 50;                                            // older than the 100 seen
  auto r = send_data("old");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(app.received, "");
  EXPECT_EQ(st->counters().drop_tcp_paws.load(), 1u);
}

TEST_F(established_state, rst_exact_sequence_resets) {  // RFC 5961 §3.2
  EXPECT_TRUE(send(make(rst, cseq, 0)).empty());
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(app.closes, 1);
  EXPECT_EQ(app.reasons.back(), close_reason::reset_by_peer);
  EXPECT_EQ(st->counters().tcp_rst_received.load(), 1u);
}

TEST_F(established_state, rst_in_window_gets_challenge_ack) {
  auto r = send(make(rst, cseq + 100, 0));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, ack);
  EXPECT_EQ(r[0].seg.ack, cseq);
  EXPECT_NE(conn(), nullptr);
  EXPECT_EQ(st->counters().tcp_challenge_acks.load(), 1u);
}

TEST_F(established_state, challenge_acks_are_rate_limited) {  // RFC 5961 §7
  std::size_t acks = 0;
  for (int i = 0; i < 50; ++i) acks += send(make(rst, cseq + 100 + i, 0)).size();
  EXPECT_EQ(acks, cfg.tcp.challenge_ack_limit);
  now += kNsPerSec;
  EXPECT_EQ(send(make(rst, cseq + 100, 0)).size(), 1u) << "a new second, a new allowance";
  EXPECT_NE(conn(), nullptr);
}

TEST_F(established_state, rst_out_of_window_is_ignored) {
  EXPECT_TRUE(send(make(rst, cseq - 100000, 0)).empty());
  EXPECT_NE(conn(), nullptr);
}

TEST_F(established_state, syn_gets_challenge_ack) {  // RFC 5961 §4
  auto r = send(make(syn, cseq + 10, 0));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, ack);
  EXPECT_EQ(conn()->state(), tcp_state::established);
}

TEST_F(established_state, ack_of_unsent_data_is_acked_and_ignored) {  // RFC 5961 §5
  auto r = send(make(ack, cseq, cack + 5000));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, ack);
  EXPECT_EQ(st->counters().drop_tcp_bad_ack.load(), 1u);
}

TEST_F(established_state, peer_window_is_scaled) {
  cwin = 3;
  send_ack();
  EXPECT_EQ(conn()->snd_wnd(), 3u << 10);
}

TEST_F(established_state, sender_respects_peer_window) {
  cwin = 0;  // 0 << 10
  send_ack();
  cwin = 1;  // 1024 bytes
  send(make(ack, cseq, cack));
  auto r = server_write(std::string(4000, 'a'));
  std::size_t total = 0;
  for (auto& o : r) total += o.payload.size();
  EXPECT_EQ(total, 1024u);
}

TEST_F(established_state, zero_window_probe_with_backoff) {
  cwin = 0;
  send_ack();
  auto r = server_write("data");
  EXPECT_TRUE(r.empty()) << "window closed: nothing sent";
  // Persist timer: a one-byte probe after the RTO, then backed off.
  r = tick(conn()->rto());
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].payload.size(), 1u);
  EXPECT_EQ(r[0].seg.seq, cack);
  const nanos rto = conn()->rto();
  send(make(ack, cseq, cack));  // still zero window, probe not accepted
  r = tick(rto / 2);
  EXPECT_TRUE(r.empty());
  r = tick(rto);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].payload.size(), 1u);
  // Window opens: the rest goes (the probe carried the first byte).
  cwin = 100;
  r = send(make(ack, cseq, cack));
  std::size_t total = 0;
  for (auto& o : r) total += o.payload.size();
  EXPECT_EQ(total, 3u);
  EXPECT_EQ(r[0].seg.seq, cack + 1);
  EXPECT_GE(st->counters().tcp_zero_window_probes.load(), 1u);
}

TEST_F(established_state, our_window_closes_and_reopens) {
  app.auto_consume = false;
  const std::uint32_t cap = cfg.tcp.rx_buffer;
  std::vector<out_segment> r;
  for (std::uint32_t sent = 0; sent < cap; sent += 1000)
    r = send_data(std::string(std::min(1000u, cap - sent), 'q'));
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(r.back().seg.window, 0);
  // A probe of one byte beyond the window is not accepted, but is answered.
  r = send(make(ack | psh, cseq, cack, "p"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.ack, cseq);
  EXPECT_EQ(r[0].seg.window, 0);
  // The application consumes: a window update goes out at the next flush.
  conn()->consume(cap);
  st->flush(now, tx);
  r = drain();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.window, cap);  // all consumed, shift 0
}

TEST_F(established_state, zero_window_still_accepts_acks_on_data) {  // §3.10.7.4
  app.auto_consume = false;
  server_write("response");
  const std::uint32_t cap = cfg.tcp.rx_buffer;
  for (std::uint32_t sent = 0; sent < cap; sent += 1000)
    send_data(std::string(std::min(1000u, cap - sent), 'q'));
  ASSERT_EQ(conn()->rcv_window(), 0u);
  EXPECT_EQ(conn()->send_queued(), 8u);
  // A window probe carrying data and the ACK of our response: data refused, ACK taken.
  send(make(ack | psh, cseq, cack + 8, "p"));
  EXPECT_EQ(conn()->send_queued(), 0u);
  EXPECT_EQ(conn()->snd_una(), cack + 8);
}

TEST_F(established_state, retransmission_timer_backs_off) {  // RFC 6298 (5.5)
  auto r = server_write("resp");
  ASSERT_EQ(r.size(), 1u);
  nanos rto = conn()->rto();
  EXPECT_EQ(rto, cfg.tcp.rto_min) << "the handshake's timestamp gave a ~0 ms sample";
  // With SACK the first expiry is a tail loss probe (RFC 8985 §7.2: with one segment
  // out the PTO is capped at the RTO): the segment again, without backoff.
  EXPECT_TRUE(tick(rto - kNsPerMs).empty());
  r = tick(kNsPerMs);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(conn()->counters().tlp_probes, 1u);
  EXPECT_EQ(conn()->rto(), rto);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(tick(rto - kNsPerMs).empty());
    r = tick(kNsPerMs);
    ASSERT_EQ(r.size(), 1u) << i;
    EXPECT_EQ(to_string(r[0].payload), "resp");
    rto *= 2;
    EXPECT_EQ(conn()->rto(), rto);
  }
  EXPECT_EQ(conn()->cwnd(), conn()->send_mss());
}

// RFC 7661: an application-limited connection (small replies, most of cwnd unused)
// must not grow cwnd on their ACKs; on today's main every ACK added up to an MSS.
TEST_F(established_state, cwnd_does_not_grow_while_application_limited) {
  const std::uint32_t initial = conn()->cwnd();
  ASSERT_EQ(initial, cfg.tcp.initial_cwnd_segments * conn()->send_mss());
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(server_write(std::string(100, 'r')).size(), 1u);
    send(make(ack, cseq, cack + 100));
    cack += 100;
    ASSERT_EQ(conn()->snd_una(), cack);
  }
  EXPECT_EQ(conn()->cwnd(), initial) << "50 small replies acked: cwnd stays validated";
}

// ... and a connection that fills its window still grows it (slow start).
TEST_F(established_state, cwnd_grows_when_the_flight_fills_it) {
  cwin = 1000;
  const std::uint32_t initial = conn()->cwnd(), mss = conn()->send_mss();
  const std::uint32_t n = initial / mss;
  ASSERT_EQ(server_write(std::string(n * mss, 'w')).size(), n) << "one full window";
  send(make(ack, cseq, cack + n * mss));  // one ACK for the whole flight
  cack += n * mss;
  EXPECT_EQ(conn()->cwnd(), initial + mss) << "RFC 5681 (2): + min(acked, SMSS)";
  // Half the window in flight still counts as using it (RFC 7661: pipeACK >= cwnd/2).
  const std::uint32_t grown = conn()->cwnd();
  ASSERT_EQ(server_write(std::string(n * mss + mss, 'v')).size(), n + 1);
  send(make(ack, cseq, cack + (n / 2 + 1) * mss));
  EXPECT_EQ(conn()->cwnd(), grown + mss);
}

TEST_F(established_state, rtt_sample_sets_rto) {
  server_write("x");
  now += 50 * kNsPerMs;
  send(make(ack, cseq, cack + 1));
  cack += 1;
  // First sample (handshake) 0 ms, then 50 ms: SRTT = 7/8 * 0 + 1/8 * 50 ms.
  EXPECT_NEAR(static_cast<double>(conn()->srtt()), 6.25 * kNsPerMs, 0.01 * kNsPerMs);
  EXPECT_EQ(conn()->rto(), cfg.tcp.rto_min) << "below the 200 ms floor";
}

TEST_F(listen_state, initial_rto_is_one_second_without_timestamps) {  // RFC 6298 (2.1)
  tcp_options o;
  o.mss = 1460;
  use_ts = false;
  send_syn(o);
  EXPECT_EQ(conn()->rto(), 1 * kNsPerSec);
  now += 30 * kNsPerMs;
  send_ack();  // Karn: the SYN-ACK was sent once, so it is timed
  EXPECT_EQ(conn()->srtt(), 30 * kNsPerMs);
  EXPECT_EQ(conn()->rto(),
            30 * kNsPerMs + 4 * 15 * kNsPerMs < cfg.tcp.rto_min ? cfg.tcp.rto_min : 90 * kNsPerMs);
}

TEST_F(established_state, too_many_retransmissions_abort) {
  cfg.tcp.max_retransmits = 3;
  SetUp();
  server_write("x");
  for (int i = 0; i < 10; ++i) tick(120 * kNsPerSec);
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(app.reasons.back(), close_reason::retransmit_timeout);
}

TEST_F(established_state, fast_retransmit_after_three_dup_acks_then_newreno) {
  cwin = 1000;
  std::string big(6 * conn()->send_mss(), 'z');
  auto r = server_write(big);
  ASSERT_EQ(r.size(), 6u);
  const std::uint32_t mss = conn()->send_mss();
  // Segment 0 lost: three duplicate ACKs for cack.
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(send(make(ack, cseq, cack)).empty());
  r = send(make(ack, cseq, cack));
  ASSERT_GE(r.size(), 1u);
  EXPECT_EQ(r[0].seg.seq, cack) << "fast retransmit of the first unacked segment";
  EXPECT_EQ(r[0].payload.size(), mss);
  EXPECT_TRUE(conn()->in_recovery());
  EXPECT_EQ(st->counters().tcp_fast_retransmits.load(), 1u);
  // Partial ACK (segments 0..1 acked, 2 lost too): retransmit segment 2 at once.
  r = send(make(ack, cseq, cack + 2 * mss));
  ASSERT_GE(r.size(), 1u);
  EXPECT_EQ(r[0].seg.seq, cack + 2 * mss);
  EXPECT_TRUE(conn()->in_recovery());
  // Full ACK: recovery ends, cwnd deflated to ssthresh.
  r = send(make(ack, cseq, cack + 6 * mss));
  EXPECT_FALSE(conn()->in_recovery());
  EXPECT_LE(conn()->cwnd(), conn()->ssthresh());
}

TEST_F(established_state, peer_fin_goes_to_close_wait_and_signals_eof) {
  send_data("bye", fin);
  EXPECT_EQ(conn()->state(), tcp_state::close_wait);
  EXPECT_TRUE(conn()->peer_closed());
  EXPECT_EQ(app.received, "bye");
}

TEST_F(established_state, out_of_order_fin_waits_for_the_gap) {
  const seq_t base = cseq;
  send(make(ack | fin, base + 3, cack, "def"));
  EXPECT_EQ(conn()->state(), tcp_state::established);
  auto r = send(make(ack, base, cack, "abc"));
  EXPECT_EQ(conn()->state(), tcp_state::close_wait);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.ack, base + 7);
  EXPECT_EQ(app.received, "abcdef");
}

TEST_F(established_state, close_sends_fin_after_data) {
  server_write("last");
  conn()->close();
  st->flush(now, tx);
  auto r = drain();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, ack | fin);
  EXPECT_EQ(r[0].seg.seq, cack + 4);
  EXPECT_EQ(conn()->state(), tcp_state::fin_wait_1);
}

TEST_F(established_state, abort_sends_rst) {
  conn()->abort();
  st->flush(now, tx);
  auto r = drain();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, rst | ack);
  EXPECT_EQ(r[0].seg.seq, cack);
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(app.closes, 1);
}

TEST_F(established_state, idle_timeout_aborts) {
  cfg.tcp.idle_timeout = 30 * kNsPerSec;
  SetUp();
  EXPECT_TRUE(tick(29 * kNsPerSec).empty());
  auto r = tick(1 * kNsPerSec);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, rst | ack);
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(app.reasons.back(), close_reason::idle_timeout);
  EXPECT_EQ(st->counters().tcp_idle_timeouts.load(), 1u);
}

TEST_F(established_state, send_space_is_bounded) {
  auto sp = conn()->send_space();
  EXPECT_EQ(sp.size(), cfg.tcp.tx_buffer);
  conn()->commit_send(sp.size());
  EXPECT_TRUE(conn()->send_space().empty());
}

// ------------------------------------------------------------ FIN-WAIT-1 / 2 --
class fin_wait_1_state : public established_state {
 protected:
  void SetUp() override {
    established_state::SetUp();
    conn()->close();
    st->flush(now, tx);
    auto r = drain();
    ASSERT_EQ(r.size(), 1u);
    ASSERT_TRUE(r[0].seg.has(fin));
    ASSERT_EQ(conn()->state(), tcp_state::fin_wait_1);
  }
};

TEST_F(fin_wait_1_state, ack_of_fin_goes_to_fin_wait_2) {
  EXPECT_TRUE(send(make(ack, cseq, cack + 1)).empty());
  EXPECT_EQ(conn()->state(), tcp_state::fin_wait_2);
}

TEST_F(fin_wait_1_state, fin_ack_goes_to_time_wait) {
  auto r = send(make(ack | fin, cseq, cack + 1));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.ack, cseq + 1);
  EXPECT_EQ(conn()->state(), tcp_state::time_wait);
  EXPECT_EQ(app.closes, 1);
}

TEST_F(fin_wait_1_state, simultaneous_close_goes_through_closing) {
  auto r = send(make(ack | fin, cseq, cack));  // their FIN, our FIN not yet acked
  EXPECT_EQ(conn()->state(), tcp_state::closing);
  cseq += 1;
  send(make(ack, cseq, cack + 1));
  EXPECT_EQ(conn()->state(), tcp_state::time_wait);
}

TEST_F(fin_wait_1_state, fin_is_retransmitted) {
  auto r = tick(1 * kNsPerSec);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].seg.has(fin));
  EXPECT_EQ(r[0].seg.seq, cack);
}

TEST_F(fin_wait_1_state, rst_resets) {
  send(make(rst, cseq, 0));
  EXPECT_EQ(conn(), nullptr);
}

class fin_wait_2_state : public fin_wait_1_state {
 protected:
  void SetUp() override {
    fin_wait_1_state::SetUp();
    send(make(ack, cseq, cack + 1));
    cack += 1;
    ASSERT_EQ(conn()->state(), tcp_state::fin_wait_2);
  }
};

TEST_F(fin_wait_2_state, half_closed_still_receives) {
  auto r = send_data("more");
  EXPECT_EQ(app.received, "more");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.ack, cseq);
}

TEST_F(fin_wait_2_state, unread_data_keeps_the_connection_open_for_the_app) {
  app.auto_consume = false;
  send_data("tail", fin);
  ASSERT_EQ(conn()->state(), tcp_state::time_wait);
  EXPECT_EQ(app.closes, 0) << "bytes not read yet: no on_close, buffers kept";
  tcp_conn* c = conn();
  EXPECT_EQ(to_string(c->recv_view()), "tail");
  EXPECT_TRUE(c->peer_closed());
  c->consume(4);
  st->flush(now, tx);
  EXPECT_EQ(app.closes, 1);
  EXPECT_FALSE(conn()->holds_buffers());
}

TEST_F(fin_wait_2_state, fin_goes_to_time_wait) {
  auto r = send_data("", fin);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.ack, cseq);
  EXPECT_EQ(conn()->state(), tcp_state::time_wait);
}

TEST_F(fin_wait_2_state, rst_resets) {
  send(make(rst, cseq, 0));
  EXPECT_EQ(conn(), nullptr);
}

TEST_F(fin_wait_2_state, data_out_of_window_is_acked_and_dropped) {
  auto r = send(make(ack | psh, cseq + 100000, cack, "zz"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.ack, cseq);
  EXPECT_EQ(app.received, "");
}

class closing_state : public fin_wait_1_state {
 protected:
  void SetUp() override {
    fin_wait_1_state::SetUp();
    send(make(ack | fin, cseq, cack));
    cseq += 1;
    ASSERT_EQ(conn()->state(), tcp_state::closing);
  }
};

TEST_F(closing_state, fin_is_retransmitted_until_acked) {
  auto r = tick(1 * kNsPerSec);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].seg.has(fin));
  send(make(ack, cseq, cack + 1));
  EXPECT_EQ(conn()->state(), tcp_state::time_wait);
}

TEST_F(closing_state, rst_resets) {
  send(make(rst, cseq, 0));
  EXPECT_EQ(conn(), nullptr);
}

// ----------------------------------------------------------- CLOSE-WAIT / LAST-ACK --
class close_wait_state : public established_state {
 protected:
  void SetUp() override {
    established_state::SetUp();
    send_data("", fin);
    ASSERT_EQ(conn()->state(), tcp_state::close_wait);
  }
};

TEST_F(close_wait_state, half_close_server_keeps_sending) {
  auto r = server_write("still here");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(to_string(r[0].payload), "still here");
}

TEST_F(close_wait_state, close_sends_fin_and_last_ack_completes) {
  conn()->close();
  st->flush(now, tx);
  auto r = drain();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].seg.has(fin));
  EXPECT_EQ(conn()->state(), tcp_state::last_ack);
  send(make(ack, cseq, cack + 1));
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(app.reasons.back(), close_reason::normal);
}

TEST_F(close_wait_state, rst_resets) {
  send(make(rst, cseq, 0));
  EXPECT_EQ(conn(), nullptr);
}

// The application closed after the peer's FIN: our FIN is out, not yet acknowledged.
class last_ack_state : public close_wait_state {
 protected:
  void SetUp() override {
    close_wait_state::SetUp();
    conn()->close();
    st->flush(now, tx);
    drain();
    ASSERT_EQ(conn()->state(), tcp_state::last_ack);
  }
};

TEST_F(last_ack_state, answers_retransmitted_fin) {
  auto r = send(make(ack | fin, cseq - 1, cack));  // their FIN again
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.ack, cseq);
  EXPECT_EQ(conn()->state(), tcp_state::last_ack);
}

TEST_F(last_ack_state, rst_resets) {
  send(make(rst, cseq, 0));
  EXPECT_EQ(conn(), nullptr);
}

TEST_F(last_ack_state, fin_is_retransmitted) {
  auto r = tick(1 * kNsPerSec);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].seg.has(fin));
}

// --------------------------------------------------------------------- TIME-WAIT --
class time_wait_state : public fin_wait_2_state {
 protected:
  void SetUp() override {
    fin_wait_2_state::SetUp();
    send_data("", fin);
    ASSERT_EQ(conn()->state(), tcp_state::time_wait);
  }
};

TEST_F(time_wait_state, buffers_are_returned) { EXPECT_FALSE(conn()->holds_buffers()); }

TEST_F(time_wait_state, retransmitted_fin_is_acked_and_restarts_2msl) {
  tick(30 * kNsPerSec);
  auto r = send(make(ack | fin, cseq - 1, cack));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.ack, cseq);
  tick(40 * kNsPerSec);
  EXPECT_NE(conn(), nullptr) << "2MSL restarted by the retransmitted FIN";
  tick(25 * kNsPerSec);
  EXPECT_EQ(conn(), nullptr);
}

TEST_F(time_wait_state, expires_after_2msl) {
  tick(cfg.tcp.time_wait - kNsPerSec);
  EXPECT_NE(conn(), nullptr);
  tick(2 * kNsPerSec);
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(st->connections(), 0u);
}

TEST_F(time_wait_state, new_syn_with_higher_sequence_reuses_the_tuple) {  // RFC 6191
  c_isn = cseq + 100000;
  cts += 10;
  auto sa = send_syn(linux_syn_options());
  EXPECT_EQ(sa.seg.flags, syn | ack);
  EXPECT_EQ(conn()->state(), tcp_state::syn_received);
  EXPECT_EQ(st->counters().tcp_time_wait_reuse.load(), 1u);
}

TEST_F(time_wait_state, old_syn_does_not_reuse) {
  auto s = make(syn, cseq - 1000, 0);
  auto r = send(s);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, ack) << "challenge ACK, TIME_WAIT kept";
  EXPECT_EQ(conn()->state(), tcp_state::time_wait);
}

TEST_F(time_wait_state, rst_closes_early) {
  send(make(rst, cseq, 0));
  EXPECT_EQ(conn(), nullptr);
}

}  // namespace
}  // namespace anvil::net::test
