// Replication lag of one stream, in entries and in seconds, from positions only: the
// side that knows the newest position (`announce`, with the local time it learnt it)
// and the side that applied (`applied`). Seconds are the age of the oldest announced
// position not yet applied, so they need no clock shared between nodes; their
// resolution is how often positions are announced (every drain on a primary, every
// position frame (100 ms) on a replica). Not thread-safe: the owner locks.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>

namespace anvil::replication {

struct lag_value {
  std::uint64_t entries = 0;
  double seconds = 0;
};

class lag_tracker {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  static constexpr std::size_t kMaxMarks = 1024;

  void announce(std::uint64_t pos, time_point t) {
    if (pos <= _announced) return;
    _announced = pos;
    if (pos <= _applied) return;
    // Full: keep the oldest marks (they define the age); the newest one is only lost
    // resolution, the entry count stays exact.
    if (_marks.size() < kMaxMarks) _marks.push_back({pos, t});
  }
  void applied(std::uint64_t pos) {
    _applied = pos;
    while (!_marks.empty() && _marks.front().pos <= pos) _marks.pop_front();
  }
  // Back to nothing known (a new stream).
  void reset(std::uint64_t applied_pos = 0) {
    _marks.clear();
    _announced = applied_pos;
    _applied = applied_pos;
  }
  lag_value value(time_point now) const {
    lag_value v;
    v.entries = _announced > _applied ? _announced - _applied : 0;
    if (!_marks.empty() && now > _marks.front().t)
      v.seconds = std::chrono::duration<double>(now - _marks.front().t).count();
    return v;
  }
  std::uint64_t announced() const { return _announced; }
  std::uint64_t applied_position() const { return _applied; }

 private:
  struct mark {
    std::uint64_t pos;
    time_point t;
  };
  std::deque<mark> _marks;
  std::uint64_t _announced = 0;
  std::uint64_t _applied = 0;
};

}  // namespace anvil::replication
