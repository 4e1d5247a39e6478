// Gray failure by storage (issue 15): the primary's snapshot disk hangs. Every node
// snapshots every second onto its own anvil_faultfs (tests/io/faultfs, FUSE, in memory);
// the test switches the primary's to `stall_all`, so its next snapshot write never
// completes. The node keeps serving and heartbeating, but it could no longer come back
// warm after a restart, and a misbehaving disk is what the postmortem's outage was about:
// its health turns `degraded` with the `storage` reason, and since a healthy caught-up
// replica exists it steps down by itself; that replica takes the VIP at a new epoch.
// Everything is checked from outside: the client through the VIP, the ARP capture of the
// data bridge, GET /v1/cluster of the nodes (their peer views), the logs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <initializer_list>

#include "tests/ha/ha_fixture.h"
#include "tests/io/fault_env.h"

namespace anvil::ha {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class HaStorage : public ha_fixture {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists("/dev/fuse")) GTEST_SKIP() << "no /dev/fuse";
    io::test::reap_stale();
    ha_fixture::SetUp();
    for (int i = 0; i < 3; ++i)
      disks.push_back(std::make_unique<io::test::fuse_fault_fs>(ANVIL_FAULTFS_BIN));
  }
  void TearDown() override {
    for (auto& d : disks) d->set_mode("normal");  // a stuck write must not outlive the test
    ha_fixture::TearDown();                       // nodes end (by PID) before the unmount
    disks.clear();
  }

  // Node i snapshots every second onto its own faultfs; an I/O that does not complete in
  // 2 s is a stall (the shared test machine leaves the nice-19 io thread little CPU, so
  // a healthy disk gets twice the interval). No snapshot at shutdown: nodes are killed.
  node_options snapshotting(int i) const {
    node_options o;
    o.extra_config = "[snapshot]\ndir = \"" + disks[static_cast<std::size_t>(i)]->mnt() +
                     "/snaps\"\ninterval_s = 1\nio_timeout_s = 2\nat_shutdown = false\n";
    return o;
  }

  // GET /v1/cluster of node i (null when it does not answer with JSON).
  json cluster(int i) const {
    const auto r = http_request(topo->node_ns(i), topo->node_mgmt(i), 11311, "GET", "/v1/cluster",
                                nodes[static_cast<std::size_t>(i)]->admin_token(), "", 2s);
    if (r.status != 200) return nullptr;
    return json::parse(r.body, nullptr, false);
  }
  // j[path[0]][path[1]]... (null when a step is missing: a node that did not answer, a peer
  // never heard from); text() of it when it is a string, else "".
  static json at(const json& j, std::initializer_list<const char*> path) {
    const json* p = &j;
    for (const char* k : path) {
      if (!p->is_object() || !p->contains(k)) return nullptr;
      p = &(*p)[k];
    }
    return *p;
  }
  static std::string text(const json& j, std::initializer_list<const char*> path) {
    const json v = at(j, path);
    return v.is_string() ? v.get<std::string>() : "";
  }
  static std::string level(const json& status) { return text(status, {"health", "level"}); }
  static bool has_reason(const json& reasons, const std::string& code) {
    return reasons.is_array() && std::find(reasons.begin(), reasons.end(), code) != reasons.end();
  }
  // Node `viewer`'s heartbeat view of node `seen` (null when it has none).
  json peer_view(int viewer, int seen) const {
    const json peers = at(cluster(viewer), {"peers"});
    if (!peers.is_array()) return nullptr;
    for (const auto& p : peers)
      if (text(p, {"node"}) == "n" + std::to_string(seen)) return p;
    return nullptr;
  }

  // The node's last event=health_state line before it logged stepping down for its health
  // ("" when it never stepped down that way).
  static std::string health_at_step_down(const anvil_node& n) {
    std::string state;
    for (const auto& l : n.log_lines("event=")) {
      if (l.find("event=health_state ") != std::string::npos) state = l;
      if (l.find("reason=\"stepping down: degraded and a healthy caught-up replica") !=
          std::string::npos)
        return state.empty() ? "(no health_state line before the step-down)" : state;
    }
    return "";
  }

  std::vector<std::unique_ptr<io::test::fuse_fault_fs>> disks;
};

