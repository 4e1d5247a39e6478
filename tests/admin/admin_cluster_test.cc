// GET /v1/cluster and the anvil_cluster_* families (control/admin/cluster_status.h),
// the admin server's endpoint seam (add_endpoint: 404/405/auth like its own routes),
// and the health adapter (control/cluster/health_adapter.h) at its odd values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>

#include "control/admin/cluster_status.h"
#include "control/cluster/health_adapter.h"
#include "tests/admin/admin_fixture.h"

namespace anvil::control::admin::testing {
namespace {

using json = nlohmann::json;
using cluster::liveness;
using cluster::role;

// A server with extra endpoints registered before it starts.
struct endpoint_server {
  fake_node node;
  admin_server server{test_config(), node.view, std::string(kToken)};
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server.port());
    c.set_connection_timeout(5);
    c.set_read_timeout(10);
    return c;
  }
};

TEST(AdminCluster, ANodeWithoutClusterAnswersA404JsonError) {
  endpoint_server s;
  ASSERT_TRUE(s.server.add_endpoint("GET", "/v1/cluster", false, cluster_endpoint(nullptr)));
  s.server.start({});
  auto c = s.client();
  auto r = c.Get("/v1/cluster");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  const json j = json::parse(r->body);
  EXPECT_EQ(j["error"], "cluster_not_configured");
  EXPECT_NE(j["reason"].get<std::string>().find("[cluster] node_id"), std::string::npos);
  r = c.Post("/v1/cluster", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET");
  r = c.Get("/v1/clusterx");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(json::parse(r->body)["error"], "not_found");
  r = c.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("anvil_admin_requests_total{path=\"/v1/cluster\",code=\"404\"} 1"),
            std::string::npos)
      << "requests to an added endpoint are counted under its path";
}

