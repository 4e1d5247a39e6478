// Cost of the stack per received data segment, per sent segment, and per connection
// setup + teardown, all through stack::receive with full checksum verification and
// generation (no offload), frames in memory (no port).
//   build-net/bench/net/bench_net
#include <benchmark/benchmark.h>

#include <memory>

#include "dataplane/net/stack.h"
#include "tests/net/net_test_util.h"

using namespace anvil::net;
using namespace anvil::net::test;

namespace {

struct sink_app {
  bool echo = false;
  void on_accept(tcp_conn&) {}
  void on_data(tcp_conn& c) {
    auto v = c.recv_view();
    benchmark::DoNotOptimize(v.data());
    c.consume(v.size());
    if (c.peer_closed()) c.close();
  }
  void on_close(tcp_conn&) {}
};

struct fixture {
  stack_config cfg;
  sink_app app;
  std::unique_ptr<stack<sink_app>> st;
  vector_sink tx;
  nanos now = 1000 * kNsPerSec;
  seq_t cseq = 1000, cack = 0;
  std::uint16_t cport = 40000;
  std::vector<std::vector<std::byte>> keep;

  fixture() {
    cfg = test_config();
    cfg.max_connections = 64;
    cfg.tcp.rx_buffer = 256 * 1024;
    cfg.tcp.tx_buffer = 256 * 1024;
    st = std::make_unique<stack<sink_app>>(cfg, app);
    tx.keep = true;
  }
  tcp_segment seg(std::uint8_t flags, seq_t seq, seq_t ack, bytes payload = {}) {
    tcp_segment s;
    s.src_port = cport, s.dst_port = kPort, s.seq = seq, s.ack = ack, s.flags = flags;
    s.window = 0xffff;
    s.opt.has_ts = true, s.opt.ts_val = 100, s.opt.ts_ecr = 0;
    s.payload = payload;
    return s;
  }
  void establish() {
    auto syn = seg(tcp_flag::syn, cseq - 1, 0);
    syn.opt = linux_syn_options(100);
    st->receive(tcp_frame(syn), now, tx);
    auto out = decode_tcp(tx.take().at(0));
    cack = out->seg.seq + 1;
    st->receive(tcp_frame(seg(tcp_flag::ack, cseq, cack)), now, tx);
    tx.take();
  }
};

// ns per received in-order data segment: checksum, lookup, state machine, copy into
// the receive buffer, on_data, and the ACK (one per call, or one per burst of 32).
void BM_rx_data_segment(benchmark::State& state) {
  const std::size_t payload = static_cast<std::size_t>(state.range(0));
  const bool burst = state.range(1) != 0;
  fixture f;
  f.establish();
  f.tx.keep = false;
  std::vector<std::byte> data(payload, std::byte{'v'});
  constexpr std::size_t kFrames = 4096;
  std::vector<std::vector<std::byte>> frames;
  std::vector<bytes> views;
  auto refill = [&] {
    frames.clear();
    views.clear();
    for (std::size_t i = 0; i < kFrames; ++i) {
      frames.push_back(tcp_frame(f.seg(tcp_flag::ack | tcp_flag::psh, f.cseq, f.cack, data)));
      f.cseq += static_cast<seq_t>(payload);
    }
    for (auto& fr : frames) views.push_back(fr);
  };
  refill();
  std::size_t i = 0;
  for (auto _ : state) {
    if (i == kFrames) {
      state.PauseTiming();
      refill();
      i = 0;
      state.ResumeTiming();
    }
    if (burst) {
      f.st->receive_burst(std::span<const bytes>(views.data() + i, 32), f.now, f.tx);
      i += 32;
    } else {
      f.st->receive(views[i++], f.now, f.tx);
    }
  }
  const auto segs = static_cast<double>(state.iterations()) * (burst ? 32 : 1);
  state.counters["ns/segment"] =
      benchmark::Counter(segs, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["acks/segment"] = static_cast<double>(f.tx.committed) / segs;
  state.SetBytesProcessed(static_cast<std::int64_t>(segs * static_cast<double>(payload)));
}
BENCHMARK(BM_rx_data_segment)->Args({64, 0})->Args({1448, 0})->Args({64, 1})->Args({1448, 1});

// ns per sent data segment: the application writes one MSS into send_space, flush
// builds headers + checksum into the sink. The peer ACKs every 32 segments (that
// receive is included, amortised).
void BM_tx_segment(benchmark::State& state) {
  const std::size_t payload = static_cast<std::size_t>(state.range(0));
  fixture f;
  f.establish();
  f.tx.keep = false;
  tcp_conn* c = f.st->find({kServerIp, kClientIp, kPort, f.cport});
  std::int64_t n = 0;
  for (auto _ : state) {
    auto sp = c->send_space();
    std::memset(sp.data(), 'x', std::min(sp.size(), payload));
    c->commit_send(std::min(sp.size(), payload));
    f.st->flush(f.now, f.tx);
    if (++n % 32 == 0) {
      f.now += 10 * kNsPerMs;  // keep RTT samples sane
      auto ackf = tcp_frame(f.seg(tcp_flag::ack, f.cseq, c->snd_nxt()));
      f.st->receive(ackf, f.now, f.tx);
    }
  }
  state.counters["ns/segment"] =
      benchmark::Counter(static_cast<double>(f.tx.committed),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetBytesProcessed(static_cast<std::int64_t>(f.tx.committed * payload));
}
BENCHMARK(BM_tx_segment)->Arg(64)->Arg(1448);

// ns per connection: SYN -> SYN-ACK, ACK, client FIN -> server FIN, last ACK -> CLOSED
// (4 frames in, 3 out, slot + buffers allocated and returned).
void BM_conn_setup_teardown(benchmark::State& state) {
  fixture f;
  f.tx.keep = true;
  // Time is frozen, so the server's ISS is the same for every incarnation.
  auto syn = f.seg(tcp_flag::syn, f.cseq - 1, 0);
  syn.opt = linux_syn_options(100);
  const auto syn_f = tcp_frame(syn);
  f.st->receive(syn_f, f.now, f.tx);
  const seq_t iss = decode_tcp(f.tx.take().at(0))->seg.seq;
  const auto ack_f = tcp_frame(f.seg(tcp_flag::ack, f.cseq, iss + 1));
  const auto fin_f = tcp_frame(f.seg(tcp_flag::ack | tcp_flag::fin, f.cseq, iss + 1));
  const auto last_f = tcp_frame(f.seg(tcp_flag::ack, f.cseq + 1, iss + 2));
  f.st->receive(ack_f, f.now, f.tx);
  f.st->receive(fin_f, f.now, f.tx);
  f.st->receive(last_f, f.now, f.tx);
  if (f.st->connections() != 0) {
    state.SkipWithError("teardown did not complete");
    return;
  }
  f.tx.keep = false;
  for (auto _ : state) {
    f.st->receive(syn_f, f.now, f.tx);
    f.st->receive(ack_f, f.now, f.tx);
    f.st->receive(fin_f, f.now, f.tx);
    f.st->receive(last_f, f.now, f.tx);
  }
  if (f.st->connections() != 0) state.SkipWithError("connection leaked");
  state.counters["frames_out/conn"] =
      static_cast<double>(f.tx.committed) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_conn_setup_teardown);

// ns per SYN refused by a table full of ESTABLISHED connections (no TIME_WAIT entry to
// recycle): must not grow with the table (issue 12 item 9; it used to scan every
// slot). Compare the two sizes: the ratio should be ~1.
void BM_syn_on_full_table(benchmark::State& state) {
  fixture f;
  f.cfg.max_connections = static_cast<std::uint32_t>(state.range(0));
  f.cfg.syn_backlog = f.cfg.max_connections;
  f.cfg.tcp.rx_buffer = f.cfg.tcp.tx_buffer = 2048;
  f.st = std::make_unique<stack<sink_app>>(f.cfg, f.app);
  for (std::uint32_t i = 0; i < f.cfg.max_connections; ++i) {
    f.cport = static_cast<std::uint16_t>(1024 + i);
    f.establish();
  }
  if (f.st->connections() != f.cfg.max_connections) {
    state.SkipWithError("table not full");
    return;
  }
  f.tx.keep = false;
  f.cport = 1023;
  auto syn = f.seg(tcp_flag::syn, 777, 0);
  syn.opt = linux_syn_options(100);
  const auto syn_f = tcp_frame(syn);
  for (auto _ : state) f.st->receive(syn_f, f.now, f.tx);
  if (f.st->counters().tcp_conn_limit.load() != static_cast<std::uint64_t>(state.iterations()))
    state.SkipWithError("a SYN was not refused");
  state.counters["ns/syn"] =
      benchmark::Counter(static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_syn_on_full_table)->Arg(1024)->Arg(16384);

}  // namespace

BENCHMARK_MAIN();
