// SACK loss recovery for tcp_conn: RFC 2018 blocks both ways, the RFC 6675 scoreboard
// (IsLost, NextSeg, pipe) and RFC 8985 RACK-TLP, kept apart from the state machine in
// tcp_conn.cc. Everything here is bounded: the scoreboard holds at most kMaxSacked
// sorted, disjoint ranges inside [SND.UNA, SND.MAX]; the walks are over it (<= 16)
// or the out-of-order ranges (<= 8). No allocation.
//
// Loss marking. A byte is lost when it is unSACKed and below lost_high():
//  - RFC 6675 IsLost: 3 SACKed ranges or more than 2 SMSS SACKed bytes above it;
//  - RACK (RFC 8985 §6.2), without per-segment send times: data is sent in sequence
//    order, so a hole below a newly SACKed block was sent before it. The hole is
//    marked lost once the reordering window (min RTT / 4, at least 1 ms; 0 in
//    recovery unless reordering was seen) has passed since that SACK arrived. This
//    is RACK's rule with the hole's send time taken as late as it can be (the SACKed
//    block's), so it marks no earlier than RACK would;
//  - a retransmitted hole is lost again when data first sent after the latest hole
//    retransmission is SACKed while the hole is still missing (RACK's rule for
//    retransmissions, same approximation): HighRxt goes back to SND.UNA;
//  - `_lost_mark`: the head segment on entering recovery by 3 duplicate ACKs and, when
//    the peer sends no blocks at all, after a partial ACK (NewReno's rule).
// Without reordering seen, a retransmission lost again otherwise costs an RTO.
#include <algorithm>

#include "dataplane/net/tcp_conn.h"

