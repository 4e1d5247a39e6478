// Heartbeats over kernel UDP on loopback: delivery, an oversized datagram reported
// truncated (never read past the buffer), and two heartbeat services that see each
// other alive while counting a malformed datagram.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/cluster/heartbeat.h"
#include "control/cluster/heartbeat_service.h"
#include "control/cluster/heartbeat_socket.h"
#include "tests/support/memcached_process.h"

namespace anvil::cluster {
namespace {

std::vector<std::uint8_t> bytes_of(const heartbeat& hb) {
  std::vector<std::uint8_t> b;
  EXPECT_TRUE(encode(hb, b));
  return b;
}

heartbeat from(const std::string& node, std::uint64_t seq) {
  heartbeat hb;
  hb.node = node;
  hb.zone = "dc1";
  hb.shard = "s1";
  hb.incarnation = 1;
  hb.seq = seq;
  return hb;
}

heartbeat sample() {
  auto hb = from("node-a", 99);
  hb.reasons = {"canary_slow"};
  return hb;
}

// --- UDP on loopback ---

TEST(HeartbeatSocket, DeliversDatagramsAndReportsOversizedOnesTruncated) {
  heartbeat_socket a("127.0.0.1", 0), b("127.0.0.1", 0);
  const auto good = bytes_of(sample());
  const peer_address to_b{"b", "127.0.0.1", b.port()};
  ASSERT_TRUE(a.send_to(to_b, good));
  std::vector<std::uint8_t> big(kMaxPacket + 100, 0xab);
  ASSERT_TRUE(a.send_to(to_b, big));
  std::vector<std::pair<std::size_t, bool>> got;
  for (int i = 0; i < 200 && got.size() < 2; ++i) {
    b.drain([&](std::span<const std::uint8_t> bytes, const std::string& host, bool truncated) {
      EXPECT_EQ(host, "127.0.0.1");
      got.emplace_back(bytes.size(), truncated);
    });
    if (got.size() < 2) ::usleep(5000);
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], (std::pair<std::size_t, bool>{good.size(), false}));
  EXPECT_TRUE(got[1].second);
  EXPECT_LE(got[1].first, kMaxPacket + 1) << "never more than the buffer";
  EXPECT_FALSE(a.send_to({"x", "not-an-ip", 1}, good));
  EXPECT_THROW(heartbeat_socket("10.0.0", 0), std::runtime_error);
}

TEST(HeartbeatService, TwoNodesSeeEachOtherAliveAndCountGarbage) {
  const auto pa = static_cast<std::uint16_t>(test::memcached_process::free_port(SOCK_DGRAM));
  auto pb = static_cast<std::uint16_t>(test::memcached_process::free_port(SOCK_DGRAM));
  while (pb == pa) pb = static_cast<std::uint16_t>(test::memcached_process::free_port(SOCK_DGRAM));
  heartbeat_service a("a", "127.0.0.1", pa, {{"b", "127.0.0.1", pb}}, 10, 3, 10, 1);
  heartbeat_service b("b", "127.0.0.1", pb, {{"a", "127.0.0.1", pa}}, 10, 3, 10, 2);
  heartbeat self_a = from("a", 0), self_b = from("b", 0);
  heartbeat_socket rogue("127.0.0.1", 0);
  const std::uint8_t junk[3] = {1, 2, 3};
  rogue.send_to({"a", "127.0.0.1", pa}, junk);
  time_ms now = 0;
  for (int i = 0; i < 400; ++i) {
    now += 10;
    a.pump(now, self_a);
    b.pump(now, self_b);
    if (a.table().peers()[0].received >= 3 && b.table().peers()[0].received >= 3 &&
        a.table().counters().malformed >= 1)
      break;
    ::usleep(2000);
  }
  EXPECT_GE(a.table().peers()[0].received, 3u);
  EXPECT_GE(b.table().peers()[0].received, 3u);
  EXPECT_EQ(a.table().state(a.table().peers()[0], now), liveness::alive);
  EXPECT_EQ(a.table().counters().malformed, 1u);
  EXPECT_GE(a.counters().sent, 3u);
  EXPECT_EQ(a.table().peers()[0].last.node, "b");
}

}  // namespace
}  // namespace anvil::cluster
