// anvilctl (the binary) against fake_admin: exit codes for every failure class
// (unreachable, timeout, refused, malformed JSON, server errors, usage), the token on
// the wire, --json output that parses, and what each command prints for the shapes of
// docs/admin.md.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/anvilctl/fake_admin.h"
#include "tests/anvilctl/run_ctl.h"
#include "tests/support/temp_dir.h"

namespace {

using anvil::test::ctl_run;
using anvil::test::fake_admin;
using anvil::test::run_ctl;
using nlohmann::json;

constexpr const char* kStatus = R"({"version": "1.6.18-anvil", "node_id": 3, "pid": 4242,
  "started_at_unix": 1764970000, "uptime_seconds": 3725, "draining": false,
  "lcores": [{"lcore": 0, "cpu": 2}, {"lcore": 1, "cpu": 3}],
  "port": {"type": "afpacket", "interface": "anv-s", "queues": 2, "mac": "02:00:00:00:00:01"},
  "ip": "198.18.0.1", "tcp_port": 11211, "udp_port": 0,
  "admin": {"listen": "127.0.0.1:11311", "auth": true}, "config_digest": "sha256:3f5a"})";

// A port nothing listens on: bound then closed (the kernel does not hand it out again
// at once).
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    std::abort();
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string write_token(const anvil::test::temp_dir& d, const std::string& text) {
  std::string p = d.path() + "/token";
  std::ofstream(p) << text;
  return p;
}

