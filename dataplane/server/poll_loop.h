// The per-lcore run-to-completion loop, generic over the port and the handler (no
// virtual call per packet). One iteration:
//   rx_burst -> handler.on_rx(frames, port-as-sink, now) -> due timers
//   -> handler.resume_output -> flush -> handler.quiescent()   (the QSBR point)
// Timers run before the flush so frames they produce (retransmits, delayed ACKs) leave
// in the same batch. Nothing here locks, allocates or makes a system call; the only
// syscalls are the port's own batched I/O, its poll_stats() once a second and, when
// idle, sleeping (back-off mode) and the handler's on_idle().
//
// A handler needs `on_rx(std::span<const rx_frame>, Sink&, uint64_t now_ns)`. Optional:
//   uint64_t on_timers(Sink&, uint64_t now_ns)  returns the next deadline (ns); called
//                                                when the previous deadline is due
//   void quiescent()                             after every iteration
//   void on_stop(Sink&, uint64_t now_ns)         once, when stop is requested
//   bool in_flight() const                       keep polling after stop while true,
//                                                up to loop_config::drain_timeout_ns
//   void on_iteration(uint64_t cycles)           after every iteration, with its length
//                                                in TSC cycles (loop-stall detection)
//   void on_thread_start()                       once, on the lcore thread
//   void on_idle()                               after an iteration that received and
//                                                sent nothing (may make a syscall: the
//                                                loop had nothing to serve)
//   void resume_output(Sink&, uint64_t now_ns)   every iteration, after the timers: send
//                                                output held back last time (a per-
//                                                iteration TX budget, or a port whose
//                                                device queue was full)
// The port's optional attach_thread() is also called once on the lcore thread, and its
// optional poll_stats() (device drop counters: a system or driver call) about once a
// second and once at the end.
#pragma once

#include <time.h>

#include <atomic>
#include <concepts>
#include <cstdint>
#include <span>

#include "dataplane/port/frame.h"
#include "dataplane/port/port.h"
#include "dataplane/server/cycles.h"
#include "dataplane/server/idle_policy.h"
#include "dataplane/server/loop_counters.h"

namespace anvil::server {

template <class H, class Sink>
concept frame_handler = port::frame_sink<Sink> &&
    requires(H& h, std::span<const port::rx_frame> burst, Sink& tx, std::uint64_t now_ns) {
  { h.on_rx(burst, tx, now_ns) } -> std::same_as<void>;
};

struct loop_config {
  idle_policy idle;
  std::uint64_t drain_timeout_ns = 1'000'000'000;
};

template <port::packet_port P, class H>
requires frame_handler<H, P>
class poll_loop {
 public:
  poll_loop(P& port, H& handler, loop_config cfg, loop_counters& counters)
      : _port(port), _h(handler), _cfg(cfg), _c(counters) {}

  // Runs on the calling (already pinned) thread until `stop` becomes true, then lets
  // the handler finish what is in flight (bounded by drain_timeout_ns) and returns.
  void run(const std::atomic<bool>& stop) {
    run(stop, [] {});
  }
  // As run(stop); `ready()` is called once the thread is set up, before the first poll.
  template <class Ready>
  void run(const std::atomic<bool>& stop, Ready&& ready) {
    if constexpr (requires { _port.attach_thread(); }) _port.attach_thread();
    if constexpr (requires { _h.on_thread_start(); }) _h.on_thread_start();
    ready();
    while (!stop.load(std::memory_order_relaxed)) idle(run_once());
    const std::uint64_t now = monotonic_ns();
    if constexpr (requires { _h.on_stop(_port, now); }) _h.on_stop(_port, now);
    if constexpr (requires { _h.in_flight(); }) {
      const std::uint64_t deadline = now + _cfg.drain_timeout_ns;
      while (_h.in_flight() && monotonic_ns() < deadline) idle(run_once());
    }
    _c.tx_frames.add(_port.flush());
    if constexpr (requires { _port.poll_stats(); }) _port.poll_stats();
  }

  // One iteration; true when it received or sent anything. Public for tests.
  bool run_once() {
    const std::uint64_t t0 = cycles_now();
    const std::uint64_t now = monotonic_ns();
    const auto burst = _port.rx_burst();
    if (!burst.empty()) {
      _c.rx_bursts.add();
      _c.rx_frames.add(burst.size());
      _h.on_rx(burst, _port, now);
    }
    if constexpr (requires { _h.on_timers(_port, now); }) {
      if (now >= _next_timer) {
        _next_timer = _h.on_timers(_port, now);
        _c.timer_runs.add();
      }
    }
    if constexpr (requires { _h.resume_output(_port, now); }) _h.resume_output(_port, now);
    const std::size_t sent = _port.flush();
    if (sent > 0) _c.tx_frames.add(sent);
    if constexpr (requires { _port.poll_stats(); }) {
      if (now >= _next_stats) {
        _port.poll_stats();
        _next_stats = now + kStatsPeriodNs;
      }
    }
    if constexpr (requires { _h.quiescent(); }) _h.quiescent();
    const bool busy = !burst.empty() || sent > 0;
    _c.iterations.add();
    const std::uint64_t t1 = cycles_now();
    const std::uint64_t dt = t1 - t0;
    window(t0, t1, dt, busy, now);
    if constexpr (requires { _h.on_iteration(dt); }) _h.on_iteration(dt);
    if (busy) {
      _c.busy_cycles.add(dt);
    } else {
      _c.idle_cycles.add(dt);
      _c.idle_iterations.add();
      if constexpr (requires { _h.on_idle(); }) _h.on_idle();
    }
    return busy;
  }

 private:
  // The one-second window figures (loop_counters.h): a few compares per iteration.
  void window(std::uint64_t t0, std::uint64_t t1, std::uint64_t dt, bool busy, std::uint64_t now) {
    if (_win_start == 0) {
      _win_start = t0;
      _win_end_ns = now + kWindowNs;
    }
    if (busy) _win_busy += dt;
    if (dt > _win_longest) _win_longest = dt;
    if (now < _win_end_ns) return;
    _c.window_cycles.store(t1 - _win_start, std::memory_order_relaxed);
    _c.window_busy_cycles.store(_win_busy, std::memory_order_relaxed);
    _c.window_longest_iteration.store(_win_longest, std::memory_order_relaxed);
    _c.windows.store(_c.windows.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    _win_start = t1;
    _win_end_ns = now + kWindowNs;
    _win_busy = _win_longest = 0;
  }

  void idle(bool busy) {
    if (busy) {
      _empty_polls = 0;
      return;
    }
    if (_cfg.idle.mode == idle_policy::kind::busy_poll) return;
    if (++_empty_polls <= _cfg.idle.spin_iterations) return;
    timespec ts{0, static_cast<long>(_cfg.idle.sleep_us) * 1000};
    ::nanosleep(&ts, nullptr);
    _c.sleeps.add();
  }

  P& _port;
  H& _h;
  loop_config _cfg;
  loop_counters& _c;
  static constexpr std::uint64_t kStatsPeriodNs = 1'000'000'000;
  static constexpr std::uint64_t kWindowNs = 1'000'000'000;
  std::uint64_t _win_start = 0, _win_end_ns = 0, _win_busy = 0, _win_longest = 0;
  std::uint64_t _next_timer = 0;
  std::uint64_t _next_stats = 0;
  std::uint32_t _empty_polls = 0;
};

}  // namespace anvil::server
