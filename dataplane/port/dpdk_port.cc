#include "dataplane/port/dpdk_port.h"

#include <pthread.h>
#include <sched.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string_view>

namespace anvil::port {
namespace {

std::mutex g_eal_mu;
bool g_eal_done = false;
std::vector<std::string> g_eal_args;
unsigned g_pool_seq = 0;

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error("dpdk: " + what + ": " + rte_strerror(err < 0 ? -err : err));
}

constexpr unsigned kMempoolCache = 256;

}  // namespace

void dpdk_init_eal(const std::vector<std::string>& eal_args) {
  std::lock_guard lock(g_eal_mu);
  if (g_eal_done) {
    if (eal_args != g_eal_args)
      throw std::runtime_error("dpdk: the EAL is already initialised with other arguments");
    return;
  }
  std::vector<std::string> args{"anvil"};
  args.insert(args.end(), eal_args.begin(), eal_args.end());
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // rte_eal_init pins the calling thread to the main lcore's cpu (the first allowed cpu
  // unless -l/--main-lcore say otherwise): for anvil that is the control thread, which
  // then shares one cpu with lcore 0 (and the EAL's interrupt and telemetry threads)
  // while the others sit idle. The control thread runs signals, start-up and shutdown:
  // it keeps the affinity it had.
  cpu_set_t before;
  const bool saved = ::pthread_getaffinity_np(::pthread_self(), sizeof before, &before) == 0;
  if (rte_eal_init(static_cast<int>(args.size()), argv.data()) < 0) fail("rte_eal_init", rte_errno);
  if (saved) (void)::pthread_setaffinity_np(::pthread_self(), sizeof before, &before);
  g_eal_done = true;
  g_eal_args = eal_args;
}

// The device, shared by its queues: stopped and closed when the last queue goes.
class dpdk_device {
 public:
  explicit dpdk_device(std::uint16_t id) : port_id(id) {}
  ~dpdk_device() {
    rte_eth_dev_stop(port_id);
    rte_eth_dev_close(port_id);
    for (auto& [socket, pool] : pools) rte_mempool_free(pool);
  }
  std::uint16_t port_id;
  std::map<int, rte_mempool*> pools;  // NUMA socket -> pool
};

