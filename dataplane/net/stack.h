// The per-lcore network stack: Ethernet, ARP, IPv4, ICMP echo, memcached UDP and TCP
// connections, glued to a port through two template parameters, no virtual calls:
//
//   Sink (frame_sink): where frames go out.
//     std::span<std::byte> begin_frame();  // >= 1514 bytes; empty = no buffer now
//     void commit_frame(std::size_t len);  // the frame in the last begun buffer is ready
//   A begun frame that is not committed is abandoned; the next begin_frame may return
//   the same buffer. On an empty span the stack stops and keeps its output pending
//   (connections stay on the dirty list) until the next flush/poll.
//
//   App (stack_app): the protocol handler, called on the lcore with the connection:
//     void on_accept(tcp_conn&);   // established (passive, or an active connect())
//     void on_data(tcp_conn&);     // new bytes in recv_view(), or peer_closed() (EOF)
//     void on_close(tcp_conn&);    // CLOSED/TIME_WAIT/reset: drop every reference
//     optional: void on_writable(tcp_conn&);   // an ACK freed send space
//     optional: void on_udp(bytes request, udp_reply&);  // memcached UDP request
//   Callbacks may call recv_view/consume/send_space/commit_send/close/abort on the
//   connection; output is flushed by the stack after the callbacks of a receive call.
//
// Driving it (one thread, the lcore that owns it):
//   receive(frame, now, sink[, meta]) / receive_burst(frames, now, sink)
//   or, for a port burst with per-frame metadata: input(frame, now, sink, meta) for
//   each frame, then flush(now, sink) once (one ACK per connection per burst).
//   rx_meta from port::csum_state: verified -> {ip_csum_ok, l4_csum_ok} = {1, 1};
//   partial (local sender, L4 checksum left to an offload) -> {0, 1}; unknown -> {0, 0}.
//   poll_timers(now, sink); next_deadline()   // retransmission, TIME_WAIT, idle
//   flush(now, sink)        // after writing to a connection outside a callback
//   send_gratuitous_arp(ip, sink)             // an announcement of one of our addresses
//   poll_gate(now, sink)    // once per poll iteration: the gated address (below)
// The gated address (stack_config::vip, address_gate.h): an address answered for (ARP,
// IP, new SYNs) only while its ownership holds at the `now` the frame is handled with
// (one atomic load per frame for that address, nothing else). poll_gate() acts on
// changes: a take (a new `takes` count while it holds) sends kGratuitousArpCount
// gratuitous ARPs kGratuitousArpSpacing apart; a lapse or a release resets (RST) every
// connection on the address, so clients reconnect to the new owner at once.
// `now` is monotonic nanoseconds. Memory is fixed at construction: connection slots,
// the 4-tuple table, timer wheel, neighbour table and buffer pools; nothing allocates
// per packet.
// Destination MACs: a connection's frames take theirs from the neighbour table
// (neighbour_table.h) at every transmit, so they follow ARP; replies that need no
// connection (ARP, ICMP, UDP, RST, cookie SYN-ACK) go to the frame's source MAC.
#pragma once

#include <algorithm>
#include <concepts>
#include <optional>
#include <span>
#include <vector>

#include "dataplane/net/address_gate.h"
#include "dataplane/net/buffer_pool.h"
#include "dataplane/net/conn_table.h"
#include "dataplane/net/counters.h"
#include "dataplane/net/frame.h"
#include "dataplane/net/keyed_hash.h"
#include "dataplane/net/neighbour_table.h"
#include "dataplane/net/pmtu.h"
#include "dataplane/net/syn_cookie.h"
#include "dataplane/net/tcp_conn.h"
#include "dataplane/net/tcp_segment.h"
#include "dataplane/net/timer_wheel.h"

namespace anvil::net {

template <class S>
concept frame_sink = requires(S s, std::size_t n) {
  { s.begin_frame() } -> std::same_as<std::span<std::byte>>;
  s.commit_frame(n);
};

template <class A>
concept stack_app = requires(A a, tcp_conn& c) {
  a.on_accept(c);
  a.on_data(c);
  a.on_close(c);
};

// A reply the application writes for a memcached UDP request (without frame headers;
// the stack splits it into datagrams of kUdpMaxPayload with a header each).
struct udp_reply {
  mut_bytes space;
  std::size_t len = 0;
};

struct stack_config {
  mac_addr mac;
  std::vector<ip4_addr> addresses;       // owned IPv4 addresses (ARP, IP, TCP, UDP)
  std::vector<std::uint16_t> tcp_ports;  // listening ports
  std::uint16_t udp_port = 0;            // memcached UDP; 0 = off (amplification risk)
  tcp_config tcp;
  std::uint32_t max_connections = 1024;  // table limit (includes TIME_WAIT)
  std::uint32_t syn_backlog = 128;       // half-open limit; beyond it, SYN cookies
  bool syn_cookies = true;
  // Key of the stack's PRF (ISNs, timestamp offsets, table hash, SYN cookies; see
  // keyed_hash.h). Unset: 16 random bytes per stack, i.e. per boot. Tests fix it.
  std::optional<prf_key> secret;
  std::size_t udp_reply_max = 64 * 1024;
  neigh_config neigh;  // the ARP cache every connection sends through
  // A time-gated address (the failover VIP): not in `addresses`; disabled by default.
  address_gate vip;
};

template <stack_app App>
class stack {
 public:
  stack(const stack_config& cfg, App& app)
      : _cfg(cfg),
        _app(app),
        _key(cfg.secret ? *cfg.secret : random_prf_key()),
        _rx_pool(cfg.max_connections, cfg.tcp.rx_buffer),
        _tx_pool(cfg.max_connections, cfg.tcp.tx_buffer),
        _slots(cfg.max_connections),
        _table(cfg.max_connections, _key),
        _wheel(cfg.max_connections),
        _cookies(_key),
        _neigh(sized(cfg.neigh, cfg.max_connections), _ctr),
        _udp_buf(cfg.udp_port ? cfg.udp_reply_max : 0) {
    _cfg.tcp.mss =
        std::clamp<std::uint16_t>(_cfg.tcp.mss, kMinPeerMss, kMtu - kIpv4Header - kTcpHeader);
    _free.reserve(cfg.max_connections);
    _expired.reserve(cfg.max_connections);
    for (std::uint32_t i = cfg.max_connections; i-- > 0;) {
      _slots[i].conn.slot = i;
      _slots[i].conn.dirty_owner = &_dirty;
      _free.push_back(i);
    }
  }
  stack(const stack&) = delete;
  stack& operator=(const stack&) = delete;

