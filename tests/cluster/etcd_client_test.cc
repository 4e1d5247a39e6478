// The etcd client and the cluster model against a real etcd (Debian's 3.4) started on
// loopback by the test: leases, keys with bytes base64 must carry, transactions, the
// shard claim, malformed records, and deadlines against endpoints that refuse or hang.
#include "control/cluster/etcd_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <barrier>
#include <thread>

#include "control/cluster/cluster_store.h"
#include "tests/support/etcd_process.h"

namespace anvil::cluster {
namespace {

using namespace std::chrono_literals;
constexpr auto kDeadline = etcd_client::duration(2000);

class EtcdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::etcd_cluster::available()) return;
    etcd = new test::etcd_cluster(1);
    ASSERT_TRUE(etcd->wait_healthy()) << "etcd did not come up; see " << etcd->dir();
  }
  static void TearDownTestSuite() {
    delete etcd;
    etcd = nullptr;
  }
  void SetUp() override {
    if (etcd == nullptr) GTEST_SKIP() << "no /usr/bin/etcd (tools/deps.sh installs etcd-server)";
  }
  static test::etcd_cluster* etcd;
};
test::etcd_cluster* EtcdTest::etcd = nullptr;

// A listening TCP socket that never accepts: connects succeed, replies never come.
struct black_hole {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int port = 0;
  black_hole() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~black_hole() { ::close(fd); }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port); }
};

TEST(EtcdCodec, Base64AndPrefixEnd) {
  const std::string all_bytes = std::string("\0\x01\xff/a", 5);
  EXPECT_EQ(base64_decode(base64_encode(all_bytes)), all_bytes);
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("a"), "YQ==");
  EXPECT_EQ(base64_decode("YQ=="), "a");
  EXPECT_FALSE(base64_decode("YQ="));
  EXPECT_FALSE(base64_decode("Y!=="));
  EXPECT_EQ(prefix_end("/a/"), "/a0");
  EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_end(std::string("\xff\xff", 2)), std::string(1, '\0'));
  EXPECT_EQ(prefix_end(""), std::string(1, '\0'));
}

TEST(EtcdCodec, MalformedRecordsAreRefused) {
  EXPECT_TRUE(parse_member(R"({"id":"a","zone":"z","management":"m","data":"d"})"));
  EXPECT_FALSE(parse_member(R"({"id":"","zone":"z","management":"m","data":"d"})"));
  EXPECT_FALSE(parse_member(R"({"id":"a","zone":"z","management":"m"})"));
  EXPECT_FALSE(parse_member(R"({"id":1,"zone":"z","management":"m","data":"d"})"));
  EXPECT_FALSE(parse_member("not json"));
  EXPECT_FALSE(parse_member("[]"));
  EXPECT_EQ(parse_shard("s", R"({"vip":"10.0.0.9","zone":"z"})"),
            (shard_info{"s", "10.0.0.9", "z"}));
  EXPECT_FALSE(parse_shard("s", R"({"vip":"","zone":"z"})"));
  EXPECT_FALSE(parse_shard("s", "{"));
  EXPECT_EQ(parse_epoch("0"), 0);
  EXPECT_EQ(parse_epoch("9223372036854775807"), INT64_MAX);
  EXPECT_FALSE(parse_epoch("9223372036854775808"));
  EXPECT_FALSE(parse_epoch("-1"));
  EXPECT_FALSE(parse_epoch(""));
  EXPECT_FALSE(parse_epoch("1x"));
}

