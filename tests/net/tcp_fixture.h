// A scripted client in front of a stack: it builds segments the way a Linux client
// would (timestamps, window scale) and decodes what the stack answers. Fixtures per
// TCP state derive from it and bring the connection to that state in SetUp.
#pragma once

#include <memory>

#include "tests/net/net_test_util.h"

namespace anvil::net::test {

class tcp_fixture : public ::testing::Test {
 protected:
  recording_app app;
  stack_config cfg = test_config();
  std::unique_ptr<stack<recording_app>> st;
  vector_sink tx;
  nanos now = 1000 * kNsPerSec;
  std::uint16_t cport = 40000;
  seq_t c_isn = 5000;
  seq_t cseq = 5001;  // client's next sequence number (after the SYN)
  seq_t cack = 0;     // client's next expected server sequence number
  std::uint32_t cts = 100;
  bool use_ts = true;
  std::uint16_t cwin = 1000;         // raw window field the client advertises (<< 10)
  mac_addr client_mac = kClientMac;  // Ethernet source of the client's frames
  ip4_addr server_ip = kServerIp;    // the address the client talks to

  void SetUp() override { st = std::make_unique<stack<recording_app>>(cfg, app); }
  void rebuild() { st = std::make_unique<stack<recording_app>>(cfg, app); }

  tcp_tuple tuple() const { return tcp_tuple{server_ip, kClientIp, kPort, cport}; }
  tcp_conn* conn() { return st->find(tuple()); }

  tcp_segment make(std::uint8_t flags, seq_t seq, seq_t ack, const std::string& data = "") {
    tcp_segment s;
    s.src_port = cport;
    s.dst_port = kPort;
    s.seq = seq;
    s.ack = ack;
    s.flags = flags;
    s.window = cwin;
    if (use_ts) {
      s.opt.has_ts = true;
      s.opt.ts_val = cts;
      s.opt.ts_ecr = last_ts;
    }
    _payloads.push_back(to_bytes(data));
    s.payload = _payloads.back();
    return s;
  }
  // Sends one segment, returns what the stack sent in response (all frames).
  std::vector<out_segment> send(const tcp_segment& s) {
    tx.frames.clear();
    auto f = tcp_frame(s, kClientIp, server_ip);
    client_mac.store(f.data() + 6);  // the Ethernet source the segment arrives from
    st->receive(f, now, tx);
    return drain();
  }
  std::vector<out_segment> drain() {
    std::vector<out_segment> out;
    for (auto& f : tx.take()) {
      auto o = decode_tcp(f);
      if (!o) continue;
      if (o->seg.opt.has_ts) last_ts = o->seg.opt.ts_val;
      out.push_back(*o);
    }
    return out;
  }
  std::vector<out_segment> tick(nanos dt) {
    now += dt;
    st->poll_timers(now, tx);
    return drain();
  }
  // Client sends data at cseq with ACK = cack.
  std::vector<out_segment> send_data(const std::string& d, std::uint8_t extra = 0) {
    auto r = send(make(tcp_flag::ack | tcp_flag::psh | extra, cseq, cack, d));
    cseq += static_cast<seq_t>(d.size()) + ((extra & tcp_flag::fin) ? 1 : 0);
    return r;
  }
  std::vector<out_segment> send_ack() { return send(make(tcp_flag::ack, cseq, cack)); }

  // SYN with options; returns the SYN-ACK.
  out_segment send_syn(const tcp_options& opt) {
    auto s = make(tcp_flag::syn, c_isn, 0);
    s.opt = opt;
    if (s.opt.has_ts) s.opt.ts_val = cts, s.opt.ts_ecr = 0;
    auto r = send(s);
    EXPECT_EQ(r.size(), 1u);
    if (r.empty()) return {};
    cack = r[0].seg.seq + 1;
    return r[0];
  }
  void establish(const tcp_options& opt = linux_syn_options()) {
    use_ts = opt.has_ts;
    send_syn(opt);
    auto r = send_ack();
    EXPECT_TRUE(r.empty());
    ASSERT_NE(conn(), nullptr);
    ASSERT_EQ(conn()->state(), tcp_state::established);
  }
  // Server-side application writes bytes to the connection and flushes.
  std::vector<out_segment> server_write(const std::string& d) {
    auto sp = conn()->send_space();
    EXPECT_GE(sp.size(), d.size());
    std::memcpy(sp.data(), d.data(), d.size());
    conn()->commit_send(d.size());
    st->flush(now, tx);
    return drain();
  }

  std::uint32_t last_ts = 0;

 private:
  std::vector<std::vector<std::byte>> _payloads;
};

}  // namespace anvil::net::test
