// One TCP connection as a pure state machine (the shape of smoltcp's tcp.rs):
//   on_segment(seg, now)     a parsed, checksum-verified segment for this 4-tuple
//   peek_output(now, out)    the next segment to send, if any (does not change state)
//   on_output_sent(out, now) that segment went out: advance snd_nxt, arm timers
//   poll_at() / on_timer(now) the earliest deadline and its expiry
// It reads no clock and owns no port: time comes in as `now`, segments go out through
// the caller. Buffers (one receive, one send chunk) are lent by the owner's per-core
// pool and bounded by the chunk size. Events (established, readable, writable,
// closed) accumulate in a bit mask the owner takes after each call.
//
// RFCs: 9293 (processing order in on_segment follows §3.10.7.4 "first check sequence
// number" ... "eighth, check the FIN bit"), 6298 (RTO), 5681 + 6582 (congestion
// control, NewReno), 5961 (RST/SYN/ACK checks), 7323 (window scale, timestamps, PAWS),
// 2018 (SACK both ways), 6675 (SACK loss recovery: scoreboard, IsLost, NextSeg, pipe)
// and 8985 (RACK-TLP: time-based loss marking, tail loss probes) when the peer
// permits SACK; NewReno otherwise.
//
// SACK state is fixed-size: the send scoreboard is a sorted array of at most
// kMaxSacked disjoint ranges inside [SND.UNA, SND.MAX] (a full board forgets its
// highest range: that data is only retransmitted needlessly, never lost); the blocks
// we send come from the out-of-order ranges (at most kMaxOoo) and a most-recent-first
// list of where the last segments landed.
//
// ACK policy: no delayed-ACK timer. An ACK is owed after any data; the owner flushes
// output after each receive call (a burst), so responses written by the application
// in on_data carry the ACK, and a request that produces no response (a quiet GETKQ
// miss) is still acknowledged at once instead of after a 40 ms timer.
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#include "dataplane/net/buffer_pool.h"
#include "dataplane/net/seq.h"
#include "dataplane/net/tcp_segment.h"
#include "dataplane/net/wire.h"