TEST_F(EtcdTest, LeaseGrantKeepaliveRevoke) {
  etcd_client c({etcd->endpoint(0)});
  auto g = c.lease_grant(5, kDeadline);
  ASSERT_TRUE(g.status.ok()) << g.status.detail;
  EXPECT_NE(g.id, 0);
  EXPECT_EQ(g.ttl_s, 5);
  auto k = c.lease_keepalive(g.id, kDeadline);
  EXPECT_TRUE(k.alive()) << k.status.detail;
  EXPECT_EQ(k.ttl_s, 5);
  EXPECT_TRUE(c.lease_revoke(g.id, kDeadline).ok());
  auto gone = c.lease_keepalive(g.id, kDeadline);
  EXPECT_TRUE(gone.status.ok()) << "a reply, not a failure";
  EXPECT_FALSE(gone.alive()) << "revoked: TTL 0";
  const auto again = c.lease_revoke(g.id, kDeadline);
  EXPECT_EQ(again.code, etcd_code::not_found) << again.detail;
  EXPECT_FALSE(c.lease_keepalive(123456789, kDeadline).alive()) << "never existed";
}

TEST_F(EtcdTest, KeysCarryAnyBytesAndPrefixesScan) {
  etcd_client c({etcd->endpoint(0)});
  const std::string key = std::string("/t/bytes/\0\xff", 11), value = std::string("v\0\x80", 3);
  ASSERT_TRUE(c.put(key, value, 0, kDeadline).ok());
  ASSERT_TRUE(c.put("/t/bytes/z", "2", 0, kDeadline).ok());
  ASSERT_TRUE(c.put("/t/bytet", "outside", 0, kDeadline).ok());
  auto one = c.get(key, kDeadline);
  ASSERT_TRUE(one.status.ok());
  ASSERT_EQ(one.kvs.size(), 1u);
  EXPECT_EQ(one.kvs[0].key, key);
  EXPECT_EQ(one.kvs[0].value, value);
  EXPECT_GT(one.kvs[0].mod_revision, 0);
  EXPECT_GT(one.revision, 0);
  auto all = c.get_prefix("/t/bytes/", kDeadline);
  ASSERT_TRUE(all.status.ok());
  EXPECT_EQ(all.kvs.size(), 2u);
  auto none = c.get("/t/absent", kDeadline);
  EXPECT_TRUE(none.status.ok());
  EXPECT_TRUE(none.kvs.empty());
}

TEST_F(EtcdTest, TransactionsCompareThenPutAndReportTheOtherBranch) {
  etcd_client c({etcd->endpoint(0)});
  const etcd_compare absent{.key = "/t/txn", .what = etcd_compare::target::create_revision};
  const etcd_op put{.what = etcd_op::kind::put, .key = "/t/txn", .value = "1"};
  const etcd_op read{.what = etcd_op::kind::range, .key = "/t/txn"};
  auto first = c.txn({absent}, {put}, {read}, kDeadline);
  ASSERT_TRUE(first.status.ok()) << first.status.detail;
  EXPECT_TRUE(first.succeeded);
  auto second =
      c.txn({absent}, {put}, {read, {.what = etcd_op::kind::range, .key = "/t/none"}}, kDeadline);
  ASSERT_TRUE(second.status.ok());
  EXPECT_FALSE(second.succeeded);
  ASSERT_EQ(second.ranged.size(), 2u);
  ASSERT_TRUE(second.ranged[0]);
  EXPECT_EQ(second.ranged[0]->value, "1");
  EXPECT_FALSE(second.ranged[1]) << "an absent key keeps its place";
  auto by_value = c.txn({{.key = "/t/txn", .what = etcd_compare::target::value, .value = "1"}},
                        {{.what = etcd_op::kind::del, .key = "/t/txn"}}, {}, kDeadline);
  EXPECT_TRUE(by_value.succeeded);
  EXPECT_TRUE(c.get("/t/txn", kDeadline).kvs.empty());
  // A put attached to a lease that does not exist is an etcd error, not a crash.
  auto bad = c.txn({}, {{.what = etcd_op::kind::put, .key = "/t/l", .value = "x", .lease = 99}}, {},
                   kDeadline);
  EXPECT_EQ(bad.status.code, etcd_code::not_found) << bad.status.detail;
}

