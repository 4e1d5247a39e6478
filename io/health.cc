#include "io/health.h"

#include <charconv>
#include <cstring>

namespace anvil::io {

const char* to_string(storage_state s) {
  switch (s) {
    case storage_state::ok:
      return "ok";
    case storage_state::degraded:
      return "degraded";
  }
  return "unknown";
}

void storage_health::set_reason(std::string_view r) {
  if (r.size() > kMaxReason) r = r.substr(0, kMaxReason);
  // Seqlock writer: odd while the words change. Single writer by contract.
  const std::uint64_t s = _seq.load(std::memory_order_relaxed);
  _seq.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  char buf[kMaxReason] = {};
  std::memcpy(buf, r.data(), r.size());
  for (std::size_t i = 0; i < _words.size(); ++i) {
    std::uint64_t w;
    std::memcpy(&w, buf + 8 * i, 8);
    _words[i].store(w, std::memory_order_relaxed);
  }
  _len.store(r.size(), std::memory_order_relaxed);
  _seq.store(s + 2, std::memory_order_release);
}

std::string storage_health::reason() const {
  char buf[kMaxReason];
  for (;;) {
    const std::uint64_t s1 = _seq.load(std::memory_order_acquire);
    if (s1 & 1) continue;
    for (std::size_t i = 0; i < _words.size(); ++i) {
      const std::uint64_t w = _words[i].load(std::memory_order_relaxed);
      std::memcpy(buf + 8 * i, &w, 8);
    }
    const std::uint64_t len = _len.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (_seq.load(std::memory_order_relaxed) == s1) return std::string(buf, len);
  }
}

health_view storage_health::view() const {
  health_view v;
  v.state = state();
  v.reason = reason();
  auto& c = v.counters;
  c.snapshots_ok = get(snapshots_ok);
  c.snapshots_failed = get(snapshots_failed);
  c.snapshots_skipped = get(snapshots_skipped);
  c.io_errors = get(io_errors);
  c.io_stalls = get(io_stalls);
  c.rings_abandoned = get(rings_abandoned);
  c.threads_abandoned = get(threads_abandoned);
  c.bytes_leaked = get(bytes_leaked);
  c.rings_reclaimed = get(rings_reclaimed);
  c.stuck_io_bytes = get(stuck_io_bytes);
  c.stuck_helpers = get(stuck_helpers);
  c.last_ok_unix = get(last_ok_unix);
  c.last_snapshot_id = get(last_snapshot_id);
  c.last_items = get(last_items);
  c.last_bytes = get(last_bytes);
  c.last_duration_us = get(last_duration_us);
  c.restored_items = get(restored_items);
  c.restored_snapshot_id = get(restored_snapshot_id);
  return v;
}

const char* storage_health::counter_name(counter c) {
  static constexpr const char* kNames[kCounterCount] = {
      "snapshots_ok",     "snapshots_failed",     "snapshots_skipped", "io_errors",
      "io_stalls",        "rings_abandoned",      "threads_abandoned", "bytes_leaked",
      "rings_reclaimed",  "stuck_io_bytes",       "stuck_helpers",     "last_ok_unix",
      "last_snapshot_id", "last_items",           "last_bytes",        "last_duration_us",
      "restored_items",   "restored_snapshot_id",
  };
  return c < kCounterCount ? kNames[c] : "unknown";
}

void storage_health::for_each_stat(
    const std::function<void(std::string_view, std::string_view)>& fn) const {
  fn("state", to_string(state()));
  fn("reason", reason());
  for (unsigned c = 0; c < kCounterCount; ++c) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, get(static_cast<counter>(c)));
    fn(counter_name(static_cast<counter>(c)),
       std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
  }
}

void storage_health::set_ok() {
  set_reason("");
  _state.store(storage_state::ok, std::memory_order_release);
}

void storage_health::set_degraded(std::string_view reason) {
  set_reason(reason);
  _state.store(storage_state::degraded, std::memory_order_release);
}

}  // namespace anvil::io