  // ---- receive ----------------------------------------------------------------------
  template <frame_sink Sink>
  void receive(bytes frame, nanos now, Sink& tx, const rx_meta& meta = {}) {
    input(frame, now, tx, meta);
    flush(now, tx);
  }
  template <frame_sink Sink>
  void receive_burst(std::span<const bytes> frames, nanos now, Sink& tx) {
    for (bytes f : frames) input(f, now, tx, rx_meta{});
    flush(now, tx);  // one ACK per connection per burst, piggybacked when possible
  }

  // Processes one frame; replies that need no connection (ARP, ICMP, RST, cookie
  // SYN-ACK) go out at once, connection output waits for flush().
  template <frame_sink Sink>
  void input(bytes frame, nanos now, Sink& tx, const rx_meta& meta) {
    _wheel.start(now);
    bump(_ctr.rx_frames);
    eth_view e;
    if (!parse_eth(frame, e, _ctr)) return;
    if (e.dst != _cfg.mac && !e.dst.is_broadcast()) {
      bump(_ctr.drop_eth_not_for_us);
      return;
    }
    _neigh.maybe_age(now);
    if (e.type == kEtherArp) return arp_input(e, now, tx);
    if (e.type != kEtherIpv4) {
      bump(_ctr.drop_eth_type);
      return;
    }
    if (e.dst.is_broadcast()) {
      bump(_ctr.drop_eth_not_for_us);  // IPv4 broadcast: nothing we serve
      return;
    }
    ipv4_view ip;
    if (!parse_ipv4(e.payload, meta, ip, _ctr)) return;
    if (!owns(ip.dst) && !gate_holds(ip.dst, now)) {
      bump(is_gated(ip.dst) ? _ctr.drop_vip_not_held : _ctr.drop_ip_not_for_us);
      return;
    }
    switch (ip.proto) {
      case kProtoTcp:
        return tcp_input(e, ip, meta, now, tx);
      case kProtoUdp:
        return udp_input(e, ip, meta, tx);
      case kProtoIcmp:
        return icmp_input(e, ip, meta, tx);
      default:
        bump(_ctr.drop_ip_proto);
    }
  }

  // ---- output and timers ----------------------------------------------------------
  // At most this many segments per connection per turn of flush's round robin.
  static constexpr int kFlushQuantum = 16;

  // Sends what connections owe (data, ACKs, FINs, RSTs) and releases closed ones.
  // Round robin over the FIFO dirty queue: a connection sends at most kFlushQuantum
  // segments per turn, then goes to the back of the queue if it still owes output,
  // so a small reply waits for at most one quantum of each busy connection ahead of
  // it. When the sink runs out of buffers the connection being served goes to the
  // back too if it sent anything (it had its turn), to the front if it sent nothing;
  // the rest keep their order for the next call.
  template <frame_sink Sink>
  void flush(nanos now, Sink& tx) {
    while (_dirty.head) {
      tcp_conn* c = _dirty.head;
      _dirty.head = c->dirty_next;
      if (!_dirty.head) _dirty.tail = nullptr;
      c->dirty = false;
      c->dirty_next = nullptr;
      const std::uint32_t i = c->slot;
      slot& s = _slots[i];
      handle_events(i);  // events raised outside a callback (consume() in TIME_WAIT)
      tcp_segment seg;
      bool blocked = false;
      const std::uint32_t rtx_before = c->counters().retransmits;
      const std::uint32_t zwp_before = c->counters().zero_window_probes;
      const std::uint32_t srtx_before = c->counters().sack_retransmits;
      const std::uint32_t tlp_before = c->counters().tlp_probes;
      int sent = 0;
      for (; sent < kFlushQuantum && c->peek_output(now, seg); ++sent) {
        const tx_result r = emit_tcp(tx, next_hop_mac(s, now, tx), c->tuple(), seg);
        if (r == tx_result::no_buffer) {
          blocked = true;
          break;
        }
        if (r == tx_result::oversize) {
          // No frame can ever hold this segment: a bug, not back-pressure. Waiting
          // would keep it at the head of the list and starve every connection behind
          // it, so the connection is aborted (its RST is the next output).
          bump(_ctr.tcp_tx_oversize_aborts);
          c->abort();
          continue;
        }
        c->on_output_sent(seg, now);
      }
      bump(_ctr.tcp_retransmits, c->counters().retransmits - rtx_before);
      bump(_ctr.tcp_zero_window_probes, c->counters().zero_window_probes - zwp_before);
      bump(_ctr.tcp_sack_retransmits, c->counters().sack_retransmits - srtx_before);
      bump(_ctr.tcp_tlp_probes, c->counters().tlp_probes - tlp_before);
      if (blocked) {
        // The sink is full: still owed. Back of the queue after a (partial) turn,
        // front when the sink was full before it sent anything.
        if (sent > 0) {
          c->mark_dirty();
        } else {
          c->dirty = true;
          c->dirty_next = _dirty.head;
          _dirty.head = c;
          if (!_dirty.tail) _dirty.tail = c;
        }
        return;
      }
      if (c->state() == tcp_state::closed) {
        free_slot(i);
      } else {
        if (c->wants_output(now)) c->mark_dirty();
        _wheel.arm(i, c->poll_at());
      }
    }
  }

  template <frame_sink Sink>
  void poll_timers(nanos now, Sink& tx) {
    _expired.clear();
    _wheel.expire(now, _expired);
    for (std::uint32_t i : _expired) {
      slot& s = _slots[i];
      if (!s.in_use) continue;
      const tcp_conn::stats before = s.conn.counters();
      s.conn.on_timer(now);
      const tcp_conn::stats& after = s.conn.counters();
      bump(_ctr.tcp_rto_expired, after.rto_expired - before.rto_expired);
      bump(_ctr.tcp_keepalive_probes, after.keepalive_probes - before.keepalive_probes);
      bump(_ctr.tcp_rack_marked_lost, after.rack_marked_lost - before.rack_marked_lost);
      handle_events(i);
      count_timeouts(s.conn);
      _wheel.arm(i, s.conn.poll_at());
      track_time_wait(i);
    }
    flush(now, tx);
  }
  nanos next_deadline() const { return _wheel.next_deadline(); }

