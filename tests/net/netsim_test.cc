// Byte-exact bulk transfers both ways through the seeded network simulator, at 0, 1,
// 5 and 20 % loss with reordering, duplication and corruption on, for several buffer
// sizes. Prints the table that bench/README.md and docs/tcp.md quote.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <functional>

#include "dataplane/net/stack.h"
#include "tests/net/net_test_util.h"
#include "tests/net/netsim.h"

namespace anvil::net::test {
namespace {

inline std::uint8_t pattern(std::uint64_t i, std::uint32_t salt) {
  std::uint64_t x = (i / 8 + salt) * 0x9E3779B97F4A7C15ull;
  x ^= x >> 29;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 32;
  return static_cast<std::uint8_t>(x >> (8 * (i % 8)));
}

// Streams `to_send` pattern bytes, verifies `to_recv` incoming bytes, half-closes
// once everything is sent.
struct stream_app {
  std::uint64_t to_send = 0, to_recv = 0, sent = 0, recvd = 0;
  std::uint32_t salt_out = 0, salt_in = 0;
  std::uint64_t mismatches = 0;
  bool eof = false, closed = false, opened = false, fin_called = false;
  close_reason reason = close_reason::none;
  std::uint32_t retransmits = 0;
  std::size_t unread_at_close = 0;
  std::size_t read_limit = SIZE_MAX;  // slow reader: bytes consumed per on_data / tick
  tcp_conn* conn = nullptr;

  void read(tcp_conn& c) {
    auto v = c.recv_view();
    const std::size_t n = std::min(v.size(), read_limit);
    for (std::size_t k = 0; k < n; ++k)
      if (std::to_integer<std::uint8_t>(v[k]) != pattern(recvd + k, salt_in)) ++mismatches;
    recvd += n;
    c.consume(n);
    if (c.peer_closed() && c.recv_view().empty()) eof = true;
  }

