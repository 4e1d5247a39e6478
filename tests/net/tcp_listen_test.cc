// The listener under pressure: SYNs on a full table (O(1), the TIME_WAIT queue),
// initial sequence numbers and timestamp offsets an off-path attacker cannot predict
// (RFC 6528), and wrong ACKs to a SYN-RECEIVED entry (RFC 5961 spirit).
#include "tests/net/tcp_peers.h"

namespace anvil::net::test {
namespace {

using namespace tcp_flag;

class full_table : public multi_peer_fixture {
 protected:
  void SetUp() override {
    cfg.max_connections = 3;
    cfg.syn_backlog = 3;
    multi_peer_fixture::SetUp();
  }
};

// Issue 12 item 9: the entry given up is the head of the TIME_WAIT queue (closest to
// expiry), found without looking at any other slot. A retransmitted FIN restarts an
// entry's 2MSL and moves it to the back.
TEST_F(full_table, syn_recycles_the_time_wait_entry_closest_to_expiry) {
  peer a, b, c;
  a.port = 35000, b.port = 35001, c.port = 35002;
  for (peer* p : {&a, &b, &c}) open(*p);
  for (peer* p : {&a, &b, &c}) {
    to_time_wait(*p);
    now += kNsPerSec;
  }
  EXPECT_EQ(st->time_wait_connections(), 3u);
  // a's peer retransmits its FIN: a's 2MSL restarts, b is now the oldest.
  a.seq -= 1;
  burst({{&a, segment(a, ack | fin)}});
  a.seq += 1;
  peer d;
  d.port = 35003;
  open(d);
  EXPECT_EQ(st->counters().tcp_time_wait_recycled.load(), 1u);
  EXPECT_NE(find(a), nullptr);
  EXPECT_EQ(find(b), nullptr) << "b entered TIME_WAIT before c and a's was restarted";
  EXPECT_NE(find(c), nullptr);
  EXPECT_EQ(st->time_wait_connections(), 2u);
  peer e;
  e.port = 35004;
  open(e);
  EXPECT_EQ(find(c), nullptr);
  EXPECT_NE(find(a), nullptr);
  EXPECT_EQ(st->time_wait_connections(), 1u);
}

// Entries leave the queue however their TIME_WAIT ends (expiry, RST, reuse by a new
// SYN), so the queue never names a slot that is free or in use by another connection.
TEST_F(full_table, time_wait_queue_follows_every_exit) {
  peer a, b, c;
  a.port = 35100, b.port = 35101, c.port = 35102;
  for (peer* p : {&a, &b, &c}) open(*p);
  for (peer* p : {&a, &b, &c}) to_time_wait(*p);
  ASSERT_EQ(st->time_wait_connections(), 3u);
  burst({{&a, segment(a, rst)}});  // RST in TIME_WAIT closes it
  EXPECT_EQ(find(a), nullptr);
  EXPECT_EQ(st->time_wait_connections(), 2u);
  b.isn = b.seq + 100000;  // RFC 6191 reuse: a new SYN above RCV.NXT
  b.out.clear();
  open(b);
  EXPECT_EQ(st->counters().tcp_time_wait_reuse.load(), 1u);
  EXPECT_EQ(st->time_wait_connections(), 1u);
  now += cfg.tcp.time_wait + kNsPerSec;
  st->poll_timers(now, tx);
  route();
  EXPECT_EQ(find(c), nullptr);
  EXPECT_EQ(st->time_wait_connections(), 0u);
  // Full of ESTABLISHED connections (a, b and a new one): SYNs are refused, counted.
  peer d, e;
  d.port = 35103, e.port = 35104;
  open(d);
  open(a);
  for (int i = 0; i < 100; ++i) {
    tcp_segment s = segment(e, syn);
    s.seq = e.isn + static_cast<seq_t>(i);
    s.opt = linux_syn_options();
    st->receive(tcp_frame(s), now, tx);
  }
  EXPECT_TRUE(tx.take().empty());
  EXPECT_EQ(st->counters().tcp_conn_limit.load(), 100u);
}

// ---------------------------------------------------------------- RFC 6528 ISNs --

TEST(keyed_prf, siphash24_reference_vectors) {
  // The SipHash paper's key 00..0f and message 00..(n-1) (reference implementation's
  // vectors), and one with a zero key.
  prf_key k;
  for (std::uint8_t i = 0; i < 16; ++i) k[i] = i;
  std::uint8_t m[16];
  for (std::uint8_t i = 0; i < 16; ++i) m[i] = i;
  EXPECT_EQ(siphash24(k, m, 0), 0x726fdb47dd0e0e31ull);
  EXPECT_EQ(siphash24(k, m, 1), 0x74f839c593dc67fdull);
  EXPECT_EQ(siphash24(k, m, 2), 0x0d6c8009d9a94f5aull);
  EXPECT_EQ(siphash24(k, m, 3), 0x85676696d7fb7e2dull);
  EXPECT_EQ(siphash24(k, m, 4), 0xcf2794e0277187b7ull);
  EXPECT_EQ(siphash24(k, m, 8), 0x93f5f5799a932462ull);
  EXPECT_EQ(siphash24(k, m, 15), 0xa129ca6149be45e5ull);
  const prf_key zero{};
  EXPECT_EQ(siphash24(zero, "Hello world", 11), 0xc9e8a3021f3822d9ull);
}

TEST(keyed_prf, random_keys_differ_and_domains_separate) {
  const prf_key a = random_prf_key(), b = random_prf_key();
  EXPECT_NE(a, b);
  const tcp_tuple t{kServerIp, kClientIp, kPort, 40000};
  EXPECT_NE(tuple_prf(a, prf_domain::isn, t), tuple_prf(a, prf_domain::ts_offset, t));
  EXPECT_NE(tuple_prf(a, prf_domain::isn, t), tuple_prf(b, prf_domain::isn, t));
  // The connection table's hash depends on the key: the same 256 tuples land in
  // different buckets under two keys.
  int same = 0;
  for (std::uint16_t p = 0; p < 256; ++p) {
    const tcp_tuple u{kServerIp, kClientIp, kPort, static_cast<std::uint16_t>(40000 + p)};
    same += (tuple_hash(a, u) & 1023) == (tuple_hash(b, u) & 1023);
  }
  EXPECT_LT(same, 16);
}

// What an off-path attacker sees: the SYN-ACKs of two servers with different keys, to
// SYNs from neighbouring source ports at the same instant. With ISN = clock + an
// unkeyed tuple hash (+ a constant), ISN(port+1) - ISN(port) is the same on every
// server: one observed ISN predicts the neighbour's. With a keyed PRF the differences
// are unrelated across keys, and their bits are balanced.
class isn_predictability : public ::testing::Test {
 protected:
  struct observed {
    std::vector<seq_t> isn;
    std::vector<std::uint32_t> tsval;
  };
  static observed probe(const prf_key& key, int n) {
    recording_app app;
    stack_config cfg = test_config();
    cfg.secret = key;
    cfg.max_connections = static_cast<std::uint32_t>(n);
    cfg.syn_backlog = static_cast<std::uint32_t>(n);
    cfg.tcp.rx_buffer = cfg.tcp.tx_buffer = 1024;
    stack<recording_app> st(cfg, app);
    vector_sink tx;
    observed o;
    const nanos now = 5000 * kNsPerSec;
    for (int i = 0; i < n; ++i) {
      tcp_segment s;
      s.src_port = static_cast<std::uint16_t>(20000 + i);
      s.dst_port = kPort;
      s.seq = 1;
      s.flags = tcp_flag::syn;
      s.window = 65535;
      s.opt = linux_syn_options(1);
      st.receive(tcp_frame(s), now, tx);
      auto out = tx.take();
      EXPECT_EQ(out.size(), 1u);
      if (out.empty()) continue;
      auto d = decode_tcp(out[0]);
      o.isn.push_back(d->seg.seq);
      o.tsval.push_back(d->seg.opt.ts_val);
    }
    return o;
  }
};

TEST_F(isn_predictability, neighbouring_tuples_do_not_predict_each_other) {
  constexpr int kN = 256;
  prf_key k1{}, k2{};
  k1.fill(0x11);
  k2.fill(0x22);
  const observed a = probe(k1, kN), b = probe(k2, kN);
  ASSERT_EQ(a.isn.size(), std::size_t{kN});
  ASSERT_EQ(b.isn.size(), std::size_t{kN});
  int same_isn_step = 0, same_ts_step = 0;
  std::array<int, 32> ones{};
  for (int i = 0; i + 1 < kN; ++i) {
    const seq_t da = a.isn[i + 1] - a.isn[i], db = b.isn[i + 1] - b.isn[i];
    same_isn_step += da == db;
    same_ts_step += (a.tsval[i + 1] - a.tsval[i]) == (b.tsval[i + 1] - b.tsval[i]);
    for (int bit = 0; bit < 32; ++bit) ones[bit] += (da >> bit) & 1;
  }
  EXPECT_LE(same_isn_step, 2) << "ISN steps between neighbouring tuples repeat across keys";
  EXPECT_LE(same_ts_step, 2) << "timestamp offsets are not keyed";
  for (int bit = 0; bit < 32; ++bit) {
    // 255 samples: a fair bit lands in [0.3, 0.7] except with probability ~1e-10.
    EXPECT_GT(ones[bit], 255 * 3 / 10) << "bit " << bit;
    EXPECT_LT(ones[bit], 255 * 7 / 10) << "bit " << bit;
  }
}

// ------------------------------------------------------- wrong ACKs, SYN-RECEIVED --

class half_open : public multi_peer_fixture {};

// RFC 5961 spirit: each wrong ACK to a SYN-RECEIVED entry still gets its RST
// (RFC 9293), and counts against the entry; at syn_received_max_bad_acks (3) it is
// dropped. A blind attacker gets 3 guesses at a 32-bit ISS per handshake, so a SET
// riding on a guessed ACK is never delivered.
TEST_F(half_open, wrong_acks_count_against_the_entry) {
  peer p;
  p.port = 36000;
  peers.push_back(&p);
  tcp_segment s = segment(p, syn);
  s.seq = p.isn;
  s.opt = linux_syn_options(p.tsval);
  p.seq = p.isn + 1;
  burst({{&p, s}});
  ASSERT_EQ(p.out.size(), 1u);
  const seq_t iss = p.out[0].seg.seq;
  for (std::uint32_t i = 0; i < cfg.tcp.syn_received_max_bad_acks; ++i) {
    ASSERT_NE(find(p), nullptr) << "guess " << i;
    p.ack = iss + 1 + 1000 * (i + 1);  // a wrong guess
    p.out.clear();
    burst({{&p, segment(p, ack | psh, "set k v")}});
    ASSERT_EQ(p.out.size(), 1u);
    EXPECT_EQ(p.out[0].seg.flags, rst);
    EXPECT_EQ(p.out[0].seg.seq, p.ack);
  }
  EXPECT_EQ(find(p), nullptr) << "dropped after the third wrong ACK";
  EXPECT_EQ(st->counters().tcp_synrecv_dropped.load(), 1u);
  EXPECT_EQ(st->half_open(), 0u);
  // The right ACK now finds no entry: RST, nothing delivered.
  p.ack = iss + 1;
  p.out.clear();
  burst({{&p, segment(p, ack | psh, "set k v")}});
  EXPECT_EQ(app.accepts, 0);
  EXPECT_TRUE(app.received.empty());
}

TEST_F(half_open, right_ack_after_fewer_wrong_ones_still_establishes) {
  peer p;
  p.port = 36001;
  peers.push_back(&p);
  tcp_segment s = segment(p, syn);
  s.seq = p.isn;
  s.opt = linux_syn_options(p.tsval);
  p.seq = p.isn + 1;
  burst({{&p, s}});
  const seq_t iss = p.out.at(0).seg.seq;
  for (std::uint32_t i = 0; i + 1 < cfg.tcp.syn_received_max_bad_acks; ++i) {
    p.ack = iss + 7 + i;
    burst({{&p, segment(p, ack)}});
  }
  p.ack = iss + 1;
  burst({{&p, segment(p, ack | psh, "hello")}});
  ASSERT_NE(find(p), nullptr);
  EXPECT_EQ(find(p)->state(), tcp_state::established);
  EXPECT_EQ(app.received, "hello");
  EXPECT_EQ(st->counters().tcp_synrecv_dropped.load(), 0u);
}

}  // namespace
}  // namespace anvil::net::test
