// AF_PACKET port over a real veth (testnet): frames cross both ways intact and in
// batches, the fanout group keeps a flow on one socket, our own frames never come back,
// oversize frames are dropped and counted, and the kernel's checksum-offload state is
// reported (or the frame dropped) — never misread. Every test runs in both RX modes.
// The port turns GRO/LRO/GSO/TSO off while open and restores them; it exports the
// kernel's PACKET_STATISTICS drops.
#include "dataplane/port/afpacket_port.h"

#include <linux/capability.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/syscall.h>

#include <map>
#include <set>

#include "tests/port/port_test_util.h"
#include "tests/support/testnet.h"

namespace anvil::test {
namespace {

using port::afpacket_options;
using port::afpacket_port;
using port::afpacket_rx_mode;
using port::csum_state;
using namespace std::chrono_literals;

class AfPacketPort : public ::testing::TestWithParam<afpacket_rx_mode> {
 protected:
  std::vector<std::unique_ptr<afpacket_port>> open(unsigned queues, afpacket_options opts = {}) {
    opts.interface = net.stack_if();
    opts.rx_mode = GetParam();
    std::vector<std::unique_ptr<afpacket_port>> ports;
    run_in_netns(net.stack_ns(), [&] { ports = afpacket_port::open(opts, queues); });
    return ports;
  }
  void sh(const std::string& cmd) {
    std::string out;
    ASSERT_EQ(run_command(cmd + " 2>&1", &out), 0) << cmd << ": " << out;
  }
  // A kernel UDP socket in the client namespace sending to the stack's address (a
  // static neighbour entry stands in for the ARP reply nobody sends yet).
  void send_udp_from_client(std::size_t payload, int count, int gso_size = 0) {
    sh("ip -n " + net.client_ns() + " neigh replace " + net.stack_ip() + " lladdr " +
       net.stack_mac() + " dev " + net.client_if());
    int fd = socket_in_netns(net.client_ns(), AF_INET, SOCK_DGRAM, 0);
    if (gso_size > 0) {
      ASSERT_EQ(::setsockopt(fd, SOL_UDP, UDP_SEGMENT, &gso_size, sizeof gso_size), 0);
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9999);
    inet_pton(AF_INET, net.stack_ip().c_str(), &to.sin_addr);
    std::vector<char> data(payload, 'x');
    for (int i = 0; i < count; ++i)
      ASSERT_EQ(
          ::sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
          static_cast<ssize_t>(data.size()))
          << strerror(errno);
    ::close(fd);
  }
  static bool is_udp(std::span<const std::byte> f) {
    return f.size() >= 42 && f[12] == std::byte{0x08} && f[13] == std::byte{0} &&
           f[23] == std::byte{17};
  }
  // Software UDP checksum over the frame's pseudo-header: true when correct (or 0).
  static bool udp_csum_ok(const bytes& f) {
    const auto* ip = reinterpret_cast<const std::uint8_t*>(f.data() + 14);
    const std::size_t ihl = std::size_t{ip[0] & 0xfu} * 4;
    const std::size_t ulen = (ip[ihl + 4] << 8) | ip[ihl + 5];
    std::uint32_t sum = 0;
    for (int i = 12; i < 20; i += 2) sum += (ip[i] << 8) | ip[i + 1];
    sum += 17 + ulen;
    for (std::size_t i = 0; i < ulen; i += 2)
      sum += (ip[ihl + i] << 8) | (i + 1 < ulen ? ip[ihl + i + 1] : 0);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
  }

