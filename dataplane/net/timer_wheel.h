// Timer wheel for per-core TCP timers: 1024 buckets of 1 ms (~1 s per turn). Each
// armed connection sits in the bucket of its deadline's tick, linked by slot index
// (intrusive, no allocation); deadlines beyond one turn simply stay in their bucket
// and are skipped until due. next_deadline() is the start of the first non-empty
// bucket (found through a bitmap): possibly early, never late.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <vector>

#include "dataplane/net/wire.h"

namespace anvil::net {

class timer_wheel {
 public:
  static constexpr std::uint32_t kNone = 0xffffffffu;
  static constexpr std::uint32_t kBuckets = 1024;
  static constexpr nanos kTick = kNsPerMs;

  explicit timer_wheel(std::uint32_t entries) : _nodes(entries) { _head.fill(kNone); }

  bool armed(std::uint32_t i) const { return _nodes[i].at != kNever; }
  nanos deadline(std::uint32_t i) const { return _nodes[i].at; }

  void arm(std::uint32_t i, nanos at) {
    if (_nodes[i].at == at) return;
    disarm(i);
    if (at == kNever) return;
    std::int64_t tick = at / kTick;
    if (tick < _cursor) tick = _cursor;
    const std::uint32_t b = static_cast<std::uint32_t>(tick) & (kBuckets - 1);
    node& n = _nodes[i];
    n.at = at;
    n.bucket = b;
    n.prev = kNone;
    n.next = _head[b];
    if (n.next != kNone) _nodes[n.next].prev = i;
    _head[b] = i;
    _bits[b / 64] |= std::uint64_t{1} << (b % 64);
  }

  void disarm(std::uint32_t i) {
    node& n = _nodes[i];
    if (n.at == kNever) return;
    if (n.prev != kNone)
      _nodes[n.prev].next = n.next;
    else
      _head[n.bucket] = n.next;
    if (n.next != kNone) _nodes[n.next].prev = n.prev;
    if (_head[n.bucket] == kNone) _bits[n.bucket / 64] &= ~(std::uint64_t{1} << (n.bucket % 64));
    n.at = kNever;
  }

  // Anchors the wheel at the first time the owner sees; call before any arm().
  void start(nanos now) {
    if (!_started) {
      _cursor = now / kTick;
      _started = true;
    }
  }

  // Collects (and disarms) every entry due at `now` into `out`.
  void expire(nanos now, std::vector<std::uint32_t>& out) {
    start(now);
    const std::int64_t now_tick = now / kTick;
    std::int64_t steps = now_tick - _cursor + 1;
    if (steps > kBuckets) steps = kBuckets;
    for (std::int64_t s = 0; s < steps; ++s) {
      const std::uint32_t b = static_cast<std::uint32_t>(_cursor + s) & (kBuckets - 1);
      for (std::uint32_t i = _head[b]; i != kNone;) {
        const std::uint32_t next = _nodes[i].next;
        if (_nodes[i].at <= now) {
          disarm(i);
          out.push_back(i);
        }
        i = next;
      }
    }
    if (now_tick > _cursor) _cursor = now_tick;
  }

  // The earliest deadline: exact for entries due within one turn of the wheel (the
  // first non-empty bucket holding one wins), else the minimum over all entries.
  nanos next_deadline() const {
    const std::uint32_t start = static_cast<std::uint32_t>(_cursor) & (kBuckets - 1);
    nanos overall = kNever;
    for (std::uint32_t d = 0; d < kBuckets;) {
      const std::uint32_t b = (start + d) & (kBuckets - 1);
      const std::uint64_t word = _bits[b / 64] >> (b % 64);
      if (!word) {
        d += 64 - (b % 64);
        continue;
      }
      d += static_cast<std::uint32_t>(std::countr_zero(word));
      if (d >= kBuckets) break;
      const std::uint32_t bb = (start + d) & (kBuckets - 1);
      const nanos turn_end = (_cursor + d + 1) * kTick;
      nanos best = kNever;
      for (std::uint32_t i = _head[bb]; i != kNone; i = _nodes[i].next) {
        best = std::min(best, _nodes[i].at);
      }
      if (best < turn_end) return best;
      overall = std::min(overall, best);
      ++d;
    }
    return overall;
  }

 private:
  struct node {
    nanos at = kNever;
    std::uint32_t prev = kNone, next = kNone, bucket = 0;
  };
  std::vector<node> _nodes;
  std::array<std::uint32_t, kBuckets> _head;
  std::array<std::uint64_t, kBuckets / 64> _bits{};
  std::int64_t _cursor = 0;
  bool _started = false;
};

}  // namespace anvil::net
