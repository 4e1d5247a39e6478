// Two engines over loopback TCP, each behind a replication_service as anvil runs it: the
// primary's "lcores" are proto::handlers fed text commands, their hooks are the
// service's rings. Checks, by comparing both engines' contents item by item (value,
// flags, CAS, absolute expiry): a full copy then the live stream; every mutation kind;
// mutations made during the full copy; a stream cut mid-way (a proxy between the two)
// and a corrupted stream, each followed by a reconnect and a resync; a ring overflow;
// and a replica that becomes primary continuing the positions and the CAS counter.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>

#include "control/replication/replication_metrics.h"
#include "control/replication/replication_service.h"
#include "control/replication/tcp_util.h"
#include "tests/proto/driver.h"

namespace anvil::replication {
namespace {

using namespace std::chrono_literals;
constexpr std::uint32_t kNow = 1'700'000'000;

cache::engine_config config_for(const cache::clock& clk, std::size_t memory) {
  cache::engine_config c;
  c.memory_limit_bytes = memory;
  c.max_item_size = 256u << 10;
  c.partitions = 2;
  c.numa_bind = false;
  c.time = &clk;
  return c;
}

// One node: an engine, its replication service and two data-plane lcores.
struct node {
  node(std::string name, std::string ip, std::uint16_t port, std::size_t ring_entries = 4096,
       std::size_t memory = 64u << 20)
      : eng(config_for(clk, memory)),
        svc(eng, 2, replication_config{name, std::move(ip), port, ring_entries, 64u << 20}) {
    for (unsigned i = 0; i < 2; ++i)
      lcores[i] = std::make_unique<lcore>(eng, svc.hook_for_lcore(i));
  }
  struct lcore {
    lcore(cache::engine& e, proto::mutation_hook hook)
        : ses(e.open_session()), h(e, ses, proto::handler_config{}, counters, {}, hook) {}
    cache::session ses;
    proto::lcore_counters counters;
    proto::handler h;
    proto::connection conn;
  };
  // Runs text commands on lcore i; returns the replies.
  std::string run(unsigned i, std::string_view text) {
    lcore& l = *lcores[i];
    return proto::testing::drive(l.h, l.ses, l.conn, text, {}, l.h.min_sink_capacity()).output;
  }