namespace anvil::net {

enum class tcp_state : std::uint8_t {
  closed,
  syn_sent,
  syn_received,
  established,
  fin_wait_1,
  fin_wait_2,
  close_wait,
  closing,
  last_ack,
  time_wait,
};
const char* to_string(tcp_state s);

enum class close_reason : std::uint8_t {
  none,
  normal,         // both FINs exchanged (or TIME_WAIT expired)
  reset_by_peer,  // a valid RST arrived
  retransmit_timeout,
  idle_timeout,
  fin_wait_2_timeout,  // the peer never sent its FIN (RST after tcp_config::fin_wait_2_timeout)
  keepalive_timeout,   // keepalive probes went unanswered
  aborted,             // abort() by the application or the owner
  refused,             // active open answered with RST
};

// The smallest peer MSS we honour (Linux's TCP_MIN_MSS): a SYN announcing less is
// treated as announcing this. Every payload we build is then at most 1460 bytes and at
// least kMinPeerMss - kTsOptionLen, so it always fits a 1514-byte frame.
constexpr std::uint16_t kMinPeerMss = 88;
constexpr std::uint16_t kTsOptionLen = 12;  // NOP NOP TS: what timestamps take from a segment

struct tcp_config {
  std::uint16_t mss = 1460;  // our MSS: MTU 1500 - 40
  std::uint32_t rx_buffer = 64 * 1024;
  std::uint32_t tx_buffer = 64 * 1024;
  nanos rto_initial = 1 * kNsPerSec;  // RFC 6298 (2.1)
  nanos rto_min = 200 * kNsPerMs;     // Linux's floor; RFC 6298 suggests 1 s
  nanos rto_max = 60 * kNsPerSec;
  int max_retransmits = 12;
  int max_syn_retransmits = 5;
  nanos time_wait = 60 * kNsPerSec;  // 2*MSL
  nanos idle_timeout = 0;            // no segment received for this long: RST. 0: none
  // FIN_WAIT_2 (our FIN acknowledged, the peer's not yet sent) with no segment from
  // the peer for this long: RST, like Linux's tcp_fin_timeout for a closed socket. A
  // peer still sending (half-close) keeps the connection. 0: wait for ever.
  nanos fin_wait_2_timeout = 60 * kNsPerSec;
  // Keepalive (RFC 9293 §3.8.4, Linux's defaults for interval and count): after
  // keepalive_idle without a segment from the peer and nothing in flight, an ACK
  // carrying SND.UNA - 1 every keepalive_interval; keepalive_probes unanswered: RST.
  nanos keepalive_idle = 0;  // 0: off
  nanos keepalive_interval = 75 * kNsPerSec;
  std::uint32_t keepalive_probes = 9;
  bool window_scaling = true;
  bool timestamps = true;
  // RFC 2018 SACK (and with it RFC 6675 recovery and RACK-TLP) when the peer offers it.
  bool sack = true;
  std::uint32_t initial_cwnd_segments = 10;  // RFC 6928
  std::uint32_t challenge_ack_limit = 10;    // per connection per second (RFC 5961 §7)
  // Wrong ACKs a SYN-RECEIVED connection answers (RST each) before it is dropped: a
  // blind attacker gets this many guesses at our ISS per handshake (RFC 5961 spirit).
  std::uint32_t syn_received_max_bad_acks = 3;
};

struct tcp_tuple {
  ip4_addr local_ip;
  ip4_addr remote_ip;
  std::uint16_t local_port = 0;
  std::uint16_t remote_port = 0;
  friend bool operator==(const tcp_tuple&, const tcp_tuple&) = default;
};

namespace tcp_event {
constexpr std::uint8_t established = 1;  // reached ESTABLISHED (accept or connect)
constexpr std::uint8_t readable = 2;     // new in-order bytes, or the peer's FIN
constexpr std::uint8_t writable = 4;     // send space was freed by an ACK
constexpr std::uint8_t closed = 8;       // CLOSED, or TIME_WAIT with everything read
}  // namespace tcp_event

class tcp_conn {
 public:
  tcp_conn() = default;
  tcp_conn(const tcp_conn&) = delete;
  tcp_conn& operator=(const tcp_conn&) = delete;

  // --- opening (the owner provides buffers, ISS and options policy) ---------------
  // `ts_offset`: the timestamp clock is ms + ts_offset (RFC 7323 §5.4), a keyed
  // function of the 4-tuple chosen by the owner, so TSvals reveal no uptime and
  // successive incarnations of a tuple see a monotonic clock (PAWS on the peer).
  // Passive open from a SYN: enters SYN_RECEIVED; the SYN-ACK is the next output.
  void accept_syn(const tcp_config& cfg, const tcp_tuple& t, const tcp_segment& syn, seq_t iss,
                  std::uint32_t ts_offset, byte_buffer rx, byte_buffer tx, nanos now);
  // Passive open completed by a valid SYN cookie: enters ESTABLISHED directly.
  // `syn_opt` holds what the cookie encoded (mss, wscale, timestamps).
  void accept_cookie(const tcp_config& cfg, const tcp_tuple& t, const tcp_segment& ack,
                     const tcp_options& syn_opt, std::uint32_t ts_offset, byte_buffer rx,
                     byte_buffer tx, nanos now);
  // Active open: enters SYN_SENT; the SYN is the next output.
  void connect(const tcp_config& cfg, const tcp_tuple& t, seq_t iss, std::uint32_t ts_offset,
               byte_buffer rx, byte_buffer tx, nanos now);

  // --- the state machine -----------------------------------------------------------
  void on_segment(const tcp_segment& seg, nanos now);
  bool peek_output(nanos now, tcp_segment& out) const;
  void on_output_sent(const tcp_segment& out, nanos now);
  nanos poll_at() const;
  void on_timer(nanos now);

