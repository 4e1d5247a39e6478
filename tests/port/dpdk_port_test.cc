// DPDK port without hugepages or NICs: net_af_packet on a testnet's stack veth (two
// queue pairs) and net_tap, one EAL for the whole binary (DPDK initialises once per
// process). Several instances at once are covered by tests/server (separate anvil
// processes). The binary's main thread lives in the stack namespace, because vdevs
// open their sockets/taps where rte_eal_init runs.
#include "dataplane/port/dpdk_port.h"

#include <fcntl.h>
#include <sched.h>

#include <cstring>
#include <map>
#include <set>

#include "tests/port/port_test_util.h"
#include "tests/support/testnet.h"

namespace anvil::test {
namespace {

using port::dpdk_port;
using namespace std::chrono_literals;

constexpr const char* kTap = "dtap0";

class DpdkPort : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    net = new testnet();
    int fd = ::open(("/run/netns/" + net->stack_ns()).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::setns(fd, CLONE_NEWNET), 0) << strerror(errno);
    ::close(fd);
    port::dpdk_options& o = options;
    o.eal_args = {"--no-huge", "-m",
                  "64",        "--no-shconf",
                  "-l",        "0",
                  "--no-pci",  "--log-level=lib.eal:error",
                  "--vdev",    "net_af_packet0,iface=" + net->stack_if() + ",qpairs=2",
                  "--vdev",    std::string("net_tap0,iface=") + kTap,
                  "--vdev",    "net_ring0"};
    o.device = "net_af_packet0";
    ::sched_getaffinity(0, sizeof affinity_before, &affinity_before);
    afp = new std::vector<std::unique_ptr<dpdk_port>>(dpdk_port::open(o, 2));
    o.device = "net_tap0";
    tap = new std::vector<std::unique_ptr<dpdk_port>>(dpdk_port::open(o, 1));
    o.device = "net_ring0";
    ring = new std::vector<std::unique_ptr<dpdk_port>>(dpdk_port::open(o, 1));
  }
  static void TearDownTestSuite() {
    delete afp;
    delete tap;
    delete ring;
    delete net;  // the namespace name goes; our thread still holds the netns until exit
  }
  void SetUp() override {
    if (afp == nullptr) GTEST_SKIP() << "DPDK setup failed";
  }
  static inline testnet* net = nullptr;
  static inline port::dpdk_options options;
  static inline std::vector<std::unique_ptr<dpdk_port>>* afp = nullptr;
  static inline std::vector<std::unique_ptr<dpdk_port>>* tap = nullptr;
  // net_ring0: queue 0's TX ring is its RX ring (an rte_ring of 1023 mbufs) that nobody
  // drains but our own rx_burst: a device whose TX queue fills up on demand.
  static inline std::vector<std::unique_ptr<dpdk_port>>* ring = nullptr;
  static inline cpu_set_t affinity_before;  // this (the control) thread's, before the EAL
};

TEST_F(DpdkPort, AfPacketVdevRefusesFewerLcoresThanItsQpairs) {
  port::dpdk_options o = options;
  o.device = "net_af_packet0";  // created with qpairs=2
  try {
    dpdk_port::open(o, 1);
    FAIL() << "one lcore on a qpairs=2 net_af_packet device must be refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("set qpairs equal to the lcore count"), std::string::npos)
        << e.what();
  }
}

TEST_F(DpdkPort, FramesCrossTheAfPacketVdevBothWays) {
  auto& p = *(*afp)[0];
  const auto client_mac = parse_mac(net->client_mac());
  raw_socket client(net->client_ns(), net->client_if());
  for (int i = 0; i < 100; ++i) send_frame(p, tagged_frame(client_mac, p.mac(), 0xd001, i));
  p.flush();
  auto at_client = client.recv_tagged(0xd001);
  ASSERT_EQ(at_client.size(), 100u);
  EXPECT_EQ(seq_of(at_client[99]), 99u);
  EXPECT_EQ(p.counters().tx_frames.get(), 100u);

  for (int i = 0; i < 100; ++i)
    ASSERT_GT(client.send(tagged_frame(p.mac(), client_mac, 0xd002, i, 60 + i)), 0);
  // Which queue a frame lands on is the kernel's fanout choice: read both.
  std::vector<bytes> got;
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (got.size() < 100 && std::chrono::steady_clock::now() < deadline) {
    bool any = false;
    for (auto& q : *afp)
      for (const auto& f : q->rx_burst())
        if (has_tag(f.bytes, 0xd002)) {
          got.emplace_back(f.bytes.begin(), f.bytes.end());
          any = true;
        }
    if (!any) std::this_thread::sleep_for(200us);
  }
  ASSERT_EQ(got.size(), 100u);
  std::set<std::uint32_t> seqs;
  for (auto& f : got) {
    seqs.insert(seq_of(f));
    EXPECT_EQ(f.size(), 60 + seq_of(f)) << "length kept";
  }
  EXPECT_EQ(seqs.size(), 100u);
}