  // ---- control ------------------------------------------------------------------------
  template <frame_sink Sink>
  bool send_gratuitous_arp(ip4_addr ip, Sink& tx) {
    // A broadcast request for our own address (sender = target = ip), RFC 5227 §3.
    if (!send_arp_request(kBroadcastMac, ip, ip, tx)) return false;
    bump(_ctr.arp_gratuitous);
    return true;
  }
  void add_address(ip4_addr ip) {
    if (!owns(ip)) _cfg.addresses.push_back(ip);
  }
  void remove_address(ip4_addr ip) { std::erase(_cfg.addresses, ip); }

  // The gated address: call once per poll iteration with that iteration's clock. One
  // atomic load and a compare when nothing changed; on a take it starts the gratuitous
  // ARP burst, on a lapse/release (or a retake it did not see the gap of) it resets the
  // address's connections.
  template <frame_sink Sink>
  void poll_gate(nanos now, Sink& tx) {
    if (!_cfg.vip.enabled()) return;
    const bool held = _cfg.vip.holds(now);
    const std::uint64_t takes = _cfg.vip.takes->load(std::memory_order_relaxed);
    if (held && (!_gate_held || takes != _gate_takes)) [[unlikely]] {
      if (_gate_held) reset_gated_connections(now, tx);  // released and retaken between polls
      bump(_ctr.vip_taken);
      _garp_left = kGratuitousArpCount;
      _garp_at = now;
    } else if (!held && _gate_held) [[unlikely]] {
      bump(_ctr.vip_lost);
      _garp_left = 0;
      reset_gated_connections(now, tx);
    }
    _gate_held = held;
    _gate_takes = takes;
    if (held && _garp_left > 0 && now >= _garp_at) [[unlikely]] {
      if (send_gratuitous_arp(_cfg.vip.ip, tx)) {
        --_garp_left;
        _garp_at = now + kGratuitousArpSpacing;
      }
    }
  }
  // What poll_gate last saw (tests, the control plane).
  bool gate_held() const { return _gate_held; }
  unsigned gratuitous_arps_pending() const { return _garp_left; }

  // Active open (the simulator's client, replication later). The SYN goes out at
  // the next flush; on_accept is called when the connection is established.
  // `peer_mac` seeds the neighbour table when it knows no entry for the peer.
  tcp_conn* connect(const tcp_tuple& t, const mac_addr& peer_mac, nanos now) {
    _wheel.start(now);
    if (_free.empty() || _table.find(t, key_of()) != conn_table::kEmpty) return nullptr;
    const std::uint32_t n = _neigh.acquire(t.remote_ip, peer_mac, now);
    if (n == neighbour_table::kNone) return nullptr;
    const auto bufs = acquire_buffers();
    if (!bufs) {
      _neigh.release(n);
      return nullptr;
    }
    const std::uint32_t i = alloc_slot(t, n);
    slot& s = _slots[i];
    s.conn.connect(_cfg.tcp, t, make_isn(t, now), ts_offset(t), bufs->rx, bufs->tx, now);
    s.active = true;
    insert_slot(i);
    s.conn.mark_dirty();
    return &s.conn;
  }

  net_counters& counters() { return _ctr; }
  const net_counters& counters() const { return _ctr; }
  // Returns the pages of up to `max` released large buffers to the OS (buffer_pool::trim):
  // a syscall each, so only when the loop is idle. The number trimmed.
  std::size_t trim_buffers(std::size_t max) {
    const std::size_t n = _rx_pool.trim(max);
    return n + _tx_pool.trim(max - n);
  }
  std::uint32_t connections() const { return _table.size(); }
  // Connections in TIME_WAIT (walks the TIME_WAIT queue: tests, the control plane).
  std::uint32_t time_wait_connections() const {
    std::uint32_t n = 0;
    for (std::uint32_t i = _tw_head; i != kNoSlot; i = _slots[i].tw_next) ++n;
    return n;
  }
  std::uint32_t half_open() const { return _half_open; }
  const stack_config& config() const { return _cfg; }
  const neighbour_table& neighbours() const { return _neigh; }
  tcp_conn* find(const tcp_tuple& t) {
    const std::uint32_t i = _table.find(t, key_of());
    return i == conn_table::kEmpty ? nullptr : &_slots[i].conn;
  }
  // Visits every live connection (tests, the control plane's connection listing).
  template <class F>
  void for_each_connection(F&& f) {
    for (auto& s : _slots)
      if (s.in_use) f(s.conn);
  }

 private:
  static constexpr std::uint32_t kNoSlot = 0xffffffffu;
  struct slot {
    tcp_conn conn;
    std::uint32_t neigh = neighbour_table::kNone;  // the next hop's entry (referenced)
    bool in_use = false;
    bool app_open = false;   // on_accept delivered, on_close not yet
    bool half_open = false;  // counted in _half_open
    bool active = false;     // opened by connect()
    // TIME_WAIT queue (oldest deadline first), linked by slot index.
    bool on_tw = false;
    std::uint32_t tw_prev = kNoSlot, tw_next = kNoSlot;
    nanos tw_deadline = kNever;
  };

  static neigh_config sized(neigh_config n, std::uint32_t max_connections) {
    if (n.entries == 0) n.entries = max_connections + 16;
    return n;
  }
  auto key_of() const {
    return [this](std::uint32_t i) -> const tcp_tuple& { return _slots[i].conn.tuple(); };
  }
  bool owns(ip4_addr ip) const {
    return std::find(_cfg.addresses.begin(), _cfg.addresses.end(), ip) != _cfg.addresses.end();
  }
  bool is_gated(ip4_addr ip) const { return _cfg.vip.enabled() && ip == _cfg.vip.ip; }
  bool gate_holds(ip4_addr ip, nanos now) const { return is_gated(ip) && _cfg.vip.holds(now); }

