// Storage health as the control plane exposes it: a state, the reason for it, and
// counters. Written only by the io side (one writer at a time), read by anyone at any
// time without locks: the state and counters are atomics, and the reason string sits
// in a seqlock of atomic words, so a reader never waits on a writer.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace anvil::io {

enum class storage_state : std::uint8_t {
  ok,        // the last snapshot attempt (or none yet) succeeded
  degraded,  // the last attempt failed; serving continues, the reason says why
};

const char* to_string(storage_state s);

struct storage_counters {
  std::uint64_t snapshots_ok = 0;
  std::uint64_t snapshots_failed = 0;
  std::uint64_t snapshots_skipped = 0;  // not started: an earlier attempt's I/O is still stuck
  std::uint64_t io_errors = 0;          // EIO, ENOSPC, EROFS, ENOENT, ... from the filesystem
  std::uint64_t io_stalls = 0;          // an I/O that missed its deadline
  std::uint64_t rings_abandoned = 0;    // rings left behind with I/O the kernel still holds
  std::uint64_t threads_abandoned = 0;  // threads detached while stuck in a syscall
  std::uint64_t bytes_leaked = 0;       // buffers handed to stuck I/O, never freed
  std::uint64_t rings_reclaimed = 0;    // abandoned rings whose I/O finished later (freed)
  std::uint64_t stuck_io_bytes = 0;     // gauge: memory held by abandoned rings right now
  std::uint64_t stuck_helpers = 0;      // gauge: anvil-iod children still held by stuck I/O
  std::uint64_t last_ok_unix = 0;
  std::uint64_t last_snapshot_id = 0;
  std::uint64_t last_items = 0;
  std::uint64_t last_bytes = 0;
  std::uint64_t last_duration_us = 0;
  std::uint64_t restored_items = 0;
  std::uint64_t restored_snapshot_id = 0;
};

struct health_view {
  storage_state state = storage_state::ok;
  std::string reason;
  storage_counters counters;
};

class storage_health {
 public:
  storage_health() = default;
  storage_health(const storage_health&) = delete;
  storage_health& operator=(const storage_health&) = delete;

  // Readers (any thread, lock-free).
  storage_state state() const { return _state.load(std::memory_order_acquire); }
  std::string reason() const;
  health_view view() const;
  // Every figure as a (name, text) pair in a fixed order: "state", "reason", then each
  // counter by its name (counter_name). What `stats storage` and the control plane show.
  void for_each_stat(const std::function<void(std::string_view, std::string_view)>& fn) const;

  // Writers (the io thread; restore at start-up before it).
  void set_ok();
  void set_degraded(std::string_view reason);

  enum counter : unsigned {
    snapshots_ok,
    snapshots_failed,
    snapshots_skipped,
    io_errors,
    io_stalls,
    rings_abandoned,
    threads_abandoned,
    bytes_leaked,
    rings_reclaimed,
    stuck_io_bytes,
    stuck_helpers,
    last_ok_unix,
    last_snapshot_id,
    last_items,
    last_bytes,
    last_duration_us,
    restored_items,
    restored_snapshot_id,
    kCounterCount
  };
  static const char* counter_name(counter c);
  void add(counter c, std::uint64_t n = 1) { _c[c].fetch_add(n, std::memory_order_relaxed); }
  void put(counter c, std::uint64_t v) { _c[c].store(v, std::memory_order_relaxed); }
  std::uint64_t get(counter c) const { return _c[c].load(std::memory_order_relaxed); }

  static constexpr std::size_t kMaxReason = 248;

 private:
  void set_reason(std::string_view r);
  std::atomic<storage_state> _state{storage_state::ok};
  std::atomic<std::uint64_t> _seq{0};
  std::atomic<std::uint64_t> _len{0};
  std::array<std::atomic<std::uint64_t>, kMaxReason / 8> _words{};
  std::array<std::atomic<std::uint64_t>, kCounterCount> _c{};
};

}  // namespace anvil::io