  testnet net;
  port::mac_address client_mac = parse_mac(net.client_mac());
  port::mac_address stack_mac = parse_mac(net.stack_mac());
};

TEST_P(AfPacketPort, FramesSentByThePortArriveAtTheClientInBatches) {
  auto ports = open(1);
  auto& p = *ports[0];
  EXPECT_EQ(p.mac(), stack_mac) << "default MAC is the interface's";
  raw_socket client(net.client_ns(), net.client_if());
  constexpr int kFrames = 100;  // more than one TX batch: begin_frame flushes a full one
  for (int i = 0; i < kFrames; ++i) send_frame(p, tagged_frame(client_mac, p.mac(), 0x7001, i));
  EXPECT_EQ(p.counters().tx_frames.get(), afpacket_port::kTxBatch) << "a full batch left early";
  EXPECT_EQ(p.flush(), kFrames - afpacket_port::kTxBatch);
  auto got = client.recv_tagged(0x7001);
  ASSERT_EQ(got.size(), std::size_t{kFrames});
  for (int i = 0; i < kFrames; ++i) EXPECT_EQ(seq_of(got[i]), std::uint32_t(i)) << "in order";
  EXPECT_EQ(p.counters().tx_frames.get(), std::uint64_t{kFrames});
  EXPECT_EQ(p.counters().tx_dropped.get(), 0u);
  EXPECT_EQ(p.flush(), 0u) << "nothing pending";
}

TEST_P(AfPacketPort, FramesFromTheClientArriveIntactAndInBursts) {
  auto ports = open(1);
  auto& p = *ports[0];
  raw_socket client(net.client_ns(), net.client_if());
  constexpr int kFrames = 300;
  for (int i = 0; i < kFrames; ++i)
    ASSERT_GT(client.send(tagged_frame(p.mac(), client_mac, 0x7002, i, 60 + i % 7)), 0);
  std::size_t max_burst = 0;
  auto got = collect(
      p, kFrames, [](auto f) { return has_tag(f, 0x7002); }, 3s, &max_burst);
  ASSERT_EQ(got.size(), std::size_t{kFrames});
  for (int i = 0; i < kFrames; ++i) {
    EXPECT_EQ(seq_of(got[i].first), std::uint32_t(i));
    EXPECT_EQ(got[i].first.size(), std::size_t(60 + i % 7)) << "odd lengths kept exactly";
  }
  EXPECT_EQ(max_burst, port::kBurst) << "300 queued frames come out in full bursts";
  EXPECT_GE(p.counters().rx_frames.get(), std::uint64_t{kFrames});
}

TEST_P(AfPacketPort, SmallestAndLargestFramesCrossBothWays) {
  auto ports = open(1);
  auto& p = *ports[0];
  raw_socket client(net.client_ns(), net.client_if());
  for (std::size_t len : {std::size_t{60}, std::size_t{61}, std::size_t{1513}, port::kMaxFrame}) {
    send_frame(p, tagged_frame(client_mac, p.mac(), 0x7003, static_cast<std::uint32_t>(len), len));
    ASSERT_EQ(client.send(
                  tagged_frame(p.mac(), client_mac, 0x7004, static_cast<std::uint32_t>(len), len)),
              static_cast<ssize_t>(len));
  }
  p.flush();
  auto at_client = client.recv_tagged(0x7003);
  ASSERT_EQ(at_client.size(), 4u);
  EXPECT_EQ(at_client[3].size(), port::kMaxFrame);
  auto at_stack = collect(
      p, 4, [](auto f) { return has_tag(f, 0x7004); }, 2s);
  ASSERT_EQ(at_stack.size(), 4u);
  EXPECT_EQ(at_stack[0].first.size(), 60u);
  EXPECT_EQ(at_stack[3].first.size(), port::kMaxFrame);
}

TEST_P(AfPacketPort, CommitRefusesFramesTheWireCannotCarry) {
  auto ports = open(1);
  auto& p = *ports[0];
  ASSERT_GE(p.begin_frame().size(), port::kMaxFrame);
  p.commit_frame(port::kMaxFrame + 1);
  ASSERT_FALSE(p.begin_frame().empty());
  p.commit_frame(5);
  EXPECT_EQ(p.counters().tx_dropped.get(), 2u);
  EXPECT_EQ(p.flush(), 0u);
}

// Transmit never drops silently: a device that refuses (here the link is down, the
// kernel answers ENETDOWN; a full socket buffer or queue answers EAGAIN/ENOBUFS) keeps
// the batch queued and counted; a full kept batch is back-pressure (begin_frame is
// empty, so the stack holds its segments); when the device takes frames again they all
// leave, in order, and nothing was lost.
TEST_P(AfPacketPort, ARefusingDeviceKeepsTheBatchAndItLeavesInOrderLater) {
  auto ports = open(1);
  auto& p = *ports[0];
  raw_socket client(net.client_ns(), net.client_if());
  const auto kBatch = afpacket_port::kTxBatch;
  sh("ip -n " + net.stack_ns() + " link set " + net.stack_if() + " down");
  for (std::uint32_t i = 0; i < kBatch; ++i)
    send_frame(p, tagged_frame(client_mac, p.mac(), 0x7010, i));
  EXPECT_EQ(p.flush(), 0u) << "the device refused everything";
  EXPECT_EQ(p.counters().tx_deferred.get(), kBatch) << "every refused frame counted";
  EXPECT_EQ(p.counters().tx_dropped.get(), 0u) << "and none dropped";
  EXPECT_TRUE(p.begin_frame().empty()) << "a full kept batch: hold back";
  EXPECT_EQ(p.counters().tx_no_buffer.get(), 1u);
  // (begin_frame tried a flush of the full batch first: a third refusal)
  EXPECT_EQ(p.counters().tx_deferred.get(), 2 * kBatch);
  EXPECT_EQ(p.flush(), 0u) << "still refused";
  EXPECT_EQ(p.counters().tx_deferred.get(), 3 * kBatch) << "counted once per refusal";
  sh("ip -n " + net.stack_ns() + " link set " + net.stack_if() + " up");
  // The veth's queue wakes up shortly after the link does: flush until it takes them.
  std::size_t sent = 0;
  for (int i = 0; i < 2000 && sent == 0; ++i) {
    sent = p.flush();
    if (sent == 0) std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(sent, kBatch) << "the whole kept batch leaves once the device takes frames";
  send_frame(p, tagged_frame(client_mac, p.mac(), 0x7010, kBatch));
  EXPECT_EQ(p.flush(), 1u) << "the port works normally afterwards";
  auto got = client.recv_tagged(0x7010);
  ASSERT_EQ(got.size(), kBatch + 1) << "no frame lost";
  for (std::uint32_t i = 0; i <= kBatch; ++i) EXPECT_EQ(seq_of(got[i]), i) << "in order";
  EXPECT_EQ(p.counters().tx_frames.get(), kBatch + 1);
  EXPECT_EQ(p.counters().tx_dropped.get(), 0u);
}

TEST_P(AfPacketPort, OwnFramesAreNotReceivedBackEvenByAnotherPortOnTheLink) {
  auto a = open(1);
  auto b = open(1);
  EXPECT_NE(a[0]->fanout_id(), b[0]->fanout_id()) << "each instance gets its own group";
  raw_socket client(net.client_ns(), net.client_if());
  for (int i = 0; i < 20; ++i) send_frame(*a[0], tagged_frame(client_mac, stack_mac, 0x7005, i));
  a[0]->flush();
  EXPECT_EQ(client.recv_tagged(0x7005).size(), 20u);
  auto pred = [](auto f) { return has_tag(f, 0x7005); };
  EXPECT_TRUE(collect(*a[0], 1, pred, 200ms).empty());
  EXPECT_TRUE(collect(*b[0], 1, pred, 200ms).empty());
}

TEST_P(AfPacketPort, FanoutKeepsEachFlowOnOneSocketAndSpreadsFlows) {
  auto ports = open(2);
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[0]->fanout_id(), ports[1]->fanout_id());
  raw_socket client(net.client_ns(), net.client_if());
  constexpr std::size_t kFlows = 32, kPerFlow = 10;
  for (std::size_t r = 0; r < kPerFlow; ++r)
    for (std::uint16_t fl = 0; fl < kFlows; ++fl)
      ASSERT_GT(client.send(udp_frame(stack_mac, client_mac, static_cast<std::uint16_t>(20000 + fl),
                                      11211, 0x7006)),
                0);
  std::map<int, std::set<int>> queues_of_flow;
  std::size_t total = 0;
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (total < kFlows * kPerFlow && std::chrono::steady_clock::now() < deadline) {
    bool any = false;
    for (int q = 0; q < 2; ++q) {
      for (const auto& f : ports[q]->rx_burst()) {
        if (!is_udp(f.bytes)) continue;
        any = true;
        ++total;
        int sport = (std::to_integer<int>(f.bytes[34]) << 8) | std::to_integer<int>(f.bytes[35]);
        queues_of_flow[sport].insert(q);
      }
    }
    if (!any) std::this_thread::sleep_for(200us);
  }
  ASSERT_EQ(total, kFlows * kPerFlow) << "no frame lost or duplicated";
  std::set<int> used;
  for (auto& [flow, qs] : queues_of_flow) {
    EXPECT_EQ(qs.size(), 1u) << "flow " << flow << " was split across sockets";
    used.insert(*qs.begin());
  }
  EXPECT_EQ(used.size(), 2u) << "32 flows should not all hash to one socket";
}

TEST_P(AfPacketPort, OversizeFramesAreDroppedAndCounted) {
  sh("ip -n " + net.client_ns() + " link set " + net.client_if() + " mtu 4000");
  sh("ip -n " + net.stack_ns() + " link set " + net.stack_if() + " mtu 4000");
  auto ports = open(1);
  auto& p = *ports[0];
  raw_socket client(net.client_ns(), net.client_if());
  for (std::size_t len : {std::size_t{1515}, std::size_t{2000}, std::size_t{3000}})
    ASSERT_GT(client.send(tagged_frame(p.mac(), client_mac, 0x7007, 1, len)), 0);
  ASSERT_GT(client.send(tagged_frame(p.mac(), client_mac, 0x7007, 2, 100)), 0);
  auto got = collect(
      p, 1, [](auto f) { return has_tag(f, 0x7007); }, 2s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(seq_of(got[0].first), 2u) << "only the frame that fits is delivered";
  EXPECT_EQ(p.counters().rx_oversize.get(), 3u);
}

TEST_P(AfPacketPort, WithTxOffOnThePeerChecksumsAreRealAndReportedUnknown) {
  auto ports = open(1);
  auto& p = *ports[0];
  send_udp_from_client(100, 5);
  auto got = collect(p, 5, is_udp, 2s);
  ASSERT_EQ(got.size(), 5u);
  for (auto& [f, c] : got) {
    EXPECT_EQ(c, csum_state::unknown);
    EXPECT_TRUE(udp_csum_ok(f)) << "the stack may verify these in software";
  }
  EXPECT_EQ(p.counters().rx_csum_partial.get(), 0u);
}

TEST_P(AfPacketPort, WithTxOnThePeerUnfinishedChecksumsAreFlaggedPartial) {
  sh(net.client_exec() + "ethtool -K " + net.client_if() + " tx on");
  auto ports = open(1);
  auto& p = *ports[0];
  send_udp_from_client(100, 5);
  auto got = collect(p, 5, is_udp, 2s);
  ASSERT_EQ(got.size(), 5u);
  for (auto& [f, c] : got) {
    EXPECT_EQ(c, csum_state::partial) << "a software check would fail on this frame";
    EXPECT_FALSE(udp_csum_ok(f)) << "(proof that the flag matters: the field is not a sum)";
  }
  EXPECT_EQ(p.counters().rx_csum_partial.get(), 5u);
}

TEST_P(AfPacketPort, DropPolicyDropsUnfinishedChecksumsAndCountsThem) {
  sh(net.client_exec() + "ethtool -K " + net.client_if() + " tx on");
  afpacket_options o;
  o.csum_partial = port::csum_partial_policy::drop;
  auto ports = open(1, o);
  auto& p = *ports[0];
  send_udp_from_client(100, 5);
  EXPECT_TRUE(collect(p, 1, is_udp, 500ms).empty());
  EXPECT_EQ(p.counters().rx_csum_dropped.get(), 5u);
}

TEST_P(AfPacketPort, GsoSuperFramesFromThePeerAreDroppedNotTruncated) {
  sh(net.client_exec() + "ethtool -K " + net.client_if() + " tx on");
  auto ports = open(1);
  auto& p = *ports[0];
  send_udp_from_client(std::size_t{1400} * 8, 3, 1400);  // UDP GSO: one 11 KB skb per send
  send_udp_from_client(100, 1);
  auto got = collect(p, 1, is_udp, 2s);
  for (auto& [f, c] : got) EXPECT_LE(f.size(), port::kMaxFrame);
  EXPECT_EQ(got.size(), 1u);
  EXPECT_EQ(p.counters().rx_oversize.get(), 3u);
}

TEST_P(AfPacketPort, AConfiguredMacIsUsedAndFramesToItAreReceived) {
  afpacket_options o;
  o.mac = port::mac_address{0x02, 0xa7, 0x11, 0, 0, 0x01};
  auto ports = open(1, o);
  auto& p = *ports[0];
  EXPECT_EQ(p.mac(), *o.mac);
  raw_socket client(net.client_ns(), net.client_if());
  ASSERT_GT(client.send(tagged_frame(*o.mac, client_mac, 0x7008, 1)), 0);
  EXPECT_EQ(collect(
                p, 1, [](auto f) { return has_tag(f, 0x7008); }, 2s)
                .size(),
            1u);
}

TEST_P(AfPacketPort, OpeningOnAMissingOrDownInterfaceFailsWithTheReason) {
  afpacket_options o;
  o.interface = "nope0";
  o.rx_mode = GetParam();
  try {
    run_in_netns(net.stack_ns(), [&] { afpacket_port::open(o, 1); });
    FAIL() << "opened a missing interface";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("nope0"), std::string::npos) << e.what();
  }
  sh("ip -n " + net.stack_ns() + " link set " + net.stack_if() + " down");
  o.interface = net.stack_if();
  try {
    run_in_netns(net.stack_ns(), [&] { afpacket_port::open(o, 1); });
    FAIL() << "opened a down interface";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("down"), std::string::npos) << e.what();
  }
}

// ---- offloads (nic_offloads.h) and kernel drop counters ----------------------------

std::optional<bool> feature_in(const std::string& ns, const std::string& ifname,
                               const std::string& feature) {
  std::optional<bool> r;
  run_in_netns(ns, [&] { r = port::nic_offloads::active(ifname, feature); });
  return r;
}

TEST_P(AfPacketPort, GroAndSegmentationOffloadsAreOffWhileOpenAndRestoredAfter) {
  // veth can toggle GRO: turn it on (a NIC's default), and GSO off (must stay off).
  sh("ip netns exec " + net.stack_ns() + " ethtool -K " + net.stack_if() + " gro on gso off");
  const auto& ns = net.stack_ns();
  const auto& ifn = net.stack_if();
  ASSERT_EQ(feature_in(ns, ifn, "rx-gro"), std::optional<bool>(true));
  ASSERT_EQ(feature_in(ns, ifn, "tx-generic-segmentation"), std::optional<bool>(false));
  const auto tso_before = feature_in(ns, ifn, "tx-tcp-segmentation");
  ASSERT_TRUE(tso_before.has_value());
  {
    auto ports = open(2);
    EXPECT_EQ(feature_in(ns, ifn, "rx-gro"), std::optional<bool>(false)) << "off while open";
    EXPECT_EQ(feature_in(ns, ifn, "tx-tcp-segmentation"), std::optional<bool>(false));
    ASSERT_NE(ports[0]->offloads(), nullptr);
    EXPECT_EQ(ports[0]->offloads(), ports[1]->offloads()) << "one guard for the queues";
    const auto& off = ports[0]->offloads()->turned_off();
    EXPECT_NE(std::find(off.begin(), off.end(), "rx-gro"), off.end());
    EXPECT_EQ(std::find(off.begin(), off.end(), "tx-generic-segmentation"), off.end())
        << "was off already: not ours to restore";
    EXPECT_TRUE(ports[0]->offloads()->warnings().empty())
        << ports[0]->offloads()->warnings().front();
    ports.pop_back();
    EXPECT_EQ(feature_in(ns, ifn, "rx-gro"), std::optional<bool>(false))
        << "still off while a queue is open";
  }
  EXPECT_EQ(feature_in(ns, ifn, "rx-gro"), std::optional<bool>(true)) << "restored on close";
  EXPECT_EQ(feature_in(ns, ifn, "tx-tcp-segmentation"), tso_before);
  EXPECT_EQ(feature_in(ns, ifn, "tx-generic-segmentation"), std::optional<bool>(false))
      << "what was off stays off";
}

TEST_P(AfPacketPort, OffloadsCanBeLeftAlone) {
  sh("ip netns exec " + net.stack_ns() + " ethtool -K " + net.stack_if() + " gro on");
  afpacket_options o;
  o.offloads_off = false;
  auto ports = open(1, o);
  EXPECT_EQ(ports[0]->offloads(), nullptr);
  EXPECT_EQ(feature_in(net.stack_ns(), net.stack_if(), "rx-gro"), std::optional<bool>(true));
}

TEST_P(AfPacketPort, OffloadsThatCannotBeChangedAreReportedWithTheReason) {
  sh("ip netns exec " + net.stack_ns() + " ethtool -K " + net.stack_if() + " gro on");
  // Without CAP_NET_ADMIN (dropped for this thread only) the kernel refuses the change.
  std::vector<std::string> warnings, off;
  run_in_netns(net.stack_ns(), [&] {
    __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2]{};
    ASSERT_EQ(::syscall(SYS_capget, &h, d), 0);
    d[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
    ASSERT_EQ(::syscall(SYS_capset, &h, d), 0);
    port::nic_offloads g(net.stack_if());
    warnings = g.warnings();
    off = g.turned_off();
  });
  ASSERT_FALSE(warnings.empty());
  EXPECT_NE(warnings[0].find("CAP_NET_ADMIN"), std::string::npos) << warnings[0];
  EXPECT_TRUE(off.empty()) << "nothing changed, nothing to restore";
  EXPECT_EQ(feature_in(net.stack_ns(), net.stack_if(), "rx-gro"), std::optional<bool>(true));
  // An interface that does not exist: a warning, no exception.
  run_in_netns(net.stack_ns(), [&] { warnings = port::nic_offloads("nope0").warnings(); });
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("No such device"), std::string::npos) << warnings[0];
}