TEST(AnvilctlClient, StatusPrintsATableAndJsonParses) {
  fake_admin srv;
  srv.on("GET /v1/status", fake_admin::answer{200, kStatus});
  ctl_run r = run_ctl({"--server", srv.address(), "status"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("1h 2m 5s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0@cpu2 1@cpu3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("udp off"), std::string::npos) << r.out;
  r = run_ctl({"--server", srv.address(), "status", "--json"});  // global flag after the command
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["node_id"], 3);
}

TEST(AnvilctlClient, NothingListeningIsUnreachable) {
  ctl_run r = run_ctl({"--server", "127.0.0.1:" + std::to_string(closed_port()), "health"});
  EXPECT_EQ(r.rc, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot reach the admin API"), std::string::npos) << r.err;
}

TEST(AnvilctlClient, AServerThatDoesNotAnswerInTimeIsUnreachable) {
  fake_admin srv;
  srv.on("GET /v1/health", fake_admin::answer{200, R"({"state": "ok"})", "application/json",
                                              std::chrono::milliseconds(1500)});
  ctl_run r = run_ctl({"--server", srv.address(), "--timeout", "0.3", "health"});
  EXPECT_EQ(r.rc, 3) << r.out << r.err;
}

TEST(AnvilctlClient, HealthExitCodeFollowsTheState) {
  fake_admin srv;
  srv.on("GET /v1/health",
         fake_admin::answer{200, R"({"state": "ok", "since_unix": 1764970000, "reasons": []})"});
  EXPECT_EQ(run_ctl({"--server", srv.address(), "health"}).rc, 0);

  srv.on("GET /v1/health",
         fake_admin::answer{200, R"({"state": "degraded", "since_unix": 1764970100, "reasons":
           [{"code": "canary_slow", "detail": "canary p99 12ms over 5ms", "since_unix": 1764970100}]})"});
  ctl_run r = run_ctl({"--server", srv.address(), "health"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("degraded since 20"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("canary_slow"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("canary p99 12ms over 5ms"), std::string::npos) << r.out;

  // failing comes with 503 and still carries the state and the reasons.
  srv.on("GET /v1/health",
         fake_admin::answer{503, R"({"state": "failing", "since_unix": 1764970200, "reasons":
           [{"code": "canary_failed", "detail": "lcore 1 did not answer", "since_unix": 1764970200}]})"});
  r = run_ctl({"--server", srv.address(), "--json", "health"});
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_EQ(json::parse(r.out)["reasons"][0]["code"], "canary_failed");

  // 503 from the connection cap has no state: unhealthy, with the server's reason.
  srv.on("GET /v1/health",
         fake_admin::answer{
             503, R"({"error": "too_many_connections", "reason": "16 admin connections open"})"});
  r = run_ctl({"--server", srv.address(), "health"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("16 admin connections open"), std::string::npos) << r.err;
}

TEST(AnvilctlClient, MalformedJsonFromTheServerIsUnhealthyNotACrash) {
  fake_admin srv;
  for (const char* body : {"", "{", "<html>oops</html>", "{\"state\": }", "[1,2"}) {
    srv.on("GET /v1/status", fake_admin::answer{200, body});
    ctl_run r = run_ctl({"--server", srv.address(), "status"});
    EXPECT_EQ(r.rc, 1) << body << r.err;
    EXPECT_NE(r.err.find("not JSON"), std::string::npos) << r.err;
  }
  // JSON of the wrong shape: a string where a number belongs.
  srv.on("GET /v1/status", fake_admin::answer{200, R"({"uptime_seconds": "soon", "lcores": 7})"});
  ctl_run r = run_ctl({"--server", srv.address(), "status"});
  EXPECT_EQ(r.rc, 1) << r.err;
  srv.on("GET /v1/health", fake_admin::answer{200, R"({"state": 3})"});
  EXPECT_EQ(run_ctl({"--server", srv.address(), "health"}).rc, 1);
  srv.on("GET /v1/health", fake_admin::answer{200, R"([])"});
  EXPECT_EQ(run_ctl({"--server", srv.address(), "health"}).rc, 1);
}

TEST(AnvilctlClient, RefusedIsFourAndTheTokenGoesOnTheWire) {
  fake_admin srv;
  anvil::test::temp_dir d("anvilctl");
  srv.on("POST /v1/snapshots", [](const httplib::Request& req) {
    if (req.get_header_value("Authorization") != "Bearer s3cret")
      return fake_admin::answer{401,
                                R"({"error": "unauthorized", "reason": "bad or missing token"})"};
    return fake_admin::answer{202, R"({"ticket": 3, "done": false})"};
  });
  ctl_run r = run_ctl({"--server", srv.address(), "snapshot", "now"});
  EXPECT_EQ(r.rc, 4);
  EXPECT_NE(r.err.find("bad or missing token"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--token-file"), std::string::npos) << r.err;

  const std::string wrong = write_token(d, "nope\n");
  EXPECT_EQ(run_ctl({"--server", srv.address(), "--token-file", wrong, "snapshot", "now"}).rc, 4);

  const std::string right = write_token(d, "  s3cret \r\n second line ignored\n");
  r = run_ctl({"--server", srv.address(), "--token-file", right, "snapshot", "now"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("queued (ticket 3)"), std::string::npos) << r.out;
  EXPECT_EQ(srv.seen().back().authorization, "Bearer s3cret");
  EXPECT_EQ(json::parse(srv.seen().back().body), (json{{"wait_seconds", 0.0}}));

  srv.on("PUT /v1/log-level",
         fake_admin::answer{
             403, R"({"error": "forbidden", "reason": "no [admin] token_file configured"})"});
  r = run_ctl({"--server", srv.address(), "--token-file", right, "log-level", "debug"});
  EXPECT_EQ(r.rc, 4);
  EXPECT_NE(r.err.find("no [admin] token_file configured"), std::string::npos) << r.err;
  // A refusal without a JSON body is still a refusal.
  srv.on("PUT /v1/log-level", fake_admin::answer{401, "denied", "text/plain"});
  EXPECT_EQ(run_ctl({"--server", srv.address(), "log-level", "debug"}).rc, 4);
}

TEST(AnvilctlClient, UsageErrorsAreTwo) {
  anvil::test::temp_dir d("anvilctl");
  fake_admin srv;
  EXPECT_EQ(run_ctl({}).rc, 2);
  EXPECT_EQ(run_ctl({"frobnicate"}).rc, 2);
  EXPECT_EQ(run_ctl({"--server", srv.address(), "snapshot"}).rc, 2);  // now|list missing
  EXPECT_EQ(run_ctl({"--server", srv.address(), "log-level", "loud"}).rc, 2);
  EXPECT_EQ(run_ctl({"--server", srv.address(), "log-level"}).rc, 2);
  EXPECT_EQ(run_ctl({"--server", srv.address(), "--timeout", "0", "status"}).rc, 2);
  EXPECT_EQ(run_ctl({"--server", srv.address(), "snapshot", "now", "--wait", "61"}).rc, 2);
  EXPECT_EQ(run_ctl({"--server", srv.address(), "top", "--interval", "0"}).rc, 2);
  for (const char* bad :
       {"", ":11311", "host:0", "host:65536", "host:80x", "::1", "[::1", "[::1]x"})
    EXPECT_EQ(run_ctl({"--server", bad, "status"}).rc, 2) << bad;
  EXPECT_EQ(run_ctl({"--server", srv.address(), "--token-file", d.path() + "/missing", "drain"}).rc,
            2);
  EXPECT_EQ(run_ctl({"--server", srv.address(), "--token-file", write_token(d, "\n"), "drain"}).rc,
            2);
  // flush without --yes never reaches the server.
  ctl_run r = run_ctl({"--server", srv.address(), "flush"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(srv.seen().empty());
  // The server calling a request bad (400, 404, 405, 413) is a usage error too.
  srv.on("PUT /v1/log-level",
         fake_admin::answer{400, R"({"error": "bad_request", "reason": "level"})"});
  EXPECT_EQ(run_ctl({"--server", srv.address(), "log-level", "info"}).rc, 2);
  EXPECT_EQ(run_ctl({"--server", srv.address(), "config", "show"}).rc, 2);  // 404: no route
  // --help and --version are not errors.
  r = run_ctl({"--help"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("Exit codes"), std::string::npos);
  EXPECT_EQ(run_ctl({"--version"}).rc, 0);
}

TEST(AnvilctlClient, ServerErrorsAreUnhealthyWithTheReason) {
  fake_admin srv;
  srv.on("GET /v1/snapshots",
         fake_admin::answer{504,
                            R"({"error": "storage_timeout", "reason": "listing took over 2 s"})"});
  ctl_run r = run_ctl({"--server", srv.address(), "snapshot", "list"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("listing took over 2 s [storage_timeout]"), std::string::npos) << r.err;
  srv.on("POST /v1/snapshots",
         fake_admin::answer{409, R"({"error": "snapshots_off", "reason": "no [snapshot] dir"})"});
  EXPECT_EQ(run_ctl({"--server", srv.address(), "snapshot", "now"}).rc, 1);
  srv.on("GET /v1/stats", fake_admin::answer{500, "internal", "text/plain"});
  EXPECT_EQ(run_ctl({"--server", srv.address(), "stats"}).rc, 1);
}

TEST(AnvilctlClient, SnapshotNowWaitsAndReportsAFailure) {
  fake_admin srv;
  anvil::test::temp_dir d("anvilctl");
  srv.on("POST /v1/snapshots", fake_admin::answer{200, R"({"ticket": 4, "done": true, "ok": false,
      "snapshot_id": 0, "reason": "write: Input/output error"})"});
  ctl_run r = run_ctl({"--server", srv.address(), "--token-file", write_token(d, "t"), "snapshot",
                       "now", "--wait", "5"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("Input/output error"), std::string::npos) << r.out;
  EXPECT_EQ(json::parse(srv.seen().back().body)["wait_seconds"], 5.0);
  srv.on("POST /v1/snapshots",
         fake_admin::answer{
             200, R"({"ticket": 5, "done": true, "ok": true, "snapshot_id": 9, "reason": ""})"});
  r = run_ctl({"--server", srv.address(), "--token-file", write_token(d, "t"), "snapshot", "now",
               "--wait", "5"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("snapshot 9 written"), std::string::npos) << r.out;
}

TEST(AnvilctlClient, SnapshotListShowsTheDirectory) {
  fake_admin srv;
  srv.on("GET /v1/snapshots", fake_admin::answer{200, R"({"enabled": true, "dir": "/var/lib/anvil",
      "interval_seconds": 60, "keep": 2, "storage": {"state": "degraded", "reason": "EIO"},
      "last": {"ok": true, "snapshot_id": 7, "items": 1000, "bytes": 1048576, "seconds": 0.3,
               "reason": "", "last_ok_unix": 1764970100},
      "snapshots": [{"id": 6, "complete": true}, {"id": 7, "complete": false}]})"});
  ctl_run r = run_ctl({"--server", srv.address(), "snapshot", "list"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("degraded (EIO)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1.0 MiB in 300.0ms"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no (partial)"), std::string::npos) << r.out;
  srv.on("GET /v1/snapshots",
         fake_admin::answer{200, R"({"enabled": false, "reason": "no [snapshot] dir"})"});
  r = run_ctl({"--server", srv.address(), "snapshot", "list"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("snapshots are off"), std::string::npos) << r.out;
}

TEST(AnvilctlClient, DrainWaitsUntilNoConnectionRemains) {
  fake_admin srv;
  anvil::test::temp_dir d("anvilctl");
  std::atomic<int> remaining{3};
  srv.on("POST /v1/drain", [&](const httplib::Request&) {
    return fake_admin::answer{
        200, json{{"draining", true}, {"remaining_connections", remaining.load()}}.dump()};
  });
  srv.on("GET /v1/drain", [&](const httplib::Request&) {
    int left = std::max(0, remaining.fetch_sub(1) - 1);
    return fake_admin::answer{200,
                              json{{"draining", true}, {"remaining_connections", left}}.dump()};
  });
  const std::string tok = write_token(d, "t");
  ctl_run r = run_ctl({"--server", srv.address(), "--token-file", tok, "drain", "--wait", "20"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("draining, 0 connection(s) open"), std::string::npos) << r.out;
  EXPECT_EQ(json::parse(srv.seen().front().body), (json{{"drain", true}}));

  // Connections that never end: --wait gives up and says so with exit 1.
  srv.on("POST /v1/drain",
         fake_admin::answer{200, R"({"draining": true, "remaining_connections": 2})"});
  srv.on("GET /v1/drain",
         fake_admin::answer{200, R"({"draining": true, "remaining_connections": 2})"});
  r = run_ctl({"--server", srv.address(), "--token-file", tok, "drain", "--wait", "0.3"});
  EXPECT_EQ(r.rc, 1);
  srv.on("POST /v1/drain",
         fake_admin::answer{200, R"({"draining": false, "remaining_connections": 2})"});
  r = run_ctl({"--server", srv.address(), "--token-file", tok, "--json", "drain", "--cancel"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(json::parse(r.out)["draining"], false);
  EXPECT_EQ(json::parse(srv.seen().back().body), (json{{"drain", false}}));
}

TEST(AnvilctlClient, FlushLogLevelAndConfig) {
  fake_admin srv;
  anvil::test::temp_dir d("anvilctl");
  const std::string tok = write_token(d, "t");
  srv.on("POST /v1/flush", fake_admin::answer{200, R"({"flushed": true, "delay_seconds": 0})"});
  ctl_run r = run_ctl({"--server", srv.address(), "--token-file", tok, "flush", "--yes"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(srv.seen().back().body, R"({"delay_seconds":0})");  // a whole number
  r = run_ctl(
      {"--server", srv.address(), "--token-file", tok, "flush", "--yes", "--delay", "4294967295"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(srv.seen().back().body, R"({"delay_seconds":4294967295})");
  for (const char* bad : {"-1", "4294967296", "1.5", "x"})
    EXPECT_EQ(
        run_ctl({"--server", srv.address(), "--token-file", tok, "flush", "--yes", "--delay", bad})
            .rc,
        2)
        << bad;
  srv.on("POST /v1/flush",
         fake_admin::answer{202, R"({"flushed": false, "queued": true, "delay_seconds": 0})"});
  r = run_ctl({"--server", srv.address(), "--token-file", tok, "flush", "--yes"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("not applied yet"), std::string::npos) << r.out;

  srv.on("PUT /v1/log-level", fake_admin::answer{200, R"({"level": "debug", "previous": "info"})"});
  r = run_ctl({"--server", srv.address(), "--token-file", tok, "log-level", "debug"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("info -> debug"), std::string::npos) << r.out;
  EXPECT_EQ(json::parse(srv.seen().back().body), (json{{"level", "debug"}}));

  srv.on("GET /v1/config",
         fake_admin::answer{
             200, R"({"memcached": {"port": 11211}, "admin": {"token_file": "/etc/anvil/t"}})"});
  r = run_ctl({"--server", srv.address(), "config", "show"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("[memcached]\nport = 11211\n"), std::string::npos) << r.out;
  r = run_ctl({"--server", srv.address(), "--json", "config", "show"});
  EXPECT_EQ(json::parse(r.out)["memcached"]["port"], 11211);
}

// Two lcores, counters that grow by a known amount per scrape.
std::string stats_body(int scrape) {
  auto lcore = [&](int i) {
    const int n = scrape * (i + 1) * 100;  // requests so far on this lcore
    return json{{"lcore", i},
                {"cpu", i + 2},
                {"loop", {{"busy_ratio", 0.25}, {"longest_iteration_seconds", 0.000041}}},
                {"connections", {{"current", 3}, {"total", 10}}},
                {"protocol", {{"get_hits", n * 3 / 4}, {"get_misses", n / 4}}},
                {"requests", {{"get", {{"success", n * 3 / 4}, {"key_enoent", n / 4}}}}},
                {"port", {{"rx_frames", n}, {"tx_frames", n}}},
                {"net", {{"tcp_retransmits", 0}}},
                {"latency",
                 {{"count", n},
                  {"p50_seconds", 2e-5},
                  {"p99_seconds", 1e-4},
                  // every request of this lcore is in the (1e-5, 2e-5] bucket
                  {"buckets",
                   json::array({json{{"le", 1e-5}, {"count", 0}}, json{{"le", 2e-5}, {"count", n}},
                                json{{"le", "+Inf"}, {"count", n}}})}}}};
  };
  json total = lcore(0);
  total.erase("lcore");
  total.erase("cpu");
  return json{{"general", {{"pid", 1}, {"curr_connections", 6}}},
              {"storage", {{"state", "ok"}}},
              {"total", total},
              {"lcores", json::array({lcore(0), lcore(1)})}}
      .dump();
}

TEST(AnvilctlClient, TopComputesRatesFromTwoScrapes) {
  fake_admin srv;
  std::atomic<int> scrape{0};
  srv.on("GET /v1/stats", [&](const httplib::Request&) {
    return fake_admin::answer{200, stats_body(++scrape)};
  });
  ctl_run r = run_ctl(
      {"--server", srv.address(), "--json", "top", "--iterations", "2", "--interval", "0.1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int frames = 0;
  while (std::getline(lines, line)) {
    const json f = json::parse(line);
    ++frames;
    ASSERT_EQ(f["lcores"].size(), 2u);
    for (const auto& l : f["lcores"]) {
      EXPECT_GT(l["ops_per_second"].get<double>(), 0);
      EXPECT_DOUBLE_EQ(l["hit_ratio"].get<double>(), 0.75);
      EXPECT_DOUBLE_EQ(l["p50_seconds"].get<double>(), 2e-5);
      EXPECT_DOUBLE_EQ(l["p99_seconds"].get<double>(), 2e-5);
      EXPECT_EQ(l["connections"], 3);
    }
    // lcore 1 takes twice lcore 0's requests per scrape.
    EXPECT_NEAR(f["lcores"][1]["ops_per_second"].get<double>() /
                    f["lcores"][0]["ops_per_second"].get<double>(),
                2.0, 1e-9);
  }
  EXPECT_EQ(frames, 2);
  EXPECT_EQ(scrape.load(), 3);  // one before the first frame, one per frame

  // The table view: one row per lcore and a total, printed frame after frame.
  r = run_ctl({"--server", srv.address(), "top", "--iterations", "1", "--interval", "0.1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("LCORE"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("total"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("75.0%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("20us"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\x1b["), std::string::npos) << "no escape codes when not a terminal";
}

TEST(AnvilctlClient, TopEndsOnSigint) {
  fake_admin srv;
  srv.on("GET /v1/stats", fake_admin::answer{200, stats_body(1)});
  // No --iterations: runs until a signal, sent once it has scraped three times.
  bool sent = false;
  ctl_run r = run_ctl({"--server", srv.address(), "top", "--interval", "0.1"},
                      std::chrono::seconds(30), [&](pid_t pid) {
                        if (!sent && srv.seen().size() >= 3) {
                          ::kill(pid, SIGINT);
                          sent = true;
                        }
                      });
  EXPECT_TRUE(sent);
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_GE(srv.seen().size(), 3u);
}

TEST(AnvilctlClient, StatsPerLcore) {
  fake_admin srv;
  srv.on("GET /v1/stats", fake_admin::answer{200, stats_body(2)});
  ctl_run r = run_ctl({"--server", srv.address(), "stats"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("curr_connections  6"), std::string::npos) << r.out;
  r = run_ctl({"--server", srv.address(), "stats", "--per-lcore"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("REQUESTS"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("400"), std::string::npos) << r.out;  // lcore 1: 2 * 2 * 100
  r = run_ctl({"--server", srv.address(), "--json", "stats", "--per-lcore"});
  EXPECT_EQ(json::parse(r.out)["lcores"].size(), 2u);
}

}  // namespace
