#include "tests/net/tcp_fixture.h"

namespace anvil::net::test {
namespace {

using namespace tcp_flag;

TEST_F(tcp_fixture, handshake_and_echo) {
  auto sa = send_syn(linux_syn_options());
  EXPECT_EQ(sa.seg.flags, syn | ack);
  EXPECT_EQ(sa.seg.ack, c_isn + 1);
  EXPECT_EQ(sa.seg.opt.mss, 1460);
  EXPECT_TRUE(sa.seg.opt.has_ts);
  EXPECT_GE(sa.seg.opt.wscale, 0);
  EXPECT_TRUE(sa.seg.opt.sack_permitted) << "RFC 2018: offered, so echoed";
  EXPECT_EQ(sa.dst_mac, kClientMac);
  EXPECT_TRUE(send_ack().empty());
  EXPECT_EQ(app.accepts, 1);
  app.echo = true;
  auto r = send_data("hello");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(to_string(r[0].payload), "hello");
  EXPECT_EQ(r[0].seg.ack, cseq);
  EXPECT_EQ(app.received, "hello");
}

}  // namespace
}  // namespace anvil::net::test
