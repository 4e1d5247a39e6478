// AF_PACKET port paths on a veth pair (a testnet; needs root), to choose the receive
// path by measurement. See bench/port/README.md for results and how to read them.
//   BM_RxEmptyPoll/<mode>     cost of polling an empty queue (the idle loop's cost)
//   BM_RxThroughput/<mode>    a sender thread in the client namespace blasts 60-byte
//                             frames; frames/s delivered, receiver CPU ns per frame,
//                             and frames the kernel dropped (ring/socket full)
//   BM_TxBatch/<batch>        begin/commit/flush cost per frame by frames per sendmmsg
//   BM_EchoRtt/<mode>         one frame at a time: client -> port -> echoed back;
//                             round-trip time with the port busy-polling (low-rate latency)
// mode 0 = TPACKET_V2 ring, 1 = recvmmsg + PACKET_VNET_HDR.
#include <benchmark/benchmark.h>
#include <linux/if_packet.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>

#include "dataplane/port/afpacket_port.h"
#include "tests/port/port_test_util.h"
#include "tests/support/testnet.h"

namespace anvil::bench {
namespace {

using port::afpacket_port;
using test::bytes;

test::testnet& net() {
  static test::testnet n;
  return n;
}

std::unique_ptr<afpacket_port> open_port(int mode) {
  port::afpacket_options o;
  o.interface = net().stack_if();
  o.rx_mode = mode == 0 ? port::afpacket_rx_mode::ring : port::afpacket_rx_mode::mmsg;
  o.ring_frames = 4096;
  std::vector<std::unique_ptr<afpacket_port>> v;
  test::run_in_netns(net().stack_ns(), [&] { v = afpacket_port::open(o, 1); });
  return std::move(v[0]);
}

double thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

std::uint64_t kernel_drops(int fd) {
  tpacket_stats_v3 st{};  // V2 fills the first two fields; reading resets them
  socklen_t len = sizeof st;
  getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len);
  return st.tp_drops;
}

void BM_RxEmptyPoll(benchmark::State& state) {
  auto p = open_port(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(p->rx_burst());
  state.SetLabel(state.range(0) == 0 ? "ring" : "mmsg");
}
BENCHMARK(BM_RxEmptyPoll)->Arg(0)->Arg(1);

void BM_RxThroughput(benchmark::State& state) {
  auto p = open_port(static_cast<int>(state.range(0)));
  const auto cm = test::parse_mac(net().client_mac());
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> sent{0};
  std::atomic<double> sender_cpu{0};
  int fd = test::socket_in_netns(net().client_ns(), AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = static_cast<int>(test::ifindex_in_netns(net().client_ns(), net().client_if()));
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
    state.SkipWithError("bind");
    return;
  }
  std::thread sender([&] {
    bytes f = test::tagged_frame(p->mac(), cm, 0xbe, 0, 60);
    mmsghdr msgs[32]{};
    iovec iov{f.data(), f.size()};
    for (auto& m : msgs) {
      m.msg_hdr.msg_iov = &iov;
      m.msg_hdr.msg_iovlen = 1;
    }
    const double c0 = thread_cpu_ns();
    while (!stop.load(std::memory_order_relaxed)) {
      int r = sendmmsg(fd, msgs, 32, 0);
      if (r > 0) sent.fetch_add(static_cast<std::uint64_t>(r), std::memory_order_relaxed);
    }
    sender_cpu = thread_cpu_ns() - c0;
  });
  kernel_drops(p->fd());
  std::uint64_t got = 0;
  const std::uint64_t sent0 = sent.load();
  const double cpu0 = thread_cpu_ns();
  // Time inside bursts that returned frames: the receive path's own cost per frame,
  // without the empty polls a spinning receiver also makes.
  double busy_ns = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    auto b = p->rx_burst();
    if (!b.empty()) {
      busy_ns +=
          std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
      got += b.size();
    }
  }
  const double cpu = thread_cpu_ns() - cpu0;
  const std::uint64_t sent_n = sent.load() - sent0;
  stop = true;
  sender.join();
  close(fd);
  state.counters["rx_pps"] = benchmark::Counter(double(got), benchmark::Counter::kIsRate);
  state.counters["tx_pps"] = benchmark::Counter(double(sent_n), benchmark::Counter::kIsRate);
  state.counters["rx_busy_ns_per_frame"] = got ? busy_ns / double(got) : 0;
  state.counters["rx_cpu_ns_per_frame"] = got ? cpu / double(got) : 0;
  // On veth the kernel's receive work (for the ring: the copy into it) runs on the
  // sending CPU, so the sender's CPU per frame is part of the receive path's cost.
  state.counters["sender_cpu_ns_per_frame"] =
      sent.load() ? sender_cpu.load() / double(sent.load()) : 0;
  state.counters["kernel_drops"] = double(kernel_drops(p->fd()));
  state.SetLabel(state.range(0) == 0 ? "ring" : "mmsg");
}
BENCHMARK(BM_RxThroughput)->Arg(0)->Arg(1)->MinTime(2.0)->UseRealTime();

void BM_TxBatch(benchmark::State& state) {
  auto p = open_port(0);
  const auto cm = test::parse_mac(net().client_mac());
  const bytes f = test::tagged_frame(cm, p->mac(), 0xbf, 0, 60);
  const auto batch = state.range(0);
  for (auto _ : state) {
    for (int64_t i = 0; i < batch; ++i) {
      auto b = p->begin_frame();
      std::memcpy(b.data(), f.data(), f.size());
      p->commit_frame(f.size());
    }
    p->flush();
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["tx_dropped"] = double(p->counters().tx_dropped.get());
}
BENCHMARK(BM_TxBatch)->Arg(1)->Arg(8)->Arg(32)->Arg(64)->UseRealTime();

void BM_EchoRtt(benchmark::State& state) {
  auto p = open_port(static_cast<int>(state.range(0)));
  const auto cm = test::parse_mac(net().client_mac());
  std::atomic<bool> stop{false};
  std::thread echo([&] {  // the port side, busy-polling as a production lcore would
    while (!stop.load(std::memory_order_relaxed)) {
      for (const auto& f : p->rx_burst()) {
        if (!test::has_tag(f.bytes, 0xec)) continue;
        auto b = p->begin_frame();
        std::memcpy(b.data(), f.bytes.data(), f.bytes.size());
        std::memcpy(b.data(), cm.data(), 6);
        p->commit_frame(f.bytes.size());
      }
      p->flush();
    }
  });
  test::raw_socket client(net().client_ns(), net().client_if());
  std::vector<double> rtts;
  bytes buf(2048);
  std::uint32_t seq = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    client.send(test::tagged_frame(p->mac(), cm, 0xec, ++seq, 60));
    for (;;) {
      pollfd pf{client.fd(), POLLIN, 0};
      if (poll(&pf, 1, 1000) <= 0) break;
      ssize_t n = recv(client.fd(), buf.data(), buf.size(), 0);
      if (n >= 22 && test::has_tag({buf.data(), std::size_t(n)}, 0xec) &&
          test::seq_of({buf.data(), std::size_t(n)}) == seq)
        break;
    }
    rtts.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  stop = true;
  echo.join();
  std::sort(rtts.begin(), rtts.end());
  state.counters["rtt_p50_us"] = rtts[rtts.size() / 2];
  state.counters["rtt_p99_us"] = rtts[rtts.size() * 99 / 100];
  state.SetLabel(state.range(0) == 0 ? "ring" : "mmsg");
}
BENCHMARK(BM_EchoRtt)->Arg(0)->Arg(1)->Iterations(20000)->UseRealTime();

}  // namespace
}  // namespace anvil::bench

BENCHMARK_MAIN();
