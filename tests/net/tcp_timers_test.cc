// Timers that reclaim connections (issue 12 item 5), with time passed in: the
// FIN_WAIT_2 timeout, keepalive and the idle timeout, each counted in net_counters.
#include "tests/net/tcp_fixture.h"

namespace anvil::net::test {
namespace {

using namespace tcp_flag;

class timers : public tcp_fixture {
 protected:
  void SetUp() override {}  // each test sets cfg first, then start()
  void start() {
    rebuild();
    establish();
  }
  // Server closes, the peer acknowledges the FIN and sends nothing more.
  void to_fin_wait_2() {
    conn()->close();
    st->flush(now, tx);
    auto r = drain();
    ASSERT_EQ(r.size(), 1u);
    ASSERT_TRUE(r[0].seg.has(fin));
    send(make(ack, cseq, cack + 1));
    cack += 1;
    ASSERT_EQ(conn()->state(), tcp_state::fin_wait_2);
  }
};

TEST_F(timers, fin_wait_2_times_out_after_60_s_by_default) {
  start();
  EXPECT_EQ(cfg.tcp.fin_wait_2_timeout, 60 * kNsPerSec);
  to_fin_wait_2();
  EXPECT_TRUE(tick(59 * kNsPerSec).empty());
  ASSERT_NE(conn(), nullptr);
  auto r = tick(1 * kNsPerSec);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, rst | ack);
  EXPECT_EQ(conn(), nullptr) << "slot reclaimed";
  ASSERT_FALSE(app.reasons.empty());
  EXPECT_EQ(app.reasons.back(), close_reason::fin_wait_2_timeout);
  EXPECT_EQ(st->counters().tcp_fin_wait_2_timeouts.load(), 1u);
}

// A half-closed peer that is still sending keeps the connection: the timeout counts
// from the last segment received.
TEST_F(timers, fin_wait_2_peer_still_sending_is_not_reclaimed) {
  cfg.tcp.fin_wait_2_timeout = 10 * kNsPerSec;
  start();
  to_fin_wait_2();
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(tick(9 * kNsPerSec).empty()) << i;
    send_data("x");
  }
  EXPECT_EQ(app.received.size(), 20u);
  ASSERT_NE(conn(), nullptr);
  EXPECT_EQ(conn()->state(), tcp_state::fin_wait_2);
  auto r = tick(10 * kNsPerSec);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].seg.has(rst));
  EXPECT_EQ(conn(), nullptr);
}

TEST_F(timers, fin_wait_2_timeout_zero_waits_for_ever) {
  cfg.tcp.fin_wait_2_timeout = 0;
  start();
  to_fin_wait_2();
  for (int i = 0; i < 24; ++i) EXPECT_TRUE(tick(3600 * kNsPerSec).empty());
  ASSERT_NE(conn(), nullptr);
  EXPECT_EQ(conn()->state(), tcp_state::fin_wait_2);
  EXPECT_EQ(st->counters().tcp_fin_wait_2_timeouts.load(), 0u);
}

// Keepalive: after keepalive_idle of silence a probe (SEQ = SND.UNA - 1, no data) every
// keepalive_interval; an answer starts over; keepalive_probes unanswered: RST.
TEST_F(timers, keepalive_probes_then_reclaims_a_dead_peer) {
  cfg.tcp.keepalive_idle = 100 * kNsPerSec;
  cfg.tcp.keepalive_interval = 10 * kNsPerSec;
  cfg.tcp.keepalive_probes = 3;
  start();
  const seq_t una = conn()->snd_una();
  EXPECT_TRUE(tick(99 * kNsPerSec).empty());
  auto r = tick(1 * kNsPerSec);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seg.flags, ack);
  EXPECT_EQ(r[0].seg.seq, una - 1);
  EXPECT_TRUE(r[0].payload.empty());
  // The peer is alive: it answers with an ACK; keepalive starts over.
  send_ack();
  EXPECT_TRUE(tick(99 * kNsPerSec).empty());
  ASSERT_EQ(tick(1 * kNsPerSec).size(), 1u);
  // Now the peer is gone: probes 2 and 3, then the verdict.
  ASSERT_EQ(tick(10 * kNsPerSec).size(), 1u);
  ASSERT_EQ(tick(10 * kNsPerSec).size(), 1u);
  r = tick(10 * kNsPerSec);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].seg.has(rst));
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(app.reasons.back(), close_reason::keepalive_timeout);
  EXPECT_EQ(st->counters().tcp_keepalive_probes.load(), 4u);
  EXPECT_EQ(st->counters().tcp_keepalive_timeouts.load(), 1u);
}

TEST_F(timers, keepalive_is_off_by_default) {
  start();
  EXPECT_EQ(cfg.tcp.keepalive_idle, 0);
  for (int i = 0; i < 24; ++i) EXPECT_TRUE(tick(3600 * kNsPerSec).empty());
  ASSERT_NE(conn(), nullptr);
  EXPECT_EQ(st->counters().tcp_keepalive_probes.load(), 0u);
}

// With data in flight the retransmission timer watches the peer, not keepalive.
TEST_F(timers, keepalive_waits_while_data_is_in_flight) {
  cfg.tcp.keepalive_idle = 5 * kNsPerSec;
  cfg.tcp.keepalive_interval = 1 * kNsPerSec;
  cfg.tcp.keepalive_probes = 1;
  start();
  server_write("unacked");
  for (int i = 0; i < 8; ++i) {
    for (auto& o : tick(1 * kNsPerSec)) EXPECT_FALSE(o.payload.empty()) << "a retransmission";
  }
  EXPECT_EQ(st->counters().tcp_keepalive_probes.load(), 0u);
}

// memcached's idle_timeout: no segment for N s closes the connection (RST), counted.
TEST_F(timers, idle_timeout_reclaims_a_silent_client_and_activity_defers_it) {
  cfg.tcp.idle_timeout = 30 * kNsPerSec;
  start();
  EXPECT_TRUE(tick(20 * kNsPerSec).empty());
  send_data("get");
  EXPECT_TRUE(tick(29 * kNsPerSec).empty());
  ASSERT_NE(conn(), nullptr);
  auto r = tick(1 * kNsPerSec);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].seg.has(rst));
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(app.reasons.back(), close_reason::idle_timeout);
  EXPECT_EQ(st->counters().tcp_idle_timeouts.load(), 1u);
}

}  // namespace
}  // namespace anvil::net::test
