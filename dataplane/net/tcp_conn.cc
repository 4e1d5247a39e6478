#include "dataplane/net/tcp_conn.h"

#include <algorithm>
#include <new>
#include <utility>

namespace anvil::net {

using namespace tcp_flag;

const char* to_string(tcp_state s) {
  switch (s) {
    case tcp_state::closed:
      return "CLOSED";
    case tcp_state::syn_sent:
      return "SYN-SENT";
    case tcp_state::syn_received:
      return "SYN-RECEIVED";
    case tcp_state::established:
      return "ESTABLISHED";
    case tcp_state::fin_wait_1:
      return "FIN-WAIT-1";
    case tcp_state::fin_wait_2:
      return "FIN-WAIT-2";
    case tcp_state::close_wait:
      return "CLOSE-WAIT";
    case tcp_state::closing:
      return "CLOSING";
    case tcp_state::last_ack:
      return "LAST-ACK";
    case tcp_state::time_wait:
      return "TIME-WAIT";
  }
  return "?";
}

// ---------------------------------------------------------------------------------
// Opening

void tcp_conn::init_common(const tcp_config& cfg, const tcp_tuple& t, std::uint32_t ts_offset,
                           byte_buffer rx, byte_buffer tx, nanos now) {
  void* u = user;
  const std::uint32_t sl = slot;
  dirty_queue* dq = dirty_owner;
  tcp_conn* dn = dirty_next;
  bool d = dirty;
  this->~tcp_conn();
  new (this) tcp_conn();
  (void)u;
  user = nullptr, slot = sl, dirty_owner = dq, dirty_next = dn, dirty = d;
  _cfg = cfg;
  _tuple = t;
  _rx = rx;
  _tx = tx;
  _rx.head = _rx.tail = 0;
  _tx.head = _tx.tail = 0;
  _last_rx = now;
  _rto = cfg.rto_initial;
  // Our receive window shift: the smallest that lets the whole buffer be advertised.
  std::uint8_t ws = 0;
  while (ws < 14 && (std::uint64_t{_rx.cap} >> ws) > 0xffff) ++ws;
  _rcv_wscale = ws;
  _ts_offset = ts_offset;
}

void tcp_conn::apply_peer_options(const tcp_options& o) {
  const bool ws = _cfg.window_scaling && o.wscale >= 0;
  _ws_ok = ws;
  _snd_wscale = ws ? static_cast<std::uint8_t>(o.wscale) : 0;
  if (!ws) _rcv_wscale = 0;  // RFC 7323 §2.2: scaling only when both sides offer it
  _ts_ok = _cfg.timestamps && o.has_ts;
  if (_ts_ok) _ts_recent = o.ts_val;
  _sack_ok = _cfg.sack && o.sack_permitted;
  // RFC 9293 §3.7.1: 536 when absent. A tiny MSS (a peer may send 0..87) is clamped
  // to Linux's TCP_MIN_MSS before anything is subtracted from it: with timestamps on,
  // MSS 8 - 12 would wrap to a segment no frame can hold.
  const std::uint16_t peer_mss = std::max<std::uint16_t>(o.mss ? o.mss : 536, kMinPeerMss);
  std::uint16_t mss = std::max<std::uint16_t>(std::min(peer_mss, _cfg.mss), kMinPeerMss);
  if (_ts_ok) mss = static_cast<std::uint16_t>(mss - kTsOptionLen);
  _mss = mss;
  // RFC 5681 §3.1 / RFC 6928 initial window.
  _cwnd = std::max<std::uint32_t>(_cfg.initial_cwnd_segments, 1) * _mss;
  _ssthresh = 0xffffffffu;
}

void tcp_conn::accept_syn(const tcp_config& cfg, const tcp_tuple& t, const tcp_segment& syn,
                          seq_t iss, std::uint32_t ts_offset, byte_buffer rx, byte_buffer tx,
                          nanos now) {
  init_common(cfg, t, ts_offset, rx, tx, now);
  apply_peer_options(syn.opt);
  _state = tcp_state::syn_received;
  _irs = syn.seq;
  _rcv_nxt = syn.seq + 1;
  _rcv_adv = _rcv_nxt;
  _iss = _snd_una = _snd_nxt = _snd_max = _recover = iss;  // snd_nxt == iss: SYN-ACK owed
  sack_clear();
  _snd_wnd = syn.window;  // never scaled in a SYN
  _max_snd_wnd = _snd_wnd;
  _snd_wl1 = syn.seq;
  _snd_wl2 = iss;
}

void tcp_conn::accept_cookie(const tcp_config& cfg, const tcp_tuple& t, const tcp_segment& ack,
                             const tcp_options& syn_opt, std::uint32_t ts_offset, byte_buffer rx,
                             byte_buffer tx, nanos now) {
  init_common(cfg, t, ts_offset, rx, tx, now);
  apply_peer_options(syn_opt);
  if (_ts_ok && ack.opt.has_ts) _ts_recent = ack.opt.ts_val;
  _state = tcp_state::established;
  _events |= tcp_event::established;
  _irs = ack.seq - 1;
  _rcv_nxt = ack.seq;
  _rcv_adv = _rcv_nxt;
  _iss = ack.ack - 1;
  _snd_una = _snd_nxt = _snd_max = ack.ack;
  _recover = _iss;
  sack_clear();
  _snd_wnd = std::uint32_t{ack.window} << _snd_wscale;
  _max_snd_wnd = _snd_wnd;
  _snd_wl1 = ack.seq;
  _snd_wl2 = ack.ack;
}

void tcp_conn::connect(const tcp_config& cfg, const tcp_tuple& t, seq_t iss,
                       std::uint32_t ts_offset, byte_buffer rx, byte_buffer tx, nanos now) {
  init_common(cfg, t, ts_offset, rx, tx, now);
  _state = tcp_state::syn_sent;
  _iss = _snd_una = _snd_nxt = _snd_max = _recover = iss;
  _mss = static_cast<std::uint16_t>(_cfg.mss);
}

// ---------------------------------------------------------------------------------
// Receive processing (RFC 9293 §3.10.7)

std::uint32_t tcp_conn::rcv_window() const { return _rx.free_space(); }

bool tcp_conn::acceptable(const tcp_segment& seg) const {
  // RFC 9293 §3.10.7.4, the four cases of the acceptability test.
  const std::uint32_t wnd = rcv_window();
  const std::uint32_t len = seg.seg_len();
  if (len == 0) {
    if (wnd == 0) return seg.seq == _rcv_nxt;
    return seq_in(seg.seq, _rcv_nxt, _rcv_nxt + wnd);
  }
  if (wnd == 0) return false;
  return seq_in(seg.seq, _rcv_nxt, _rcv_nxt + wnd) ||
         seq_in(seg.seq + len - 1, _rcv_nxt, _rcv_nxt + wnd);
}

void tcp_conn::send_challenge_ack(nanos now) {
  // RFC 5961 §7: rate-limit challenge ACKs so a blind attacker cannot turn them into
  // an amplifier (or a side channel): at most challenge_ack_limit per second.
  if (now - _challenge_start >= kNsPerSec) {
    _challenge_start = now;
    _challenge_count = 0;
  }
  if (_challenge_count >= _cfg.challenge_ack_limit) {
    ++_stats.challenge_acks_suppressed;
    return;
  }
  ++_challenge_count;
  _ack_now = true;
  ++_stats.challenge_acks;
  mark_dirty();
}

void tcp_conn::notify_closed() {
  if (_close_notified) return;
  _close_notified = true;
  _events |= tcp_event::closed;
}

void tcp_conn::enter_closed(close_reason r) {
  if (_state == tcp_state::closed) return;
  _state = tcp_state::closed;
  if (_reason == close_reason::none) _reason = r;
  notify_closed();
  _rtx_deadline = _tw_deadline = kNever;
  _ack_now = _rtx_one = _probe = false;
  mark_dirty();  // the owner releases closed connections after its output pass
}

void tcp_conn::enter_time_wait(nanos now) {
  _state = tcp_state::time_wait;
  _reason = close_reason::normal;
  // The application hears "closed" (and the buffers go back) once it has read what
  // arrived before the FIN; until then the bytes stay readable in TIME_WAIT.
  if (_rx.size() == 0) notify_closed();
  _rtx_deadline = kNever;
  _tw_deadline = now + _cfg.time_wait;
  _rtx_one = _probe = false;
}

void tcp_conn::process_syn_sent(const tcp_segment& seg, nanos now) {
  // RFC 9293 §3.10.7.3
  if (seg.has(ack) && (seq_le(seg.ack, _iss) || seq_gt(seg.ack, _snd_max))) {
    if (!seg.has(rst)) {
      _rst_pending = true, _rst_with_ack = false, _rst_seq = seg.ack;
      mark_dirty();
    }
    return;
  }
  if (seg.has(rst)) {
    if (seg.has(ack)) enter_closed(close_reason::refused);
    return;
  }
  if (!seg.has(syn) || !seg.has(ack)) return;  // simultaneous open: not supported
  apply_peer_options(seg.opt);
  _irs = seg.seq;
  _rcv_nxt = seg.seq + 1;
  _rcv_adv = _rcv_nxt;
  _snd_una = seg.ack;
  if (seq_lt(_snd_nxt, _snd_una)) _snd_nxt = _snd_una;
  sack_clear();
  _snd_wnd = seg.window;  // unscaled in a SYN
  _max_snd_wnd = _snd_wnd;
  _snd_wl1 = seg.seq;
  _snd_wl2 = seg.ack;
  _state = tcp_state::established;
  _events |= tcp_event::established;
  _rtx_deadline = kNever;
  _retries = 0;
  if (!_ts_ok && _rtt_timing)
    rtt_sample(now - _rtt_start);
  else if (_ts_ok && seg.opt.ts_ecr)
    rtt_sample(nanos{static_cast<std::int32_t>(ts_now(now) - seg.opt.ts_ecr)} * kNsPerMs);
  _rtt_timing = false;
  _ack_now = true;
  mark_dirty();
}

void tcp_conn::on_segment(const tcp_segment& seg, nanos now) {
  if (_state == tcp_state::closed) return;
  if (_state == tcp_state::syn_sent) return process_syn_sent(seg, now);
  _last_rx = now;
  _ka_sent = 0;  // the peer is alive: keepalive starts over

  // A retransmitted SYN in SYN-RECEIVED means our SYN-ACK was lost: send it again
  // (the sequence check below would only answer with a bare ACK).
  if (_state == tcp_state::syn_received && seg.has(syn) && !seg.has(ack) && seg.seq == _irs) {
    _snd_nxt = _iss;
    mark_dirty();
    return;
  }

  // First, check the sequence number; PAWS (RFC 7323 §5.3) before it.
  if (_ts_ok && seg.opt.has_ts && !seg.has(rst) && seq_lt(seg.opt.ts_val, _ts_recent)) {
    ++_stats.paws_dropped;
    _ack_now = true;
    mark_dirty();
    return;
  }
  if (!acceptable(seg)) {
    ++_stats.out_of_window;
    // RFC 9293 §3.10.7.4: with a zero receive window no segment is acceptable, "but
    // special allowance should be made to accept valid ACKs": a peer pushing data
    // into our closed window may be acknowledging what we sent, and ignoring that
    // would stall a connection whose application waits for send space to drain.
    if (rcv_window() == 0 && seg.seq == _rcv_nxt && seg.has(ack) && !seg.has(rst) &&
        !seg.has(syn) && _state != tcp_state::syn_received) {
      tcp_segment ack_only = seg;
      ack_only.payload = {};
      ack_only.flags = ack;
      process_ack(ack_only, now);
    }
    if (!seg.has(rst)) {
      _ack_now = true;  // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
      mark_dirty();
      // TIME_WAIT: a retransmitted FIN below the window still restarts the 2MSL wait.
      if (_state == tcp_state::time_wait && seg.has(fin)) _tw_deadline = now + _cfg.time_wait;
    }
    return;
  }

  // Second, the RST bit (RFC 5961 §3.2): exact match resets, in-window challenges.
  if (seg.has(rst)) {
    if (seg.seq == _rcv_nxt) {
      // TIME_WAIT holding bytes the application has not read yet (they arrived before
      // the peer's FIN): the RST is ignored (RFC 1337), or they would be lost. A peer
      // that already closed answers our re-ACK of its duplicated FIN with exactly this.
      if (_state == tcp_state::time_wait && _rx.size() > 0) return;
      _reason = close_reason::reset_by_peer;
      if (_state == tcp_state::time_wait) {
        enter_closed(close_reason::normal);  // nothing unread: closing is harmless
      } else {
        enter_closed(close_reason::reset_by_peer);
      }
    } else {
      send_challenge_ack(now);
    }
    return;
  }

  // Fourth, the SYN bit (RFC 5961 §4): challenge ACK, except a retransmitted SYN in
  // SYN_RECEIVED, which means our SYN-ACK was lost: send it again.
  if (seg.has(syn)) {
    if (_state == tcp_state::syn_received && seg.seq == _irs) {
      _snd_nxt = _iss;
      mark_dirty();
      return;
    }
    send_challenge_ack(now);
    return;
  }

  // Fifth, the ACK field.
  if (!seg.has(ack)) return;
  if (_state == tcp_state::syn_received) {
    if (seq_lt(_snd_una, seg.ack) && seq_le(seg.ack, _snd_max)) {
      _state = tcp_state::established;
      _events |= tcp_event::established;
      _snd_wnd = std::uint32_t{seg.window} << _snd_wscale;
      _max_snd_wnd = std::max(_max_snd_wnd, _snd_wnd);
      _snd_wl1 = seg.seq;
      _snd_wl2 = seg.ack;
    } else {
      // RFC 9293: <SEQ=SEG.ACK><CTL=RST>. Each wrong guess at our ISS counts against
      // the entry; after syn_received_max_bad_acks it is dropped (after that RST).
      ++_stats.bad_acks;
      _rst_pending = true, _rst_with_ack = false, _rst_seq = seg.ack;
      mark_dirty();
      if (++_stats.syn_received_bad_acks >= _cfg.syn_received_max_bad_acks)
        enter_closed(close_reason::aborted);
      return;
    }
  }
  if (!process_ack(seg, now)) return;

  // RFC 7323 §4.3: TS.recent from a segment that covers Last.ACK.sent.
  if (_ts_ok && seg.opt.has_ts && seq_le(seg.seq, _last_ack_sent) &&
      seq_ge(seg.seq + seg.seg_len(), _last_ack_sent)) {
    _ts_recent = seg.opt.ts_val;
  }
  if (_state == tcp_state::closed) return;

  // Seventh, the segment text.
  if (!seg.payload.empty()) {
    if (_state == tcp_state::established || _state == tcp_state::fin_wait_1 ||
        _state == tcp_state::fin_wait_2) {
      process_text(seg);
    } else {
      _ack_now = true;  // data after the peer's FIN: acknowledge what we have, drop it
      mark_dirty();
    }
  }

  // Eighth, the FIN bit (also one that arrived earlier, beyond a gap now filled).
  if (_ooo_fin && !_fin_received && _ooo_fin_seq == _rcv_nxt) process_fin(now);
  if (seg.has(fin) && !_fin_received) {
    const seq_t fseq = seg.seq + static_cast<std::uint32_t>(seg.payload.size());
    if (fseq == _rcv_nxt) {
      process_fin(now);
    } else if (seq_gt(fseq, _rcv_nxt)) {
      _ooo_fin = true;  // arrives with out-of-order data: applied once the gap fills
      _ooo_fin_seq = fseq;
    }
  } else if (seg.has(fin) && _state == tcp_state::time_wait) {
    _ack_now = true;  // retransmitted FIN: ACK again and restart the 2MSL timer
    _tw_deadline = now + _cfg.time_wait;
    mark_dirty();
  }
}

bool tcp_conn::process_ack(const tcp_segment& seg, nanos now) {
  // RFC 5961 §5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT].
  if (seq_gt(seg.ack, _snd_max)) {
    ++_stats.bad_acks;
    _ack_now = true;
    mark_dirty();
    return false;
  }
  if (seq_lt(seg.ack, _snd_una - std::max(_max_snd_wnd, 1u))) {
    ++_stats.bad_acks;
    send_challenge_ack(now);
    return false;
  }
  const std::uint32_t wnd = std::uint32_t{seg.window} << _snd_wscale;
  const bool has_payload = !seg.payload.empty() || seg.has(fin);
  if (seg.opt.sack_malformed) ++_stats.sack_options_malformed;

  if (seq_gt(seg.ack, _snd_una)) {
    // New data acknowledged.
    std::uint32_t acked = seg.ack - _snd_una;
    // RACK reordering (RFC 8985 §6.2): this cumulative ACK delivers bytes sent once
    // below data the peer had already SACKed, so the network reorders.
    if (_sack_ok && _sacked_n && !_in_recovery && _snd_nxt == _snd_max && !_tlp_out &&
        seq_lt(_snd_una, _sacked[0].begin))
      _reordering_seen = true;
    const std::uint32_t data_acked = std::min<std::uint32_t>(acked, _tx.size());
    _tx.consume(data_acked);
    if (data_acked) _events |= tcp_event::writable;
    // RTT sample (RFC 7323 §4 with timestamps, else Karn's rule on one timed segment).
    if (_ts_ok && seg.opt.has_ts && seg.opt.ts_ecr) {
      rtt_sample(nanos{static_cast<std::int32_t>(ts_now(now) - seg.opt.ts_ecr)} * kNsPerMs);
    } else if (_rtt_timing && seq_gt(seg.ack, _rtt_seq)) {
      rtt_sample(now - _rtt_start);
    }
    if (_rtt_timing && seq_gt(seg.ack, _rtt_seq)) _rtt_timing = false;
    const std::uint32_t flight_before = _snd_max - _snd_una;
    _snd_una = seg.ack;
    if (seq_lt(_snd_nxt, _snd_una)) _snd_nxt = _snd_una;
    sack_prune();
    if (_tlp_out && seq_ge(_snd_una, _tlp_high)) _tlp_out = false;
    _retries = 0;
    if (_rtt_valid)
      _rto = std::clamp(_srtt + std::max<nanos>(kNsPerMs, 4 * _rttvar), _cfg.rto_min,
                        _cfg.rto_max);  // undo backoff
    // Congestion control.
    if (_in_recovery) {
      if (seq_ge(seg.ack, _recover)) {
        // RFC 6582 §3.2 step 3: full acknowledgment, deflate and leave recovery.
        _cwnd = std::min(_ssthresh, std::max(_snd_max - _snd_una, std::uint32_t{_mss}) + _mss);
        _in_recovery = false;
        _dupacks = 0;
      } else if (_sack_ok) {
        // RFC 6675: holes come from the scoreboard; cwnd stays. A peer that permitted
        // SACK but sends no blocks gets NewReno's rule: the new head is lost.
        if (_sacked_n == 0) {
          _lost_mark =
              seq_max(_lost_mark, _snd_una + std::min<std::uint32_t>(_mss, _snd_max - _snd_una));
          _sack_rtx_now = true;  // at once, as NewReno would
        }
        arm_rtx(now);
      } else {
        // Partial acknowledgment: retransmit the next hole, deflate by the amount
        // acked, add back one MSS (RFC 6582 §3.2 step 4).
        _rtx_one = true;
        _cwnd = (_cwnd > acked ? _cwnd - acked : 0) + _mss;
        arm_rtx(now);
      }
    } else {
      _dupacks = 0;
      // RFC 7661 congestion-window validation: cwnd grows only while the connection
      // uses it (the flight this ACK came from was at least half of cwnd). A cache
      // connection is mostly application-limited; without this its cwnd grew on every
      // small reply's ACK and later released a whole 1 MB value as one burst.
      const bool validated = 2 * std::uint64_t{flight_before} >= _cwnd;
      if (!validated) {
        // keep cwnd: it has not been tested by the network at this size
      } else if (_cwnd < _ssthresh) {
        _cwnd += std::min<std::uint32_t>(acked, _mss);  // slow start (RFC 5681 (2))
      } else {
        _cwnd += std::max<std::uint32_t>(1, std::uint32_t(std::uint64_t{_mss} * _mss / _cwnd));
      }
    }
    _rtx_deadline = (_snd_una == _snd_max) ? kNever : now + _rto;  // RFC 6298 (5.2)/(5.3)
    schedule_tlp(now);  // RFC 8985 §7.2: restarted by an ACK of new data
    _probe = false;
    mark_dirty();  // the window may have opened for queued data
  } else if (seg.ack == _snd_una) {
    // RFC 5681 §2 duplicate ACK: no data, no SYN/FIN, same window, data outstanding.
    if (!has_payload && wnd == _snd_wnd && _snd_max != _snd_una) {
      ++_dupacks;
      if (_dupacks == 3 && !_in_recovery && seq_gt(_snd_una, _recover) && _sack_ok) {
        // RFC 6675 §5 step 4: DupThresh duplicates; the first segment is presumed lost.
        _lost_mark =
            seq_max(_lost_mark, _snd_una + std::min<std::uint32_t>(_mss, _snd_max - _snd_una));
        enter_sack_recovery();
      } else if (_dupacks == 3 && !_in_recovery && seq_gt(_snd_una, _recover)) {
        // RFC 6582 §3.2 step 2: enter fast recovery.
        const std::uint32_t fl = _snd_max - _snd_una;
        _ssthresh = std::max<std::uint32_t>(fl / 2, 2u * _mss);
        _cwnd = _ssthresh + 3u * _mss;
        _recover = _snd_max;
        _in_recovery = true;
        _rtx_one = true;
        ++_stats.fast_retransmits;
        _rtt_timing = false;
        mark_dirty();
      } else if (_in_recovery && _dupacks > 3 && !_sack_ok) {
        _cwnd += _mss;  // inflate: one more segment has left the network
        mark_dirty();
      }
    }
    _retries = 0;  // the peer is alive (e.g. answering zero-window probes)
  }

  // SACK blocks (RFC 2018), then loss detection on the updated scoreboard (RFC 6675,
  // RFC 8985 RACK).
  sack_update(seg);
  sack_detect_loss(now);

  // Window update (RFC 9293 §3.10.7.4, SND.WL1/SND.WL2 rule).
  if (seq_lt(_snd_wl1, seg.seq) || (_snd_wl1 == seg.seq && seq_le(_snd_wl2, seg.ack))) {
    const bool opened = wnd > _snd_wnd;
    if (wnd == 0 && _snd_wnd != 0) _persist_base = now;
    _snd_wnd = wnd;
    _max_snd_wnd = std::max(_max_snd_wnd, wnd);
    _snd_wl1 = seg.seq;
    _snd_wl2 = seg.ack;
    if (opened) {
      _probe = false;
      mark_dirty();
    }
  }

  // State-specific ACK handling.
  switch (_state) {
    case tcp_state::fin_wait_1:
      if (fin_acked()) _state = tcp_state::fin_wait_2;
      break;
    case tcp_state::closing:
      if (fin_acked()) enter_time_wait(now);
      break;
    case tcp_state::last_ack:
      if (fin_acked()) {
        // Bytes that arrived before the peer's FIN and are still unread stay readable
        // (the application half-closed and may still be reading): TIME_WAIT keeps them
        // and reports "closed" once they are consumed, as after an active close.
        if (_rx.size() > 0) {
          enter_time_wait(now);
          return false;
        }
        enter_closed(close_reason::normal);
        return false;
      }
      break;
    default:
      break;
  }
  return true;
}

void tcp_conn::process_text(const tcp_segment& seg) {
  bytes data = seg.payload;
  seq_t seq = seg.seq;
  // Trim what we already have (the acceptability test allowed a partial overlap).
  if (seq_lt(seq, _rcv_nxt)) {
    const std::uint32_t dup = _rcv_nxt - seq;
    if (dup >= data.size()) {
      _ack_now = true;
      mark_dirty();
      return;
    }
    data = data.subspan(dup);
    seq = _rcv_nxt;
  }
  const std::uint32_t off = seq - _rcv_nxt;
  const std::uint32_t wnd = rcv_window();
  if (off >= wnd) {
    _ack_now = true;
    mark_dirty();
    return;
  }
  const std::uint32_t n =
      std::min<std::uint32_t>(static_cast<std::uint32_t>(data.size()), wnd - off);
  _ack_now = true;  // every data segment is acknowledged at the end of the burst
  mark_dirty();

  // Extent of bytes parked beyond tail (out-of-order area).
  std::uint32_t extent = 0;
  for (std::size_t i = 0; i < _ooo_n; ++i) extent = std::max(extent, _ooo[i].end - _rcv_nxt);

  if (off > 0) {
    // Out of order: merge into the range list, bounded by kMaxOoo.
    range r{seq, seq + n};
    std::size_t i = 0;
    while (i < _ooo_n && seq_lt(_ooo[i].end, r.begin)) ++i;
    std::size_t j = i;
    while (j < _ooo_n && seq_le(_ooo[j].begin, r.end)) {
      r.begin = seq_min(r.begin, _ooo[j].begin);
      r.end = seq_max(r.end, _ooo[j].end);
      ++j;
    }
    const std::size_t new_n = _ooo_n - (j - i) + 1;
    if (new_n > kMaxOoo) {
      ++_stats.ooo_dropped;
      return;
    }
    if (_rx.tail + off + n > _rx.cap) _rx.compact(_rx.size() + extent);
    std::memcpy(_rx.data + _rx.tail + off, data.data(), n);
    // Replace [i, j) by r. A range inserted below others (j == i) shifts them up:
    // move_backward (a forward std::move into an overlapping range is undefined).
    if (j == i) {
      std::move_backward(_ooo.begin() + i, _ooo.begin() + _ooo_n, _ooo.begin() + _ooo_n + 1);
    } else if (j - i > 1) {
      std::move(_ooo.begin() + j, _ooo.begin() + _ooo_n, _ooo.begin() + i + 1);
    }
    _ooo[i] = r;
    _ooo_n = static_cast<std::uint8_t>(new_n);
    // RFC 2018 §4: the next SACK's first block holds this segment.
    const std::size_t keep = std::min<std::size_t>(_sack_recent_n, kMaxOoo - 1);
    std::move_backward(_sack_recent.begin(), _sack_recent.begin() + keep,
                       _sack_recent.begin() + keep + 1);
    _sack_recent[0] = seq;
    _sack_recent_n = static_cast<std::uint8_t>(keep + 1);
    return;
  }

  if (_rx.tail + n > _rx.cap) _rx.compact(_rx.size() + extent);
  std::memcpy(_rx.data + _rx.tail, data.data(), n);
  _rx.tail += n;
  _rcv_nxt += n;
  // Pull in out-of-order ranges the new bytes reached.
  std::size_t k = 0;
  while (k < _ooo_n && seq_le(_ooo[k].begin, _rcv_nxt)) {
    if (seq_gt(_ooo[k].end, _rcv_nxt)) {
      const std::uint32_t more = _ooo[k].end - _rcv_nxt;
      _rx.tail += more;
      _rcv_nxt += more;
    }
    ++k;
  }
  if (k) {
    std::move(_ooo.begin() + k, _ooo.begin() + _ooo_n, _ooo.begin());
    _ooo_n = static_cast<std::uint8_t>(_ooo_n - k);
  }
  _events |= tcp_event::readable;
}

void tcp_conn::process_fin(nanos now) {
  _fin_received = true;
  _ooo_fin = false;
  _rcv_nxt += 1;
  _ack_now = true;
  _events |= tcp_event::readable;
  mark_dirty();
  switch (_state) {
    case tcp_state::syn_received:
    case tcp_state::established:
      _state = tcp_state::close_wait;
      break;
    case tcp_state::fin_wait_1:
      if (fin_acked()) {
        enter_time_wait(now);
      } else {
        _state = tcp_state::closing;
      }
      break;
    case tcp_state::fin_wait_2:
      enter_time_wait(now);
      break;
    default:
      break;
  }
}

void tcp_conn::rtt_sample(nanos r) {
  if (r < 0) return;
  _min_rtt = std::min(_min_rtt, r);
  // RFC 6298 §2 (alpha 1/8, beta 1/4, K 4, granularity 1 ms).
  if (!_rtt_valid) {
    _srtt = r;
    _rttvar = r / 2;
    _rtt_valid = true;
  } else {
    const nanos err = _srtt > r ? _srtt - r : r - _srtt;
    _rttvar = (3 * _rttvar + err) / 4;
    _srtt = (7 * _srtt + r) / 8;
  }
  _rto = std::clamp(_srtt + std::max<nanos>(kNsPerMs, 4 * _rttvar), _cfg.rto_min, _cfg.rto_max);
}

// ---------------------------------------------------------------------------------
// Application side

void tcp_conn::consume(std::size_t n) {
  n = std::min<std::size_t>(n, _rx.size());
  if (n == 0) return;
  const std::uint32_t before = rcv_window();
  _rx.head += static_cast<std::uint32_t>(n);
  if (_rx.head == _rx.tail && _ooo_n == 0) _rx.head = _rx.tail = 0;
  if (_state == tcp_state::time_wait && _rx.size() == 0 && !_close_notified) {
    notify_closed();
    mark_dirty();  // the owner delivers the event at its next flush
    return;
  }
  // Window update when the window grew enough to matter (receiver-side SWS avoidance,
  // RFC 9293 §3.8.6.2.2), and always when it reopens from (nearly) zero.
  const std::uint32_t adv = seq_gt(_rcv_adv, _rcv_nxt) ? _rcv_adv - _rcv_nxt : 0;
  const std::uint32_t now_wnd = rcv_window();
  const std::uint32_t thresh = std::min<std::uint32_t>(_rx.cap / 2, 2u * _cfg.mss);
  if ((now_wnd > adv && now_wnd - adv >= thresh) ||
      (adv < _cfg.mss && now_wnd >= _cfg.mss && before < now_wnd)) {
    if (_state == tcp_state::established || _state == tcp_state::fin_wait_1 ||
        _state == tcp_state::fin_wait_2) {
      _ack_now = true;
      mark_dirty();
    }
  }
}

mut_bytes tcp_conn::send_space() {
  if (_fin_queued || !_tx.data ||
      (_state != tcp_state::established && _state != tcp_state::close_wait &&
       _state != tcp_state::syn_received)) {
    return {};
  }
  if (_tx.head > 0 && _tx.cap - _tx.tail < _tx.free_space() / 2) _tx.compact(_tx.size());
  return {_tx.data + _tx.tail, _tx.cap - _tx.tail};
}

void tcp_conn::commit_send(std::size_t n) {
  if (_fin_queued || !_tx.data) return;
  n = std::min<std::size_t>(n, _tx.cap - _tx.tail);
  _tx.tail += static_cast<std::uint32_t>(n);
  if (n) mark_dirty();
}

void tcp_conn::close() {
  switch (_state) {
    case tcp_state::syn_sent:
      enter_closed(close_reason::normal);
      return;
    case tcp_state::syn_received:
    case tcp_state::established:
      _state = tcp_state::fin_wait_1;
      break;
    case tcp_state::close_wait:
      _state = tcp_state::last_ack;
      break;
    default:
      return;  // already closing
  }
  _fin_queued = true;
  _fin_seq = data_end();
  mark_dirty();
}

void tcp_conn::abort() {
  if (_state == tcp_state::closed) return;
  if (_state != tcp_state::syn_sent && _state != tcp_state::time_wait) {
    _rst_pending = true;
    _rst_with_ack = true;
    _rst_seq = ack_seq();  // the peer's RCV.NXT is most likely our highest sent
  }
  enter_closed(close_reason::aborted);
}

// ---------------------------------------------------------------------------------
// Output

std::uint16_t tcp_conn::advertised_window(bool syn) const {
  const std::uint32_t w = rcv_window();
  if (syn) return static_cast<std::uint16_t>(std::min<std::uint32_t>(w, 0xffff));
  return static_cast<std::uint16_t>(std::min<std::uint32_t>(w >> _rcv_wscale, 0xffff));
}

bool tcp_conn::peek_output(nanos now, tcp_segment& out) const {
  out = tcp_segment{};
  out.src_port = _tuple.local_port;
  out.dst_port = _tuple.remote_port;
  if (_rst_pending) {
    out.flags = rst | (_rst_with_ack ? ack : 0);
    out.seq = _rst_seq;
    out.ack = _rst_with_ack ? _rcv_nxt : 0;
    return true;
  }
  if (_state == tcp_state::closed) return false;
  if (_ts_ok) {
    out.opt.has_ts = true;
    out.opt.ts_val = ts_now(now);
    out.opt.ts_ecr = _ts_recent;
  }
  if (_state == tcp_state::syn_sent || _state == tcp_state::syn_received) {
    if (_snd_nxt != _iss) {
      if (_state == tcp_state::syn_received && _ack_now) {
        out.flags = ack;
        out.seq = _snd_nxt;
        out.ack = _rcv_nxt;
        out.window = advertised_window(false);
        return true;
      }
      return false;
    }
    out.seq = _iss;
    out.opt.mss = _cfg.mss;  // always sent: without it Linux falls back to 536
    out.window = advertised_window(true);
    if (_state == tcp_state::syn_sent) {
      out.flags = syn;
      if (_cfg.window_scaling) out.opt.wscale = static_cast<std::int8_t>(_rcv_wscale);
      out.opt.sack_permitted = _cfg.sack;
      if (_cfg.timestamps) {
        out.opt.has_ts = true;
        out.opt.ts_val = ts_now(now);
        out.opt.ts_ecr = 0;
      }
    } else {
      out.flags = syn | ack;
      out.ack = _rcv_nxt;
      if (_ws_ok) out.opt.wscale = static_cast<std::int8_t>(_rcv_wscale);
      out.opt.sack_permitted = _sack_ok;
    }
    return true;
  }
  if (_state == tcp_state::time_wait) {
    if (!_ack_now) return false;
    out.flags = ack;
    out.seq = ack_seq();
    out.ack = _rcv_nxt;
    out.window = advertised_window(false);
    return true;
  }

  out.ack = _rcv_nxt;
  out.window = advertised_window(false);
  if (_sack_ok && _ooo_n) fill_sack_blocks(out.opt);
  const std::uint32_t mss = sack_cap(out);  // payload that fits beside the SACK blocks
  const seq_t end = data_end();
  if (_rtx_one) {
    // One segment from snd_una: fast retransmit or a NewReno partial ACK.
    const std::uint32_t avail = end - _snd_una;
    const std::uint32_t len = std::min<std::uint32_t>(avail, mss);
    out.seq = _snd_una;
    out.flags = ack;
    out.payload = bytes{_tx.data + _tx.head, len};
    if (len) out.flags |= psh;
    if (_fin_queued && _snd_una + len == _fin_seq && seq_lt(_fin_seq, _snd_max)) out.flags |= fin;
    if (len || (out.flags & fin)) return true;
  }
  // RFC 6675 NextSeg rule 1: the lowest lost hole above HighRxt, while pipe leaves a
  // segment of room in cwnd (the first one of a recovery regardless).
  const bool sack_flight = _sack_ok && _snd_nxt == _snd_max;
  const std::uint32_t in_pipe = sack_flight ? pipe() : flight();
  if (_in_recovery && sack_flight && (_sack_rtx_now || _cwnd >= in_pipe + _mss)) {
    seq_t hs = 0;
    std::uint32_t hl = 0;
    if (next_hole(hs, hl)) {
      fill_data(out, hs, std::min(hl, mss));
      if (out.seg_len()) return true;
      out.flags = 0;
    }
  }
  // New data (or go-back-N after a timeout, stepping over what the peer SACKed).
  seq_t nxt = _snd_nxt;
  seq_t limit = end;
  if (_sack_ok && nxt != _snd_max) nxt = sack_skip(nxt, &limit);
  std::int32_t avail = static_cast<std::int32_t>(seq_min(limit, end) - nxt);
  if (avail < 0) avail = 0;
  std::uint32_t len = 0;
  std::uint32_t rwnd_room = 0;
  if (avail > 0) {
    const std::uint32_t wnd = std::min(_snd_wnd, _cwnd);
    std::uint32_t usable = wnd > in_pipe ? wnd - in_pipe : 0;
    // Do not send past the peer's right edge even when cwnd would allow it.
    if (!seq_lt(_snd_una + _snd_wnd, nxt)) rwnd_room = _snd_una + _snd_wnd - nxt;
    usable = std::min(usable, rwnd_room);
    len = std::min<std::uint32_t>({static_cast<std::uint32_t>(avail), usable, mss});
    if (len == 0 && _probe && _snd_wnd == 0) len = 1;  // zero-window probe
    // RFC 8985 §7.3: a tail loss probe sends new data when the peer's window allows,
    // whatever cwnd says.
    if (len == 0 && _tlp_pending && nxt == _snd_max)
      len = std::min<std::uint32_t>({static_cast<std::uint32_t>(avail), rwnd_room, mss});
  }
  // Our FIN rides on the segment that reaches the end of the queued data.
  const bool send_fin = _fin_queued && nxt + len == _fin_seq && seq_le(limit, end);
  if (len || send_fin) {
    out.seq = nxt;
    out.flags = ack | (len ? psh : 0) | (send_fin ? fin : 0);
    out.payload = bytes{_tx.data + _tx.head + (nxt - _snd_una), len};
    return true;
  }
  if (_tlp_pending && _snd_una != _snd_max) {
    // No new data: the probe is the last segment sent, again (RFC 8985 §7.3).
    const seq_t sent_end = seq_min(_snd_max, end);
    const std::uint32_t back = std::min<std::uint32_t>(sent_end - _snd_una, mss);
    fill_data(out, sent_end - back, back);
    if (out.seg_len()) return true;
    out.flags = 0;
    if (_fin_queued && seq_lt(_fin_seq, _snd_max)) {
      fill_data(out, _fin_seq, 0);  // only our FIN is outstanding
      if (out.seg_len()) return true;
      out.flags = 0;
    }
  }
  if (_ack_now) {
    out.seq = ack_seq();
    out.flags = ack;
    return true;
  }
  if (_ka_probe) {
    // Keepalive: one byte below SND.UNA, already acknowledged, so the peer answers
    // with an ACK (RFC 9293 §3.8.4, what Linux sends).
    out.seq = _snd_una - 1;
    out.flags = ack;
    return true;
  }
  return false;
}

void tcp_conn::on_output_sent(const tcp_segment& out, nanos now) {
  if (out.has(rst)) {
    _rst_pending = false;
    return;
  }
  if (out.has(ack)) {
    _ack_now = false;
    _ka_probe = false;  // any ACK we send serves as the probe
    _rcv_adv = _rcv_nxt + (std::uint32_t{out.window} << (out.has(syn) ? 0 : _rcv_wscale));
    _last_ack_sent = _rcv_nxt;
  }
  const std::uint32_t len = out.seg_len();
  if (len == 0) return;
  if (_rtx_one && out.seq == _snd_una && out.seq != _snd_nxt) {
    _rtx_one = false;
    ++_stats.retransmits;
    if (_rtx_deadline == kNever) arm_rtx(now);
    return;
  }
  _rtx_one = false;
  if (seq_lt(out.seq, _snd_nxt)) {
    // Below SND.NXT without moving it: a SACK hole (RFC 6675) or a tail loss probe
    // sending the last segment again (RFC 8985 §7.3, which re-arms the RTO).
    ++_stats.retransmits;
    _rtt_timing = false;
    if (_tlp_pending) {
      _tlp_pending = false;
      _tlp_out = true;
      _tlp_high = _snd_max;
      ++_stats.tlp_probes;
      arm_rtx(now);
    } else {
      _sack_rtx_now = false;
      ++_stats.sack_retransmits;
      _high_rxt = seq_max(_high_rxt, out.seq + len);
      _rxt_fence = _snd_max;
      if (_rtx_deadline == kNever) arm_rtx(now);
    }
    return;
  }
  if (_tlp_pending) {
    // The probe is new data: one per flight, the RTO starts over (RFC 8985 §7.3).
    _tlp_pending = false;
    _tlp_out = true;
    _tlp_high = out.seq + len;
    ++_stats.tlp_probes;
    arm_rtx(now);
  }
  const bool retransmit = seq_lt(out.seq, _snd_max);
  if (retransmit) {
    ++_stats.retransmits;
  } else if (!_ts_ok && !_rtt_timing) {
    _rtt_timing = true;  // Karn: time only segments sent once
    _rtt_seq = out.seq;
    _rtt_start = now;
  }
  if (_probe && !out.payload.empty() && _snd_wnd == 0) {
    _probe = false;
    ++_stats.zero_window_probes;
  }
  _snd_nxt = out.seq + len;
  _snd_max = seq_max(_snd_max, _snd_nxt);
  if (_rtx_deadline == kNever) arm_rtx(now);
  if (!retransmit) schedule_tlp(now);  // RFC 8985 §7.2: PTO from the last new data
}

// ---------------------------------------------------------------------------------
// Timers

// When the next keepalive probe (or the verdict after the last one) is due; kNever
// when keepalive is off, the connection is not synchronized and open, or data is in
// flight (the retransmission timer watches the peer then).
nanos tcp_conn::keepalive_at() const {
  if (_cfg.keepalive_idle <= 0 || _snd_una != _snd_max ||
      (_state != tcp_state::established && _state != tcp_state::close_wait))
    return kNever;
  return _last_rx + _cfg.keepalive_idle + nanos{_ka_sent} * _cfg.keepalive_interval;
}

nanos tcp_conn::fin_wait_2_at() const {
  if (_state != tcp_state::fin_wait_2 || _cfg.fin_wait_2_timeout <= 0) return kNever;
  return _last_rx + _cfg.fin_wait_2_timeout;
}

nanos tcp_conn::poll_at() const {
  nanos t = kNever;
  if (_state == tcp_state::closed) return t;
  if (_state == tcp_state::time_wait) return _tw_deadline;
  t = _rtx_deadline;
  t = std::min(t, fin_wait_2_at());
  t = std::min(t, keepalive_at());
  // Persist: window closed, data waiting, nothing in flight to elicit an ACK.
  if (t == kNever && _snd_wnd == 0 && data_end() != _snd_nxt && _snd_una == _snd_max &&
      _state != tcp_state::syn_received && _state != tcp_state::syn_sent && !_probe) {
    t = _persist_base + _rto;
  }
  if (_cfg.idle_timeout > 0) t = std::min(t, _last_rx + _cfg.idle_timeout);
  t = std::min({t, _tlp_deadline, _rack_deadline});
  return t;
}

void tcp_conn::on_timer(nanos now) {
  if (_state == tcp_state::closed) return;
  if (_state == tcp_state::time_wait) {
    if (now >= _tw_deadline) enter_closed(close_reason::normal);
    return;
  }
  if (_cfg.idle_timeout > 0 && now >= _last_rx + _cfg.idle_timeout) {
    _reason = close_reason::idle_timeout;
    abort();
    _reason = close_reason::idle_timeout;
    return;
  }
  if (now >= fin_wait_2_at()) {
    _reason = close_reason::fin_wait_2_timeout;
    abort();
    return;
  }
  if (now >= keepalive_at()) {
    if (_ka_sent >= _cfg.keepalive_probes) {
      _reason = close_reason::keepalive_timeout;
      abort();
      return;
    }
    ++_ka_sent;
    ++_stats.keepalive_probes;
    _ka_probe = true;
    mark_dirty();
    return;
  }
  if (now >= _rack_deadline) on_rack_timer(now);
  if (now >= _tlp_deadline) on_tlp_timer(now);
  const nanos t = poll_at();
  if (now < t) return;
  if (_rtx_deadline == kNever) {
    // Persist timer fired: probe the zero window with one byte.
    _probe = true;
    _persist_base = now;
    mark_dirty();
    return;
  }
  _rtx_deadline = kNever;
  ++_stats.rto_expired;
  if (_state == tcp_state::syn_received || _state == tcp_state::syn_sent) {
    if (++_retries > _cfg.max_syn_retransmits) {
      enter_closed(close_reason::retransmit_timeout);
      return;
    }
    _snd_nxt = _iss;  // send the SYN / SYN-ACK again
    _rto = std::min(_rto * 2, _cfg.rto_max);
    _rtt_timing = false;
    mark_dirty();
    return;
  }
  if (++_retries > _cfg.max_retransmits) {
    _reason = close_reason::retransmit_timeout;
    abort();
    return;
  }
  if (_snd_wnd == 0) {
    // The outstanding byte was a window probe: back off, keep cwnd (RFC 9293 §3.8.6.1).
    _probe = true;
  } else {
    // RFC 5681 (4): ssthresh = max(FlightSize/2, 2*SMSS), cwnd = 1 SMSS; go back N.
    const std::uint32_t fl = _snd_max - _snd_una;
    _ssthresh = std::max<std::uint32_t>(fl / 2, 2u * _mss);
    _cwnd = _mss;
    _recover = _snd_max;
  }
  _in_recovery = false;
  _dupacks = 0;
  _rtx_one = false;
  _snd_nxt = _snd_una;
  _rtt_timing = false;
  // RFC 2018 §8: after a timeout the SACKed bits are forgotten (the peer may have
  // reneged); go-back-N from SND.UNA steps over ranges SACKed again from here on.
  sack_clear();
  _rto = std::min(_rto * 2, _cfg.rto_max);  // RFC 6298 (5.5) back off
  mark_dirty();
}

// ---------------------------------------------------------------------------------
// Path MTU

bool tcp_conn::lower_send_mss(std::uint16_t mss) {
  if (mss == 0 || mss >= _mss) return false;
  if (_state == tcp_state::closed || _state == tcp_state::time_wait) return false;
  _mss = mss;
  // Go back to SND.UNA only when something in flight can have been too big: a flight
  // that fits one new segment was made of segments that all fit.
  const bool synchronized = _state != tcp_state::syn_sent && _state != tcp_state::syn_received;
  if (synchronized && _snd_max - _snd_una > mss) {
    _snd_nxt = _snd_una;
    _rtx_one = false;
    _rtt_timing = false;  // Karn: what follows are retransmissions
    mark_dirty();
  }
  return true;
}

}  // namespace anvil::net
