// The admin API of a real anvil (AF_PACKET, one lcore) in a testnet: it counts the
// traffic real clients send, takes a snapshot on request, drains (new connections
// refused, existing ones served), flushes through lcore 0, passes `promtool check
// metrics`, and keeps answering while the lcore is saturated. The admin server listens
// on 127.0.0.1:11311 inside the stack namespace; the test talks to it from there.
// Bounded by operation counts and deadlines, never by timing assertions.
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <thread>

#include "tests/e2e/load_client.h"
#include "tests/e2e/mc_client.h"
#include "tests/e2e/server_under_test.h"
#include "tests/support/netns.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testnet.h"

namespace anvil::e2e {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
constexpr const char* kToken = "e2e-admin-token";

struct http_reply {
  int status = -1;  // -1: no answer
  std::string body;
  json j() const { return json::parse(body, nullptr, false); }
};

class AdminE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::make_unique<test::temp_dir>("anvil-admin-e2e");
    const std::string token = dir->path() + "/token";
    std::ofstream(token) << kToken << "\n";
    ::chmod(token.c_str(), 0600);
    net = std::make_unique<test::testnet>();
    const std::string extra = "[admin]\ntoken_file = \"" + token + "\"\n[snapshot]\ndir = \"" +
                              dir->path() + "/snapshots\"\n";
    server = std::make_unique<server_under_test>(server_kind::anvil_afpacket, *net,
                                                 server_options{}, extra);
    ASSERT_EQ(server->wait_ready(), "");
    for (int i = 0; i < 200; ++i) {
      if (server->log().find("event=admin_listening") != std::string::npos) break;
      std::this_thread::sleep_for(25ms);
    }
    ASSERT_NE(server->log().find("event=admin_listening listen=127.0.0.1:11311"), std::string::npos)
        << server->log();
  }
  void TearDown() override {
    if (server) {
      EXPECT_TRUE(server->alive()) << "server died:\n" << server->log();
    }
    server.reset();
    net.reset();
  }

  // One request from inside the stack namespace.
  http_reply call(const std::string& method, const std::string& path, const std::string& body = "",
                  bool auth = true) {
    http_reply out;
    test::run_in_netns(net->stack_ns(), [&] {
      httplib::Client c("127.0.0.1", 11311);
      c.set_connection_timeout(5);
      c.set_read_timeout(10);
      httplib::Headers h;
      if (auth) h.emplace("Authorization", std::string("Bearer ") + kToken);
      httplib::Result r = method == "GET"    ? c.Get(path.c_str(), h)
                          : method == "POST" ? c.Post(path.c_str(), h, body, "application/json")
                                             : c.Put(path.c_str(), h, body, "application/json");
      if (r) out = {r->status, r->body};
    });
    return out;
  }
  load_options load(int connections, int depth, int ops) const {
    load_options o;
    o.ns = net->client_ns();
    o.ip = server->ip();
    o.port = server->port();
    o.connections = connections;
    o.depth = depth;
    o.ops_per_connection = ops;
    return o;
  }

  std::unique_ptr<test::temp_dir> dir;
  std::unique_ptr<test::testnet> net;
  std::unique_ptr<server_under_test> server;
};