TEST(AfPacketStats, KernelDropsOfAFullRingAreCounted) {
  testnet net;
  afpacket_options o;
  o.interface = net.stack_if();
  o.rx_mode = afpacket_rx_mode::ring;
  o.ring_frames = 32;  // the smallest ring: a burst of 300 overflows it
  std::vector<std::unique_ptr<afpacket_port>> ports;
  run_in_netns(net.stack_ns(), [&] { ports = afpacket_port::open(o, 1); });
  auto& p = *ports[0];
  p.poll_stats();
  const std::uint64_t before = p.counters().rx_kernel_drops.get();
  raw_socket client(net.client_ns(), net.client_if());
  const auto client_mac = parse_mac(net.client_mac());
  constexpr int kFrames = 300;
  for (int i = 0; i < kFrames; ++i)
    ASSERT_GT(client.send(tagged_frame(p.mac(), client_mac, 0x7009, i)), 0);
  // veth delivers in the sender's context; give the softirq a moment, then drain.
  auto got = collect(
      p, kFrames, [](auto f) { return has_tag(f, 0x7009); }, 500ms);
  p.poll_stats();
  const std::uint64_t drops = p.counters().rx_kernel_drops.get() - before;
  EXPECT_LE(got.size(), 32u + 32u) << "the ring holds 32 (plus what was read meanwhile)";
  EXPECT_GE(drops + got.size(), std::uint64_t{kFrames}) << "every frame: read or counted";
  EXPECT_GE(drops, std::uint64_t{kFrames} - 64);
  p.poll_stats();
  EXPECT_EQ(p.counters().rx_kernel_drops.get() - before, drops)
      << "read-and-reset: no double count";
}

INSTANTIATE_TEST_SUITE_P(Modes, AfPacketPort,
                         ::testing::Values(afpacket_rx_mode::ring, afpacket_rx_mode::mmsg),
                         [](const auto& info) {
                           return info.param == afpacket_rx_mode::ring ? "ring" : "mmsg";
                         });

}  // namespace
}  // namespace anvil::test
