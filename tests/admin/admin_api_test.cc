// Every admin endpoint against real counter blocks: shapes and status codes as
// docs/admin.md says, auth required and refused (and counted), malformed, oversized and
// unknown input answered with a 4xx JSON error, and the control requests (drain, flush)
// reaching the flags the lcores poll.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <thread>

#include "control/config.h"
#include "tests/admin/admin_fixture.h"

namespace anvil::control::admin::testing {
namespace {

using json = nlohmann::json;

json body_of(const httplib::Result& r) {
  EXPECT_TRUE(r) << "no response";
  if (!r) return {};
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  return json::parse(r->body, nullptr, false);
}

void expect_error(const httplib::Result& r, int status, const std::string& code) {
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, status) << r->body;
  const json j = body_of(r);
  ASSERT_TRUE(j.is_object()) << r->body;
  EXPECT_EQ(j.value("error", ""), code) << r->body;
  EXPECT_FALSE(j.value("reason", "").empty());
}

TEST(AdminApi, StatusSaysWhatRunsWhere) {
  admin_fixture f;
  auto c = f.client();
  const auto r = c.Get("/v1/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const json j = body_of(r);
  EXPECT_EQ(j["version"], "1.6.18-anvil");
  EXPECT_EQ(j["pid"], 42);
  EXPECT_EQ(j["lcores"].size(), 2u);
  EXPECT_EQ(j["lcores"][1]["cpu"], 11);
  EXPECT_EQ(j["port"]["type"], "afpacket");
  EXPECT_EQ(j["draining"], false);
  EXPECT_EQ(j["admin"]["auth"], true);
  EXPECT_EQ(j["admin"]["listen"], "127.0.0.1:" + std::to_string(f.server.port()));
  const std::string digest = j["config_digest"];
  EXPECT_EQ(digest.rfind("sha256:", 0), 0u);
  EXPECT_EQ(digest.size(), 7u + 64u);
}

TEST(AdminApi, HealthWithoutSnapshotsIsOkAndAProviderReplacesIt) {
  admin_fixture f;
  auto c = f.client();
  json j = body_of(c.Get("/v1/health"));
  EXPECT_EQ(j["state"], "ok");
  EXPECT_TRUE(j["reasons"].empty());
  f.server.set_health_source([] {
    return health_report{health_state::failing, 7, {{"canary_failed", "lcore 1 silent", 7}}};
  });
  const auto r = c.Get("/v1/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << "failing answers 503 for load balancers";
  j = body_of(r);
  EXPECT_EQ(j["state"], "failing");
  EXPECT_EQ(j["reasons"][0]["code"], "canary_failed");
  EXPECT_EQ(j["reasons"][0]["since_unix"], 7);
  f.server.set_health_source([] {
    return health_report{health_state::degraded, 9, {{"storage", "EIO", 9}}};
  });
  EXPECT_EQ(c.Get("/v1/health")->status, 200) << "degraded still serves";
}

TEST(AdminApi, StatsSumTheLcoresCountersAndKeepMemcachedNames) {
  admin_fixture f;
  auto& n = f.node;
  n.proto[0].cmd_get.add(3);
  n.proto[1].cmd_get.add(4);
  n.proto[1].get_hits.add(2);
  n.proto[0].requests.record(proto::op::get, proto::req_status::success);
  n.serving[0].curr_connections.store(5);
  n.serving[1].curr_connections.store(6);
  n.serving[1].drain_refused.add(2);
  n.port[0].rx_frames.add(10);
  net::bump(n.net[1].tcp_retransmits, 3);
  n.latency[0].record(1500, 10);  // 1.5 us at 1 GHz
  n.latency[1].record(30'000, 1);
  n.loop[0].window_cycles.store(1000);
  n.loop[0].window_busy_cycles.store(250);
  n.loop[1].window_longest_iteration.store(2'000'000);  // 2 ms
  const json j = body_of(f.client().Get("/v1/stats"));
  EXPECT_EQ(j["general"]["cmd_get"], 7);
  EXPECT_EQ(j["general"]["get_hits"], 2);
  EXPECT_EQ(j["general"]["curr_connections"], 11);
  EXPECT_EQ(j["general"]["version"], "1.6.18-anvil");
  EXPECT_TRUE(j["general"].contains("anvil_protocol_errors"));
  EXPECT_EQ(j["storage"]["state"], "off");
  ASSERT_EQ(j["lcores"].size(), 2u);
  EXPECT_EQ(j["lcores"][0]["protocol"]["cmd_get"], 3);
  EXPECT_EQ(j["lcores"][0]["requests"]["get"]["success"], 1);
  EXPECT_EQ(j["lcores"][1]["connections"]["drain_refused"], 2);
  EXPECT_DOUBLE_EQ(j["lcores"][0]["loop"]["busy_ratio"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(j["lcores"][1]["loop"]["longest_iteration_seconds"].get<double>(), 0.002);
  EXPECT_EQ(j["lcores"][0]["latency"]["count"], 10);
  EXPECT_DOUBLE_EQ(j["lcores"][0]["latency"]["p99_seconds"].get<double>(), 2e-6);
  const json& t = j["total"];
  EXPECT_EQ(t["connections"]["current"], 11);
  EXPECT_EQ(t["port"]["rx_frames"], 10);
  EXPECT_EQ(t["net"]["tcp_retransmits"], 3);
  EXPECT_EQ(t["protocol"]["cmd_get"], 7);
  EXPECT_EQ(t["latency"]["count"], 11);
  EXPECT_DOUBLE_EQ(t["latency"]["p99_seconds"].get<double>(), 5e-5);
  EXPECT_DOUBLE_EQ(t["loop"]["busy_ratio"].get<double>(), 0.125);  // mean of 0.25 and 0
  EXPECT_DOUBLE_EQ(t["loop"]["longest_iteration_seconds"].get<double>(), 0.002);
  EXPECT_EQ(t["latency"]["buckets"].back()["le"], "+Inf");
  EXPECT_EQ(t["latency"]["buckets"].back()["count"], 11);
}

TEST(AdminApi, ConfigListsEverySettingOfTheSchema) {
  admin_fixture f;
  const json j = body_of(f.client().Get("/v1/config"));
  std::set<std::string> got, want;
  for (auto s = j.begin(); s != j.end(); ++s)
    for (auto k = s->begin(); k != s->end(); ++k) got.insert(s.key() + "." + k.key());
  for (const auto& k : known_settings()) want.insert(k);
  EXPECT_EQ(got, want);
  EXPECT_EQ(j["memcached"]["port"], 11211);
  EXPECT_EQ(j["admin"]["listen"], "127.0.0.1:11311");
}

TEST(AdminApi, SnapshotsOffSaysSoAndRefusesATake) {
  admin_fixture f;
  auto c = f.client();
  const json j = body_of(c.Get("/v1/snapshots"));
  EXPECT_EQ(j["enabled"], false);
  expect_error(c.Post("/v1/snapshots", admin_fixture::auth(), "", "application/json"), 409,
               "snapshots_off");
}

TEST(AdminApi, UnknownPathsAndWrongMethodsGetJsonErrors) {
  admin_fixture f;
  auto c = f.client();
  expect_error(c.Get("/v1/nope"), 404, "not_found");
  expect_error(c.Get("/"), 404, "not_found");
  const auto r = c.Delete("/v1/status");
  expect_error(r, 405, "method_not_allowed");
  EXPECT_EQ(r->get_header_value("Allow"), "GET");
  const auto d = c.Put("/v1/drain", admin_fixture::auth(), "{}", "application/json");
  expect_error(d, 405, "method_not_allowed");
  EXPECT_EQ(d->get_header_value("Allow"), "GET, POST");
  expect_error(c.Post("/metrics", "", "text/plain"), 405, "method_not_allowed");
  // A method no route knows, and a request line that is not HTTP at all.
  raw_conn a(f.server.port());
  ASSERT_TRUE(a.ok());
  a.send("BREW /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string ra = a.read_all();
  EXPECT_NE(ra.find("HTTP/1.1 4"), std::string::npos) << ra;
  EXPECT_NE(ra.find("\"error\""), std::string::npos) << ra;
  raw_conn b(f.server.port());
  b.send("\x01\x02garbage\r\n\r\n");
  const std::string rb = b.read_all();
  EXPECT_NE(rb.find("HTTP/1.1 400"), std::string::npos) << rb;
  EXPECT_NE(rb.find("bad_request"), std::string::npos) << rb;
}

TEST(AdminApi, MutatingEndpointsNeedTheTokenAndRefusalsAreCounted) {
  admin_fixture f;
  auto c = f.client();
  const auto none = c.Post("/v1/drain", "{}", "application/json");
  expect_error(none, 401, "unauthorized");
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  expect_error(c.Post("/v1/drain", admin_fixture::auth("wrong"), "{}", "application/json"), 401,
               "unauthorized");
  expect_error(c.Post("/v1/drain", {{"Authorization", "Basic czNjcmV0"}}, "{}", "application/json"),
               401, "unauthorized");
  expect_error(c.Put("/v1/log-level", admin_fixture::auth(std::string(kToken) + "x"),
                     R"({"level":"info"})", "application/json"),
               401, "unauthorized");
  expect_error(c.Post("/v1/flush", admin_fixture::auth(""), "{}", "application/json"), 401,
               "unauthorized");
  EXPECT_EQ(f.server.counters().unauthorized.load(), 5u);
  EXPECT_FALSE(f.node.shared.control.draining.load()) << "nothing refused took effect";
  EXPECT_EQ(f.node.shared.control.flush_request.load(), 0u);
  const auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("anvil_admin_unauthorized_total 5\n"), std::string::npos);
  EXPECT_NE(m->body.find("anvil_admin_requests_total{path=\"/v1/drain\",code=\"401\"} 3\n"),
            std::string::npos)
      << m->body;
  // The token is case-sensitive; the scheme is not (RFC 7235).
  EXPECT_EQ(c.Post("/v1/drain", {{"Authorization", std::string("bearer ") + kToken}}, "{}",
                   "application/json")
                ->status,
            200);
  // GETs need none.
  EXPECT_EQ(c.Get("/v1/drain")->status, 200);
}

TEST(AdminApi, WithoutATokenFileMutatingEndpointsAreForbidden) {
  admin_fixture f(test_config(), std::nullopt);
  auto c = f.client();
  expect_error(c.Post("/v1/drain", admin_fixture::auth(), "{}", "application/json"), 403,
               "forbidden");
  EXPECT_EQ(body_of(c.Get("/v1/status"))["admin"]["auth"], false);
  EXPECT_FALSE(f.node.shared.control.draining.load());
}

TEST(AdminApi, MalformedAndOversizedBodiesAreRefused) {
  admin_fixture f;  // max_body_bytes = 1024
  auto c = f.client();
  const auto h = admin_fixture::auth();
  expect_error(c.Post("/v1/drain", h, "{not json", "application/json"), 400, "bad_request");
  expect_error(c.Post("/v1/drain", h, "[true]", "application/json"), 400, "bad_request");
  expect_error(c.Post("/v1/drain", h, R"({"drain":"yes"})", "application/json"), 400,
               "bad_request");
  expect_error(c.Post("/v1/flush", h, R"({"delay_seconds":-1})", "application/json"), 400,
               "bad_request");
  expect_error(c.Post("/v1/flush", h, R"({"delay_seconds":4294967296})", "application/json"), 400,
               "bad_request");
  expect_error(c.Post("/v1/flush", h, R"({"delay_seconds":1.5})", "application/json"), 400,
               "bad_request");
  expect_error(c.Put("/v1/log-level", h, R"({"level":"loud"})", "application/json"), 400,
               "bad_request");
  expect_error(c.Put("/v1/log-level", h, R"({"level":3})", "application/json"), 400, "bad_request");
  expect_error(c.Put("/v1/log-level", h, "{}", "application/json"), 400, "bad_request");
  expect_error(c.Post("/v1/snapshots", h, R"({"wait_seconds":61})", "application/json"), 400,
               "bad_request");
  const std::string big = R"({"drain":true,"pad":")" + std::string(2000, 'x') + "\"}";
  expect_error(c.Post("/v1/drain", h, big, "application/json"), 413, "payload_too_large");
  EXPECT_FALSE(f.node.shared.control.draining.load());
  // Exactly the limit is accepted.
  std::string at = R"({"drain":true,"pad":")";
  at += std::string(1024 - at.size() - 2, 'x') + "\"}";
  ASSERT_EQ(at.size(), 1024u);
  EXPECT_EQ(c.Post("/v1/drain", h, at, "application/json")->status, 200);
}

TEST(AdminApi, DrainSetsTheFlagTheLcoresReadAndReportsWhatRemains) {
  admin_fixture f;
  auto c = f.client();
  f.node.serving[0].curr_connections.store(3);
  f.node.serving[1].curr_connections.store(1);
  json j = body_of(c.Post("/v1/drain", admin_fixture::auth(), "", "application/json"));
  EXPECT_EQ(j["draining"], true);
  EXPECT_EQ(j["remaining_connections"], 4);
  EXPECT_TRUE(f.node.shared.control.draining.load());
  EXPECT_EQ(body_of(c.Get("/v1/status"))["draining"], true);
  f.node.serving[0].curr_connections.store(0);
  j = body_of(c.Get("/v1/drain"));
  EXPECT_EQ(j["remaining_connections"], 1);
  j = body_of(c.Post("/v1/drain", admin_fixture::auth(), R"({"drain":false})", "application/json"));
  EXPECT_EQ(j["draining"], false);
  EXPECT_FALSE(f.node.shared.control.draining.load());
}

TEST(AdminApi, FlushIsQueuedForLcoreZeroAndAnsweredWhenItRan) {
  admin_fixture f;
  auto c = f.client();
  auto& ctl = f.node.shared.control;
  // No lcore polls: the request stays queued and the answer says so.
  auto r = c.Post("/v1/flush", admin_fixture::auth(), R"({"delay_seconds":5})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(body_of(r)["queued"], true);
  const std::uint64_t req1 = ctl.flush_request.load();
  EXPECT_EQ(req1 >> 32, 1u);
  EXPECT_EQ(req1 & 0xffffffff, 5u);
  // An "lcore 0" that runs what is asked, as cache_server::quiescent does.
  std::atomic<bool> stop{false};
  std::thread lcore0([&] {
    while (!stop.load()) {
      const auto q = ctl.flush_request.load(std::memory_order_acquire);
      ctl.flush_done.store(static_cast<std::uint32_t>(q >> 32), std::memory_order_release);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  r = c.Post("/v1/flush", admin_fixture::auth(), "", "application/json");
  stop = true;
  lcore0.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const json j = body_of(r);
  EXPECT_EQ(j["flushed"], true);
  EXPECT_EQ(j["delay_seconds"], 0);
  EXPECT_EQ(ctl.flush_request.load() >> 32, 2u) << "a new sequence replaces the pending one";
}

TEST(AdminApi, LogLevelChangesTheLevelAndSaysWhatItWas) {
  admin_fixture f;
  spdlog::set_level(spdlog::level::info);
  auto c = f.client();
  json j = body_of(
      c.Put("/v1/log-level", admin_fixture::auth(), R"({"level":"debug"})", "application/json"));
  EXPECT_EQ(j["level"], "debug");
  EXPECT_EQ(j["previous"], "info");
  EXPECT_EQ(spdlog::get_level(), spdlog::level::debug);
  j = body_of(
      c.Put("/v1/log-level", admin_fixture::auth(), R"({"level":"off"})", "application/json"));
  EXPECT_EQ(j["previous"], "debug");
  EXPECT_EQ(spdlog::get_level(), spdlog::level::off);
  spdlog::set_level(spdlog::level::info);
}

TEST(AdminApi, AStoppedServerRefusesConnectionsAndStopsTwiceSafely) {
  admin_fixture f;
  const auto port = f.server.port();
  EXPECT_EQ(f.client().Get("/v1/status")->status, 200);
  f.server.stop();
  f.server.stop();
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(1);
  EXPECT_FALSE(c.Get("/v1/status"));
}

}  // namespace
}  // namespace anvil::control::admin::testing
