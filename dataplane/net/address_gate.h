// A time-gated address: an IPv4 address the stack answers for (ARP, new connections,
// every IP protocol) only while an ownership published elsewhere holds. The owner (the
// HA agent's vip_lease, control/cluster/vip_lease.h) writes a steady-clock deadline in
// milliseconds; the stack reads it with one acquire load and compares it with the
// time it was handed, so ownership lapses by time alone even if the writer is stuck.
// This header keeps dataplane/ independent of control/: the gate is two pointers to
// atomics the owner keeps alive longer than the stack.
//
// Invariants: the stack never writes the atomics; `takes` grows by one at every take,
// so a reader that sees it change knows the ownership was (re)taken, even if it never
// saw the gap between a release and the next take.
#pragma once

#include <atomic>
#include <climits>
#include <cstdint>

#include "dataplane/net/wire.h"

namespace anvil::net {

struct address_gate {
  // A deadline below every clock reading: nobody owns the address.
  static constexpr std::int64_t kNobody = INT64_MIN;

  ip4_addr ip{};
  const std::atomic<std::int64_t>* until_ms = nullptr;  // own while now_ms < *until_ms
  const std::atomic<std::uint64_t>* takes = nullptr;    // +1 at every take

  bool enabled() const { return until_ms != nullptr && takes != nullptr; }
  // `now` is the stack's clock: steady-clock nanoseconds (std::chrono::steady_clock,
  // the clock poll_loop reads once per iteration).
  bool holds(nanos now) const { return now / kNsPerMs < until_ms->load(std::memory_order_acquire); }
};

// How a stack announces a gated address it starts to own: gratuitous ARPs (RFC 5227
// announcements) at take, +50 ms and +100 ms. Three because one broadcast may be lost
// (a switch port coming up, a busy host's backlog); more buy little, and the spacing
// keeps the burst well inside a fencing margin. keepalived's default is 5 at once.
inline constexpr unsigned kGratuitousArpCount = 3;
inline constexpr nanos kGratuitousArpSpacing = 50 * kNsPerMs;

}  // namespace anvil::net