TEST(AdminCluster, AddedEndpointsFollowTheServersAuthRulesAndGetTheBody) {
  endpoint_server s;
  std::string seen;
  ASSERT_TRUE(s.server.add_endpoint("POST", "/v1/cluster/x", true, [&](const std::string& b) {
    seen = b;
    return json_reply{202, {{"ok", true}}};
  }));
  EXPECT_FALSE(s.server.add_endpoint("POST", "/v1/cluster/x", false, {})) << "served already";
  EXPECT_TRUE(s.server.add_endpoint("GET", "/v1/cluster/x", false, [](const std::string&) {
    return json_reply{200, {{"get", 1}}};
  }));
  s.server.start({});
  auto c = s.client();
  auto r = c.Post("/v1/cluster/x", "{\"a\":1}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401) << "mutating: needs the token";
  EXPECT_EQ(seen, "");
  r = c.Post("/v1/cluster/x", admin_fixture::auth(), "{\"a\":1}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(json::parse(r->body)["ok"], true);
  EXPECT_EQ(seen, "{\"a\":1}");
  r = c.Get("/v1/cluster/x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Delete("/v1/cluster/x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST, GET");
}

cluster::peer_view peer(const std::string& name, liveness st, role r, cluster::health_level h,
                        const std::string& zone, std::uint64_t position) {
  cluster::peer_view p;
  p.node = name;
  p.host = "10.1.0." + std::to_string(name[0] - 'a' + 1);
  p.port = 11312;
  p.state = st;
  p.seen = true;
  p.age_ms = 40;
  p.received = 7;
  p.last.node = name;
  p.last.zone = zone;
  p.last.shard = "s1";
  p.last.node_role = r;
  p.last.health = h;
  p.last.epoch = 3;
  p.last.replication_position = position;
  p.last.canary_latency_us = 120;
  if (h != cluster::health_level::ok) p.last.reasons = {"canary_slow"};
  return p;
}

cluster::runtime_snapshot sample() {
  cluster::runtime_snapshot s;
  s.node = "a";
  s.zone = "dc1";
  s.shard = "s1";
  s.vip = "198.18.0.100";
  s.management_ip = "10.1.0.1";
  s.data_address = "198.18.0.1";
  s.etcd_endpoints = {"http://10.1.0.10:2379"};
  s.lease_ttl_s = 2;
  s.fence_margin_ms = 500;
  s.max_replica_lag = 10;
  s.status.current = role::primary;
  s.status.epoch = 3;
  s.status.lease = 7587869312312312312;  // above 2^53: must not be rounded
  s.status.etcd_reachable = true;
  s.status.transitions = 2;
  s.status.reason = "claim won";
  s.status.etcd_calls = 100;
  s.status.etcd_failures = 4;
  s.status.primary = "a";
  s.status.shard_epoch = 3;
  s.status.shard_zone = "dc1";
  s.status.joined = true;
  s.vip_held = true;
  s.vip_remaining_ms = 1200;
  s.vip_takes = 1;
  s.replication_position = 100;
  s.health.level = cluster::health_level::ok;
  using cluster::health_level;
  s.peers = {
      peer("b", liveness::alive, role::replica, health_level::ok, "dc1", 90),   // lag 10: counts
      peer("c", liveness::alive, role::replica, health_level::ok, "dc1", 89),   // lag 11: not
      peer("d", liveness::alive, role::replica, health_level::ok, "dc2", 100),  // other zone
      peer("e", liveness::suspect, role::replica, health_level::ok, "dc1", 100),
      peer("f", liveness::alive, role::replica, health_level::degraded, "dc1", 100),
      peer("g", liveness::alive, role::replica, health_level::ok, "dc1", 500),  // ahead: counts
  };
  cluster::peer_view never;
  never.node = "h";
  never.host = "10.1.0.8";
  never.port = 11312;
  s.peers.push_back(never);
  s.heartbeats.sent = 50;
  s.peer_stats.accepted = 40;
  s.peer_stats.malformed = 1;
  s.heartbeats.truncated = 2;
  return s;
}

TEST(AdminCluster, TheJsonNamesEveryFieldDocsAdminMdLists) {
  const json j = cluster_json(sample());
  EXPECT_EQ(j["node"], "a");
  EXPECT_EQ(j["role"], "primary");
  EXPECT_EQ(j["epoch"], 3);
  EXPECT_EQ(j["lease"], "7587869312312312312");
  EXPECT_EQ(j["shard_state"]["primary"], "a");
  EXPECT_EQ(j["shard_state"]["zone"], "dc1");
  EXPECT_EQ(j["vip"]["held"], true);
  EXPECT_EQ(j["vip"]["remaining_ms"], 1200);
  EXPECT_EQ(j["etcd"]["reachable"], true);
  EXPECT_EQ(j["etcd"]["failures"], 4);
  EXPECT_EQ(j["transitions"], 2);
  EXPECT_EQ(j["last_transition_reason"], "claim won");
  ASSERT_EQ(j["peers"].size(), 7u);
  EXPECT_EQ(j["peers"][0]["node"], "b");
  EXPECT_EQ(j["peers"][0]["state"], "alive");
  EXPECT_EQ(j["peers"][0]["role"], "replica");
  EXPECT_EQ(j["peers"][0]["replication_position"], 90);
  EXPECT_EQ(j["peers"][0]["age_ms"], 40);
  EXPECT_EQ(j["peers"][0]["healthy_replica"], true);
  EXPECT_EQ(j["peers"][1]["healthy_replica"], false);
  EXPECT_EQ(j["peers"][4]["reasons"][0], "canary_slow");
  EXPECT_EQ(j["peers"][6]["seen"], false);
  EXPECT_TRUE(j["peers"][6]["role"].is_null());
  EXPECT_EQ(j["peers"][6]["age_ms"], -1);
  EXPECT_EQ(j["heartbeats"]["malformed"], 1);
  EXPECT_EQ(j["heartbeats"]["truncated"], 2);

  cluster::runtime_snapshot none = sample();
  none.status.primary = "";
  none.peers.clear();
  const json k = cluster_json(none);
  EXPECT_TRUE(k["shard_state"]["primary"].is_null());
  EXPECT_TRUE(k["peers"].is_array());
  EXPECT_TRUE(k["peers"].empty());
}

TEST(AdminCluster, MetricsCountHealthyReplicasAtTheLagBoundaryAndPassPromtool) {
  exposition x;
  append_cluster_metrics(sample(), x);
  const std::string& m = x.text();
  auto has = [&](const std::string& line) { return m.find(line + "\n") != std::string::npos; };
  EXPECT_TRUE(has("anvil_cluster_role{shard=\"s1\",role=\"primary\"} 1")) << m;
  EXPECT_TRUE(has("anvil_cluster_role{shard=\"s1\",role=\"replica\"} 0"));
  EXPECT_TRUE(has("anvil_cluster_epoch{shard=\"s1\"} 3"));
  EXPECT_TRUE(has("anvil_cluster_vip_held{shard=\"s1\",vip=\"198.18.0.100\"} 1"));
  EXPECT_TRUE(has("anvil_cluster_etcd_reachable 1"));
  EXPECT_TRUE(has("anvil_cluster_etcd_failures_total 4"));
  EXPECT_TRUE(has("anvil_cluster_transitions_total{shard=\"s1\"} 2"));
  EXPECT_TRUE(has("anvil_cluster_peer_state{peer=\"e\",state=\"suspect\"} 1"));
  EXPECT_TRUE(has("anvil_cluster_peer_state{peer=\"h\",state=\"unknown\"} 1"));
  EXPECT_TRUE(has("anvil_cluster_peer_role{peer=\"b\",role=\"replica\"} 1"));
  EXPECT_EQ(m.find("anvil_cluster_peer_role{peer=\"h\""), std::string::npos) << "never heard";
  EXPECT_TRUE(has("anvil_cluster_healthy_replicas{shard=\"s1\"} 2")) << "b (lag 10) and g";
  EXPECT_TRUE(has("anvil_cluster_heartbeats_received_total{outcome=\"malformed\"} 3"));
  EXPECT_TRUE(has("anvil_cluster_peer_heartbeat_age_seconds{peer=\"b\"} 0.04"));

  const std::string promtool = PROMTOOL;
  if (promtool.empty()) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  char path[] = "/tmp/anvil-cluster-metrics-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, m.data(), m.size()), static_cast<ssize_t>(m.size()));
  ::close(fd);
  const std::string cmd = promtool + " check metrics < " + path + " 2>&1";
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
  }
  std::remove(path);
  EXPECT_EQ(out, "") << "promtool lint findings:\n" << out;
}

TEST(HealthAdapter, MapsStatesReasonCodesAndTheCanaryP99AtItsOddValues) {
  health_report r;
  r.state = health_state::degraded;
  r.reasons = {{"canary_slow", "p99 12 ms", 1}, {"", "no code", 2}, {"storage", "full", 3}};
  auto h = cluster::to_cluster_health(r, 0.0123456);
  EXPECT_EQ(h.level, cluster::health_level::degraded);
  EXPECT_EQ(h.reasons, (std::vector<std::string>{"canary_slow", "storage"}));
  EXPECT_EQ(h.canary_latency_us, 12346u) << "rounded up to whole microseconds";
  EXPECT_EQ(cluster::to_cluster_health({}, 0).level, cluster::health_level::ok);
  r.state = health_state::failing;
  EXPECT_EQ(cluster::to_cluster_health(r, 0).level, cluster::health_level::failing);
  EXPECT_EQ(cluster::to_level(static_cast<health_state>(7)), cluster::health_level::failing);
  EXPECT_EQ(cluster::to_cluster_health({}, 0).canary_latency_us, 0u);
  EXPECT_EQ(cluster::to_cluster_health({}, -1).canary_latency_us, 0u);
  EXPECT_EQ(cluster::to_cluster_health({}, std::nan("")).canary_latency_us, 0u);
  EXPECT_EQ(cluster::to_cluster_health({}, 1e-9).canary_latency_us, 1u);
  EXPECT_EQ(cluster::to_cluster_health({}, 4294.967295).canary_latency_us, UINT32_MAX);
  EXPECT_EQ(cluster::to_cluster_health({}, 1e6).canary_latency_us, UINT32_MAX) << "saturates";
  EXPECT_EQ(
      cluster::to_cluster_health({}, std::numeric_limits<double>::infinity()).canary_latency_us,
      UINT32_MAX);
}

}  // namespace
}  // namespace anvil::control::admin::testing