  // --- application side --------------------------------------------------------------
  // In-order received bytes, contiguous (the buffer compacts instead of wrapping).
  bytes recv_view() const { return {_rx.data + _rx.head, _rx.size()}; }
  void consume(std::size_t n);
  // Writable space at the end of the send buffer (compacts first when that helps);
  // empty when the buffer is full or the connection can no longer send.
  mut_bytes send_space();
  void commit_send(std::size_t n);
  std::size_t send_queued() const { return _tx.size(); }
  // Graceful close: FIN after the queued bytes. Reading may continue (half-close).
  void close();
  // Abortive close: RST now, state CLOSED.
  void abort();
  bool peer_closed() const { return _fin_received; }  // EOF after recv_view()

  // --- path MTU (RFC 1191, validated by the owner per RFC 5927) ----------------------
  // Lowers the send MSS (payload bytes per segment, options already deducted) to `mss`
  // when that is smaller than today's; never raises it, ignores 0. Segments in flight
  // that no longer fit were lost on the path: they are sent again at the new size
  // without a congestion response (Linux's tcp_simple_retransmit). True when lowered.
  bool lower_send_mss(std::uint16_t mss);

  // --- inspection --------------------------------------------------------------------
  tcp_state state() const { return _state; }
  close_reason reason() const { return _reason; }
  const tcp_tuple& tuple() const { return _tuple; }
  std::uint8_t take_events() {
    std::uint8_t e = _events;
    _events = 0;
    return e;
  }
  bool wants_output(nanos now) const {
    tcp_segment s;
    return peek_output(now, s);
  }
  // Buffers go back to the pool when the connection enters TIME_WAIT or CLOSED.
  bool holds_buffers() const { return _rx.data || _tx.data; }
  byte_buffer release_rx() { return std::exchange(_rx, {}); }
  byte_buffer release_tx() { return std::exchange(_tx, {}); }

  struct stats {
    std::uint32_t retransmits = 0;
    std::uint32_t rto_expired = 0;
    std::uint32_t fast_retransmits = 0;
    std::uint32_t zero_window_probes = 0;
    std::uint32_t ooo_dropped = 0;
    std::uint32_t out_of_window = 0;
    std::uint32_t paws_dropped = 0;
    std::uint32_t challenge_acks = 0;
    std::uint32_t challenge_acks_suppressed = 0;
    std::uint32_t bad_acks = 0;
    std::uint32_t syn_received_bad_acks = 0;  // wrong ACKs while SYN-RECEIVED
    std::uint32_t keepalive_probes = 0;
    std::uint32_t sack_blocks_invalid = 0;     // outside SND.UNA..SND.MAX, empty, or not permitted
    std::uint32_t sack_options_malformed = 0;  // a SACK option with a bad length
    std::uint32_t sack_retransmits = 0;        // holes retransmitted in SACK recovery
    std::uint32_t rack_marked_lost = 0;        // RACK reorder-timer expiries that marked loss
    std::uint32_t tlp_probes = 0;              // tail loss probes sent
  };
  const stats& counters() const { return _stats; }

  // Visible for tests.
  seq_t snd_una() const { return _snd_una; }
  seq_t snd_nxt() const { return _snd_nxt; }
  seq_t snd_max() const { return _snd_max; }  // highest sequence number sent
  seq_t rcv_nxt() const { return _rcv_nxt; }
  std::uint32_t snd_wnd() const { return _snd_wnd; }
  std::uint32_t cwnd() const { return _cwnd; }
  std::uint32_t ssthresh() const { return _ssthresh; }
  std::uint16_t send_mss() const { return _mss; }
  nanos rto() const { return _rto; }
  nanos srtt() const { return _srtt; }
  bool in_recovery() const { return _in_recovery; }
  bool sack_on() const { return _sack_ok; }
  std::size_t sacked_ranges() const { return _sacked_n; }
  std::uint32_t sacked_bytes() const;
  // RFC 6675 pipe: bytes believed in the network (SACK connections; else the flight).
  std::uint32_t pipe() const;
  nanos tlp_deadline() const { return _tlp_deadline; }
  nanos rack_deadline() const { return _rack_deadline; }
  seq_t high_rxt() const { return _high_rxt; }
  std::uint8_t rcv_wscale() const { return _rcv_wscale; }
  std::uint8_t snd_wscale() const { return _snd_wscale; }
  bool timestamps_on() const { return _ts_ok; }
  std::uint32_t rcv_window() const;  // bytes we can accept now
  std::size_t ooo_ranges() const { return _ooo_n; }
  // Tests only: force the send MSS past every check (to exercise the owner's defence
  // against a segment no frame can hold).
  void set_send_mss_unchecked(std::uint16_t mss) { _mss = mss; }