TEST_F(EtcdTest, AnUnreachableEndpointFailsWithinTheDeadlineAndTheNextOneIsTried) {
  black_hole hole;
  const int closed = test::memcached_process::free_port();
  {
    etcd_client c({"http://127.0.0.1:" + std::to_string(closed)});
    auto r = c.get("/x", etcd_client::duration(300));
    EXPECT_EQ(r.status.code, etcd_code::unreachable) << r.status.detail;
  }
  {
    etcd_client c({hole.endpoint()});
    const auto t0 = std::chrono::steady_clock::now();
    auto r = c.lease_grant(2, etcd_client::duration(300));
    EXPECT_EQ(r.status.code, etcd_code::unreachable);
    // Bounded progress, not a timing measurement: a hung peer must not hang the call.
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  }
  {
    etcd_client c({hole.endpoint(), etcd->endpoint(0)});
    auto r = c.get("/x", etcd_client::duration(1500));
    EXPECT_TRUE(r.status.ok()) << r.status.detail;
    EXPECT_EQ(c.current_endpoint(), etcd->endpoint(0)) << "and it stays on the one that answered";
  }
  etcd_client none({});
  EXPECT_EQ(none.get("/x", kDeadline).status.code, etcd_code::unreachable);
}

TEST_F(EtcdTest, ShardConfigIsCreatedOnceAndAMismatchIsRefused) {
  etcd_client c({etcd->endpoint(0)});
  cluster_store store(c, "/cfg");
  const shard_info s{"s1", "10.9.0.1", "dc1"};
  EXPECT_TRUE(store.ensure_shard(s, kDeadline).ok());
  EXPECT_TRUE(store.ensure_shard(s, kDeadline).ok()) << "same config again: fine";
  auto other = store.ensure_shard({"s1", "10.9.0.2", "dc1"}, kDeadline);
  EXPECT_EQ(other.code, etcd_code::error);
  EXPECT_NE(other.detail.find("10.9.0.1"), std::string::npos) << other.detail;
  ASSERT_TRUE(store.register_member({"a", "dc1", "10.1.0.1:11312", "10.9.0.11"}, kDeadline).ok());
  etcd_status st;
  auto ms = store.members(kDeadline, st);
  EXPECT_TRUE(st.ok());
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].zone, "dc1");
  auto r = store.read_shard("s1", kDeadline);
  ASSERT_TRUE(r.status.ok());
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->vip, "10.9.0.1");
  EXPECT_FALSE(r.view.has_primary);
  EXPECT_EQ(r.view.epoch, 0);
}

TEST_F(EtcdTest, MalformedShardKeysInEtcdAreErrorsNotCrashes) {
  etcd_client c({etcd->endpoint(0)});
  cluster_store store(c, "/bad");
  ASSERT_TRUE(c.put(store.shard_key("s", "epoch"), "seven", 0, kDeadline).ok());
  auto r = store.read_shard("s", kDeadline);
  EXPECT_EQ(r.status.code, etcd_code::error);
  EXPECT_NE(r.status.detail.find("epoch"), std::string::npos);
  ASSERT_TRUE(c.put(store.shard_key("s", "epoch"), "7", 0, kDeadline).ok());
  ASSERT_TRUE(
      c.put(store.shard_key("s", "primary"), R"({"node":"a","epoch":0})", 0, kDeadline).ok());
  EXPECT_EQ(store.read_shard("s", kDeadline).status.code, etcd_code::error);
  ASSERT_TRUE(c.put(store.member_key("m"), "{}", 0, kDeadline).ok());
  etcd_status st;
  store.members(kDeadline, st);
  EXPECT_EQ(st.code, etcd_code::error);
}

