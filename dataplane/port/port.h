// The contract between a packet port and whatever drives it (the poll loop, the stack).
//
// A port object is ONE queue owned by ONE lcore: an AF_PACKET socket in a fanout
// group, or a DPDK RX/TX queue pair. Nothing in it is thread-safe and nothing needs to
// be; its counters are single-writer and may be read from any thread.
//
// Transmit side, the "frame sink" the TCP/IP stack writes into (no virtual call):
//   begin_frame()      a writable buffer of >= kMaxFrame bytes, or an empty span when
//                      none is available right now (the caller drops and counts);
//   commit_frame(len)  the frame in the last begun buffer is ready (len <= kMaxFrame);
//                      a begun but uncommitted buffer is simply reused by the next begin.
// Commits accumulate and leave in one batch (sendmmsg / rte_eth_tx_burst) at flush(),
// or earlier when a full batch has accumulated. flush() returns the frames handed to
// the device. What a full device queue refuses is NOT dropped: it stays queued, in
// order, and the next flush() offers it again (counted `tx_deferred`); while the kept
// batch is full, begin_frame() returns an empty span, which is the stack's signal to
// hold its output (TCP keeps the segments unsent). Only a frame no retry can send (a
// bad length, an error other than "queue full"/"link down") is dropped, and counted
// `tx_dropped`. No call ever spins or blocks waiting for the device.
//
// Receive side: rx_burst() returns up to kBurst frames; they stay valid until the next
// rx_burst() on the same port (the port recycles them then).
#pragma once

#include <concepts>
#include <cstddef>
#include <span>

#include "dataplane/port/frame.h"
#include "dataplane/port/port_counters.h"

namespace anvil::port {

template <class S>
concept frame_sink = requires(S& s, std::size_t len) {
  { s.begin_frame() } -> std::same_as<std::span<std::byte>>;
  { s.commit_frame(len) } -> std::same_as<void>;
};

template <class P>
concept packet_port = frame_sink<P> && requires(P& p, const P& cp) {
  { p.rx_burst() } -> std::same_as<std::span<const rx_frame>>;
  { p.flush() } -> std::same_as<std::size_t>;
  { cp.mac() } -> std::same_as<mac_address>;
  { cp.counters() } -> std::same_as<const port_counters&>;
};

}  // namespace anvil::port