// The value of a sample line `name{labels} v` (exact name+labels), or -1.
double sample(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

TEST_F(AdminE2e, StatsAndMetricsCountRealTrafficAndPromtoolAcceptsTheScrape) {
  const auto r = run_load(load(4, 8, 500));
  ASSERT_TRUE(r.ok()) << r.summary();
  const json s = call("GET", "/v1/stats").j();
  ASSERT_TRUE(s.is_object());
  EXPECT_GT(s["general"]["cmd_get"].get<long long>(), 0);
  EXPECT_GT(s["general"]["cmd_set"].get<long long>(), 0);
  EXPECT_EQ(s["lcores"].size(), 1u);
  EXPECT_GT(s["lcores"][0]["latency"]["count"].get<long long>(), 0);
  EXPECT_GT(s["total"]["port"]["rx_frames"].get<long long>(), 0);
  // The same figure the binary protocol's stats command reports.
  const long long gets = stat_value(net->client_ns(), server->ip(), server->port(), "cmd_get");
  EXPECT_EQ(s["general"]["cmd_get"].get<long long>(), gets);

  const http_reply m = call("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_GT(sample(m.body, "anvil_requests_total{op=\"get\",status=\"success\"}") +
                sample(m.body, "anvil_requests_total{op=\"get\",status=\"key_enoent\"}"),
            0);
  EXPECT_GT(sample(m.body, "anvil_requests_total{op=\"set\",status=\"success\"}"), 0);
  const double count = sample(m.body, "anvil_request_duration_seconds_count");
  EXPECT_GE(count, double(r.ops_ok)) << "every answered request is in the histogram";
  EXPECT_EQ(sample(m.body, "anvil_request_duration_seconds_bucket{le=\"+Inf\"}"), count);
  EXPECT_GE(sample(m.body, "anvil_loop_iterations_total{lcore=\"0\"}"), 1);
  EXPECT_EQ(sample(m.body, "anvil_health_state{state=\"ok\"}"), 1);

  const std::string path = dir->path() + "/scrape.txt";
  std::ofstream(path) << m.body;
  std::string out;
  if (test::run_command("command -v promtool >/dev/null") == 0) {
    const int rc = test::run_command("promtool check metrics < " + path + " 2>&1", &out);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_EQ(out, "");
  }
}

TEST_F(AdminE2e, StatusConfigAndASnapshotOnRequest) {
  const json st = call("GET", "/v1/status").j();
  EXPECT_EQ(st["ip"], server->ip());
  EXPECT_EQ(st["admin"]["auth"], true);
  const json cfg = call("GET", "/v1/config").j();
  EXPECT_EQ(cfg["network"]["interface"], net->stack_if());
  EXPECT_NE(cfg.dump().find("token_file"), std::string::npos);
  EXPECT_EQ(cfg.dump().find(kToken), std::string::npos) << "the token never leaves";
  ASSERT_EQ(control_check(net->client_ns(), server->ip(), server->port()), "");
  EXPECT_EQ(call("POST", "/v1/snapshots", "{}", false).status, 401);
  const http_reply snap = call("POST", "/v1/snapshots", R"({"wait_seconds": 30})");
  ASSERT_EQ(snap.status, 200) << snap.body;
  EXPECT_EQ(snap.j()["ok"], true) << snap.body;
  const json list = call("GET", "/v1/snapshots").j();
  EXPECT_EQ(list["enabled"], true);
  ASSERT_FALSE(list["snapshots"].empty()) << list.dump();
  EXPECT_EQ(list["snapshots"].back()["complete"], true);
  EXPECT_EQ(list["snapshots"].back()["id"], snap.j()["snapshot_id"]);
  EXPECT_GT(list["last"]["last_ok_unix"].get<long long>(), 0);
}

TEST_F(AdminE2e, DrainRefusesNewConnectionsAndKeepsServingOpenOnes) {
  mc_client open_before(net->client_ns(), server->ip(), server->port());
  ASSERT_TRUE(open_before.ok()) << open_before.error();
  ASSERT_TRUE(open_before.set("k1", "v1"));
  json d = call("POST", "/v1/drain").j();
  EXPECT_EQ(d["draining"], true);
  EXPECT_GE(d["remaining_connections"].get<long long>(), 1);
  // The open connection is still served...
  EXPECT_EQ(open_before.get("k1"), std::optional<std::string>("v1"));
  EXPECT_TRUE(open_before.set("k2", "v2"));
  // ...a new one is refused (reset at the handshake).
  EXPECT_NE(control_check(net->client_ns(), server->ip(), server->port()), "");
  const http_reply m = call("GET", "/metrics");
  EXPECT_GE(sample(m.body, "anvil_connections_rejected_total{reason=\"draining\"}"), 1);
  EXPECT_EQ(sample(m.body, "anvil_draining"), 1);
  d = call("POST", "/v1/drain", R"({"drain": false})").j();
  EXPECT_EQ(d["draining"], false);
  EXPECT_EQ(control_check(net->client_ns(), server->ip(), server->port()), "");
}

TEST_F(AdminE2e, FlushRunsOnLcoreZero) {
  mc_client c(net->client_ns(), server->ip(), server->port());
  ASSERT_TRUE(c.set("flushme", "x"));
  const http_reply f = call("POST", "/v1/flush", "{}");
  ASSERT_EQ(f.status, 200) << f.body;
  EXPECT_EQ(f.j()["flushed"], true);
  EXPECT_EQ(c.get("flushme"), std::nullopt);
}

TEST_F(AdminE2e, TheApiKeepsAnsweringWhileTheLcoreIsSaturated) {
  std::atomic<bool> done{false};
  load_result lr;
  std::thread loader([&] {
    auto o = load(32, 32, 12000);  // ~384k requests, the lcore busy throughout
    o.deadline = 90s;
    lr = run_load(o);
    done = true;
  });
  int answered = 0, asked = 0;
  long long busy_iterations = -1;
  while (!done.load() && asked < 200) {
    ++asked;
    const http_reply m = call("GET", asked % 2 ? "/metrics" : "/v1/status");
    if (m.status == 200) ++answered;
    if (asked % 2)
      busy_iterations = (long long)sample(m.body, "anvil_loop_iterations_total{lcore=\"0\"}");
    std::this_thread::sleep_for(20ms);
  }
  loader.join();
  EXPECT_TRUE(lr.ok()) << lr.summary();
  EXPECT_GT(asked, 5) << "the load ended before the API was exercised";
  EXPECT_EQ(answered, asked) << "every admin request during the load was answered";
  EXPECT_GT(busy_iterations, 0);
}

// The admin address already taken (another process listens there): anvil serves
// anyway, says why the admin API is unavailable, and takes the address once it is free.
TEST(AdminE2eStart, ATakenAdminAddressDoesNotStopServingAndIsRetried) {
  test::testnet net;
  const int blocker = test::socket_in_netns(net.stack_ns(), AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(11311);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(blocker, 1), 0);
  server_under_test server(server_kind::anvil_afpacket, net);
  ASSERT_EQ(server.wait_ready(), "");
  for (int i = 0; i < 200 && server.log().find("event=admin_unavailable") == std::string::npos; ++i)
    std::this_thread::sleep_for(25ms);
  EXPECT_NE(server.log().find("event=admin_unavailable listen=127.0.0.1:11311"), std::string::npos)
      << server.log();
  EXPECT_EQ(control_check(net.client_ns(), server.ip(), server.port()), "");
  ::close(blocker);
  bool listening = false;
  for (int i = 0; i < 150 && !listening; ++i) {  // retried every 5 s: 15 s is three tries
    listening = server.log().find("event=admin_listening") != std::string::npos;
    if (!listening) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(listening) << server.log();
  EXPECT_TRUE(server.alive());
}

}  // namespace
}  // namespace anvil::e2e
