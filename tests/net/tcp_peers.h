// Several scripted clients in front of one stack (tcp_fixture drives one): each
// `peer` keeps its own sequence numbers and timestamps, and the output of the stack
// is split per peer by destination port. Used by the odd-peer table, the flush
// fairness tests and the timer tests.
#pragma once

#include <deque>
#include <map>

#include "tests/net/tcp_fixture.h"

namespace anvil::net::test {

struct peer {
  std::uint16_t port = 0;
  tcp_options syn_opt = linux_syn_options();
  seq_t isn = 5000;
  seq_t seq = 5001;  // next sequence number to send
  seq_t ack = 0;     // next expected server sequence number
  std::uint32_t tsval = 100;
  std::uint32_t ts_ecr = 0;
  bool ts = true;  // put timestamps on segments after the SYN
  std::uint16_t window = 1000;
  std::string received;          // in-order payload bytes from the server
  std::vector<out_segment> out;  // every segment the stack sent to this peer
};

class multi_peer_fixture : public tcp_fixture {
 protected:
  std::deque<std::vector<std::byte>> payloads;

  tcp_segment segment(peer& p, std::uint8_t flags, const std::string& data = "") {
    tcp_segment s;
    s.src_port = p.port;
    s.dst_port = kPort;
    s.seq = p.seq;
    s.ack = p.ack;
    s.flags = flags;
    s.window = p.window;
    if (p.ts) {
      s.opt.has_ts = true;
      s.opt.ts_val = p.tsval;
      s.opt.ts_ecr = p.ts_ecr;
    }
    payloads.push_back(to_bytes(data));
    s.payload = payloads.back();
    return s;
  }
  // Feeds frames to the stack as one burst (input for each, then one flush) and sorts
  // the output to the peers; returns the number of frames the stack sent.
  std::size_t burst(std::vector<std::pair<peer*, tcp_segment>> segs) {
    for (auto& [p, s] : segs) {
      const frame_t f = tcp_frame(s);
      st->input(f, now, tx, rx_meta{});
    }
    st->flush(now, tx);
    return route();
  }
  std::size_t route() {
    auto frames = tx.take();
    for (auto& f : frames) {
      auto o = decode_tcp(f);
      if (!o) continue;
      for (peer* p : peers) {
        if (p->port != o->seg.dst_port) continue;
        if (o->seg.opt.has_ts) p->ts_ecr = o->seg.opt.ts_val;
        // A zero window takes nothing (a window probe's byte is not accepted).
        if (!o->payload.empty() && o->seg.seq == p->ack && p->window != 0) {
          p->received.append(reinterpret_cast<const char*>(o->payload.data()), o->payload.size());
          p->ack += static_cast<seq_t>(o->payload.size());
        }
        p->out.push_back(*o);
      }
    }
    return frames.size();
  }
  // SYN (with p.syn_opt), SYN-ACK, ACK: ESTABLISHED.
  void open(peer& p) {
    if (std::find(peers.begin(), peers.end(), &p) == peers.end()) peers.push_back(&p);
    tcp_segment syn = segment(p, tcp_flag::syn);
    syn.seq = p.isn;
    syn.ack = 0;
    syn.opt = p.syn_opt;
    if (syn.opt.has_ts) syn.opt.ts_val = p.tsval, syn.opt.ts_ecr = 0;
    p.seq = p.isn + 1;
    burst({{&p, syn}});
    ASSERT_FALSE(p.out.empty());
    ASSERT_EQ(p.out.back().seg.flags, tcp_flag::syn | tcp_flag::ack);
    p.ack = p.out.back().seg.seq + 1;
    p.ts = p.syn_opt.has_ts;
    burst({{&p, segment(p, tcp_flag::ack)}});
    ASSERT_NE(find(p), nullptr);
    ASSERT_EQ(find(p)->state(), tcp_state::established);
  }
  tcp_conn* find(const peer& p) { return st->find(tcp_tuple{kServerIp, kClientIp, kPort, p.port}); }
  // The server's application queues `n` bytes (pattern by offset) on p's connection.
  std::size_t queue(peer& p, std::size_t n, char fill = 0) {
    tcp_conn* c = find(p);
    std::size_t done = 0;
    while (done < n) {
      auto sp = c->send_space();
      if (sp.empty()) break;
      const std::size_t k = std::min(sp.size(), n - done);
      for (std::size_t i = 0; i < k; ++i)
        sp[i] = static_cast<std::byte>(fill ? fill : static_cast<char>('a' + (done + i) % 26));
      c->commit_send(k);
      done += k;
    }
    return done;
  }
  // Server closes, the peer acknowledges the FIN with its own: TIME_WAIT.
  void to_time_wait(peer& p) {
    find(p)->close();
    st->flush(now, tx);
    route();
    ASSERT_FALSE(p.out.empty());
    ASSERT_TRUE(p.out.back().seg.has(tcp_flag::fin));
    p.ack = p.out.back().seg.seq + static_cast<seq_t>(p.out.back().payload.size()) + 1;
    burst({{&p, segment(p, tcp_flag::ack | tcp_flag::fin)}});
    p.seq += 1;
    ASSERT_NE(find(p), nullptr);
    ASSERT_EQ(find(p)->state(), tcp_state::time_wait);
  }
  // The peer acknowledges everything it received in order (window p.window).
  std::size_t ack_all(peer& p) { return burst({{&p, segment(p, tcp_flag::ack)}}); }

  std::vector<peer*> peers;
};

}  // namespace anvil::net::test