namespace anvil::net {

using namespace tcp_flag;

namespace {
constexpr nanos kTlpMinExtra = 2 * kNsPerMs;  // Linux's TCP_TIMEOUT_MIN beside 2 * SRTT
constexpr nanos kReoWndMin = kNsPerMs;        // the timer wheel's granularity
}  // namespace

// ---- receive side: the blocks we send (RFC 2018 §4) ---------------------------------

void tcp_conn::fill_sack_blocks(tcp_options& o) const {
  // 3 blocks beside timestamps (10 + 2 + 26 <= 40 option bytes), else 4.
  const std::size_t max = _ts_ok ? 3 : kMaxSackBlocks;
  std::uint32_t used = 0;  // bit k: _ooo[k] already reported
  std::size_t n = 0;
  auto add = [&](std::size_t k) {
    if (n >= max || (used & (1u << k))) return;
    used |= 1u << k;
    o.sack[n].begin = _ooo[k].begin;
    o.sack[n].end = _ooo[k].end;
    ++n;
  };
  // Most recently received first; the ranges they landed in, each once.
  for (std::size_t r = 0; r < _sack_recent_n && n < max; ++r)
    for (std::size_t k = 0; k < _ooo_n; ++k)
      if (seq_in(_sack_recent[r], _ooo[k].begin, _ooo[k].end)) add(k);
  // Then the others, highest first (they say the most about what is missing).
  for (std::size_t k = _ooo_n; k-- > 0 && n < max;) add(k);
  o.sack_n = static_cast<std::uint8_t>(n);
}

std::uint32_t tcp_conn::sack_cap(const tcp_segment& out) const {
  const std::size_t opt = sack_option_len(out.opt.sack_n);
  return _mss > opt ? static_cast<std::uint32_t>(_mss - opt) : _mss;
}

void tcp_conn::fill_data(tcp_segment& out, seq_t seq, std::uint32_t len) const {
  const seq_t end = data_end();
  const std::uint32_t avail = seq_lt(seq, end) ? end - seq : 0;
  len = std::min(len, avail);
  out.seq = seq;
  out.flags = ack | (len ? psh : 0);
  out.payload = bytes{_tx.data + _tx.head + (seq_lt(seq, end) ? seq - _snd_una : 0), len};
  if (_fin_queued && seq + len == _fin_seq && seq_lt(_fin_seq, _snd_max)) out.flags |= fin;
}

// ---- send side: the scoreboard (RFC 6675) -------------------------------------------

void tcp_conn::sack_clear() {
  _sacked_n = 0;
  _high_rxt = _lost_mark = _rack_arm_seq = _rack_pending = _rxt_fence = _snd_una;
  _rack_deadline = _tlp_deadline = kNever;
  _tlp_pending = _tlp_out = _sack_rtx_now = false;
}

void tcp_conn::sack_prune() {
  if (_snd_una == _snd_max) {
    sack_clear();
    return;
  }
  std::size_t k = 0;
  while (k < _sacked_n && seq_le(_sacked[k].end, _snd_una)) ++k;
  if (k) {
    std::move(_sacked.begin() + k, _sacked.begin() + _sacked_n, _sacked.begin());
    _sacked_n = static_cast<std::uint8_t>(_sacked_n - k);
  }
  if (_sacked_n && seq_lt(_sacked[0].begin, _snd_una)) _sacked[0].begin = _snd_una;
  for (seq_t* s : {&_high_rxt, &_lost_mark, &_rack_pending})
    if (seq_lt(*s, _snd_una)) *s = _snd_una;
  if (seq_le(_rack_arm_seq, _snd_una)) {
    _rack_arm_seq = _snd_una;
    _rack_deadline = kNever;  // everything it would mark is acknowledged
  }
}

void tcp_conn::sack_insert(seq_t begin, seq_t end) {
  range r{begin, end};
  std::size_t n = _sacked_n;
  std::size_t i = 0;
  while (i < n && seq_lt(_sacked[i].end, r.begin)) ++i;
  std::size_t j = i;
  while (j < n && seq_le(_sacked[j].begin, r.end)) {
    r.begin = seq_min(r.begin, _sacked[j].begin);
    r.end = seq_max(r.end, _sacked[j].end);
    ++j;
  }
  if (j == i && n == kMaxSacked) {
    // Full: forget the highest range (that data may be sent again needlessly, which is
    // safe); a new range above all the others is the one forgotten.
    if (i == n) return;
    --n;
  }
  if (j == i) {
    std::move_backward(_sacked.begin() + i, _sacked.begin() + n, _sacked.begin() + n + 1);
    ++n;
  } else if (j - i > 1) {
    std::move(_sacked.begin() + j, _sacked.begin() + n, _sacked.begin() + i + 1);
    n -= j - i - 1;
  }
  _sacked[i] = r;
  _sacked_n = static_cast<std::uint8_t>(n);
}

void tcp_conn::sack_update(const tcp_segment& seg) {
  if (!seg.opt.sack_n) return;
  if (!_sack_ok) {
    _stats.sack_blocks_invalid += seg.opt.sack_n;  // we never permitted SACK
    return;
  }
  const seq_t oldest = _snd_una - std::max(_max_snd_wnd, 1u);
  const seq_t prior_fack = _sacked_n ? _sacked[_sacked_n - 1].end : _snd_una;
  for (std::size_t b = 0; b < seg.opt.sack_n; ++b) {
    seq_t lo = seg.opt.sack[b].begin;
    const seq_t hi = seg.opt.sack[b].end;
    // Empty, reversed, beyond what we sent, or from before the window: forged or
    // broken; ignored (RFC 2018 gives no other use for them).
    if (!seq_lt(lo, hi) || seq_gt(hi, _snd_max) || seq_lt(lo, oldest)) {
      ++_stats.sack_blocks_invalid;
      continue;
    }
    if (seq_le(hi, _snd_una)) continue;  // already acknowledged (a D-SACK): nothing new
    lo = seq_max(lo, _snd_una);
    // RACK reordering (RFC 8985 §6.2): newly SACKed bytes below data SACKed before,
    // never retransmitted, arrived out of order.
    if (!_reordering_seen && seq_lt(hi, prior_fack) && seq_ge(lo, _high_rxt) &&
        !sack_covers(lo, hi))
      _reordering_seen = true;
    // RACK for retransmissions: data sent after our latest hole retransmission was
    // delivered while the retransmitted holes are still missing: they were lost again.
    if (_in_recovery && seq_gt(_high_rxt, _snd_una) && seq_gt(hi, _rxt_fence) &&
        !_reordering_seen) {
      _high_rxt = _snd_una;
      ++_stats.rack_marked_lost;
    }
    sack_insert(lo, hi);
    // RACK: every hole below this block was sent before it.
    _rack_pending = seq_max(_rack_pending, lo);
  }
}

bool tcp_conn::sack_covers(seq_t lo, seq_t hi) const {
  for (std::size_t k = 0; k < _sacked_n; ++k)
    if (seq_le(_sacked[k].begin, lo) && seq_le(hi, _sacked[k].end)) return true;
  return false;
}

std::uint32_t tcp_conn::sacked_bytes() const {
  std::uint32_t n = 0;
  for (std::size_t k = 0; k < _sacked_n; ++k) n += _sacked[k].end - _sacked[k].begin;
  return n;
}

seq_t tcp_conn::lost_high() const {
  seq_t lh = seq_max(_lost_mark, _snd_una);
  // RFC 6675 IsLost, DupThresh 3: 3 SACKed ranges or more than 2 SMSS bytes above.
  std::uint32_t acc = 0;
  for (std::size_t k = _sacked_n; k-- > 0;) {
    acc += _sacked[k].end - _sacked[k].begin;
    if (_sacked_n - k >= 3 || acc > 2u * _mss) {
      lh = seq_max(lh, _sacked[k].begin);
      break;
    }
  }
  return seq_min(lh, _snd_max);
}

bool tcp_conn::next_hole(seq_t& seq, std::uint32_t& len) const {
  seq_t from = seq_max(_snd_una, _high_rxt);
  const seq_t lh = lost_high();
  for (std::size_t k = 0; k < _sacked_n; ++k) {
    if (!seq_lt(from, lh)) return false;
    if (seq_lt(from, _sacked[k].begin)) {
      seq = from;
      len = seq_min(_sacked[k].begin, lh) - from;
      return true;
    }
    from = seq_max(from, _sacked[k].end);
  }
  if (!seq_lt(from, lh)) return false;
  seq = from;
  len = lh - from;
  return true;
}

std::uint32_t tcp_conn::pipe() const {
  if (!_sack_ok || _snd_nxt != _snd_max) return flight();
  std::uint32_t p = (_snd_max - _snd_una) - sacked_bytes();
  // Lost bytes not yet retransmitted have left the network.
  seq_t from = seq_max(_snd_una, _high_rxt);
  const seq_t lh = lost_high();
  for (std::size_t k = 0; k <= _sacked_n && seq_lt(from, lh); ++k) {
    const seq_t stop = k < _sacked_n ? seq_min(_sacked[k].begin, lh) : lh;
    if (seq_lt(from, stop)) p -= stop - from;
    if (k < _sacked_n) from = seq_max(from, _sacked[k].end);
  }
  return p;
}

seq_t tcp_conn::sack_skip(seq_t s, seq_t* limit) const {
  *limit = data_end();
  for (std::size_t k = 0; k < _sacked_n; ++k) {
    if (seq_lt(s, _sacked[k].begin)) {
      *limit = _sacked[k].begin;
      break;
    }
    if (seq_lt(s, _sacked[k].end)) s = _sacked[k].end;
  }
  return s;
}

// ---- loss detection and recovery -----------------------------------------------------

nanos tcp_conn::reo_wnd() const {
  // RFC 8985 §6.2 step 4: no window in recovery until reordering has been seen.
  // Once reordering was seen the window is SRTT, RFC 8985's cap (without D-SACK we
  // cannot adapt it step by step as §6.2 does).
  if (_in_recovery && !_reordering_seen) return 0;
  nanos w = _min_rtt != kNever ? _min_rtt / 4 : kReoWndMin;
  if (_reordering_seen && _rtt_valid) w = _srtt;
  if (_rtt_valid) w = std::min(w, _srtt);
  return std::max(w, kReoWndMin);
}

void tcp_conn::enter_sack_recovery() {
  // RFC 6675 §5 step 4: RecoveryPoint = HighData, cwnd = ssthresh = FlightSize / 2.
  const std::uint32_t fl = _snd_max - _snd_una;
  _ssthresh = std::max<std::uint32_t>(fl / 2, 2u * _mss);
  _cwnd = _ssthresh;
  _recover = _snd_max;
  _in_recovery = true;
  _high_rxt = _snd_una;
  _rxt_fence = _snd_max;
  _sack_rtx_now = true;
  _tlp_pending = false;
  _tlp_deadline = kNever;
  _rtt_timing = false;
  ++_stats.fast_retransmits;
  mark_dirty();
}

void tcp_conn::sack_detect_loss(nanos now) {
  if (!_sack_ok || _snd_una == _snd_max || _snd_nxt != _snd_max) return;
  if (seq_gt(_rack_pending, seq_max(_lost_mark, _snd_una))) {
    const nanos w = reo_wnd();
    if (_in_recovery && w == 0) {
      _lost_mark = _rack_pending;
      ++_stats.rack_marked_lost;
    } else if (_rack_deadline == kNever) {
      _rack_deadline = now + w;
      _rack_arm_seq = _rack_pending;
    }
  }
  if (!_in_recovery && seq_gt(_snd_una, _recover) && seq_gt(lost_high(), _snd_una))
    enter_sack_recovery();
  if (_in_recovery) mark_dirty();
}

void tcp_conn::on_rack_timer(nanos now) {
  _rack_deadline = kNever;
  if (_state == tcp_state::syn_sent || _state == tcp_state::syn_received) return;
  if (seq_gt(_rack_arm_seq, seq_max(_lost_mark, _snd_una))) {
    _lost_mark = seq_min(_rack_arm_seq, _snd_max);
    ++_stats.rack_marked_lost;
  }
  sack_detect_loss(now);  // enters recovery; re-arms for blocks SACKed meanwhile
  mark_dirty();
}

void tcp_conn::schedule_tlp(nanos now) {
  _tlp_deadline = kNever;
  if (!_sack_ok || !_rtt_valid || _in_recovery || _tlp_out || _tlp_pending ||
      _snd_una == _snd_max || _snd_nxt != _snd_max || _snd_wnd == 0 || _rtx_deadline == kNever)
    return;
  if (_state != tcp_state::established && _state != tcp_state::close_wait &&
      _state != tcp_state::fin_wait_1 && _state != tcp_state::closing &&
      _state != tcp_state::last_ack)
    return;
  // RFC 8985 §7.2: PTO = 2 * SRTT, plus the peer's worst delayed ACK when one segment
  // is in flight (Linux: rto_min; otherwise its 2 ms TCP_TIMEOUT_MIN), and no later
  // than the RTO: then the probe goes out instead of a timeout.
  const bool one = _snd_max - _snd_una <= _mss;
  const nanos at = now + 2 * _srtt + (one ? _cfg.rto_min : kTlpMinExtra);
  _tlp_deadline = std::min(at, _rtx_deadline);
}

void tcp_conn::on_tlp_timer(nanos now) {
  _tlp_deadline = kNever;
  if (_in_recovery || _tlp_out || _snd_una == _snd_max) return;
  _tlp_pending = true;
  arm_rtx(now);  // the probe, not a timeout, answers this expiry (RFC 8985 §7.3)
  mark_dirty();
}

}  // namespace anvil::net