  cache::clock clk{kNow};
  cache::engine eng;
  replication_service svc;
  std::unique_ptr<lcore> lcores[2];
};

using item_state = std::tuple<std::string, std::uint32_t, std::uint32_t, std::uint64_t>;
// The visible contents: every walked key as a lookup sees it.
std::map<std::string, item_state> contents(cache::engine& e) {
  std::map<std::string, item_state> out;
  cache::session s = e.open_session();
  std::vector<std::string> keys;
  for (std::size_t p = 0; p < e.partition_count(); ++p)
    s.for_each_item(p, [&](const cache::item_record& r) { keys.emplace_back(r.key); });
  for (const auto& k : keys) {
    const cache::item_view v = s.peek(k);
    if (v.found) out[k] = {std::string(v.value), v.flags, v.expires_at, v.cas};
    s.quiescent();
  }
  return out;
}

// Bounded progress: polls until `pred` holds or 30 s have passed (a bound on the wait,
// not a timing assertion).
template <class P>
bool eventually(P&& pred) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// The replica caught up: same position as the primary, not copying, same contents.
bool converged(node& primary, node& replica) {
  const auto pp = primary.svc.position();
  if (replica.svc.position() != pp || pp == 0) return false;
  return contents(primary.eng) == contents(replica.eng);
}

std::string describe(node& a, node& b) {
  const auto ca = contents(a.eng), cb = contents(b.eng);
  std::string d = "primary position " + std::to_string(a.svc.position()) + ", replica " +
                  std::to_string(b.svc.position()) + "; items " + std::to_string(ca.size()) +
                  " vs " + std::to_string(cb.size());
  for (const auto& [k, v] : ca) {
    auto it = cb.find(k);
    if (it == cb.end()) {
      d += "; missing on replica: " + k;
      break;
    }
    if (it->second != v) {
      d += "; differs: " + k + " (" + std::get<0>(v) + " vs " + std::get<0>(it->second) + ")";
      break;
    }
  }
  return d;
}

// Role changes are applied by the service's own thread: wait for the listening socket.
std::uint16_t become_primary(node& n, std::int64_t epoch) {
  n.svc.on_role_change(cluster::role::primary, epoch, "");
  EXPECT_TRUE(eventually([&] { return n.svc.listening_port() != 0; }));
  return n.svc.listening_port();
}

// The primary on 127.0.0.1 (any port), a replica that will connect to `port`.
struct pair_fixture {
  node a{"a", "127.0.0.1", 0};
  std::unique_ptr<node> b;
  std::uint16_t port = 0;
  explicit pair_fixture(bool start_replica = true) {
    port = become_primary(a, 1);
    if (start_replica) start_replica_on(port);
  }
  void start_replica_on(std::uint16_t p, std::size_t ring = 4096) {
    b = std::make_unique<node>("b", "127.0.0.2", p, ring);
    b->svc.on_role_change(cluster::role::replica, 1, "127.0.0.1:11312");
  }
};

std::string sets(int from, int to, std::string_view prefix = "k", std::size_t value_len = 10) {
  std::string t;
  for (int i = from; i < to; ++i) {
    const std::string v(value_len, static_cast<char>('a' + i % 26));
    t += "set " + std::string(prefix) + std::to_string(i) + " " + std::to_string(i) + " 0 " +
         std::to_string(v.size()) + "\r\n" + v + "\r\n";
  }
  return t;
}

std::uint64_t cas_of(node& n, std::string_view key) {
  cache::session s = n.eng.open_session();
  return s.peek(key).cas;
}

TEST(ReplicationStream, FullCopyThenLiveStreamOfEveryMutationKind) {
  pair_fixture f(false);
  f.a.run(0, sets(0, 500));
  f.a.run(1, "set exp 0 3600 1\r\nx\r\n");  // a relative TTL on the primary
  f.start_replica_on(f.port);
  ASSERT_TRUE(eventually([&] { return converged(f.a, *f.b); })) << describe(f.a, *f.b);
  EXPECT_EQ(std::get<2>(contents(f.b->eng).at("exp")), kNow + 3600);  // the same instant

  // Every kind, on both lcores (two rings), each checked by its reply.
  EXPECT_EQ(f.a.run(0, "set s 1 0 2\r\nv1\r\n"), "STORED\r\n");
  EXPECT_EQ(f.a.run(1, "add a 2 0 2\r\nv2\r\n"), "STORED\r\n");
  EXPECT_EQ(f.a.run(0, "add a 2 0 2\r\nzz\r\n"), "NOT_STORED\r\n");  // no mutation
  EXPECT_EQ(f.a.run(1, "replace s 3 0 2\r\nv3\r\n"), "STORED\r\n");
  EXPECT_EQ(f.a.run(0, "append s 0 0 3\r\n-ap\r\n"), "STORED\r\n");
  EXPECT_EQ(f.a.run(1, "prepend s 0 0 3\r\npp-\r\n"), "STORED\r\n");
  const std::uint64_t cas = cas_of(f.a, "a");
  EXPECT_EQ(f.a.run(0, "cas a 4 0 2 " + std::to_string(cas) + "\r\nv4\r\n"), "STORED\r\n");
  EXPECT_EQ(f.a.run(1, "delete k7\r\n"), "DELETED\r\n");
  EXPECT_EQ(f.a.run(0, "set n 0 0 2\r\n10\r\n"), "STORED\r\n");
  EXPECT_EQ(f.a.run(1, "incr n 5\r\n"), "15\r\n");
  EXPECT_EQ(f.a.run(0, "decr n 3\r\n"), "12\r\n");
  EXPECT_EQ(f.a.run(1, "touch k8 100\r\n"), "TOUCHED\r\n");
  EXPECT_NE(f.a.run(0, "gat 200 k9\r\n").find("VALUE k9"), std::string::npos);
  EXPECT_EQ(f.a.run(1, "set big 0 0 200000\r\n" + std::string(200000, 'B') + "\r\n"), "STORED\r\n");
  ASSERT_TRUE(eventually([&] { return converged(f.a, *f.b); })) << describe(f.a, *f.b);
  const auto c = contents(f.b->eng);
  EXPECT_EQ(std::get<0>(c.at("s")), "pp-v3-ap");
  EXPECT_EQ(std::get<0>(c.at("a")), "v4");
  EXPECT_EQ(std::get<0>(c.at("n")), "12");
  EXPECT_EQ(c.count("k7"), 0u);
  EXPECT_EQ(std::get<2>(c.at("k8")), kNow + 100);
  EXPECT_EQ(std::get<2>(c.at("k9")), kNow + 200);

  // flush_all: the replica takes a fresh copy and ends as empty as the primary, then
  // follows the writes after it.
  const auto resyncs = f.b->svc.status().resyncs + f.a.svc.status().resyncs;
  EXPECT_EQ(f.a.run(0, "flush_all\r\n"), "OK\r\n");
  EXPECT_EQ(f.a.run(1, "set after 0 0 1\r\n1\r\n"), "STORED\r\n");
  ASSERT_TRUE(eventually([&] { return converged(f.a, *f.b); })) << describe(f.a, *f.b);
  EXPECT_GT(f.a.svc.status().resyncs + f.b->svc.status().resyncs, resyncs);
  EXPECT_EQ(contents(f.b->eng).size(), 1u);

  // A delayed flush: the replica keeps the items until the deadline, then loses them too.
  f.a.run(0, sets(0, 20, "d"));
  ASSERT_TRUE(eventually([&] { return converged(f.a, *f.b); })) << describe(f.a, *f.b);
  EXPECT_EQ(f.a.run(1, "flush_all 5\r\n"), "OK\r\n");
  f.a.clk.advance(5);
  f.b->clk.advance(5);
  ASSERT_TRUE(eventually([&] { return contents(f.a.eng).empty() && contents(f.b->eng).empty(); }))
      << describe(f.a, *f.b);
  f.a.run(0, sets(0, 3, "z"));
  ASSERT_TRUE(eventually([&] { return converged(f.a, *f.b); })) << describe(f.a, *f.b);

  // Lag is zero once caught up, on both sides.
  ASSERT_TRUE(
      eventually([&] { return f.a.svc.lag().entries == 0 && f.b->svc.lag().entries == 0; }));
  EXPECT_EQ(f.b->svc.lag().seconds, 0);
  EXPECT_GT(f.a.svc.status().bytes_sent, 0u);
  EXPECT_EQ(f.a.svc.status().bytes_sent, f.b->svc.status().bytes_received);
}

TEST(ReplicationStream, MutationsMadeDuringTheFullCopyArrive) {
  pair_fixture f(false);
  // Enough data that the copy takes many blocks: 20,000 items of 1 KiB.
  for (int i = 0; i < 20000; i += 1000) f.a.run(0, sets(i, i + 1000, "k", 1024));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> during_copy{0};
  f.start_replica_on(f.port);
  // Rewrite, delete and append to keys all over the key space (the walk has passed some
  // and not others) until the replica finished its copy, and a little after.
  std::thread writer([&] {
    int i = 0;
    while (!stop.load()) {
      const int k = (i * 7919) % 20000;
      const std::string key = "k" + std::to_string(k);
      switch (i % 4) {
        case 0:
          f.a.run(1, "set " + key + " 9 0 5\r\nnew" + std::to_string(i % 10) + "!\r\n");
          break;
        case 1:
          f.a.run(1, "delete " + key + "\r\n");
          break;
        case 2:
          f.a.run(1, "append " + key + " 0 0 2\r\n++\r\n");
          break;
        default:
          f.a.run(1, "set fresh" + std::to_string(i) + " 0 0 1\r\nf\r\n");
      }
      const auto st = f.a.svc.status();  // after the write: was a copy being sent?
      if (!st.replicas.empty() && st.replicas.front().copying) during_copy.fetch_add(1);
      ++i;
    }
  });
  const bool copied = eventually([&] { return f.b->svc.position() != 0; });
  std::this_thread::sleep_for(50ms);
  stop.store(true);
  writer.join();
  ASSERT_TRUE(copied);
  EXPECT_GT(during_copy.load(), 0u) << "no mutation happened while the copy ran";
  ASSERT_TRUE(eventually([&] { return converged(f.a, *f.b); })) << describe(f.a, *f.b);
}

// A proxy between replica and primary that can cut, corrupt or hold the stream.
class proxy {
 public:
  explicit proxy(std::uint16_t upstream) : _up(upstream) {
    std::string why;
    _listen = tcp_listen("127.0.0.1", _port, why);
    EXPECT_GE(_listen, 0) << why;
    _thread = std::thread([this] { run(); });
  }
  ~proxy() {
    _stop.store(true);
    _thread.join();
    tcp_close(_listen);
  }
  std::uint16_t port() const { return _port; }
  void cut() { _cut.store(true); }               // close the current connection pair
  void corrupt_next() { _corrupt.store(true); }  // flip one byte primary -> replica
  void hold(bool on) { _hold.store(on); }        // forward nothing, keep the connection
  int connections() const { return _connections.load(); }
  std::uint64_t forwarded() const { return _forwarded.load(); }

