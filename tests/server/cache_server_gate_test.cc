// The client gate as the server wires it (dataplane/server/cache_server.h): a scripted
// TCP client talks to one cache_server on the node's own address (not the VIP) while the
// VIP's lease is held, lapses by time with the agent's gate byte still open (the agent
// stuck), and is extended again. Writes on the own address are taken only while the
// lease holds; a server without a gate (standalone) never refuses, whatever its VIP does.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "cache/engine.h"
#include "dataplane/server/cache_server.h"
#include "tests/net/net_test_util.h"

namespace anvil::server {
namespace {

using namespace net;
using namespace net::test;

constexpr ip4_addr kVip = make_ip4(198, 18, 0, 100);
constexpr std::int64_t kMs = kNsPerMs;

struct gated_server {
  explicit gated_server(bool with_gate)
      : clk(1'700'000'000),
        eng(cache::engine_config{.memory_limit_bytes = 8u << 20,
                                 .max_item_size = 64u << 10,
                                 .partitions = 1,
                                 .numa_bind = false,
                                 .time = &clk}) {
    shared.proto.assign(1, nullptr);
    shared.serving.assign(1, nullptr);
    shared.net.assign(1, nullptr);
    shared.latency.assign(1, nullptr);
    cache_server_config cfg;
    cfg.stack = test_config();
    const tcp_buffer_sizes b = tcp_buffers(64u << 10);
    cfg.stack.tcp.rx_buffer = b.rx;
    cfg.stack.tcp.tx_buffer = b.tx;
    cfg.stack.vip = address_gate{kVip, &until_ms, &takes};
    if (with_gate) cfg.proto.gate = &gate_bits;
    srv = std::make_unique<cache_server>(eng, cfg, shared, 0);
  }

  // One poll iteration with these frames.
  void iterate(const std::vector<frame_t>& frames) {
    std::vector<port::rx_frame> burst;
    for (const auto& f : frames) burst.push_back({f, port::csum_state::verified});
    srv->on_rx(burst, tx, static_cast<std::uint64_t>(now));
    srv->quiescent();
  }
  std::vector<out_segment> out() {
    std::vector<out_segment> o;
    for (auto& f : tx.take())
      if (auto s = decode_tcp(f)) o.push_back(*s);
    return o;
  }
  tcp_segment seg(std::uint8_t flags, const std::string& data = "") {
    tcp_segment s;
    s.src_port = 40000;
    s.dst_port = kPort;
    s.seq = cseq;
    s.ack = cack;
    s.flags = flags;
    s.window = 1000;
    payloads.push_back(to_bytes(data));
    s.payload = payloads.back();
    return s;
  }
  void connect() {
    auto syn = seg(tcp_flag::syn);
    syn.seq = cseq - 1;
    syn.opt.mss = 1460;
    iterate({tcp_frame(syn)});  // to the node's own address (kServerIp), never the VIP
    const auto o = out();
    ASSERT_EQ(o.size(), 1u);
    ASSERT_EQ(o[0].seg.flags, tcp_flag::syn | tcp_flag::ack);
    cack = o[0].seg.seq + 1;
    iterate({tcp_frame(seg(tcp_flag::ack))});
    ASSERT_TRUE(out().empty());
  }
  // Sends `req`, returns what the server answered in this iteration.
  std::string exchange(const std::string& req) {
    iterate({tcp_frame(seg(tcp_flag::ack | tcp_flag::psh, req))});
    cseq += static_cast<seq_t>(req.size());
    std::string got;
    for (const auto& o : out()) {
      got.append(reinterpret_cast<const char*>(o.payload.data()), o.payload.size());
      cack = o.seg.seq + static_cast<seq_t>(o.payload.size());
    }
    return got;
  }

  cache::clock clk;
  cache::engine eng;
  server_shared shared;
  std::atomic<std::int64_t> until_ms{address_gate::kNobody};
  std::atomic<std::uint64_t> takes{0};
  std::atomic<std::uint8_t> gate_bits{proto::gate::kNotPrimary};
  std::unique_ptr<cache_server> srv;
  vector_sink tx;
  nanos now = 1000 * kNsPerSec;
  seq_t cseq = 5001, cack = 0;
  std::vector<std::vector<std::byte>> payloads;
};

const std::string kNotPrimaryWrite = std::string(proto::kNotPrimaryWriteLine) + "\r\n";

TEST(CacheServerGate, ALeaseLapsedByTimeClosesTheOwnAddressBeforeTheAgentReleases) {
  gated_server s(true);
  s.connect();
  EXPECT_EQ(s.exchange("set k 0 0 1\r\na\r\n"), kNotPrimaryWrite) << "joining: closed";
  // The agent's take(): the VIP until now + 100 ms, then the gate opens.
  s.takes = 1;
  s.until_ms = s.now / kMs + 100;
  s.gate_bits = proto::gate::kOpen;
  EXPECT_EQ(s.exchange("set k 0 0 1\r\nb\r\n"), "STORED\r\n");
  // 100 ms later the lease has lapsed by time; the agent has not run (bits still open).
  s.now += 100 * kMs;
  EXPECT_EQ(s.exchange("set k 0 0 1\r\nc\r\n"), kNotPrimaryWrite);
  EXPECT_EQ(s.exchange("get k\r\n"), std::string(proto::kNotPrimaryReadLine) + "\r\n")
      << "replica_reads = false";
  // A renewal (extend) before the agent ever released: served again.
  s.until_ms = s.now / kMs + 100;
  EXPECT_EQ(s.exchange("set k 0 0 1\r\nd\r\n"), "STORED\r\n");
  EXPECT_EQ(s.exchange("get k\r\n"), "VALUE k 0 1\r\nd\r\nEND\r\n");
  // The agent's release(): closed at once, whatever the deadline said.
  s.gate_bits = proto::gate::kNotPrimary;
  EXPECT_EQ(s.exchange("delete k\r\n"), kNotPrimaryWrite);
}

TEST(CacheServerGate, AServerWithoutAGateIgnoresTheLease) {
  gated_server s(false);  // a VIP but no client gate: nothing is refused on the own address
  s.connect();
  EXPECT_EQ(s.exchange("set k 0 0 1\r\na\r\n"), "STORED\r\n");
  s.takes = 1;
  s.until_ms = s.now / kMs + 10;
  s.now += 20 * kMs;  // lapsed
  EXPECT_EQ(s.exchange("get k\r\n"), "VALUE k 0 1\r\na\r\nEND\r\n");
}

}  // namespace
}  // namespace anvil::server