TEST_F(HaStorage, APrimaryWhoseSnapshotDiskStallsStepsDownWhileItStillHeartbeats) {
  start_nodes([this](int i) { return snapshotting(i); });
  client = topo->client(200ms);
  const int p = stable_primary();
  ASSERT_GE(p, 0) << "no node served the VIP";
  for (const auto& n : nodes)
    ASSERT_TRUE(n->wait_log("event=snapshot_written", 20s))
        << "n" << n->index() << " wrote no snapshot on its healthy disk";
  ASSERT_TRUE(eventually([&] { return level(cluster(p)) == "ok"; }, 10s))
      << "the primary is not healthy before the fault: " << cluster(p).dump();

  constexpr int kKeys = 300;
  int acked = 0;
  for (int i = 0; i < kKeys; ++i)  // unacknowledged (past its deadline): retried, bounded
    acked +=
        eventually(
            [&] { return client->set(test_key("d", i), test_value("d", i)) == op_result::ok; }, 10s)
            ? 1
            : 0;
  ASSERT_EQ(acked, kKeys) << client->last_error();
  std::this_thread::sleep_for(1s);  // past the replication lag (asynchronous)
  const long epoch = won_epoch(*nodes[p]);
  ASSERT_GT(epoch, 0);
  const auto before = topo->analyze_capture(pcap);  // the election may have moved it once

  disks[static_cast<std::size_t>(p)]->set_mode("stall_all");

  // Degraded for storage while it still heartbeats: the other nodes see it alive.
  const int r = (p + 1) % 3;
  json seen;
  ASSERT_TRUE(eventually(
      [&] {
        seen = peer_view(r, p);
        return text(seen, {"state"}) == "alive" && text(seen, {"health"}) == "degraded" &&
               has_reason(at(seen, {"reasons"}), "storage");
      },
      20s))
      << "n" << r << " never saw n" << p << " alive and degraded for storage: " << seen.dump();
  EXPECT_FALSE(nodes[p]->log_lines("event=health_reason_raised code=storage").empty());
  EXPECT_FALSE(nodes[p]->log_lines("stalled=true").empty()) << "the snapshot write did not stall";

  // It steps down by itself (release the VIP, revoke the lease), never fenced.
  const int q = serving_node(20s, p);
  ASSERT_GE(q, 0) << "the VIP did not leave the primary with the stalled disk: "
                  << client->last_error();
  EXPECT_TRUE(nodes[p]->alive());
  EXPECT_NE(health_at_step_down(*nodes[p]).find("storage"), std::string::npos)
      << "it should have stepped down while degraded for its storage, not lost its lease: "
      << health_at_step_down(*nodes[p]);
  EXPECT_TRUE(nodes[p]->log_lines("role=fenced").empty());
  EXPECT_TRUE(eventually(
      [&] {
        seen = peer_view(q, p);
        return text(seen, {"state"}) == "alive" && text(seen, {"role"}) == "replica" &&
               text(seen, {"health"}) == "degraded";
      },
      10s))
      << "the new primary does not see n" << p
      << " heartbeating as a degraded replica: " << seen.dump();
  const json old = cluster(p);
  EXPECT_EQ(text(old, {"role"}), "replica") << old.dump();
  EXPECT_EQ(text(old, {"lease"}), "0") << "it still holds a lease: " << old.dump();
  EXPECT_EQ(level(old), "degraded") << old.dump();
  EXPECT_TRUE(has_reason(at(old, {"health", "reasons"}), "storage")) << old.dump();

  // A healthy replica took the shard at a new epoch, and the data is still there.
  EXPECT_TRUE(eventually([&] { return nodes[q]->role() == "primary"; }, 5s));
  EXPECT_GT(won_epoch(*nodes[q]), epoch);
  int hits = 0;
  for (int i = 0; i < kKeys; ++i) {
    std::string v;
    op_result res = op_result::failed;
    for (int attempt = 0; attempt < 3 && res == op_result::failed; ++attempt)
      res = client->get(test_key("d", i), v);
    hits += res == op_result::ok && v == test_value("d", i) ? 1 : 0;
  }
  EXPECT_EQ(hits, kKeys) << "keys written before the stall read back through the VIP";

  // The disk recovers: health returns to ok and the node stays a replica (no failback).
  disks[static_cast<std::size_t>(p)]->set_mode("normal");
  json recovered;
  EXPECT_TRUE(eventually(
      [&] {
        recovered = cluster(p);
        return level(recovered) == "ok";
      },
      20s))
      << "n" << p << " health did not return to ok after the stall: " << recovered.dump();
  std::this_thread::sleep_for(2s);  // two TTLs: time enough to flap if it ever would
  EXPECT_TRUE(client->serves());
  EXPECT_EQ(topo->client_vip_owner(), q);
  EXPECT_EQ(nodes[p]->role(), "replica");
  EXPECT_EQ(nodes[q]->role(), "primary");
  // Only the stalled disk degraded anything: the other nodes' snapshots kept working.
  for (int i = 0; i < 3; ++i)
    if (i != p) {
      EXPECT_TRUE(nodes[i]->log_lines("code=storage").empty()) << "n" << i;
    }

  const auto rep = capture_report();
  ASSERT_EQ(rep.error, "");
  EXPECT_GT(rep.windows_answered, 50u);
  EXPECT_EQ(rep.max_owners, 1u);
  EXPECT_TRUE(rep.dual.empty());
  EXPECT_EQ(rep.owner_changes, before.owner_changes + 1) << "the VIP moved back and forth";
  EXPECT_EQ(rep.last_owner, topo->node_mac(q));
}

}  // namespace
}  // namespace anvil::ha