TEST_F(DpdkPort, EachFlowStaysOnOneQueue) {
  const auto client_mac = parse_mac(net->client_mac());
  const auto mac = (*afp)[0]->mac();
  raw_socket client(net->client_ns(), net->client_if());
  constexpr std::size_t kFlows = 32, kPerFlow = 8;
  for (std::size_t r = 0; r < kPerFlow; ++r)
    for (std::uint16_t fl = 0; fl < kFlows; ++fl)
      ASSERT_GT(client.send(udp_frame(mac, client_mac, static_cast<std::uint16_t>(30000 + fl),
                                      11211, 0xd003)),
                0);
  std::map<int, std::set<int>> queues_of_flow;
  std::size_t total = 0;
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (total < kFlows * kPerFlow && std::chrono::steady_clock::now() < deadline) {
    bool any = false;
    for (int q = 0; q < 2; ++q)
      for (const auto& f : (*afp)[q]->rx_burst()) {
        if (f.bytes.size() < 42 || f.bytes[23] != std::byte{17}) continue;
        any = true;
        ++total;
        queues_of_flow[(std::to_integer<int>(f.bytes[34]) << 8) | std::to_integer<int>(f.bytes[35])]
            .insert(q);
      }
    if (!any) std::this_thread::sleep_for(200us);
  }
  ASSERT_EQ(total, kFlows * kPerFlow);
  for (auto& [flow, qs] : queues_of_flow) EXPECT_EQ(qs.size(), 1u) << "flow " << flow;
}

TEST_F(DpdkPort, FramesCrossTheTapVdevBothWays) {
  auto& p = *(*tap)[0];
  std::string out;
  ASSERT_EQ(run_command("ip -n " + net->stack_ns() + " link set " + kTap + " up 2>&1", &out), 0)
      << out;
  raw_socket host(net->stack_ns(), kTap);  // the kernel side of the tap
  const port::mac_address peer{0x02, 0, 0, 0, 0, 0x99};
  for (int i = 0; i < 20; ++i) send_frame(p, tagged_frame(peer, p.mac(), 0xd004, i));
  p.flush();
  EXPECT_EQ(host.recv_tagged(0xd004).size(), 20u);
  for (int i = 0; i < 20; ++i) ASSERT_GT(host.send(tagged_frame(p.mac(), peer, 0xd005, i)), 0);
  EXPECT_EQ(collect(
                p, 20, [](auto f) { return has_tag(f, 0xd005); }, 3s)
                .size(),
            20u);
}

TEST_F(DpdkPort, CommitRefusesOversizeAndABegunBufferIsReused) {
  auto& p = *(*afp)[1];
  const auto before = p.counters().tx_dropped.get();
  auto a = p.begin_frame();
  ASSERT_GE(a.size(), port::kMaxFrame);
  p.commit_frame(port::kMaxFrame + 1);
  auto b = p.begin_frame();
  EXPECT_EQ(a.data(), b.data()) << "the same mbuf, not a leak";
  EXPECT_EQ(p.counters().tx_dropped.get(), before + 1);
  EXPECT_EQ(p.flush(), 0u);
}

// Transmit never drops silently: when rte_eth_tx_burst takes only part of a batch the
// rest stays queued, in order (tx_deferred); when the kept batch is full begin_frame is
// empty (the stack holds its segments); once the ring drains every frame leaves. On
// today's main the refused mbufs were freed: frames the stack believed sent were lost.
TEST_F(DpdkPort, AFullTxRingKeepsTheRestInOrderAndLosesNothing) {
  auto& p = *(*ring)[0];
  const port::mac_address peer{0x02, 0, 0, 0, 0, 0x98};
  const auto before = p.counters().tx_deferred.get();
  std::uint32_t committed = 0;
  for (; committed < 4000; ++committed) {  // far more than the ring holds
    auto buf = p.begin_frame();
    if (buf.empty()) break;
    const auto f = tagged_frame(peer, p.mac(), 0xd006, committed);
    std::memcpy(buf.data(), f.data(), f.size());
    p.commit_frame(f.size());
  }
  ASSERT_LT(committed, 4000u) << "a full ring must turn into back-pressure";
  EXPECT_EQ(committed, p.counters().tx_frames.get() + dpdk_port::kTxBatch)
      << "the ring took what it holds, the port kept one full batch";
  EXPECT_GE(p.counters().tx_deferred.get(), before + dpdk_port::kTxBatch);
  EXPECT_EQ(p.counters().tx_dropped.get(), 0u) << "nothing freed";
  EXPECT_GE(p.counters().tx_no_buffer.get(), 1u);
  EXPECT_EQ(p.flush(), 0u) << "still full: kept again";
  // Drain the ring (its frames loop back to our RX queue) and keep flushing.
  std::vector<std::uint32_t> seqs;
  for (int spins = 0; seqs.size() < committed && spins < 100000; ++spins) {
    for (const auto& f : p.rx_burst())
      if (has_tag(f.bytes, 0xd006)) seqs.push_back(seq_of(f.bytes));
    p.flush();
  }
  ASSERT_EQ(seqs.size(), committed) << "every committed frame reached the wire";
  for (std::uint32_t i = 0; i < committed; ++i) ASSERT_EQ(seqs[i], i) << "in order, once";
  EXPECT_EQ(p.counters().tx_frames.get(), committed);
  EXPECT_FALSE(p.begin_frame().empty()) << "room again";
}

// rte_eal_init pins its caller to the main lcore's cpu (here -l 0): anvil's control
// thread would share cpu 0 with lcore 0's busy poll loop and the EAL's threads. The
// port gives the caller its affinity back (on today's main it stayed pinned to cpu 0).
TEST_F(DpdkPort, TheEalDoesNotPinTheCallingThread) {
  cpu_set_t now;
  ASSERT_EQ(::sched_getaffinity(0, sizeof now, &now), 0);
  EXPECT_TRUE(CPU_EQUAL(&now, &affinity_before))
      << CPU_COUNT(&now) << " cpus now, " << CPU_COUNT(&affinity_before) << " before the EAL";
}

TEST_F(DpdkPort, EalArgumentsCannotChangeOnceInitialised) {
  EXPECT_THROW(port::dpdk_init_eal({"--no-huge"}), std::runtime_error);
}

}  // namespace
}  // namespace anvil::test