 private:
  void run() {
    while (!_stop.load()) {
      std::string why;
      int c = tcp_accept(_listen, 50ms, why);
      if (c < 0) continue;
      int u = tcp_connect("127.0.0.1", _up, 1000ms, why);
      if (u < 0) {
        tcp_close(c);
        continue;
      }
      _connections.fetch_add(1);
      _cut.store(false);
      std::vector<std::byte> buf(64u << 10);
      bool ok = true;
      while (ok && !_stop.load() && !_cut.load()) {
        if (_hold.load()) {
          std::this_thread::sleep_for(5ms);
          continue;
        }
        long n = tcp_recv_some(u, buf, 5ms, why);
        if (n < 0) break;
        if (n > 0) {
          if (_corrupt.exchange(false)) buf[static_cast<std::size_t>(n) / 2] ^= std::byte{0x5a};
          ok = tcp_send_all(c, {reinterpret_cast<char*>(buf.data()), static_cast<std::size_t>(n)},
                            5000ms, why);
          _forwarded.fetch_add(static_cast<std::uint64_t>(n));
        }
        n = tcp_recv_some(c, buf, 0ms, why);
        if (n < 0) break;
        if (n > 0)
          ok = ok &&
               tcp_send_all(u, {reinterpret_cast<char*>(buf.data()), static_cast<std::size_t>(n)},
                            5000ms, why);
      }
      tcp_close(c);
      tcp_close(u);
    }
  }
  std::uint16_t _up;
  std::uint16_t _port = 0;
  int _listen = -1;
  std::atomic<bool> _stop{false}, _cut{false}, _corrupt{false}, _hold{false};
  std::atomic<int> _connections{0};
  std::atomic<std::uint64_t> _forwarded{0};
  std::thread _thread;
};

TEST(ReplicationStream, AStreamCutMidwayReconnectsAndResyncs) {
  pair_fixture f(false);
  proxy px(f.port);
  f.a.run(0, sets(0, 5000, "k", 512));
  f.start_replica_on(px.port());
  // Cut while the copy is being forwarded (some bytes through, not all).
  ASSERT_TRUE(eventually([&] { return px.forwarded() > 64u << 10; }));
  px.cut();
  f.a.run(1, sets(5000, 5100));  // written while the replica is away
  ASSERT_TRUE(eventually([&] { return px.connections() >= 2; }));
  ASSERT_TRUE(eventually([&] { return converged(f.a, *f.b); })) << describe(f.a, *f.b);
  // And once more in the live stream.
  px.cut();
  f.a.run(0, "delete k1\r\n");
  f.a.run(1, sets(6000, 6010));
  ASSERT_TRUE(eventually([&] { return px.connections() >= 3; }));
  ASSERT_TRUE(eventually([&] { return converged(f.a, *f.b); })) << describe(f.a, *f.b);
  EXPECT_GE(f.b->svc.status().dropped_connections, 2u);
  EXPECT_GE(f.b->svc.status().resyncs, 3u);  // one copy per connection
}

// What health's replication_lag reads (replica_stream): a copy in progress from the
// connect until it is applied, and the time since the last frame, which an idle live
// stream keeps short with its position frames and a held one lets grow.
TEST(ReplicationStream, TheReplicaStreamViewShowsTheCopyAndASilentStream) {
  pair_fixture f(false);
  EXPECT_FALSE(f.a.svc.replica_stream().has_value());  // a primary follows nobody
  proxy px(f.port);
  px.hold(true);
  f.a.run(0, sets(0, 100));
  f.start_replica_on(px.port());
  ASSERT_TRUE(eventually([&] { return px.connections() >= 1; }));
  ASSERT_TRUE(eventually([&] {
    const auto st = f.b->svc.replica_stream();
    return st && st->copying && st->idle_s >= 0.3;  // connected, nothing came yet
  }));
  px.hold(false);
  ASSERT_TRUE(eventually([&] { return converged(f.a, *f.b); })) << describe(f.a, *f.b);
  ASSERT_FALSE(f.b->svc.replica_stream()->copying);
  const int connections = px.connections();
  // Idle but healthy: position frames (every 100 ms) keep the stream fresh. Bounded
  // progress: observed fresh again after being silent, not a latency measurement.
  px.hold(true);
  ASSERT_TRUE(eventually([&] { return f.b->svc.replica_stream()->idle_s >= 0.5; }));
  px.hold(false);
  ASSERT_TRUE(eventually([&] { return f.b->svc.replica_stream()->idle_s < 0.5; }));
  EXPECT_FALSE(f.b->svc.replica_stream()->copying);
  EXPECT_EQ(px.connections(), connections);  // the same connection throughout
}

TEST(ReplicationStream, ACorruptedStreamIsDroppedAndResynced) {
  pair_fixture f(false);
  proxy px(f.port);
  f.a.run(0, sets(0, 100));
  f.start_replica_on(px.port());
  ASSERT_TRUE(eventually([&] { return converged(f.a, *f.b); })) << describe(f.a, *f.b);
  px.corrupt_next();
  f.a.run(1, sets(100, 200, "k", 300));
  ASSERT_TRUE(eventually([&] { return px.connections() >= 2; }))
      << "the corrupted frame was not refused";
  ASSERT_TRUE(eventually([&] { return converged(f.a, *f.b); })) << describe(f.a, *f.b);
  EXPECT_GE(f.b->svc.status().dropped_connections, 1u);
}

TEST(ReplicationStream, ARingOverflowResyncsTheReplica) {
  node a("a", "127.0.0.1", 0, /*ring_entries=*/2);
  node b("b", "127.0.0.2", become_primary(a, 1));
  a.run(0, sets(0, 10));
  b.svc.on_role_change(cluster::role::replica, 1, "127.0.0.1");
  ASSERT_TRUE(eventually([&] { return converged(a, b); })) << describe(a, b);
  const auto copies = a.svc.status().resyncs;
  // One burst of 2,000 sets on one lcore into a ring of two entries: the drain cannot keep
  // up, entries are dropped, the lcore never waits.
  a.run(0, sets(10, 2010));
  EXPECT_GT(a.svc.status().ring_dropped, 0u);
  ASSERT_TRUE(eventually([&] { return a.svc.status().ring_overflows > 0; }));
  ASSERT_TRUE(eventually([&] { return converged(a, b); })) << describe(a, b);
  EXPECT_GT(a.svc.status().resyncs, copies);
}

TEST(ReplicationStream, APromotedReplicaContinuesPositionsAndCas) {
  pair_fixture f;
  f.a.run(0, sets(0, 50));
  ASSERT_TRUE(eventually([&] { return converged(f.a, *f.b); })) << describe(f.a, *f.b);
  const std::uint64_t pos = f.b->svc.position();
  const std::uint64_t max_cas = cas_of(f.a, "k49");
  // a goes away (stops serving replicas); b becomes primary at epoch 2.
  f.a.svc.on_role_change(cluster::role::replica, 2, "");
  ASSERT_TRUE(eventually([&] { return f.a.svc.status().mode == std::string("off"); }));
  EXPECT_EQ(f.b->svc.position(), pos);  // kept while the stream is gone
  become_primary(*f.b, 2);
  EXPECT_EQ(f.b->svc.position(), pos);
  EXPECT_EQ(f.b->run(0, "set new 0 0 1\r\nx\r\n"), "STORED\r\n");
  ASSERT_TRUE(eventually([&] { return f.b->svc.position() == pos + 1; }));
  EXPECT_GT(cas_of(*f.b, "new"), max_cas);
  EXPECT_EQ(f.b->svc.status().mode, std::string("primary"));
}

TEST(ReplicationStream, MetricsNameTheModeLagAndCounters) {
  pair_fixture f;
  f.a.run(0, sets(0, 10));
  ASSERT_TRUE(eventually([&] { return converged(f.a, *f.b); })) << describe(f.a, *f.b);
  auto scrape = [](node& n) {
    control::admin::exposition x;
    metrics_collector(n.svc)(x);
    return x.text();
  };
  const std::string a = scrape(f.a), b = scrape(*f.b);
  EXPECT_NE(a.find("anvil_replication_mode{mode=\"primary\"} 1"), std::string::npos) << a;
  EXPECT_NE(b.find("anvil_replication_mode{mode=\"replica\"} 1"), std::string::npos) << b;
  EXPECT_NE(b.find("anvil_replication_position 10\n"), std::string::npos) << b;
  for (const char* family :
       {"anvil_replication_lag_entries", "anvil_replication_lag_seconds",
        "anvil_replication_replicas 1", "anvil_replication_resyncs_total",
        "anvil_replication_bytes_total{direction=\"sent\"}",
        "anvil_replication_ring_overflows_total 0", "anvil_replication_ring_dropped_total 0",
        "anvil_replication_dropped_connections_total", "anvil_replication_apply_failures_total 0"})
    EXPECT_NE(a.find(family), std::string::npos) << family << " in\n" << a;
}

}  // namespace
}  // namespace anvil::replication