  void pump(tcp_conn& c) {
    while (sent < to_send) {
      auto sp = c.send_space();
      if (sp.empty()) break;
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(sp.size(), to_send - sent));
      for (std::size_t k = 0; k < n; ++k) sp[k] = std::byte{pattern(sent + k, salt_out)};
      c.commit_send(n);
      sent += n;
    }
    if (sent == to_send && !fin_called) {
      fin_called = true;
      c.close();  // half-close: keep reading until the peer's FIN
    }
  }
  void on_accept(tcp_conn& c) {
    opened = true;
    conn = &c;
    pump(c);
  }
  void on_data(tcp_conn& c) { read(c); }
  void on_writable(tcp_conn& c) { pump(c); }
  void on_close(tcp_conn& c) {
    conn = nullptr;
    closed = true;
    reason = c.reason();
    unread_at_close = c.recv_view().size();
    retransmits = c.counters().retransmits;
  }
};

struct sim_result {
  bool complete = false;
  bool exact = false;
  nanos sim_time = 0;
  std::uint64_t retransmits = 0, rto = 0, fast_rtx = 0, lost = 0, frames = 0;
  double wall_ms = 0;
};

struct sim_options {
  bool sack = true;    // tcp_config::sack on both ends (off: NewReno, what main had)
  bool faults = true;  // duplication, reordering, corruption besides `loss`
  std::function<bool(std::span<const std::byte>)> drop_s2c;  // server -> client hook
};

sim_result run_transfer(double loss, std::uint32_t buf, std::uint64_t bytes_each_way,
                        std::uint64_t seed, std::size_t read_limit = SIZE_MAX, nanos read_every = 0,
                        const sim_options& so = {}) {
  const auto t0 = std::chrono::steady_clock::now();
  sim::link_faults f;
  f.loss = loss;
  if (so.faults) {
    f.duplicate = 0.01;
    f.reorder = 0.02;
    f.corrupt = 0.005;
  }
  sim::link c2s(f, seed * 2 + 1), s2c(f, seed * 2 + 2);
  s2c.drop_if = so.drop_s2c;

  stack_config scfg = test_config();
  scfg.max_connections = 4;
  scfg.tcp.rx_buffer = buf;
  scfg.tcp.tx_buffer = buf;
  // At 20 % loss both ways, retransmission backoff (up to rto_max, 60 s) leaves the
  // half-closed side without a segment for longer than the 60 s FIN_WAIT_2 timeout,
  // which would (rightly) reclaim it; this table measures recovery, not that timer.
  scfg.tcp.fin_wait_2_timeout = 0;
  scfg.tcp.sack = so.sack;
  stack_config ccfg = scfg;
  ccfg.mac = kClientMac;
  ccfg.addresses = {kClientIp};
  ccfg.tcp_ports = {};

  stream_app sapp, capp;
  sapp.to_send = capp.to_recv = bytes_each_way;
  capp.to_send = sapp.to_recv = bytes_each_way;
  capp.salt_out = sapp.salt_in = 7;
  sapp.read_limit = capp.read_limit = read_limit;
  sapp.salt_out = capp.salt_in = 11;
  stack<stream_app> server(scfg, sapp), client(ccfg, capp);

  nanos now = 1 * kNsPerSec;
  sim::link_sink to_server{&c2s, &now, {}}, to_client{&s2c, &now, {}};
  client.connect(tcp_tuple{kClientIp, kServerIp, 40001, kPort}, kServerMac, now);
  client.flush(now, to_server);

  const nanos limit = now + 3600 * kNsPerSec;
  std::vector<std::vector<std::byte>> due;
  std::uint64_t iterations = 0;
  nanos next_read = read_every ? now + read_every : kNever;
  while (now < limit && !(sapp.closed && capp.closed)) {
    nanos next = std::min({c2s.next_time(), s2c.next_time(), server.next_deadline(),
                           client.next_deadline(), next_read});
    if (next == kNever) break;
    now = std::max(now, next);
    if (++iterations > 50'000'000) break;
    due.clear();
    c2s.due(now, due);
    for (auto& fr : due) server.input(fr, now, to_client, rx_meta{});
    server.flush(now, to_client);
    due.clear();
    s2c.due(now, due);
    for (auto& fr : due) client.input(fr, now, to_server, rx_meta{});
    client.flush(now, to_server);
    server.poll_timers(now, to_client);
    client.poll_timers(now, to_server);
    if (now >= next_read) {
      // The slow application reads a little more, outside any callback.
      if (sapp.conn) sapp.read(*sapp.conn);
      if (capp.conn) capp.read(*capp.conn);
      server.flush(now, to_client);
      client.flush(now, to_server);
      next_read = now + read_every;
    }
  }
  sim_result r;
  r.complete = sapp.closed && capp.closed && sapp.eof && capp.eof;
  r.exact = r.complete && sapp.recvd == bytes_each_way && capp.recvd == bytes_each_way &&
            sapp.mismatches == 0 && capp.mismatches == 0;
  r.sim_time = now - 1 * kNsPerSec;
  r.retransmits =
      server.counters().tcp_retransmits.load() + client.counters().tcp_retransmits.load();
  r.rto = server.counters().tcp_rto_expired.load() + client.counters().tcp_rto_expired.load();
  r.fast_rtx =
      server.counters().tcp_fast_retransmits.load() + client.counters().tcp_fast_retransmits.load();
  r.lost = c2s.lost + s2c.lost;
  r.frames = c2s.sent + s2c.sent;
  r.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!r.exact) {
    std::printf(
        "  incomplete: srv recvd=%llu sent=%llu eof=%d closed=%d(%d) mism=%llu | cli recvd=%llu "
        "sent=%llu eof=%d closed=%d(%d) mism=%llu unread %zu/%zu\n",
        (unsigned long long)sapp.recvd, (unsigned long long)sapp.sent, sapp.eof, sapp.closed,
        int(sapp.reason), (unsigned long long)sapp.mismatches, (unsigned long long)capp.recvd,
        (unsigned long long)capp.sent, capp.eof, capp.closed, int(capp.reason),
        (unsigned long long)capp.mismatches, sapp.unread_at_close, capp.unread_at_close);
  }
  return r;
}

// The table runs every cell with SACK (RFC 2018/6675 + RACK-TLP) and without (NewReno,
// what the stack did before), same seed, so docs/tcp.md can compare them.
TEST(netsim, transfers_are_byte_exact_under_loss) {
  const std::uint64_t kBytes = 4 * 1024 * 1024;  // each way
  std::printf(
      "\n| loss | buffer | SACK | complete | retransmits | RTOs | fast rtx | frames | lost | sim "
      "time (s) | wall (ms) |\n");
  std::printf("|---:|---:|:---:|:---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (double loss : {0.0, 0.01, 0.05, 0.20}) {
    for (std::uint32_t buf : {16u * 1024, 64u * 1024, 256u * 1024}) {
      for (bool sack : {false, true}) {
        const auto r =
            run_transfer(loss, buf, kBytes, 42 + static_cast<std::uint64_t>(loss * 1000) + buf,
                         SIZE_MAX, 0, sim_options{.sack = sack, .faults = true, .drop_s2c = {}});
        std::printf(
            "| %.0f%% | %u KiB | %s | %s | %llu | %llu | %llu | %llu | %llu | %.2f | %.0f |\n",
            loss * 100, buf / 1024, sack ? "on" : "off", r.exact ? "yes" : "NO",
            (unsigned long long)r.retransmits, (unsigned long long)r.rto,
            (unsigned long long)r.fast_rtx, (unsigned long long)r.frames,
            (unsigned long long)r.lost, double(r.sim_time) / kNsPerSec, r.wall_ms);
        EXPECT_TRUE(r.exact) << "loss " << loss << " buffer " << buf << " sack " << sack;
      }
    }
  }
}

