// Heartbeats: the wire codec (every malformed-input path, every cut of a valid packet) and
// the peer table (acceptance, suspicion, the step-down question). The UDP side is in
// heartbeat_socket_test.cc.
#include "control/cluster/heartbeat.h"

#include <gtest/gtest.h>

#include <random>

#include "control/cluster/peer_table.h"

namespace anvil::cluster {
namespace {

heartbeat sample() {
  heartbeat hb;
  hb.node = "node-a";
  hb.zone = "dc1";
  hb.shard = "s1";
  hb.node_role = role::primary;
  hb.health = health_level::degraded;
  hb.reasons = {"canary_slow", "storage_degraded"};
  hb.incarnation = 0x0102030405060708ull;
  hb.seq = 99;
  hb.epoch = 7;
  hb.replication_position = ~std::uint64_t{0};
  hb.canary_latency_us = 0xfffffffe;
  return hb;
}

std::vector<std::uint8_t> bytes_of(const heartbeat& hb) {
  std::vector<std::uint8_t> b;
  EXPECT_TRUE(encode(hb, b));
  return b;
}

decode_error decode_bytes(const std::vector<std::uint8_t>& b) {
  heartbeat out;
  return decode(b, out);
}

TEST(Heartbeat, RoundTripsEveryField) {
  const auto hb = sample();
  const auto b = bytes_of(hb);
  heartbeat out;
  ASSERT_EQ(decode(b, out), decode_error::none);
  EXPECT_EQ(out, hb);
}

TEST(Heartbeat, LargestPacketRoundTrips) {
  heartbeat hb = sample();
  hb.node = std::string(kMaxName, 'n');
  hb.zone = std::string(kMaxName, 'z');
  hb.shard = std::string(kMaxName, 's');
  hb.reasons.assign(kMaxReasons, std::string(kMaxReason, 'r'));
  const auto b = bytes_of(hb);
  EXPECT_LE(b.size(), kMaxPacket);
  heartbeat out;
  ASSERT_EQ(decode(b, out), decode_error::none);
  EXPECT_EQ(out, hb);
}

TEST(Heartbeat, EncodeRefusesWhatTheFormatCannotCarry) {
  std::vector<std::uint8_t> b;
  auto hb = sample();
  hb.node = "";
  EXPECT_FALSE(encode(hb, b));
  hb = sample();
  hb.zone = std::string(kMaxName + 1, 'z');
  EXPECT_FALSE(encode(hb, b));
  hb = sample();
  hb.reasons.assign(kMaxReasons + 1, "r");
  EXPECT_FALSE(encode(hb, b));
  hb = sample();
  hb.reasons = {std::string(kMaxReason + 1, 'r')};
  EXPECT_FALSE(encode(hb, b));
  hb.reasons = {""};
  EXPECT_FALSE(encode(hb, b));
}

TEST(Heartbeat, EveryCutOfAValidPacketIsRejected) {
  const auto b = bytes_of(sample());
  for (std::size_t n = 0; n < b.size(); ++n) {
    std::vector<std::uint8_t> cut(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_NE(decode_bytes(cut), decode_error::none) << n;
  }
  EXPECT_EQ(decode_bytes({}), decode_error::too_short);
  EXPECT_EQ(decode_bytes(std::vector<std::uint8_t>(kHeartbeatFixed - 1, 0)),
            decode_error::too_short);
}

TEST(Heartbeat, EachMalformedFieldIsNamed) {
  const auto good = bytes_of(sample());
  auto with = [&](std::size_t at, std::uint8_t v) {
    auto b = good;
    b[at] = v;
    return decode_bytes(b);
  };
  EXPECT_EQ(with(0, 'X'), decode_error::bad_magic);
  EXPECT_EQ(with(4, 2), decode_error::bad_version);
  EXPECT_EQ(with(4, 0), decode_error::bad_version);
  EXPECT_EQ(with(5, 4), decode_error::bad_role);
  EXPECT_EQ(with(5, 255), decode_error::bad_role);
  EXPECT_EQ(with(6, 3), decode_error::bad_health);
  EXPECT_EQ(with(7, kMaxReasons + 1), decode_error::too_many_reasons);
  EXPECT_EQ(with(7, 3), decode_error::bad_reason) << "one reason more than sent: past the end";
  EXPECT_EQ(with(7, 1), decode_error::trailing_bytes) << "one reason fewer than sent";
  EXPECT_EQ(with(kHeartbeatFixed, 0), decode_error::bad_name) << "empty node name";
  EXPECT_EQ(with(kHeartbeatFixed, kMaxName + 1), decode_error::bad_name);
  EXPECT_EQ(with(kHeartbeatFixed, 255), decode_error::bad_name);
  auto b = good;
  b.push_back(0);
  EXPECT_EQ(decode_bytes(b), decode_error::trailing_bytes);
  EXPECT_EQ(decode_bytes(std::vector<std::uint8_t>(kMaxPacket + 1, 0)), decode_error::too_long);
  // A reason longer than allowed (the first reason's length byte).
  const std::size_t first_reason = kHeartbeatFixed + 3 + 6 + 3 + 2;
  EXPECT_EQ(with(first_reason, kMaxReason + 1), decode_error::bad_reason);
  EXPECT_EQ(with(first_reason, 0), decode_error::bad_reason);
  for (auto e : {decode_error::none, decode_error::too_short, decode_error::trailing_bytes})
    EXPECT_STRNE(to_string(e), "?");
}

TEST(Heartbeat, RandomBytesNeverCrashAndRandomFlipsAreCaughtOrHarmless) {
  std::mt19937_64 rng(15);
  const auto good = bytes_of(sample());
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> b(rng() % (kMaxPacket + 8));
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    if (b.size() >= 8 && i % 2 == 0) std::copy(good.begin(), good.begin() + 8, b.begin());
    heartbeat out;
    const auto e = decode(b, out);
    if (e == decode_error::none) {
      std::vector<std::uint8_t> again;
      ASSERT_TRUE(encode(out, again));
      EXPECT_EQ(again, b) << "whatever decodes re-encodes to the same bytes";
    }
  }
}

// --- peer table ---

constexpr time_ms kInterval = 100;

peer_table table() {
  return peer_table("a", {{"b", "10.0.0.2", 11312}, {"c", "10.0.0.3", 11312}}, kInterval, 3, 10);
}

heartbeat from(const std::string& node, std::uint64_t seq, role r = role::replica,
               health_level h = health_level::ok) {
  heartbeat hb;
  hb.node = node;
  hb.zone = "dc1";
  hb.shard = "s1";
  hb.node_role = r;
  hb.health = h;
  hb.incarnation = 1;
  hb.seq = seq;
  return hb;
}

TEST(PeerTable, AcceptsOnlyConfiguredPeersFromTheirAddressesInOrder) {
  auto t = table();
  EXPECT_EQ(t.on_heartbeat(0, from("a", 1), "10.0.0.1"), accept_result::self);
  EXPECT_EQ(t.on_heartbeat(0, from("x", 1), "10.0.0.9"), accept_result::unknown_peer);
  EXPECT_EQ(t.on_heartbeat(0, from("b", 1), "10.0.0.3"), accept_result::wrong_source);
  EXPECT_EQ(t.on_heartbeat(0, from("b", 5), "10.0.0.2"), accept_result::accepted);
  EXPECT_EQ(t.on_heartbeat(1, from("b", 5), "10.0.0.2"), accept_result::stale) << "duplicate";
  EXPECT_EQ(t.on_heartbeat(1, from("b", 4), "10.0.0.2"), accept_result::stale) << "reordered";
  auto restarted = from("b", 1);
  restarted.incarnation = 2;
  EXPECT_EQ(t.on_heartbeat(2, restarted, "10.0.0.2"), accept_result::accepted)
      << "a restart starts seq again";
  EXPECT_EQ(t.counters().accepted, 2u);
  EXPECT_EQ(t.counters().unknown_peer, 1u);
  EXPECT_EQ(t.counters().wrong_source, 1u);
  EXPECT_EQ(t.counters().stale, 2u);
  EXPECT_EQ(t.peers().size(), 2u) << "nothing unknown is stored";
}

TEST(PeerTable, SuspicionCountsMissedHeartbeats) {
  auto t = table();
  const auto& b = t.peers()[0];
  EXPECT_EQ(t.state(b, 1000), liveness::unknown) << "never heard";
  EXPECT_EQ(t.missed(b, 1000), 0u);
  t.on_heartbeat(1000, from("b", 1), "10.0.0.2");
  EXPECT_EQ(t.state(b, 1000), liveness::alive);
  EXPECT_EQ(t.state(b, 999), liveness::alive) << "a clock before last_seen does not underflow";
  EXPECT_EQ(t.state(b, 1000 + 3 * kInterval - 1), liveness::alive);
  EXPECT_EQ(t.missed(b, 1000 + 3 * kInterval - 1), 2u);
  EXPECT_EQ(t.state(b, 1000 + 3 * kInterval), liveness::suspect);
  EXPECT_EQ(t.state(b, 1000 + 10 * kInterval - 1), liveness::suspect);
  EXPECT_EQ(t.state(b, 1000 + 10 * kInterval), liveness::dead);
  t.on_heartbeat(2100, from("b", 2), "10.0.0.2");
  EXPECT_EQ(t.state(b, 2100), liveness::alive) << "back";
  EXPECT_STREQ(to_string(liveness::suspect), "suspect");
}

TEST(PeerTable, AHealthyCaughtUpReplicaIsOneThatIsAliveOkSameShardAndZoneAndNearEnough) {
  auto t = table();
  EXPECT_FALSE(t.healthy_caught_up_replica(0, "s1", "dc1", 0, 0)) << "nobody heard yet";
  auto hb = from("b", 1);
  hb.replication_position = 90;
  t.on_heartbeat(0, hb, "10.0.0.2");
  EXPECT_TRUE(t.healthy_caught_up_replica(0, "s1", "dc1", 100, 10)) << "exactly max_lag behind";
  EXPECT_FALSE(t.healthy_caught_up_replica(0, "s1", "dc1", 101, 10)) << "one past max_lag";
  EXPECT_TRUE(t.healthy_caught_up_replica(0, "s1", "dc1", 5, 0)) << "ahead of us: no underflow";
  EXPECT_FALSE(t.healthy_caught_up_replica(0, "s2", "dc1", 90, 0)) << "other shard";
  EXPECT_FALSE(t.healthy_caught_up_replica(0, "s1", "dc2", 90, 0)) << "other zone";
  EXPECT_FALSE(t.healthy_caught_up_replica(3 * kInterval, "s1", "dc1", 90, 0)) << "suspect";
  t.on_heartbeat(10, from("b", 2, role::replica, health_level::degraded), "10.0.0.2");
  EXPECT_FALSE(t.healthy_caught_up_replica(10, "s1", "dc1", 0, 0)) << "degraded";
  t.on_heartbeat(20, from("b", 3, role::primary), "10.0.0.2");
  EXPECT_FALSE(t.healthy_caught_up_replica(20, "s1", "dc1", 0, 0)) << "not a replica";
}

TEST(PeerTable, HighestPrimaryIsTheNewestEpochAnAlivePeerClaims) {
  auto t = table();
  EXPECT_EQ(t.highest_primary(0, "s1").first, 0u);
  auto b = from("b", 1, role::primary);
  b.epoch = 4;
  auto c = from("c", 1, role::primary);
  c.epoch = 6;
  t.on_heartbeat(0, b, "10.0.0.2");
  t.on_heartbeat(0, c, "10.0.0.3");
  EXPECT_EQ(t.highest_primary(0, "s1"), (std::pair<std::uint64_t, std::string>{6, "c"}));
  EXPECT_EQ(t.highest_primary(0, "s2").first, 0u);
  EXPECT_EQ(t.highest_primary(3 * kInterval, "s1").first, 0u) << "suspects do not count";
}

}  // namespace
}  // namespace anvil::cluster
