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

}  // namespace
}  // namespace anvil::net::test