  // Ownership of the gated address ended: every connection on it is aborted (RST with
  // its next output) and the RSTs go out now. Walks the table: an event, not per packet.
  template <frame_sink Sink>
  void reset_gated_connections(nanos now, Sink& tx) {
    for (std::uint32_t i = 0; i < _slots.size(); ++i) {
      slot& s = _slots[i];
      if (!s.in_use || s.conn.tuple().local_ip != _cfg.vip.ip) continue;
      if (s.conn.state() == tcp_state::closed) continue;
      s.conn.abort();
      bump(_ctr.vip_conns_reset);
      handle_events(i);  // on_close now: the application drops the connection
    }
    flush(now, tx);
  }
  bool listening(std::uint16_t port) const {
    return std::find(_cfg.tcp_ports.begin(), _cfg.tcp_ports.end(), port) != _cfg.tcp_ports.end();
  }

  // RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M the
  // 4 us clock and F SipHash-2-4 under the per-boot key. Successive incarnations of a
  // tuple get increasing ISNs; another tuple's ISN says nothing about this one.
  seq_t make_isn(const tcp_tuple& t, nanos now) const {
    return static_cast<seq_t>(now / 4000) + static_cast<seq_t>(tuple_prf(_key, prf_domain::isn, t));
  }
  // RFC 7323 §5.4: the per-tuple timestamp offset, from the same keyed PRF.
  std::uint32_t ts_offset(const tcp_tuple& t) const {
    return static_cast<std::uint32_t>(tuple_prf(_key, prf_domain::ts_offset, t));
  }
  std::uint32_t ts_clock(const tcp_tuple& t, nanos now) const {
    return static_cast<std::uint32_t>(now / kNsPerMs) + ts_offset(t);
  }

  std::uint32_t alloc_slot(const tcp_tuple& t, std::uint32_t neigh) {
    const std::uint32_t i = _free.back();
    _free.pop_back();
    slot& s = _slots[i];
    s.in_use = true;
    s.app_open = false;
    s.half_open = false;
    s.neigh = neigh;
    s.active = false;
    (void)t;  // the tuple is set by accept_*/connect; insert_slot runs after that
    return i;
  }
  void insert_slot(std::uint32_t i) { _table.insert(_slots[i].conn.tuple(), i); }

  // A new connection's receive and send buffers: both, or neither when either pool is
  // dry (every path that opens a connection takes them here; release_buffers returns
  // them). Pool chunks only: nothing is allocated.
  struct buffer_pair {
    byte_buffer rx, tx;
  };
  std::optional<buffer_pair> acquire_buffers() {
    std::byte* rx = _rx_pool.acquire();
    std::byte* tx = _tx_pool.acquire();
    if (!rx || !tx) {
      _rx_pool.release(rx);
      _tx_pool.release(tx);
      return std::nullopt;
    }
    return buffer_pair{byte_buffer{rx, _cfg.tcp.rx_buffer, 0, 0},
                       byte_buffer{tx, _cfg.tcp.tx_buffer, 0, 0}};
  }

  void release_buffers(slot& s) {
    if (!s.conn.holds_buffers()) return;
    _rx_pool.release(s.conn.release_rx().data);
    _tx_pool.release(s.conn.release_tx().data);
  }

  void free_slot(std::uint32_t i) {
    slot& s = _slots[i];
    if (!s.in_use) return;
    handle_events(i);
    if (s.app_open) {
      s.app_open = false;
      _app.on_close(s.conn);
    }
    if (s.half_open) {
      s.half_open = false;
      --_half_open;
    }
    release_buffers(s);
    _neigh.release(s.neigh);
    s.neigh = neighbour_table::kNone;
    _wheel.disarm(i);
    tw_unlink(i);
    _table.erase(s.conn.tuple(), key_of());
    s.in_use = false;
    bump(_ctr.tcp_closes);
    // Unlink from the dirty list if still there (closed by a timer or TIME_WAIT reuse).
    if (s.conn.dirty) {
      tcp_conn* prev = nullptr;
      for (tcp_conn* c = _dirty.head; c; prev = c, c = c->dirty_next) {
        if (c != &s.conn) continue;
        (prev ? prev->dirty_next : _dirty.head) = c->dirty_next;
        if (_dirty.tail == c) _dirty.tail = prev;
        break;
      }
      s.conn.dirty = false;
      s.conn.dirty_next = nullptr;
    }
    _free.push_back(i);
  }

  // Delivers the connection's accumulated events to the application.
  void handle_events(std::uint32_t i) {
    slot& s = _slots[i];
    for (int guard = 0; guard < 8; ++guard) {
      const std::uint8_t ev = s.conn.take_events();
      if (!ev) break;
      if (s.half_open && s.conn.state() != tcp_state::syn_received) {
        s.half_open = false;
        --_half_open;
      }
      if (ev & tcp_event::established) {
        s.app_open = true;
        bump(s.active ? _ctr.tcp_connects : _ctr.tcp_accepts);
        _app.on_accept(s.conn);
      }
      if (s.app_open && (ev & tcp_event::readable)) _app.on_data(s.conn);
      if constexpr (requires { _app.on_writable(s.conn); }) {
        if (s.app_open && (ev & tcp_event::writable)) _app.on_writable(s.conn);
      }
      if (ev & tcp_event::closed) {
        if (s.app_open) {
          s.app_open = false;
          _app.on_close(s.conn);
        }
        release_buffers(s);
      }
    }
  }

  void count_timeouts(const tcp_conn& c) {
    if (c.state() != tcp_state::closed) return;
    if (c.reason() == close_reason::idle_timeout) bump(_ctr.tcp_idle_timeouts);
    if (c.reason() == close_reason::retransmit_timeout) bump(_ctr.tcp_retry_timeouts);
    if (c.reason() == close_reason::fin_wait_2_timeout) bump(_ctr.tcp_fin_wait_2_timeouts);
    if (c.reason() == close_reason::keepalive_timeout) bump(_ctr.tcp_keepalive_timeouts);
  }

  // ---- ARP ------------------------------------------------------------------------
  static void write_arp(std::byte* p, std::uint16_t op, const mac_addr& sha, ip4_addr spa,
                        const mac_addr& tha, ip4_addr tpa) {
    store16(p, 1);  // Ethernet
    store16(p + 2, kEtherIpv4);
    store8(p + 4, 6);
    store8(p + 5, 4);
    store16(p + 6, op);
    sha.store(p + 8);
    store32(p + 14, spa.v);
    tha.store(p + 18);
    store32(p + 24, tpa.v);
  }