  // Owner bookkeeping (intrusive lists, user context); not used by the state machine
  // except `mark_dirty`, which appends the connection to the owner's output queue
  // (FIFO: the owner serves it in turn, see stack::flush).
  struct dirty_queue {
    tcp_conn* head = nullptr;
    tcp_conn* tail = nullptr;
  };
  void* user = nullptr;
  std::uint32_t slot = 0;
  dirty_queue* dirty_owner = nullptr;
  tcp_conn* dirty_next = nullptr;
  bool dirty = false;
  void mark_dirty() {
    if (!dirty && dirty_owner) {
      dirty = true;
      dirty_next = nullptr;
      if (dirty_owner->tail)
        dirty_owner->tail->dirty_next = this;
      else
        dirty_owner->head = this;
      dirty_owner->tail = this;
    }
  }

 private:
  static constexpr std::size_t kMaxOoo = 8;
  static constexpr std::size_t kMaxSacked = 16;
  struct range {
    seq_t begin, end;
  };

  void init_common(const tcp_config& cfg, const tcp_tuple& t, std::uint32_t ts_offset,
                   byte_buffer rx, byte_buffer tx, nanos now);
  void apply_peer_options(const tcp_options& o);
  bool acceptable(const tcp_segment& seg) const;
  void process_syn_sent(const tcp_segment& seg, nanos now);
  bool process_ack(const tcp_segment& seg, nanos now);
  void process_text(const tcp_segment& seg);
  void process_fin(nanos now);
  void rtt_sample(nanos rtt);
  // SACK (RFC 2018 / 6675) and RACK-TLP (RFC 8985); see tcp_conn.cc.
  void sack_update(const tcp_segment& seg);
  void sack_insert(seq_t begin, seq_t end);
  void sack_prune();
  void sack_clear();
  void sack_detect_loss(nanos now);
  void enter_sack_recovery();
  void schedule_tlp(nanos now);
  void on_rack_timer(nanos now);
  void on_tlp_timer(nanos now);
  nanos reo_wnd() const;
  seq_t lost_high() const;
  bool next_hole(seq_t& seq, std::uint32_t& len) const;
  seq_t sack_skip(seq_t s, seq_t* limit) const;
  std::uint32_t sack_cap(const tcp_segment& out) const;
  bool sack_covers(seq_t lo, seq_t hi) const;
  void fill_sack_blocks(tcp_options& o) const;
  void fill_data(tcp_segment& out, seq_t seq, std::uint32_t len) const;
  void enter_closed(close_reason r);
  void notify_closed();
  void enter_time_wait(nanos now);
  void send_challenge_ack(nanos now);
  std::uint32_t ts_now(nanos now) const {
    return static_cast<std::uint32_t>(now / kNsPerMs) + _ts_offset;
  }
  std::uint16_t advertised_window(bool syn) const;
  // Sequence number for a pure ACK: the highest sent (snd_nxt may have been rolled
  // back by a retransmission timeout; a peer drops ACKs below its RCV.NXT), clamped
  // to the peer's window end like Linux's tcp_acceptable_seq.
  seq_t ack_seq() const {
    const seq_t wend = _snd_una + _snd_wnd;
    return seq_le(_snd_max, wend) ? _snd_max : wend;
  }
  seq_t data_end() const { return _snd_una + _tx.size(); }
  std::uint32_t flight() const { return _snd_nxt - _snd_una; }
  bool fin_acked() const { return _fin_queued && seq_gt(_snd_una, _fin_seq); }
  void arm_rtx(nanos now) { _rtx_deadline = now + _rto; }

  tcp_config _cfg;
  tcp_tuple _tuple;
  tcp_state _state = tcp_state::closed;
  close_reason _reason = close_reason::none;
  std::uint8_t _events = 0;
  bool _close_notified = false;

