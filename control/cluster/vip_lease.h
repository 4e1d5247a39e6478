// The VIP ownership a primary may act on, published by the cluster agent (one writer)
// and read by whoever answers for the VIP (the lcores, ARP and new connections): "own it
// until this steady-clock instant". Fencing is therefore enforced by time, by the
// reader, even when the agent is stuck in an etcd call or descheduled: once the
// deadline passes, holds() is false without anyone writing anything.
//
// Invariants: one writer; readers never block or write; the deadline only moves later
// while the same ownership lasts (extend), and release() makes holds() false at once.
//
// The client gate the lcores' handlers read (dataplane/proto/client_gate.h) lives here
// too, because it follows the VIP exactly: the role machine takes the VIP when it becomes
// primary and releases it first thing whenever it stops being primary.
// - Not primary (kNotPrimary, from construction, i.e. while joining): key commands are
//   refused (reads only with replica_reads = false). take() opens the gate once the
//   ownership is stored; release() closes it before it gives the ownership up, so no
//   write is taken on this node's own address once the VIP may belong to another node.
// - The write fence of a planned switchover (kWritesPaused, while writes_paused()): the
//   data plane answers writes with a retryable error (binary 0x86, text "SERVER_ERROR
//   temporary failure") and keeps serving reads. take() and release() lift it; release()
//   turns it into kNotPrimary in one store, so writes are never open in between.
// A lease that lapses by time alone (the agent stuck) darkens the VIP at once; the gate
// closes when the agent runs again (its tick() releases the VIP at the deadline).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "dataplane/net/address_gate.h"
#include "dataplane/proto/client_gate.h"

namespace anvil::cluster {

class vip_lease {
 public:
  using clock = std::chrono::steady_clock;

  static std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now().time_since_epoch())
        .count();
  }

  // Writer (the agent): own the VIP at `epoch` until `until_ms` (steady ms).
  void take(std::int64_t epoch, std::int64_t until_ms) {
    _epoch.store(epoch, std::memory_order_relaxed);
    _takes.store(_takes.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    _until_ms.store(until_ms, std::memory_order_release);
    _gate.store(proto::gate::kOpen, std::memory_order_release);  // primary: serve everything
  }
  // Only while it still holds at `now_ms`: a lapsed ownership is never revived by a late
  // extension (a new take() is needed, which the role machine gives only after etcd
  // confirms).
  void extend(std::int64_t until_ms, std::int64_t now_ms) {
    const std::int64_t current = _until_ms.load(std::memory_order_relaxed);
    if (now_ms < current && until_ms > current)
      _until_ms.store(until_ms, std::memory_order_release);
  }
  // Closes the client gate first (and drops a write fence with it), then gives up the VIP.
  void release() {
    _gate.store(proto::gate::kNotPrimary, std::memory_order_release);
    _until_ms.store(kNobody, std::memory_order_release);
  }
  void pause_writes() { _gate.fetch_or(proto::gate::kWritesPaused, std::memory_order_acq_rel); }
  void resume_writes() {
    _gate.fetch_and(static_cast<std::uint8_t>(~proto::gate::kWritesPaused),
                    std::memory_order_acq_rel);
  }

  // Readers: may the VIP be answered for at `now_ms`?
  bool holds(std::int64_t now_ms) const {
    return now_ms < _until_ms.load(std::memory_order_acquire);
  }
  std::int64_t until_ms() const { return _until_ms.load(std::memory_order_acquire); }
  std::int64_t epoch() const { return _epoch.load(std::memory_order_relaxed); }
  bool writes_paused() const {
    return (_gate.load(std::memory_order_acquire) & proto::gate::kWritesPaused) != 0;
  }
  // Whether the client gate lets this node's data plane serve as the primary.
  bool serves_as_primary() const {
    return (_gate.load(std::memory_order_acquire) & proto::gate::kNotPrimary) == 0;
  }
  // For the data plane's handlers (proto::handler_config::gate): one load per request.
  const std::atomic<std::uint8_t>& client_gate() const { return _gate; }
  std::uint64_t takes() const { return _takes.load(std::memory_order_relaxed); }

  // The read side for the data plane (dataplane/net/address_gate.h): `ip` is answered
  // for exactly while holds() would say so, and every take() starts a gratuitous ARP
  // burst on each lcore. The lease must outlive the stacks.
  net::address_gate gate(net::ip4_addr ip) const { return {ip, &_until_ms, &_takes}; }

 private:
  // Below every clock reading: holds() is false for any `now`.
  static constexpr std::int64_t kNobody = net::address_gate::kNobody;
  alignas(64) std::atomic<std::int64_t> _until_ms{kNobody};
  std::atomic<std::int64_t> _epoch{0};
  std::atomic<std::uint8_t> _gate{proto::gate::kNotPrimary};  // proto/client_gate.h bits
  std::atomic<std::uint64_t> _takes{0};  // take() calls, for the data plane's ARP bursts
};

}  // namespace anvil::cluster