  template <frame_sink Sink>
  void arp_input(const eth_view& e, nanos now, Sink& tx) {
    const bytes a = e.payload;
    if (a.size() < 28 || load16(a.data()) != 1 || load16(a.data() + 2) != kEtherIpv4 ||
        load8(a.data() + 4) != 6 || load8(a.data() + 5) != 4) {
      bump(_ctr.drop_arp_malformed);
      return;
    }
    const std::uint16_t op = load16(a.data() + 6);
    const mac_addr sha = mac_addr::load(a.data() + 8);
    const ip4_addr spa{load32(a.data() + 14)};
    const ip4_addr tpa{load32(a.data() + 24)};
    if ((op != 1 && op != 2) || sha.is_multicast() || sha == mac_addr{}) {
      bump(_ctr.drop_arp_malformed);  // a sender hardware address is a real unicast one
      return;
    }
    if (owns(spa) || is_gated(spa)) {
      // Never learn a route to ourselves; the gated address is "ours" for this rule even
      // when another node owns it (its gratuitous ARPs are not a neighbour).
      bump(_ctr.drop_arp_our_address);
      return;
    }
    // RFC 826 "merge": the sender's binding updates an entry we have; a request to us
    // creates one (we are about to talk to it). spa 0 is an RFC 5227 probe: no binding.
    const bool for_us = owns(tpa) || gate_holds(tpa, now);
    if (spa.v != 0) _neigh.learn_arp(spa, sha, now, op == 1 && for_us);
    if (op == 2) {
      bump(_ctr.arp_replies_received);
      return;
    }
    if (!for_us) {
      bump(is_gated(tpa) ? _ctr.drop_vip_not_held : _ctr.drop_arp_not_for_us);
      return;
    }
    auto buf = tx.begin_frame();
    if (buf.size() < 60) {
      bump(_ctr.tx_no_buffer);
      return;
    }
    std::byte* p = buf.data();
    // The reply goes to the MAC that sent the frame (unicast probes included).
    write_eth(p, e.src, _cfg.mac, kEtherArp);
    write_arp(p + kEthHeader, 2, _cfg.mac, tpa, sha, spa);
    std::fill(p + 42, p + 60, std::byte{0});
    tx.commit_frame(60);
    bump(_ctr.arp_replies);
    bump(_ctr.tx_frames);
  }

  // The destination MAC of a connection's next frame, from its neighbour entry; an ARP
  // request goes out first when the entry needs re-validation (the cached MAC is still
  // used: nothing waits for the answer).
  template <frame_sink Sink>
  const mac_addr& next_hop_mac(const slot& s, nanos now, Sink& tx) {
    neighbour_table::probe p;
    const mac_addr& mac = _neigh.resolve(s.neigh, now, p);
    if (p.send && send_arp_request(p.dst, s.conn.tuple().local_ip, p.ip, tx))
      _neigh.probe_sent(s.neigh, now);
    return mac;
  }
  template <frame_sink Sink>
  bool send_arp_request(const mac_addr& dst, ip4_addr spa, ip4_addr target, Sink& tx) {
    auto buf = tx.begin_frame();
    if (buf.size() < 60) {
      bump(_ctr.tx_no_buffer);
      return false;
    }
    std::byte* p = buf.data();
    write_eth(p, dst, _cfg.mac, kEtherArp);
    write_arp(p + kEthHeader, 1, _cfg.mac, spa, mac_addr{}, target);
    std::fill(p + 42, p + 60, std::byte{0});
    tx.commit_frame(60);
    bump(_ctr.tx_frames);
    return true;
  }

  // ---- ICMP -----------------------------------------------------------------------
  template <frame_sink Sink>
  void icmp_input(const eth_view& e, const ipv4_view& ip, const rx_meta& meta, Sink& tx) {
    const bytes m = ip.payload;
    if (m.size() < 8 || (!meta.l4_csum_ok && !csum_ok(csum_add(0, m.data(), m.size())))) {
      bump(_ctr.drop_icmp_malformed);
      return;
    }
    if (load8(m.data()) == kIcmpUnreachable && load8(m.data() + 1) == kIcmpFragNeeded)
      return icmp_frag_needed(ip, m);
    if (load8(m.data()) != 8 || load8(m.data() + 1) != 0) {
      bump(_ctr.drop_icmp_type);
      return;
    }
    auto buf = tx.begin_frame();
    const std::size_t len = kEthHeader + kIpv4Header + m.size();
    if (buf.size() < len) {
      bump(_ctr.tx_no_buffer);
      return;
    }
    std::byte* p = buf.data();
    write_eth(p, e.src, _cfg.mac, kEtherIpv4);
    write_ipv4(p + kEthHeader, ip.dst, ip.src, kProtoIcmp, m.size(), _ip_id++);
    std::byte* icmp = p + kEthHeader + kIpv4Header;
    std::memcpy(icmp, m.data(), m.size());
    store8(icmp, 0);  // echo reply
    store16(icmp + 2, 0);
    csum_store(icmp + 2, csum_finish(csum_add(0, icmp, m.size())));
    tx.commit_frame(std::max<std::size_t>(len, 60));
    bump(_ctr.icmp_echo_replies);
    bump(_ctr.tx_frames);
  }

  // RFC 1191 with RFC 5927's checks: the quote must name one of our connections and a
  // sequence number in flight on it, or it is dropped and counted.
  void icmp_frag_needed(const ipv4_view& ip, bytes m) {
    frag_needed fn;
    // The router addresses the source of the quoted datagram: that is us.
    if (!parse_frag_needed(m, fn) || fn.src != ip.dst) {
      bump(_ctr.drop_icmp_pmtu_malformed);
      return;
    }
    const std::uint32_t i = _table.find(tcp_tuple{fn.src, fn.dst, fn.sport, fn.dport}, key_of());
    if (i == conn_table::kEmpty) {
      bump(_ctr.drop_icmp_pmtu_no_conn);
      return;
    }
    tcp_conn& c = _slots[i].conn;
    // RFC 5927 §5.2: only a segment in flight (SND.UNA <= seq < SND.MAX) can have been
    // too big; anything else is a guess by someone who cannot see the connection.
    if (c.snd_max() - c.snd_una() <= fn.seq - c.snd_una()) {
      bump(_ctr.drop_icmp_pmtu_out_of_window);
      return;
    }
    if (!c.lower_send_mss(mss_for_path_mtu(fn.mtu, c.timestamps_on()))) {
      bump(_ctr.icmp_pmtu_ignored);
      return;
    }
    bump(_ctr.icmp_pmtu_lowered);
    _wheel.arm(i, c.poll_at());
  }