TEST_F(EtcdTest, AClaimNeedsTheEpochSeenAndNoLivePrimary) {
  etcd_client c({etcd->endpoint(0)});
  cluster_store store(c, "/claim");
  auto v = store.read_shard("s", kDeadline);
  ASSERT_TRUE(v.status.ok());
  auto lease_a = c.lease_grant(5, kDeadline).id, lease_b = c.lease_grant(5, kDeadline).id;
  auto a = store.claim("s", "a", "10.0.0.9", v.view.epoch, v.view.epoch_mod_revision, lease_a,
                       kDeadline);
  ASSERT_TRUE(a.status.ok()) << a.status.detail;
  EXPECT_TRUE(a.won);
  EXPECT_EQ(a.epoch, 1);
  // b read the same (now stale) epoch: it loses and learns who won.
  auto b = store.claim("s", "b", "10.0.0.9", v.view.epoch, v.view.epoch_mod_revision, lease_b,
                       kDeadline);
  EXPECT_FALSE(b.won);
  EXPECT_EQ(b.epoch, 1);
  EXPECT_EQ(b.primary, "a");
  // With the fresh epoch but a's key alive, b still loses.
  auto now = store.read_shard("s", kDeadline);
  ASSERT_TRUE(now.view.has_primary);
  EXPECT_EQ(now.view.primary, "a");
  EXPECT_EQ(now.view.primary_lease, lease_a);
  EXPECT_FALSE(store
                   .claim("s", "b", "10.0.0.9", now.view.epoch, now.view.epoch_mod_revision,
                          lease_b, kDeadline)
                   .won);
  // a's lease revoked: its key is gone and b wins epoch 2.
  ASSERT_TRUE(c.lease_revoke(lease_a, kDeadline).ok());
  now = store.read_shard("s", kDeadline);
  EXPECT_FALSE(now.view.has_primary);
  EXPECT_EQ(now.view.epoch, 1) << "the epoch survives its primary";
  auto b2 = store.claim("s", "b", "10.0.0.9", now.view.epoch, now.view.epoch_mod_revision, lease_b,
                        kDeadline);
  EXPECT_TRUE(b2.won);
  EXPECT_EQ(b2.epoch, 2);
}

// A switchover's commit and the claims around it, at the transaction level: only the
// named target may claim while the handover key lives, and only its exact key.
TEST_F(EtcdTest, AHandoverKeyLetsOnlyItsTargetClaimAndIsConsumedByTheClaim) {
  etcd_client c({etcd->endpoint(0)});
  cluster_store store(c, "/handover");
  auto v = store.read_shard("s", kDeadline);
  const auto lease_a = c.lease_grant(5, kDeadline).id, lease_b = c.lease_grant(5, kDeadline).id,
             lease_c = c.lease_grant(5, kDeadline).id, hl = c.lease_grant(5, kDeadline).id;
  ASSERT_TRUE(
      store.claim("s", "a", "10.0.0.9", v.view.epoch, v.view.epoch_mod_revision, lease_a, kDeadline)
          .won);
  // Only the primary at its epoch can hand over: b (or a at a wrong epoch) is refused.
  auto wrong = store.hand_over("s", "b", "10.0.0.9", 1, "c", false, hl, kDeadline);
  ASSERT_TRUE(wrong.status.ok()) << wrong.status.detail;
  EXPECT_FALSE(wrong.committed);
  EXPECT_FALSE(store.hand_over("s", "a", "10.0.0.9", 2, "c", false, hl, kDeadline).committed);
  EXPECT_FALSE(store.hand_over("s", "a", "10.0.0.8", 1, "c", false, hl, kDeadline).committed)
      << "the record must match byte for byte";
  auto h = store.hand_over("s", "a", "10.0.0.9", 1, "b", true, hl, kDeadline);
  ASSERT_TRUE(h.committed) << h.status.detail;
  v = store.read_shard("s", kDeadline);
  ASSERT_TRUE(v.status.ok()) << v.status.detail;
  EXPECT_FALSE(v.view.has_primary) << "a's key went in the same transaction";
  EXPECT_EQ(v.view.handover_to, "b");
  EXPECT_TRUE(v.view.handover_force);
  EXPECT_GT(v.view.handover_mod_revision, 0);
  // c saw the same view and claims as an ordinary candidate: refused by etcd.
  EXPECT_FALSE(
      store.claim("s", "c", "10.0.0.9", v.view.epoch, v.view.epoch_mod_revision, lease_c, kDeadline)
          .won);
  // b with a stale handover revision: refused too.
  EXPECT_FALSE(store
                   .claim("s", "b", "10.0.0.9", v.view.epoch, v.view.epoch_mod_revision, lease_b,
                          kDeadline, v.view.handover_mod_revision + 1)
                   .won);
  auto b = store.claim("s", "b", "10.0.0.9", v.view.epoch, v.view.epoch_mod_revision, lease_b,
                       kDeadline, v.view.handover_mod_revision);
  ASSERT_TRUE(b.won);
  EXPECT_EQ(b.epoch, 2);
  v = store.read_shard("s", kDeadline);
  EXPECT_EQ(v.view.primary, "b");
  EXPECT_TRUE(v.view.handover_to.empty()) << "consumed by the claim";
  // A handover whose target never claims expires with its lease: ordinary elections again.
  const auto hl2 = c.lease_grant(5, kDeadline).id;
  ASSERT_TRUE(store.hand_over("s", "b", "10.0.0.9", 2, "c", false, hl2, kDeadline).committed);
  ASSERT_TRUE(c.lease_revoke(hl2, kDeadline).ok());
  v = store.read_shard("s", kDeadline);
  EXPECT_TRUE(v.view.handover_to.empty());
  EXPECT_TRUE(
      store.claim("s", "c", "10.0.0.9", v.view.epoch, v.view.epoch_mod_revision, lease_c, kDeadline)
          .won);
}

