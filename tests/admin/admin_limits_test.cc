// The admin server's bounds: many concurrent clients are all answered; one connection
// past [admin] max_connections gets 503 at once; a client that never finishes its
// request (silent, or trickling a byte at a time: slowloris) is cut after
// read_timeout_s, counted, and its slot serves others again. Bounded by counts and
// generous deadlines, never by timing assertions.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "tests/admin/admin_fixture.h"

namespace anvil::control::admin::testing {
namespace {

// Waits up to `limit` for `pred`; true when it held.
template <class P>
bool eventually(P pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

// A stop() that comes before the listener thread has entered httplib's accept loop (a
// shutdown right after start on a loaded machine: seen as anvil hanging after
// event=lcore_final) still ends the server. The listener is held back until stop() has
// begun; with httplib's stop() called once, it would then listen forever and join hang.
TEST(AdminLimits, AStopBeforeTheListenerRunsStillEndsTheServer) {
  fake_node node;
  admin_server server(test_config(), node.view, std::string(kToken));
  std::atomic<bool> stop_begun{false};
  server.set_before_listen_hook([&] {
    while (!stop_begun.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let stop() go first
  });
  server.start({});
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    stop_begun = true;
    server.stop();
    stopped = true;
  });
  const bool ended = eventually([&] { return stopped.load(); }, std::chrono::seconds(20));
  if (!ended) {
    ADD_FAILURE() << "admin_server::stop() did not return: the listener never left its loop";
    std::fflush(nullptr);
    std::_Exit(1);  // the hung join cannot be undone; fail now instead of at the timeout
  }
  stopper.join();
}

TEST(AdminLimits, ManyConcurrentClientsAreAllAnswered) {
  auto cfg = test_config();
  cfg.max_connections = 64;
  admin_fixture f(cfg);
  constexpr int kClients = 24, kEach = 25;
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kClients; ++t)
    ts.emplace_back([&, t] {
      auto c = f.client();
      for (int i = 0; i < kEach; ++i) {
        const char* path = (i + t) % 3 == 0   ? "/metrics"
                           : (i + t) % 3 == 1 ? "/v1/stats"
                                              : "/v1/status";
        const auto r = c.Get(path);
        (r && r->status == 200 ? ok : bad)++;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), kClients * kEach);
  EXPECT_EQ(bad.load(), 0);
}

TEST(AdminLimits, OnePastTheConnectionCapGets503AndSilentOnesAreCut) {
  auto cfg = test_config();  // read_timeout 0.5 s
  // Within httplib's listen backlog (5): every idle connection is accepted at once.
  cfg.max_connections = 4;
  cfg.threads = 2;
  admin_fixture f(cfg);
  std::vector<std::unique_ptr<raw_conn>> idle;
  for (unsigned i = 0; i < cfg.max_connections; ++i) {
    idle.push_back(std::make_unique<raw_conn>(f.server.port()));
    ASSERT_TRUE(idle.back()->ok());
  }
  // The listener hands each to the pool (queued or served): give it the time to accept.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  raw_conn extra(f.server.port());
  ASSERT_TRUE(extra.ok());
  extra.send("GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string r = extra.read_all();
  EXPECT_NE(r.find("HTTP/1.1 503"), std::string::npos) << r;
  EXPECT_NE(r.find("too_many_connections"), std::string::npos) << r;
  EXPECT_GE(f.server.counters().rejected_connections.load(), 1u);
  // The silent ones are closed by the server: read_timeout_s, then the watchdog.
  for (auto& c : idle) EXPECT_TRUE(c->closed_by_peer());
  EXPECT_GE(f.server.counters().timed_out_connections.load(), 1u);
  idle.clear();
  EXPECT_TRUE(eventually([&] {
    const auto res = f.client().Get("/v1/status");
    return res && res->status == 200;
  })) << "the slots serve again";
}

TEST(AdminLimits, ASlowlorisClientIsCutEvenThoughItKeepsSendingBytes) {
  admin_fixture f;  // read_timeout 0.5 s
  raw_conn slow(f.server.port());
  ASSERT_TRUE(slow.ok());
  ASSERT_TRUE(slow.send("GET /v1/status HTTP/1.1\r\n"));
  // One header byte every 100 ms: each read is well within the read timeout, the
  // request never completes. Stop after 10 s at most.
  bool cut = false;
  for (int i = 0; i < 100 && !cut; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cut = !slow.send("X");
  }
  if (!cut) cut = slow.closed_by_peer();
  EXPECT_TRUE(cut) << "a trickling client held its connection for 10 s";
  EXPECT_GE(f.server.counters().timed_out_connections.load(), 1u);
  EXPECT_EQ(f.client().Get("/v1/status")->status, 200);
}

TEST(AdminLimits, AKeepAliveClientThatKeepsAskingIsNotCut) {
  admin_fixture f;  // read_timeout 0.5 s: 30 requests 100 ms apart span 3 s on one connection
  auto c = f.client();
  c.set_keep_alive(true);
  for (int i = 0; i < 30; ++i) {
    const auto r = c.Get("/v1/status");
    ASSERT_TRUE(r) << "request " << i;
    EXPECT_EQ(r->status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(f.server.counters().timed_out_connections.load(), 0u);
}

}  // namespace
}  // namespace anvil::control::admin::testing