  // send sequence space
  seq_t _iss = 0, _snd_una = 0, _snd_nxt = 0, _snd_max = 0;
  seq_t _snd_wl1 = 0, _snd_wl2 = 0;
  std::uint32_t _snd_wnd = 0, _max_snd_wnd = 0;
  std::uint16_t _mss = 536;
  std::uint8_t _snd_wscale = 0, _rcv_wscale = 0;
  bool _ts_ok = false;
  bool _ws_ok = false;
  std::uint32_t _ts_offset = 0;
  bool _fin_queued = false;
  seq_t _fin_seq = 0;  // sequence number our FIN occupies (valid when _fin_queued)

  // receive sequence space
  seq_t _irs = 0, _rcv_nxt = 0, _rcv_adv = 0, _last_ack_sent = 0;
  std::uint32_t _ts_recent = 0;
  bool _fin_received = false;
  bool _ooo_fin = false;
  seq_t _ooo_fin_seq = 0;
  std::array<range, kMaxOoo> _ooo{};
  std::uint8_t _ooo_n = 0;
  // Where the latest out-of-order segments began, most recent first (RFC 2018 §4:
  // the first block holds the most recently received segment).
  std::array<seq_t, kMaxOoo> _sack_recent{};
  std::uint8_t _sack_recent_n = 0;

  // SACK send side (RFC 6675). Scoreboard: sorted, disjoint, inside [snd_una, snd_max].
  bool _sack_ok = false;
  std::array<range, kMaxSacked> _sacked{};
  std::uint8_t _sacked_n = 0;
  seq_t _high_rxt = 0;   // HighRxt: end of the highest hole retransmitted this recovery
  seq_t _rxt_fence = 0;  // SND.MAX when the latest hole was retransmitted
  seq_t _lost_mark = 0;  // unSACKed bytes below this are lost (RACK, dupacks, partial ACKs)
  // RACK (RFC 8985 §6): holes below newly SACKed data are lost once they are older
  // than the reordering window; the timer holds the boundary it will mark.
  nanos _rack_deadline = kNever;
  seq_t _rack_arm_seq = 0;  // boundary the armed timer marks lost
  seq_t _rack_pending = 0;  // boundary seen since (re-armed when the timer fires)
  bool _reordering_seen = false;
  nanos _min_rtt = kNever;
  // TLP (RFC 8985 §7): one probe per flight, PTO after the last transmission.
  nanos _tlp_deadline = kNever;
  bool _tlp_pending = false;   // a probe is owed
  bool _tlp_out = false;       // a probe was sent and SND.UNA has not passed _tlp_high
  bool _sack_rtx_now = false;  // RFC 6675 §5 (4.3): the first hole goes out regardless of pipe
  seq_t _tlp_high = 0;

  byte_buffer _rx, _tx;

  // timers (kNever = disarmed)
  nanos _rtx_deadline = kNever;  // retransmission / persist / SYN(-ACK) retry
  nanos _tw_deadline = kNever;
  std::uint32_t _ka_sent = 0;  // keepalive probes sent since the peer was last heard
  bool _ka_probe = false;      // a keepalive probe is owed
  nanos keepalive_at() const;
  nanos fin_wait_2_at() const;
  nanos _persist_base = 0;
  nanos _last_rx = 0;
  nanos _rto = 0, _srtt = 0, _rttvar = 0;
  bool _rtt_valid = false;
  bool _rtt_timing = false;
  seq_t _rtt_seq = 0;
  nanos _rtt_start = 0;
  int _retries = 0;
  nanos _challenge_start = 0;
  std::uint32_t _challenge_count = 0;

  // congestion control (RFC 5681 / 6582)
  std::uint32_t _cwnd = 0, _ssthresh = 0;
  std::uint32_t _dupacks = 0;
  bool _in_recovery = false;
  seq_t _recover = 0;

  // pending output
  bool _ack_now = false;
  bool _rtx_one = false;  // retransmit one segment at snd_una (fast rtx / partial ack)
  bool _probe = false;    // zero-window probe: send one byte beyond the window
  bool _rst_pending = false;
  bool _rst_with_ack = false;
  seq_t _rst_seq = 0;

  stats _stats;
};

}  // namespace anvil::net