TEST_F(EtcdTest, AMalformedHandoverRecordIsAnErrorNotAView) {
  etcd_client c({etcd->endpoint(0)});
  cluster_store store(c, "/badhandover");
  for (const char* bad :
       {"", "{}", "[]", "{\"to\":\"\"}", "{\"to\":7}", "{\"to\":\"b\",\"force\":1}"}) {
    ASSERT_TRUE(c.put(store.shard_key("s", "handover"), bad, 0, kDeadline).ok());
    auto v = store.read_shard("s", kDeadline);
    EXPECT_EQ(v.status.code, etcd_code::error) << bad;
    EXPECT_NE(v.status.detail.find("malformed handover"), std::string::npos) << bad;
  }
}

// Many rounds of two nodes claiming the same shard at the same moment from two threads:
// exactly one wins each round, and the epoch goes up by exactly one per round.
TEST_F(EtcdTest, ElectionRaceExactlyOneWinsEveryRound) {
  constexpr int kRounds = 60;
  etcd_client ca({etcd->endpoint(0)}), cb({etcd->endpoint(0)});
  cluster_store sa(ca, "/race"), sb(cb, "/race");
  int wins[2] = {0, 0};
  std::barrier sync(2);
  std::vector<std::string> failures;
  std::mutex m;
  auto node = [&](int id, etcd_client& c, cluster_store& s) {
    for (int round = 0; round < kRounds; ++round) {
      auto v = s.read_shard("s", kDeadline);
      const auto lease = c.lease_grant(5, kDeadline).id;
      sync.arrive_and_wait();  // both read the same epoch, then claim together
      auto r = s.claim("s", id == 0 ? "a" : "b", "10.0.0.9", v.view.epoch,
                       v.view.epoch_mod_revision, lease, kDeadline);
      if (!r.status.ok()) {
        std::lock_guard g(m);
        failures.push_back(r.status.detail);
      }
      if (r.won) ++wins[id];
      sync.arrive_and_wait();            // both claimed
      c.lease_revoke(lease, kDeadline);  // the winner steps down, the loser gives back
      sync.arrive_and_wait();
    }
  };
  std::thread ta(node, 0, std::ref(ca), std::ref(sa)), tb(node, 1, std::ref(cb), std::ref(sb));
  ta.join();
  tb.join();
  EXPECT_TRUE(failures.empty()) << failures.front();
  EXPECT_EQ(wins[0] + wins[1], kRounds) << "exactly one winner per round";
  auto v = sa.read_shard("s", kDeadline);
  EXPECT_EQ(v.view.epoch, kRounds) << "one epoch per change of primary";
  EXPECT_FALSE(v.view.has_primary);
}

}  // namespace
}  // namespace anvil::cluster