std::vector<std::unique_ptr<dpdk_port>> dpdk_port::open(const dpdk_options& opts, unsigned queues) {
  if (queues == 0 || queues > 64) throw std::invalid_argument("dpdk: queues must be 1..64");
  if (opts.rx_desc == 0 || opts.tx_desc == 0)
    throw std::invalid_argument("dpdk: rx_desc and tx_desc must be >= 1");
  dpdk_init_eal(opts.eal_args);

  std::uint16_t port_id = 0;
  if (!opts.device.empty()) {
    if (rte_eth_dev_get_port_by_name(opts.device.c_str(), &port_id) != 0)
      throw std::runtime_error("dpdk: no ethdev named '" + opts.device + "'");
  } else {
    if (rte_eth_dev_count_avail() == 0)
      throw std::runtime_error("dpdk: no ethdev available (pass --vdev or bind a NIC)");
    port_id = static_cast<std::uint16_t>(rte_eth_find_next(0));
  }

  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(port_id, &info); rc != 0) fail("rte_eth_dev_info_get", rc);
  if (queues > info.max_rx_queues || queues > info.max_tx_queues)
    throw std::runtime_error("dpdk: device " + std::to_string(port_id) + " has at most " +
                             std::to_string(info.max_rx_queues) + " queue pairs, asked for " +
                             std::to_string(queues) + " (net_af_packet: qpairs=N)");
  // net_af_packet opens one fanout socket per qpair at probe time and the kernel spreads
  // flows over all of them: a queue nobody polls would strand its flows silently.
  if (std::string_view(info.driver_name) == "net_af_packet" && queues != info.max_rx_queues)
    throw std::runtime_error("dpdk: " + opts.device + " was created with qpairs=" +
                             std::to_string(info.max_rx_queues) + " but " + std::to_string(queues) +
                             " lcore(s) poll it; flows on unpolled queues would hang: "
                             "set qpairs equal to the lcore count");

  rte_eth_conf conf{};
  const std::uint64_t rss_hf =
      (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
  if (queues > 1 && rss_hf != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
  }
  // Ask for checksum validation where the device can do it; the stack reads the result.
  conf.rxmode.offloads =
      info.rx_offload_capa &
      (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
  const auto q16 = static_cast<std::uint16_t>(queues);
  if (int rc = rte_eth_dev_configure(port_id, q16, q16, &conf); rc != 0)
    fail("rte_eth_dev_configure", rc);
  std::uint16_t rx_desc = opts.rx_desc, tx_desc = opts.tx_desc;
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_desc, &tx_desc); rc != 0)
    fail("rte_eth_dev_adjust_nb_rx_tx_desc", rc);

  auto dev = std::make_shared<dpdk_device>(port_id);
  int dev_socket = rte_eth_dev_socket_id(port_id);
  if (dev_socket < 0) dev_socket = 0;  // virtual devices have no NUMA home
  if (!opts.queue_sockets.empty() && opts.queue_sockets.size() != queues)
    throw std::invalid_argument("dpdk: queue_sockets must name one socket per queue");
  std::vector<int> sockets(queues, dev_socket);
  if (!opts.queue_sockets.empty()) sockets = opts.queue_sockets;
  // One pool per NUMA socket, sized for its queues' rings plus a burst in flight and
  // the per-lcore caches.
  const unsigned per_queue = rx_desc + tx_desc + 2 * kBurst + kTxBatch + kMempoolCache;
  for (int socket : sockets) {
    if (dev->pools.count(socket) != 0) continue;
    const auto n_queues = static_cast<unsigned>(std::count(sockets.begin(), sockets.end(), socket));
    const unsigned n_mbufs = n_queues * per_queue + kMempoolCache;
    rte_mempool* pool = nullptr;
    {
      std::lock_guard lock(g_eal_mu);
      const std::string name = "anvil_" + std::to_string(port_id) + "_" + std::to_string(socket) +
                               "_" + std::to_string(g_pool_seq++);
      pool = rte_pktmbuf_pool_create(name.c_str(), n_mbufs, kMempoolCache, 0,
                                     RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    }
    if (pool == nullptr)
      fail("mbuf pool of " + std::to_string(n_mbufs) + " mbufs on socket " +
               std::to_string(socket) + " (about 2.4 KB each: raise -m in the EAL args)",
           rte_errno);
    dev->pools[socket] = pool;
  }

  for (std::uint16_t q = 0; q < q16; ++q) {
    const int socket = sockets[q];
    rte_mempool* pool = dev->pools.at(socket);
    if (int rc = rte_eth_rx_queue_setup(port_id, q, rx_desc, socket, nullptr, pool); rc != 0)
      fail("rte_eth_rx_queue_setup", rc);
    if (int rc = rte_eth_tx_queue_setup(port_id, q, tx_desc, socket, nullptr); rc != 0)
      fail("rte_eth_tx_queue_setup", rc);
  }

  rte_ether_addr dev_mac{};
  if (int rc = rte_eth_macaddr_get(port_id, &dev_mac); rc != 0) fail("rte_eth_macaddr_get", rc);
  mac_address own;
  std::memcpy(own.data(), dev_mac.addr_bytes, 6);
  const mac_address mac = opts.mac.value_or(own);
  if (int rc = rte_eth_dev_start(port_id); rc != 0) fail("rte_eth_dev_start", rc);
  if (mac != own) {
    if (int rc = rte_eth_promiscuous_enable(port_id); rc != 0)
      fail("promiscuous mode (needed for a MAC other than the device's)", rc);
  }

  std::vector<std::unique_ptr<dpdk_port>> ports;
  for (std::uint16_t q = 0; q < q16; ++q) {
    std::unique_ptr<dpdk_port> p(new dpdk_port());
    p->_dev = dev;
    p->_pool = dev->pools.at(sockets[q]);
    p->_port_id = port_id;
    p->_queue = q;
    p->_rx_ring = rx_desc;
    p->_tx_ring = tx_desc;
    p->_mac = mac;
    ports.push_back(std::move(p));
  }
  return ports;
}

dpdk_port::~dpdk_port() {
  if (_rx_held > 0) rte_pktmbuf_free_bulk(_rx, _rx_held);
  if (_tx_pending > 0) rte_pktmbuf_free_bulk(_tx, _tx_pending);
  if (_begun != nullptr) rte_pktmbuf_free(_begun);
}

