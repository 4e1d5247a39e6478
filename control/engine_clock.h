// The engine's clock, driven from a monotonic source (memcached's process_started +
// current_time): at start it reads the wall clock once; from then on it is that unix time
// plus the monotonic seconds elapsed. An NTP step of the wall clock therefore neither
// expires nor extends TTLs in bulk, and the clock never goes backwards.
// Absolute expiry times from clients (exptime > 30 days) are compared with this clock,
// which is exactly memcached's conversion (exptime - process_started against the
// monotonic current_time): after a wall-clock step they are off by the step, as there.
// Snapshots store absolute times in the same unix-anchored terms.
// The sources are injected so a test can step the wall clock; tick() reads no other.
#pragma once

#include <time.h>

#include <cstdint>
#include <functional>

#include "cache/engine.h"

namespace anvil::control {

class engine_clock_driver {
 public:
  using wall_source = std::function<std::int64_t()>;       // unix seconds
  using monotonic_source = std::function<std::int64_t()>;  // nanoseconds, never decreasing

  static std::int64_t system_wall() { return static_cast<std::int64_t>(::time(nullptr)); }
  static std::int64_t system_monotonic() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  }

  explicit engine_clock_driver(wall_source wall = system_wall,
                               monotonic_source mono = system_monotonic)
      : _mono(std::move(mono)),
        _started_unix(clamp(wall())),
        _started_mono(_mono()),
        _clock(_started_unix) {}

  // Advances the clock to start + monotonic elapsed (whole seconds). Call it often
  // (the control thread does, every <= 250 ms).
  void tick() {
    const std::int64_t elapsed_ns = _mono() - _started_mono;
    if (elapsed_ns <= 0) return;
    const std::uint32_t t = clamp(std::int64_t{_started_unix} + elapsed_ns / 1'000'000'000);
    if (t > _clock.now()) _clock.set(t);
  }

  cache::clock& clock() { return _clock; }
  const cache::clock& clock() const { return _clock; }
  std::uint32_t started_unix() const { return _started_unix; }

 private:
  static std::uint32_t clamp(std::int64_t unix_seconds) {
    if (unix_seconds < 1) return 1;
    if (unix_seconds > 0xfffffffe) return 0xfffffffe;
    return static_cast<std::uint32_t>(unix_seconds);
  }

  monotonic_source _mono;
  std::uint32_t _started_unix;
  std::int64_t _started_mono;
  cache::clock _clock;
};

}  // namespace anvil::control
