// The segments that a session's outstanding item views point into (since its last
// quiescent point). It lets a writer reuse a retired segment that its own session has not
// looked into, instead of waiting for its own quiescent() call. Bounded: past kCap
// entries it answers "maybe" for every segment, which is always safe.
#pragma once

#include <cstdint>

namespace anvil::cache {

class view_set {
 public:
  static constexpr unsigned kCap = 64;
  void add(std::uint32_t part, std::uint32_t seg) {
    const std::uint64_t k = (std::uint64_t{part} << 32) | seg;
    for (unsigned i = 0; i < _n; ++i)
      if (_k[i] == k) return;
    if (_n == kCap) {
      _overflow = true;
      return;
    }
    _k[_n++] = k;
  }
  bool may_hold(std::uint32_t part, std::uint32_t seg) const {
    if (_overflow) return true;
    const std::uint64_t k = (std::uint64_t{part} << 32) | seg;
    for (unsigned i = 0; i < _n; ++i)
      if (_k[i] == k) return true;
    return false;
  }
  void clear() {
    _n = 0;
    _overflow = false;
  }

 private:
  std::uint64_t _k[kCap];
  unsigned _n = 0;
  bool _overflow = false;
};

}  // namespace anvil::cache