// Issue 12: one lost segment in a 10-segment flight costs no retransmission timeout,
// wherever it is, the last ones included (main: 3 duplicate ACKs or an RTO, so a loss
// among the last three segments waited >= 200 ms). Only the server's first flight
// (10 segments, the initial window) loses a segment; nothing else is lost, duplicated,
// reordered or corrupted.
TEST(netsim, single_loss_in_a_ten_segment_flight_needs_no_rto) {
  for (int k = 1; k <= 10; ++k) {
    SCOPED_TRACE(k);
    int data_frames = 0;
    sim_options so;
    so.faults = false;
    so.drop_s2c = [&](std::span<const std::byte> fr) {
      const frame_t f(fr.begin(), fr.end());
      const auto o = decode_tcp(f);
      if (!o || o->payload.empty()) return false;
      return ++data_frames == k;  // the k-th data segment the server sends
    };
    const auto r = run_transfer(0.0, 64 * 1024, 10 * 1448, 7, SIZE_MAX, 0, so);
    EXPECT_TRUE(r.exact);
    EXPECT_EQ(r.lost, 1u);
    EXPECT_EQ(r.rto, 0u) << "segment " << k << " of 10 was recovered by a timeout";
    EXPECT_EQ(r.retransmits, 1u) << "only the hole is sent again";
  }
}

// A slow reader keeps the receive windows closing: zero-window probes, window updates
// after consume() outside a callback, all under loss, reordering and duplication.
TEST(netsim, slow_reader_zero_window_under_loss) {
  for (double loss : {0.0, 0.05}) {
    const auto r = run_transfer(loss, 8 * 1024, 512 * 1024, 99, 1024, 2 * kNsPerMs);
    std::printf("slow reader, loss %.0f%%: exact=%d sim=%.2fs retransmits=%llu\n", loss * 100,
                r.exact, double(r.sim_time) / kNsPerSec, (unsigned long long)r.retransmits);
    EXPECT_TRUE(r.exact) << loss;
  }
}

// Loss alone (no reordering, duplication or corruption), 5 % both ways, 8 seeds x 3
// buffer sizes, 2 MiB each way, with SACK off and on: totals for docs/tcp.md. A
// measurement (run with --gtest_also_run_disabled_tests); it only checks exactness.
TEST(netsim, DISABLED_pure_loss_sweep) {
  for (bool sack : {false, true}) {
    unsigned long long rto = 0, rtx = 0;
    double sim = 0;
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
      for (std::uint32_t buf : {16u * 1024, 64u * 1024, 256u * 1024}) {
        const auto r = run_transfer(0.05, buf, 2 * 1024 * 1024, seed, SIZE_MAX, 0,
                                    sim_options{.sack = sack, .faults = false, .drop_s2c = {}});
        EXPECT_TRUE(r.exact) << seed << " " << buf << " " << sack;
        rto += r.rto;
        rtx += r.retransmits;
        sim += double(r.sim_time) / kNsPerSec;
      }
    }
    std::printf("pure 5%% loss, SACK %s: RTOs %llu, retransmits %llu, sim time %.1f s\n",
                sack ? "on" : "off", rto, rtx, sim);
  }
}

TEST(netsim, DISABLED_seed_sweep) {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    const auto r = run_transfer(0.20, 64 * 1024, 4 * 1024 * 1024, seed);
    std::printf("seed %llu: exact=%d sim=%.1fs rto=%llu rtx=%llu\n", (unsigned long long)seed,
                r.exact, double(r.sim_time) / kNsPerSec, (unsigned long long)r.rto,
                (unsigned long long)r.retransmits);
  }
}

}  // namespace
}  // namespace anvil::net::test
