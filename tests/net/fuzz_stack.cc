// libFuzzer target: arbitrary frames into a stack with live connections.
// Each input is a little program of records:
//   [op:1][len:1][bytes:len]
//   op%4 == 0: the bytes are a raw frame (anything: Ethernet, ARP, IP, garbage)
//   op%4 == 1: the bytes become a TCP segment (header fields + payload) with valid
//              checksums, for live connection (op>>2)%2, so fuzzing reaches deep into
//              the state machine instead of stopping at checksum checks
//   op%4 == 2: advance time by len*7 ms and run timers
//   op%4 == 3: the application acts on a connection (write, consume, close, abort)
// The stack is small (4 connections, 4 KiB buffers, 2-entry SYN backlog) so limits,
// cookies and window edges are hit constantly. Oracles: ASan/UBSan, plus invariants
// checked after every record (bounded buffers, counts within limits).
#include <cstdint>
#include <cstring>
#include <memory>

#include "dataplane/net/stack.h"
#include "tests/net/net_test_util.h"

using namespace anvil::net;
using namespace anvil::net::test;

namespace {

struct fuzz_app {
  tcp_conn* conns[8] = {};
  int open = 0;
  void on_accept(tcp_conn& c) {
    ++open;
    for (auto*& p : conns)
      if (!p) {
        p = &c;
        break;
      }
  }
  void on_data(tcp_conn& c) {
    auto v = c.recv_view();
    // Echo half of it, consume all: exercises send space and piggybacked ACKs.
    auto sp = c.send_space();
    const std::size_t n = std::min(sp.size(), v.size() / 2);
    if (n) std::memcpy(sp.data(), v.data(), n);
    c.commit_send(n);
    c.consume(v.size());
    if (c.peer_closed()) c.close();
  }
  void on_writable(tcp_conn&) {}
  void on_close(tcp_conn& c) {
    --open;
    for (auto*& p : conns)
      if (p == &c) p = nullptr;
  }
  void on_udp(bytes req, udp_reply& r) {
    const std::size_t n = std::min(r.space.size(), req.size() * 3);
    for (std::size_t i = 0; i < n; ++i) r.space[i] = req[i % req.size()];
    r.len = n;
  }
};

struct client_state {
  std::uint16_t port;
  seq_t seq, ack;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  stack_config cfg = test_config();
  cfg.max_connections = 4;
  cfg.syn_backlog = 2;
  cfg.udp_port = 11211;
  cfg.udp_reply_max = 8192;
  cfg.tcp.rx_buffer = 4096;
  cfg.tcp.tx_buffer = 4096;
  cfg.tcp.idle_timeout = 20 * kNsPerSec;
  fuzz_app app;
  stack<fuzz_app> st(cfg, app);
  vector_sink tx;
  tx.keep = false;
  nanos now = 10 * kNsPerSec;

  // Two live connections, established through real handshakes.
  client_state cl[2] = {{40000, 1000, 0}, {40001, 900000, 0}};
  for (auto& c : cl) {
    tcp_segment s;
    s.src_port = c.port, s.dst_port = kPort, s.seq = c.seq, s.flags = tcp_flag::syn,
    s.window = 1000;
    s.opt = linux_syn_options(5);
    st.receive(tcp_frame(s), now, tx);
    tcp_conn* conn = st.find({kServerIp, kClientIp, kPort, c.port});
    if (!conn) __builtin_trap();
    c.seq += 1;
    c.ack = conn->snd_nxt();
    tcp_segment a;
    a.src_port = c.port, a.dst_port = kPort, a.seq = c.seq, a.ack = c.ack, a.flags = tcp_flag::ack,
    a.window = 1000;
    st.receive(tcp_frame(a), now, tx);
  }

  std::size_t i = 0;
  while (i + 2 <= size) {
    const std::uint8_t op = data[i];
    const std::size_t len = std::min<std::size_t>(data[i + 1], size - i - 2);
    const auto* b = reinterpret_cast<const std::byte*>(data + i + 2);
    i += 2 + len;
    switch (op % 4) {
      case 0:
        st.receive(bytes{b, len}, now, tx);
        break;
      case 1: {
        client_state& c = cl[(op >> 2) % 2];
        tcp_segment s;
        s.src_port = c.port;
        s.dst_port = kPort;
        // Field deltas relative to the live connection keep most segments near the window.
        std::uint8_t hdr[12] = {};
        std::memcpy(hdr, b, std::min<std::size_t>(len, 12));
        s.flags = hdr[0] & 0x3f;
        s.seq = c.seq + static_cast<std::int16_t>(hdr[1] | hdr[2] << 8);
        s.ack = c.ack + static_cast<std::int16_t>(hdr[3] | hdr[4] << 8);
        s.window = static_cast<std::uint16_t>(hdr[5] | hdr[6] << 8);
        if (hdr[7] & 1)
          s.opt.has_ts = true, s.opt.ts_val = hdr[8] | hdr[9] << 8, s.opt.ts_ecr = hdr[10];
        if (hdr[7] & 2) s.opt.mss = static_cast<std::uint16_t>(hdr[11] * 8);
        if (hdr[7] & 4) s.opt.wscale = static_cast<std::int8_t>(hdr[11] % 16);
        if (len > 12) s.payload = bytes{b + 12, len - 12};
        st.receive(tcp_frame(s), now, tx);
        if (hdr[7] & 8) c.seq += static_cast<seq_t>(s.payload.size());  // track progress sometimes
        if (tcp_conn* conn = st.find({kServerIp, kClientIp, kPort, c.port}))
          c.ack = conn->snd_nxt();
        break;
      }
      case 2:
        now += static_cast<nanos>(len) * 7 * kNsPerMs;
        st.poll_timers(now, tx);
        break;
      case 3: {
        tcp_conn* c = app.conns[(op >> 2) % 8];
        if (!c) break;
        switch ((op >> 5) % 4) {
          case 0: {
            auto sp = c->send_space();
            const std::size_t n = std::min(sp.size(), len * 16);
            if (n) std::memset(sp.data(), 'r', n);
            c->commit_send(n);
            break;
          }
          case 1:
            c->consume(len);
            break;
          case 2:
            c->close();
            break;
          case 3:
            c->abort();
            break;
        }
        st.flush(now, tx);
        break;
      }
    }
    // Invariants.
    if (st.connections() > cfg.max_connections || st.half_open() > cfg.syn_backlog)
      __builtin_trap();
    st.for_each_connection([&](tcp_conn& c) {
      if (c.recv_view().size() > cfg.tcp.rx_buffer || c.send_queued() > cfg.tcp.tx_buffer)
        __builtin_trap();
    });
  }
  // Drain: everything must terminate cleanly.
  for (int k = 0; k < 10; ++k) {
    now += 100 * kNsPerSec;
    st.poll_timers(now, tx);
  }
  return 0;
}