  // ---- UDP (memcached frame header) ---------------------------------------------------
  template <frame_sink Sink>
  void udp_input(const eth_view& e, const ipv4_view& ip, const rx_meta& meta, Sink& tx) {
    const bytes u = ip.payload;
    if (u.size() < kUdpHeader) {
      bump(_ctr.drop_udp_malformed);
      return;
    }
    const std::uint16_t sport = load16(u.data());
    const std::uint16_t dport = load16(u.data() + 2);
    const std::size_t ulen = load16(u.data() + 4);
    if (ulen < kUdpHeader || ulen > u.size()) {
      bump(_ctr.drop_udp_malformed);
      return;
    }
    const bytes dgram = u.first(ulen);
    if (!meta.l4_csum_ok && load16(u.data() + 6) != 0 &&
        !csum_ok(csum_pseudo(ip.src, ip.dst, kProtoUdp, ulen) + csum_add(0, dgram.data(), ulen))) {
      bump(_ctr.drop_udp_malformed);
      return;
    }
    if (_cfg.udp_port == 0 || dport != _cfg.udp_port) {
      bump(_ctr.drop_udp_port);
      return;
    }
    if constexpr (requires(udp_reply r) { _app.on_udp(bytes{}, r); }) {
      const bytes body = dgram.subspan(kUdpHeader);
      if (body.size() < kUdpFrameHeader || load16(body.data() + 4) != 1 ||
          load16(body.data() + 2) != 0) {
        bump(_ctr.drop_udp_frame_header);  // multi-datagram requests are not supported
        return;
      }
      const std::uint16_t req_id = load16(body.data());
      udp_reply reply{mut_bytes{_udp_buf.data(), _udp_buf.size()}, 0};
      bump(_ctr.udp_requests);
      _app.on_udp(body.subspan(kUdpFrameHeader), reply);
      const std::size_t total = std::min(reply.len, _udp_buf.size());
      if (total == 0) return;
      constexpr std::size_t chunk = kUdpMaxPayload - kUdpFrameHeader;
      const std::size_t count = (total + chunk - 1) / chunk;
      if (count > 0xffff) return;
      for (std::size_t k = 0, off = 0; k < count; ++k, off += chunk) {
        const std::size_t n = std::min(chunk, total - off);
        auto buf = tx.begin_frame();
        const std::size_t l4 = kUdpHeader + kUdpFrameHeader + n;
        if (buf.size() < kEthHeader + kIpv4Header + l4) {
          bump(_ctr.tx_no_buffer);
          return;
        }
        std::byte* p = buf.data();
        write_eth(p, e.src, _cfg.mac, kEtherIpv4);
        write_ipv4(p + kEthHeader, ip.dst, ip.src, kProtoUdp, l4, _ip_id++);
        std::byte* up = p + kEthHeader + kIpv4Header;
        store16(up, dport);
        store16(up + 2, sport);
        store16(up + 4, static_cast<std::uint16_t>(l4));
        store16(up + 6, 0);
        store16(up + 8, req_id);
        store16(up + 10, static_cast<std::uint16_t>(k));
        store16(up + 12, static_cast<std::uint16_t>(count));
        store16(up + 14, 0);
        std::memcpy(up + 16, _udp_buf.data() + off, n);
        std::uint16_t cs =
            csum_finish(csum_pseudo(ip.dst, ip.src, kProtoUdp, l4) + csum_add(0, up, l4));
        if (cs == 0) cs = 0xffff;
        csum_store(up + 6, cs);
        tx.commit_frame(std::max<std::size_t>(kEthHeader + kIpv4Header + l4, 60));
        bump(_ctr.udp_tx_datagrams);
        bump(_ctr.tx_frames);
      }
    } else {
      bump(_ctr.drop_udp_port);
    }
  }

  // ---- TCP ------------------------------------------------------------------------
  // no_buffer: the sink is out of buffers (back-pressure: try again later);
  // oversize: the segment is larger than any frame (kMaxFrame), it can never be sent.
  enum class tx_result { sent, no_buffer, oversize };

  template <frame_sink Sink>
  tx_result emit_tcp(Sink& tx, const mac_addr& dst_mac, const tcp_tuple& t,
                     const tcp_segment& seg) {
    const std::size_t hl = tcp_header_len(seg.opt);
    const std::size_t l4 = hl + seg.payload.size();
    const std::size_t len = kEthHeader + kIpv4Header + l4;
    if (len > kMaxFrame) return tx_result::oversize;
    auto buf = tx.begin_frame();
    if (buf.size() < len || buf.size() < 60) {
      bump(_ctr.tx_no_buffer);
      return tx_result::no_buffer;
    }
    std::byte* p = buf.data();
    write_eth(p, dst_mac, _cfg.mac, kEtherIpv4);
    write_ipv4(p + kEthHeader, t.local_ip, t.remote_ip, kProtoTcp, l4, _ip_id++);
    std::byte* tp = p + kEthHeader + kIpv4Header;
    write_tcp_header(tp, seg);
    if (!seg.payload.empty()) std::memcpy(tp + hl, seg.payload.data(), seg.payload.size());
    csum_store(tp + 16, csum_finish(csum_pseudo(t.local_ip, t.remote_ip, kProtoTcp, l4) +
                                    csum_add(0, tp, l4)));
    if (len < 60) std::fill(p + len, p + 60, std::byte{0});
    tx.commit_frame(std::max<std::size_t>(len, 60));
    bump(_ctr.tx_frames);
    bump(_ctr.tcp_tx_segments);
    if (seg.has(tcp_flag::rst)) bump(_ctr.tcp_rst_sent);
    return tx_result::sent;
  }

