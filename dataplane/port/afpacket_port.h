// AF_PACKET port: the laptop/CI path, no DPDK. One packet socket per lcore, all in one
// PACKET_FANOUT_HASH group on one interface, so every TCP flow lands on one socket.
//
// Receive, two ways (bench/port measures both; see bench/README.md):
//   ring  TPACKET_V2 RX ring (default): zero copy, and an idle poll is a memory read,
//         not a system call. Checksum state from tp_status (TP_STATUS_CSUMNOTREADY,
//         TP_STATUS_CSUM_VALID). V2, not V3: V3 hands blocks over only when full or on
//         a timeout, which costs milliseconds of latency at low rates.
//   mmsg  recvmmsg() into private buffers with PACKET_VNET_HDR, whose virtio-net header
//         states the checksum state and GSO type of every frame exactly.
// Transmit: sendmmsg() of up to kTxBatch frames per call, MSG_DONTWAIT. What the kernel
// refuses for now (EAGAIN/ENOBUFS: full socket buffer or device queue; ENETDOWN) stays
// queued, in order, for the next flush (tx_deferred); a frame refused for any other
// reason (EMSGSIZE, ...) is dropped (tx_dropped). PACKET_QDISC_BYPASS skips the qdisc.
//
// Invariants: frames this host's packet sockets send are never received back
// (PACKET_IGNORE_OUTGOING); frames longer than kMaxFrame, or cut short by the socket,
// are dropped and counted, never delivered truncated; a frame whose checksum the
// kernel left for an offload (local sender with `tx` on) is delivered flagged
// csum_state::partial, or dropped, by policy — never delivered as `unknown`.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dataplane/port/frame.h"
#include "dataplane/port/nic_offloads.h"
#include "dataplane/port/port.h"
#include "dataplane/port/port_counters.h"

namespace anvil::port {

enum class afpacket_rx_mode { ring, mmsg };
enum class csum_partial_policy { accept, drop };

struct afpacket_options {
  std::string interface;
  std::optional<mac_address> mac;  // the node's MAC; default: the interface's own
  afpacket_rx_mode rx_mode = afpacket_rx_mode::ring;
  csum_partial_policy csum_partial = csum_partial_policy::accept;
  unsigned ring_frames = 1024;  // RX ring slots per socket (ring mode), multiple of 32
  // GRO/LRO/GSO/TSO off on the interface while the port is open (nic_offloads.h), so
  // a NIC never hands over merged super-frames; restored when the last queue closes.
  bool offloads_off = true;
};

class afpacket_port {
 public:
  static constexpr std::size_t kTxBatch = 64;
  static constexpr std::size_t kSlot = 2048;  // buffer per frame (mmsg RX, TX)

  // Opens `queues` sockets in one fanout group on opts.interface, in the calling
  // thread's network namespace. Throws std::system_error naming the failed step.
  static std::vector<std::unique_ptr<afpacket_port>> open(const afpacket_options& opts,
                                                          unsigned queues);
  ~afpacket_port();
  afpacket_port(const afpacket_port&) = delete;
  afpacket_port& operator=(const afpacket_port&) = delete;

  std::span<const rx_frame> rx_burst();
  std::span<std::byte> begin_frame();
  void commit_frame(std::size_t len);
  std::size_t flush();
  // Adds the kernel's PACKET_STATISTICS drops (reset by each read) to rx_kernel_drops.
  // One getsockopt: call it about once a second from the owning lcore (the poll loop does).
  void poll_stats();

  mac_address mac() const { return _mac; }
  // What open() did to the interface's offloads (shared by the queues); null when
  // offloads_off was false.
  const nic_offloads* offloads() const { return _offloads.get(); }
  const port_counters& counters() const { return _counters; }
  int fd() const { return _fd; }
  int fanout_id() const { return _fanout_id; }
  unsigned queue() const { return _queue; }

 private:
  afpacket_port() = default;
  void setup_socket(const afpacket_options& opts, unsigned ifindex);
  std::span<const rx_frame> rx_burst_ring();
  std::span<const rx_frame> rx_burst_mmsg();
  bool accept_csum(csum_state c);

  port_counters _counters;
  std::shared_ptr<nic_offloads> _offloads;  // restored when the last queue goes
  int _fd = -1;
  int _fanout_id = -1;
  unsigned _queue = 0;
  mac_address _mac{};
  afpacket_rx_mode _mode = afpacket_rx_mode::ring;
  csum_partial_policy _csum_policy = csum_partial_policy::accept;

  // ring RX
  std::byte* _ring = nullptr;
  std::size_t _ring_bytes = 0;
  unsigned _ring_frames = 0;
  unsigned _ring_head = 0;  // next slot to look at
  unsigned _ring_held = 0;  // slots handed out by the last burst, released by the next

  // mmsg RX (struct mmsghdr/iovec kept opaque here: see the .cc)
  struct mmsg_state;
  std::unique_ptr<mmsg_state> _mm;

  // TX
  struct tx_state;
  std::unique_ptr<tx_state> _tx;

  rx_frame _burst[kBurst];
};

static_assert(packet_port<afpacket_port>);

}  // namespace anvil::port
