// What the health monitor (control/health/) and one lcore share, and the lcore's side of
// it: the canary mailbox, loop-stall counters and the test-only delay knob.
//
// Threads and rules (DESIGN.md "Control plane"): the control thread is the only writer
// of the request half, the lcore the only writer of the answer half (separate cache
// lines). The control thread posts a canary round by writing its parameters and then
// `request_seq` (release); the lcore sees a new `request_seq` on its next iteration
// (one relaxed load per iteration), runs a set + get + delete of its own key in every
// partition against the engine, and publishes the outcome then `done_seq` (release).
// A get that misses because a flush was applied between the set and the get (another
// thread's flush_all, a replica's full copy) is the flush working, not a failure: it is
// counted in `flush_races` and the key passes (seen: a replica's first round after start
// racing its initial copy made it `failing`, and a just-promoted primary stepped down).
// One round is in flight per lcore at a time (a one-slot single-producer ring): the
// control thread posts the next round only after `done_seq` caught up, so the lcore
// never waits for the control thread and the control thread never waits for the lcore
// (an lcore that does not answer is what the monitor reports).
//
// Canary keys live in the reserved key space (dataplane/proto/reserved_keys.h): no client
// can read, write or delete them. The canary calls the engine directly, not the protocol
// handler, so no client-visible counter (cmd_get, get_hits, total_items, ...) moves; for
// the length of one loop iteration its item exists (curr_items) and its bytes take log
// space like any write until their segment is reclaimed.
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cache/engine.h"
#include "dataplane/server/cycles.h"

namespace anvil::server {

struct alignas(64) lcore_health {
  // ---- written by the control thread (before the lcores start, or as noted) -------
  // One key per engine partition, hashed into that partition (canary_keys()).
  std::vector<std::string> canary_keys;
  // An iteration that takes longer than this many TSC cycles is a stall (0 = off).
  std::uint64_t stall_cycles = 0;
  std::atomic<std::uint64_t> request_seq{0};
  std::atomic<std::uint64_t> posted_ns{0};  // monotonic_ns() when the round was posted
  // Test-only fault knob ([debug] lcore_delay_us): the lcore sleeps this long at the
  // end of every iteration. Written at any time by the control thread.
  std::atomic<std::uint32_t> delay_us{0};

  // ---- written by the lcore only ----------------------------------------------------
  alignas(64) std::atomic<std::uint64_t> done_seq{0};
  std::atomic<std::uint64_t> latency_ns{0};  // posted -> every partition answered
  std::atomic<bool> ok{true};                // every get returned what was just set
  std::atomic<std::uint32_t> failed_partition{0};
  std::atomic<std::uint8_t> failed_step{0};    // 0 none, 1 set, 2 get, 3 wrong value
  std::atomic<std::uint8_t> failed_status{0};  // cache::status of the failed step
  // Gets that missed because a flush (a client's flush_all, a replica's full copy
  // starting) was applied between the canary's set and its get: the flush's doing, not a
  // failure of the data path, so not reported as one.
  std::atomic<std::uint64_t> flush_races{0};
  std::atomic<std::uint64_t> stalls{0};  // iterations over stall_cycles
  std::atomic<std::uint64_t> last_stall_cycles{0};
  std::atomic<std::uint64_t> longest_stall_cycles{0};

  // ---- lcore side -------------------------------------------------------------------
  // After every iteration: `cycles` is how long it took.
  void on_iteration(std::uint64_t cycles) {
    if (stall_cycles != 0 && cycles > stall_cycles) [[unlikely]] {
      stalls.store(stalls.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      last_stall_cycles.store(cycles, std::memory_order_relaxed);
      if (cycles > longest_stall_cycles.load(std::memory_order_relaxed))
        longest_stall_cycles.store(cycles, std::memory_order_relaxed);
    }
  }

  // Once per iteration, before the session's quiescent point (the views the canary's
  // gets returned end there).
  void poll(cache::session& s) {
    const std::uint64_t want = request_seq.load(std::memory_order_acquire);
    if (want != _seen) [[unlikely]] {
      _seen = want;
      run_canary(s, want);
    }
  }
  // Once per iteration, after the session's quiescent point: the fault knob's sleep, taken
  // while the session holds no views, so a slowed lcore delays its own requests but never
  // holds back the memory other lcores reclaim.
  void fault_delay() const {
    if (const std::uint32_t d = delay_us.load(std::memory_order_relaxed); d != 0) [[unlikely]] {
      timespec ts{static_cast<time_t>(d / 1'000'000), static_cast<long>(d % 1'000'000) * 1000};
      ::nanosleep(&ts, nullptr);
    }
  }

 private:
  void run_canary(cache::session& s, std::uint64_t seq) {
    char value[8];
    std::memcpy(value, &seq, sizeof value);
    const std::string_view v(value, sizeof value);
    std::uint8_t step = 0, st = 0;
    std::uint32_t part = 0;
    for (std::uint32_t p = 0; p < canary_keys.size() && step == 0; ++p) {
      const std::string& k = canary_keys[p];
      const std::uint32_t flushes = s.applied_flush_generation(k);
      const auto r = s.store(cache::store_mode::set, k, v, 0, kCanaryExptime);
      if (r.st != cache::status::ok) {
        step = 1, st = static_cast<std::uint8_t>(r.st), part = p;
        break;
      }
      const cache::item_view it = s.get(k);
      if (!it.found && s.applied_flush_generation(k) != flushes)
        flush_races.store(flush_races.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
      else if (!it.found)
        step = 2, st = static_cast<std::uint8_t>(cache::status::not_found), part = p;
      else if (it.value != v)
        step = 3, part = p;
      s.remove(k);
    }
    const std::uint64_t now = monotonic_ns();
    const std::uint64_t posted = posted_ns.load(std::memory_order_relaxed);
    latency_ns.store(now > posted ? now - posted : 0, std::memory_order_relaxed);
    ok.store(step == 0, std::memory_order_relaxed);
    failed_partition.store(part, std::memory_order_relaxed);
    failed_step.store(step, std::memory_order_relaxed);
    failed_status.store(st, std::memory_order_relaxed);
    done_seq.store(seq, std::memory_order_release);
  }

  // A canary item left behind (an lcore stopped between set and delete) goes by itself.
  static constexpr cache::exptime_t kCanaryExptime = 60;
  std::uint64_t _seen = 0;  // lcore-private: the last round it ran
};

}  // namespace anvil::server