  // RFC 9293 §3.10.7.1: the reset for a segment that matches no connection.
  template <frame_sink Sink>
  void send_reset(Sink& tx, const eth_view& e, const tcp_tuple& t, const tcp_segment& in) {
    if (in.has(tcp_flag::rst)) return;
    tcp_segment r;
    r.src_port = t.local_port;
    r.dst_port = t.remote_port;
    if (in.has(tcp_flag::ack)) {
      r.seq = in.ack;
      r.flags = tcp_flag::rst;
    } else {
      r.seq = 0;
      r.ack = in.seq + in.seg_len();
      r.flags = tcp_flag::rst | tcp_flag::ack;
    }
    emit_tcp(tx, e.src, t, r);
  }

  template <frame_sink Sink>
  void tcp_input(const eth_view& e, const ipv4_view& ip, const rx_meta& meta, nanos now, Sink& tx) {
    const bytes l4 = ip.payload;
    tcp_segment seg;
    if (parse_tcp(l4, seg) != tcp_parse_error::none) {
      bump(_ctr.drop_tcp_malformed);
      return;
    }
    if (!meta.l4_csum_ok && !csum_ok(csum_pseudo(ip.src, ip.dst, kProtoTcp, l4.size()) +
                                     csum_add(0, l4.data(), l4.size()))) {
      bump(_ctr.drop_tcp_checksum);
      return;
    }
    using namespace tcp_flag;
    if ((seg.has(syn) && (seg.has(fin) || seg.has(rst))) || !(seg.flags & (syn | rst | ack))) {
      bump(_ctr.drop_tcp_bad_flags);
      return;
    }
    const tcp_tuple t{ip.dst, ip.src, seg.dst_port, seg.src_port};
    std::uint32_t i = _table.find(t, key_of());
    if (i != conn_table::kEmpty) {
      tcp_conn& c = _slots[i].conn;
      // RFC 6191 / 9293 §3.6.1: a new SYN may reuse a TIME_WAIT 4-tuple when its
      // sequence number (or timestamp) is beyond the old incarnation's.
      if (c.state() == tcp_state::time_wait && seg.has(syn) && !seg.has(ack) &&
          seq_gt(seg.seq, c.rcv_nxt())) {
        bump(_ctr.tcp_time_wait_reuse);
        free_slot(i);
        return tcp_listen(e, t, seg, now, tx);
      }
      bump(_ctr.tcp_rx_segments);
      const auto before = c.counters();
      c.on_segment(seg, now);
      if (count_conn_drops(before, c.counters())) _neigh.confirm(_slots[i].neigh, e.src, now);
      if (seg.has(rst) && c.state() == tcp_state::closed &&
          c.reason() == close_reason::reset_by_peer)
        bump(_ctr.tcp_rst_received);
      handle_events(i);
      if (_slots[i].in_use) {
        _wheel.arm(i, c.poll_at());
        track_time_wait(i);
      }
      return;
    }
    tcp_listen(e, t, seg, now, tx);
  }

  // Counts what the connection refused; true when it accepted the segment (then the
  // frame's source MAC may confirm or move the neighbour entry).
  bool count_conn_drops(const tcp_conn::stats& b, const tcp_conn::stats& a) {
    if (a.out_of_window != b.out_of_window) bump(_ctr.drop_tcp_out_of_window);
    if (a.paws_dropped != b.paws_dropped) bump(_ctr.drop_tcp_paws);
    if (a.ooo_dropped != b.ooo_dropped) bump(_ctr.drop_tcp_ooo_full);
    if (a.challenge_acks != b.challenge_acks) bump(_ctr.tcp_challenge_acks);
    if (a.bad_acks != b.bad_acks) bump(_ctr.drop_tcp_bad_ack);
    if (a.fast_retransmits != b.fast_retransmits) bump(_ctr.tcp_fast_retransmits);
    if (a.rack_marked_lost != b.rack_marked_lost)
      bump(_ctr.tcp_rack_marked_lost, a.rack_marked_lost - b.rack_marked_lost);
    if (a.sack_blocks_invalid != b.sack_blocks_invalid)
      bump(_ctr.drop_tcp_sack_invalid, a.sack_blocks_invalid - b.sack_blocks_invalid);
    if (a.sack_options_malformed != b.sack_options_malformed)
      bump(_ctr.drop_tcp_sack_malformed, a.sack_options_malformed - b.sack_options_malformed);
    if (a.syn_received_bad_acks >= _cfg.tcp.syn_received_max_bad_acks &&
        b.syn_received_bad_acks < _cfg.tcp.syn_received_max_bad_acks)
      bump(_ctr.tcp_synrecv_dropped);
    return a.out_of_window == b.out_of_window && a.paws_dropped == b.paws_dropped &&
           a.challenge_acks == b.challenge_acks && a.bad_acks == b.bad_acks;
  }

  template <frame_sink Sink>
  void tcp_listen(const eth_view& e, const tcp_tuple& t, const tcp_segment& seg, nanos now,
                  Sink& tx) {
    using namespace tcp_flag;
    if (seg.has(rst)) {
      bump(_ctr.drop_tcp_rst_ignored);
      return;
    }
    if (!listening(t.local_port)) {
      bump(_ctr.drop_tcp_no_listener);
      return send_reset(tx, e, t, seg);
    }
    if (seg.has(ack)) {
      // Not a SYN: maybe the ACK completing a SYN-cookie handshake.
      if (!seg.has(syn) && _cfg.syn_cookies) {
        if (auto opt = _cookies.check(t, seg, now)) {
          if (new_from_cookie(e, t, seg, *opt, now)) return;
          return;  // no room: drop silently, the client will retransmit
        }
        bump(_ctr.drop_tcp_bad_cookie);
      }
      return send_reset(tx, e, t, seg);
    }
    // A SYN. A full table gives up its oldest TIME_WAIT entry before refusing: the
    // peer that closed it is long gone, and a listener must not starve on them.
    if (_free.empty() && !recycle_time_wait()) {
      bump(_ctr.tcp_conn_limit);
      return;
    }
    if (_half_open >= _cfg.syn_backlog) {
      if (_cfg.syn_cookies) return send_cookie_synack(e, t, seg, now, tx);
      bump(_ctr.tcp_conn_limit);
      return;
    }
    const std::uint32_t n = _neigh.acquire(t.remote_ip, e.src, now);
    if (n == neighbour_table::kNone) return;  // counted neigh_table_full
    const auto bufs = acquire_buffers();
    if (!bufs) {
      _neigh.release(n);
      bump(_ctr.tcp_pool_empty);
      return;
    }
    const std::uint32_t i = alloc_slot(t, n);
    slot& s = _slots[i];
    s.conn.accept_syn(_cfg.tcp, t, seg, make_isn(t, now), ts_offset(t), bufs->rx, bufs->tx, now);
    insert_slot(i);
    s.half_open = true;
    ++_half_open;
    s.conn.mark_dirty();  // SYN-ACK at the next flush
  }

