// DPDK ethdev port: one RX/TX queue pair per lcore on one ethdev, RSS spreading flows
// over the queues, mbufs from a pool on the NUMA socket of the device (one pool per
// socket, shared by that socket's queues). Runs on physical NICs and, for tests and
// dev, on `--vdev net_af_packet0,iface=...,qpairs=N` or `net_tap` with
// `--no-huge -m N --no-shconf` (no hugepages needed).
//
// The EAL is initialised once per process (DPDK cannot do it twice): the first
// open() passes its eal_args through to rte_eal_init; later opens must pass the same.
// Received mbufs are freed at the next rx_burst(); a frame is built directly in an
// mbuf taken in begin_frame() (no copy); what tx_burst refuses (a full TX ring) stays
// queued, in order, for the next flush (tx_deferred), never freed: see port.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dataplane/port/frame.h"
#include "dataplane/port/port.h"
#include "dataplane/port/port_counters.h"

struct rte_mbuf;
struct rte_mempool;

namespace anvil::port {

struct dpdk_options {
  std::vector<std::string> eal_args;  // e.g. {"--no-huge", "-m", "64", "--no-shconf", ...}
  std::string device;                 // ethdev name (e.g. "net_af_packet0"); "" = first port
  std::optional<mac_address> mac;     // default: the device's own
  // NUMA socket of each queue's lcore (queue i is polled by lcore i); its rings and
  // mbufs come from that socket's pool. Empty: the device's socket for every queue.
  std::vector<int> queue_sockets;
  // Descriptors per RX/TX ring (rounded by the driver to what it supports; net_af_packet
  // ignores them: its rings are the vdev's framecnt=). See [dpdk] rx_ring_size/tx_ring_size.
  std::uint16_t rx_desc = 1024;
  std::uint16_t tx_desc = 1024;
};

// Initialises the EAL (once per process). Throws std::runtime_error with DPDK's reason;
// a second call with different arguments throws too.
void dpdk_init_eal(const std::vector<std::string>& eal_args);

class dpdk_device;

class dpdk_port {
 public:
  static constexpr std::size_t kTxBatch = 64;

  // Configures the device with `queues` RX/TX queue pairs and starts it.
  static std::vector<std::unique_ptr<dpdk_port>> open(const dpdk_options& opts, unsigned queues);
  ~dpdk_port();
  dpdk_port(const dpdk_port&) = delete;
  dpdk_port& operator=(const dpdk_port&) = delete;

  std::span<const rx_frame> rx_burst();
  std::span<std::byte> begin_frame();
  void commit_frame(std::size_t len);
  std::size_t flush();
  // Queue 0 adds the device's imissed / rx_nombuf growth to rx_missed / rx_nombuf
  // (port-wide figures, so one queue owns them); other queues do nothing. A driver
  // call: about once a second from the owning lcore (the poll loop does).
  void poll_stats();

  // Called once on the lcore thread that will own this queue: registers the thread
  // with the EAL so the mempool's per-lcore cache is used.
  void attach_thread();

  mac_address mac() const { return _mac; }
  const port_counters& counters() const { return _counters; }
  std::uint16_t port_id() const { return _port_id; }
  std::uint16_t queue() const { return _queue; }
  // Descriptors of this queue's rings after the driver's adjustment.
  std::uint16_t rx_ring_size() const { return _rx_ring; }
  std::uint16_t tx_ring_size() const { return _tx_ring; }

 private:
  dpdk_port() = default;

  port_counters _counters;
  std::shared_ptr<dpdk_device> _dev;
  rte_mempool* _pool = nullptr;
  std::uint16_t _port_id = 0;
  std::uint16_t _queue = 0;
  std::uint16_t _rx_ring = 0, _tx_ring = 0;
  mac_address _mac{};
  rte_mbuf* _rx[kBurst]{};
  unsigned _rx_held = 0;
  rte_mbuf* _tx[kTxBatch]{};
  unsigned _tx_pending = 0;
  rte_mbuf* _begun = nullptr;
  std::uint64_t _seen_imissed = 0, _seen_nombuf = 0;
  rx_frame _burst[kBurst];
};

static_assert(packet_port<dpdk_port>);

}  // namespace anvil::port