void dpdk_port::attach_thread() {
  if (rte_lcore_id() == LCORE_ID_ANY) (void)rte_thread_register();
}

std::span<const rx_frame> dpdk_port::rx_burst() {
  if (_rx_held > 0) {
    rte_pktmbuf_free_bulk(_rx, _rx_held);
    _rx_held = 0;
  }
  const std::uint16_t got = rte_eth_rx_burst(_port_id, _queue, _rx, kBurst);
  _rx_held = got;
  std::size_t n = 0;
  std::uint64_t bytes = 0;
  for (std::uint16_t i = 0; i < got; ++i) {
    rte_mbuf* m = _rx[i];
    if (m->nb_segs != 1 || m->pkt_len > kMaxFrame) {
      _counters.rx_oversize.add();
      continue;
    }
    if (m->data_len < kMinFrame) {
      _counters.rx_runt.add();
      continue;
    }
    const std::uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
    const std::uint64_t ip = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    csum_state c = csum_state::unknown;
    if (l4 == RTE_MBUF_F_RX_L4_CKSUM_NONE) {
      c = csum_state::partial;  // "checksum not correct, data integrity verified"
      _counters.rx_csum_partial.add();
    } else if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD && ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD) {
      c = csum_state::verified;
    }
    _burst[n++] = {{rte_pktmbuf_mtod(m, const std::byte*), m->data_len}, c};
    bytes += m->data_len;
  }
  if (n > 0) {
    _counters.rx_frames.add(n);
    _counters.rx_bytes.add(bytes);
  }
  return {_burst, n};
}

void dpdk_port::poll_stats() {
  if (_queue != 0) return;
  rte_eth_stats s{};
  if (rte_eth_stats_get(_port_id, &s) != 0) return;
  if (s.imissed > _seen_imissed) _counters.rx_missed.add(s.imissed - _seen_imissed);
  if (s.rx_nombuf > _seen_nombuf) _counters.rx_nombuf.add(s.rx_nombuf - _seen_nombuf);
  _seen_imissed = s.imissed;  // a stats reset elsewhere starts the deltas again
  _seen_nombuf = s.rx_nombuf;
}

std::span<std::byte> dpdk_port::begin_frame() {
  if (_begun == nullptr) {
    if (_tx_pending == kTxBatch) flush();
    if (_tx_pending == kTxBatch) {  // the TX ring refused the whole batch: hold back
      _counters.tx_no_buffer.add();
      return {};
    }
    _begun = rte_pktmbuf_alloc(_pool);
    if (_begun == nullptr) {
      _counters.tx_no_buffer.add();
      return {};
    }
  }
  return {rte_pktmbuf_mtod(_begun, std::byte*), kMaxFrame};
}

void dpdk_port::commit_frame(std::size_t len) {
  if (_begun == nullptr) return;
  if (len < kMinFrame || len > kMaxFrame) {
    _counters.tx_dropped.add();
    return;  // the mbuf stays begun and is reused
  }
  _begun->data_len = static_cast<std::uint16_t>(len);
  _begun->pkt_len = static_cast<std::uint32_t>(len);
  _tx[_tx_pending++] = _begun;
  _begun = nullptr;
}

std::size_t dpdk_port::flush() {
  if (_tx_pending == 0) return 0;
  // Lengths are read before the burst: the driver may free what it sent at once.
  std::uint32_t lens[kTxBatch];
  for (unsigned i = 0; i < _tx_pending; ++i) lens[i] = _tx[i]->pkt_len;
  const std::uint16_t sent =
      rte_eth_tx_burst(_port_id, _queue, _tx, static_cast<std::uint16_t>(_tx_pending));
  std::uint64_t bytes = 0;
  for (std::uint16_t i = 0; i < sent; ++i) bytes += lens[i];
  _counters.tx_frames.add(sent);
  _counters.tx_bytes.add(bytes);
  const unsigned left = _tx_pending - sent;
  if (left > 0) {
    // A full TX ring: keep the rest, in order, for the next flush. Freeing them would
    // lose segments the stack believes sent (recovered only by RTO with back-off).
    std::memmove(_tx, _tx + sent, left * sizeof _tx[0]);
    _counters.tx_deferred.add(left);
  }
  _tx_pending = left;
  return sent;
}

}  // namespace anvil::port