  // Frees the TIME_WAIT entry closest to expiry: the head of the TIME_WAIT queue, so a
  // SYN on a full table costs O(1) whatever the table size.
  bool recycle_time_wait() {
    if (_tw_head == kNoSlot) return false;
    bump(_ctr.tcp_time_wait_recycled);
    free_slot(_tw_head);
    return true;
  }

  // The TIME_WAIT queue: every connection in TIME_WAIT, ordered by its 2MSL deadline.
  // All deadlines are "entry (or last retransmitted FIN) + time_wait", so appending on
  // entry and moving to the back on a restart keeps the order. Called after anything
  // that may change a connection's state (segment, timer).
  void track_time_wait(std::uint32_t i) {
    slot& s = _slots[i];
    if (!s.in_use || s.conn.state() != tcp_state::time_wait) return tw_unlink(i);
    const nanos at = s.conn.poll_at();
    if (s.on_tw && s.tw_deadline == at) return;
    tw_unlink(i);
    s.on_tw = true;
    s.tw_deadline = at;
    s.tw_prev = _tw_tail;
    s.tw_next = kNoSlot;
    (_tw_tail == kNoSlot ? _tw_head : _slots[_tw_tail].tw_next) = i;
    _tw_tail = i;
  }
  void tw_unlink(std::uint32_t i) {
    slot& s = _slots[i];
    if (!s.on_tw) return;
    (s.tw_prev == kNoSlot ? _tw_head : _slots[s.tw_prev].tw_next) = s.tw_next;
    (s.tw_next == kNoSlot ? _tw_tail : _slots[s.tw_next].tw_prev) = s.tw_prev;
    s.on_tw = false;
    s.tw_prev = s.tw_next = kNoSlot;
  }

  bool new_from_cookie(const eth_view& e, const tcp_tuple& t, const tcp_segment& seg,
                       const tcp_options& opt, nanos now) {
    if (_free.empty() && !recycle_time_wait()) {
      bump(_ctr.tcp_conn_limit);
      return false;
    }
    const std::uint32_t n = _neigh.acquire(t.remote_ip, e.src, now);
    if (n == neighbour_table::kNone) return false;  // counted neigh_table_full
    const auto bufs = acquire_buffers();
    if (!bufs) {
      _neigh.release(n);
      bump(_ctr.tcp_pool_empty);
      return false;
    }
    bump(_ctr.tcp_syn_cookies_ok);
    const std::uint32_t i = alloc_slot(t, n);
    slot& s = _slots[i];
    s.conn.accept_cookie(_cfg.tcp, t, seg, opt, ts_offset(t), bufs->rx, bufs->tx, now);
    insert_slot(i);
    handle_events(i);             // on_accept
    s.conn.on_segment(seg, now);  // it may carry data (and the ACK itself is a no-op)
    handle_events(i);
    if (_slots[i].in_use) {
      _wheel.arm(i, s.conn.poll_at());
      track_time_wait(i);
    }
    return true;
  }

  template <frame_sink Sink>
  void send_cookie_synack(const eth_view& e, const tcp_tuple& t, const tcp_segment& syn, nanos now,
                          Sink& tx) {
    tcp_segment r;
    r.src_port = t.local_port;
    r.dst_port = t.remote_port;
    r.flags = tcp_flag::syn | tcp_flag::ack;
    r.seq = _cookies.make_iss(t, syn.seq, syn.opt, now);
    r.ack = syn.seq + 1;
    r.window = static_cast<std::uint16_t>(std::min<std::uint32_t>(_cfg.tcp.rx_buffer, 0xffff));
    r.opt.mss = _cfg.tcp.mss;
    if (syn.opt.has_ts && _cfg.tcp.timestamps) {
      // Window scale survives only through the echoed TSval; without timestamps the
      // connection runs unscaled (the SYN-ACK then offers no scaling).
      tcp_options so = syn.opt;
      if (!_cfg.tcp.window_scaling) so.wscale = -1;
      // SACK-permitted, like window scale, survives only in the echoed TSval.
      so.sack_permitted = so.sack_permitted && _cfg.tcp.sack;
      r.opt.sack_permitted = so.sack_permitted;
      r.opt.has_ts = true;
      r.opt.ts_val = syn_cookies::make_tsval(ts_clock(t, now), so);
      r.opt.ts_ecr = syn.opt.ts_val;
      if (so.wscale >= 0) {
        std::uint8_t ws = 0;
        while (ws < 14 && (std::uint64_t{_cfg.tcp.rx_buffer} >> ws) > 0xffff) ++ws;
        r.opt.wscale = static_cast<std::int8_t>(ws);
      }
    }
    if (emit_tcp(tx, e.src, t, r) == tx_result::sent) bump(_ctr.tcp_syn_cookies_sent);
  }

  stack_config _cfg;
  App& _app;
  prf_key _key;
  net_counters _ctr;
  buffer_pool _rx_pool, _tx_pool;
  std::vector<slot> _slots;
  std::vector<std::uint32_t> _free;
  std::vector<std::uint32_t> _expired;
  conn_table _table;
  timer_wheel _wheel;
  syn_cookies _cookies;
  neighbour_table _neigh;
  std::vector<std::byte> _udp_buf;
  tcp_conn::dirty_queue _dirty;
  std::uint32_t _tw_head = kNoSlot, _tw_tail = kNoSlot;
  std::uint32_t _half_open = 0;
  std::uint16_t _ip_id = 1;
  // The gated address as poll_gate last saw it, and the gratuitous ARPs still owed.
  bool _gate_held = false;
  std::uint64_t _gate_takes = 0;
  unsigned _garp_left = 0;
  nanos _garp_at = 0;
};

}  // namespace anvil::net
