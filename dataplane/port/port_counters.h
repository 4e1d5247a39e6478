// Per-queue counters of a packet port. Single writer (the owning lcore), any reader
// (control plane, benchmark, tests): each counter is a relaxed atomic updated with a
// plain load+store, never a locked read-modify-write. Cache-line aligned so two
// lcores' counters never share a line.
#pragma once

#include <atomic>
#include <cstdint>

namespace anvil::port {

class counter {
 public:
  void add(std::uint64_t n = 1) {
    _v.store(_v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const { return _v.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> _v{0};
};

struct alignas(64) port_counters {
  counter rx_frames;  // handed to the caller by rx_burst
  counter rx_bytes;
  counter rx_oversize;      // longer than the buffer (GSO super-frames, jumbo): dropped
  counter rx_runt;          // shorter than an Ethernet header: dropped
  counter rx_csum_partial;  // delivered flagged csum_state::partial (local sender)
  counter rx_csum_dropped;  // csum-partial frames dropped by policy
  // Drops before the port saw the frame, read from the device about once a second by
  // poll_stats() (a system call / driver call, never per burst):
  counter rx_kernel_drops;  // AF_PACKET: PACKET_STATISTICS tp_drops (socket ring/buffer full)
  counter rx_missed;        // DPDK: imissed (the NIC's RX queue was full), port-wide, queue 0
  counter rx_nombuf;        // DPDK: rx_nombuf (no mbuf to receive into), port-wide, queue 0
  counter tx_frames;        // accepted by the device
  counter tx_bytes;
  counter tx_dropped;    // committed but never sent: bad length, or an error no retry fixes
  counter tx_deferred;   // refused by a full device queue (or a link down): kept and sent by a
                         // later flush(), in order; counted once per refusal, so a frame that
                         // waits several flushes counts several times
  counter tx_no_buffer;  // begin_frame() had nothing to give (pool dry, or the kept batch full)
};

}  // namespace anvil::port
