#include "dataplane/port/afpacket_port.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace anvil::port {
namespace {

// struct virtio_net_hdr (linux/virtio_net.h cannot be included from C++: a member is
// named `class`). The layout is kernel ABI.
struct virtio_net_hdr {
  std::uint8_t flags;
  std::uint8_t gso_type;
  std::uint16_t hdr_len, gso_size, csum_start, csum_offset;
};
static_assert(sizeof(virtio_net_hdr) == 10);
constexpr std::uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
constexpr std::uint8_t VIRTIO_NET_HDR_F_DATA_VALID = 2;
constexpr std::uint8_t VIRTIO_NET_HDR_GSO_NONE = 0;

constexpr unsigned kRingFrameSize = 2048;
constexpr unsigned kRingBlockSize = 1 << 16;  // 32 frames per block

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), "afpacket: " + what);
}

void set_int(int fd, int level, int opt, int val, const char* name) {
  if (::setsockopt(fd, level, opt, &val, sizeof val) != 0) fail(std::string("setsockopt ") + name);
}

}  // namespace

struct afpacket_port::mmsg_state {
  std::vector<std::byte> buf;  // kBurst slots of kSlot bytes
  mmsghdr msgs[kBurst]{};
  iovec iov[kBurst]{};
};

struct afpacket_port::tx_state {
  std::vector<std::byte> buf;  // kTxBatch slots of kSlot bytes
  // Message k (k < pending) sends the frame in slot slot_of[k]; iov[k][1] points at it.
  // A flush that sends only a prefix rotates both arrays so the unsent frames become
  // messages 0.., in order, and the sent slots become free (slot_of[pending..]).
  mmsghdr msgs[kTxBatch]{};
  iovec iov[kTxBatch][2]{};
  std::uint8_t slot_of[kTxBatch]{};
  virtio_net_hdr vnet{};  // all zero: no offload requested
  bool with_vnet = false;
  unsigned pending = 0;  // committed, not yet sent
  bool begun = false;
  std::byte* slot(unsigned k) { return buf.data() + std::size_t{slot_of[k]} * kSlot; }
};

std::vector<std::unique_ptr<afpacket_port>> afpacket_port::open(const afpacket_options& opts,
                                                                unsigned queues) {
  if (queues == 0) throw std::invalid_argument("afpacket: queues must be >= 1");
  if (opts.interface.empty() || opts.interface.size() >= IFNAMSIZ)
    throw std::invalid_argument("afpacket: bad interface name '" + opts.interface + "'");
  if (opts.ring_frames == 0 || opts.ring_frames % (kRingBlockSize / kRingFrameSize) != 0)
    throw std::invalid_argument("afpacket: ring_frames must be a positive multiple of 32");
  const unsigned ifindex = ::if_nametoindex(opts.interface.c_str());
  if (ifindex == 0) fail("interface '" + opts.interface + "'");
  // Before any socket exists, so no merged frame is queued to one.
  std::shared_ptr<nic_offloads> offloads;
  if (opts.offloads_off) offloads = std::make_shared<nic_offloads>(opts.interface);

  std::vector<std::unique_ptr<afpacket_port>> ports;
  for (unsigned q = 0; q < queues; ++q) {
    std::unique_ptr<afpacket_port> p(new afpacket_port());
    p->_queue = q;
    p->_offloads = offloads;
    p->setup_socket(opts, ifindex);
    // One group per port instance: the first socket asks the kernel for an unused id
    // (so several anvil processes never collide), the others join it.
    if (q == 0) {
      set_int(p->_fd, SOL_PACKET, PACKET_FANOUT,
              (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_UNIQUEID) << 16, "PACKET_FANOUT");
      int val = 0;
      socklen_t len = sizeof val;
      if (::getsockopt(p->_fd, SOL_PACKET, PACKET_FANOUT, &val, &len) != 0)
        fail("getsockopt PACKET_FANOUT");
      p->_fanout_id = val & 0xffff;
    } else {
      p->_fanout_id = ports[0]->_fanout_id;
      set_int(p->_fd, SOL_PACKET, PACKET_FANOUT, p->_fanout_id | (PACKET_FANOUT_HASH << 16),
              "PACKET_FANOUT (join)");
    }
    ports.push_back(std::move(p));
  }
  // Until every socket had joined, a bound socket outside the group would have seen a
  // duplicate of every frame; each carried a drop-all filter until now.
  for (auto& p : ports) {
    int dummy = 0;
    if (::setsockopt(p->_fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof dummy) != 0)
      fail("SO_DETACH_FILTER");
  }
  return ports;
}

void afpacket_port::setup_socket(const afpacket_options& opts, unsigned ifindex) {
  _mode = opts.rx_mode;
  _csum_policy = opts.csum_partial;
  // Protocol 0: no frame is queued before the socket is fully configured and bound.
  _fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (_fd < 0) fail("socket");

  sock_filter drop_all[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
  sock_fprog prog{1, drop_all};
  if (::setsockopt(_fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
    fail("SO_ATTACH_FILTER");
  set_int(_fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING");
  set_int(_fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS");

  ifreq ifr{};
  std::memcpy(ifr.ifr_name, opts.interface.c_str(), opts.interface.size());
  if (::ioctl(_fd, SIOCGIFFLAGS, &ifr) != 0) fail("SIOCGIFFLAGS " + opts.interface);
  if ((ifr.ifr_flags & IFF_UP) == 0) {
    errno = ENETDOWN;
    fail("interface '" + opts.interface + "' is down");
  }
  if (::ioctl(_fd, SIOCGIFHWADDR, &ifr) != 0) fail("SIOCGIFHWADDR " + opts.interface);
  mac_address if_mac;
  std::memcpy(if_mac.data(), ifr.ifr_hwaddr.sa_data, 6);
  _mac = opts.mac.value_or(if_mac);
  if (_mac != if_mac) {
    // Frames to a MAC that is not the interface's are filtered by a real NIC unless
    // it is promiscuous (a veth passes them up as PACKET_OTHERHOST either way).
    packet_mreq mr{};
    mr.mr_ifindex = static_cast<int>(ifindex);
    mr.mr_type = PACKET_MR_PROMISC;
    if (::setsockopt(_fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0)
      fail("PACKET_MR_PROMISC");
  }

  _tx = std::make_unique<tx_state>();
  _tx->buf.resize(kTxBatch * kSlot);
  if (_mode == afpacket_rx_mode::ring) {
    set_int(_fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2, "PACKET_VERSION");
    tpacket_req req{};
    req.tp_block_size = kRingBlockSize;
    req.tp_frame_size = kRingFrameSize;
    req.tp_block_nr = opts.ring_frames / (kRingBlockSize / kRingFrameSize);
    req.tp_frame_nr = opts.ring_frames;
    if (::setsockopt(_fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
      fail("PACKET_RX_RING");
    _ring_bytes = std::size_t{req.tp_block_size} * req.tp_block_nr;
    void* m =
        ::mmap(nullptr, _ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, _fd, 0);
    if (m == MAP_FAILED) fail("mmap RX ring");
    _ring = static_cast<std::byte*>(m);
    _ring_frames = opts.ring_frames;
  } else {
    set_int(_fd, SOL_PACKET, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR");
    _tx->with_vnet = true;
    int big = 4 << 20;
    if (::setsockopt(_fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0)
      (void)::setsockopt(_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    _mm = std::make_unique<mmsg_state>();
    _mm->buf.resize(kBurst * kSlot);
    for (std::size_t i = 0; i < kBurst; ++i) {
      _mm->iov[i] = {_mm->buf.data() + i * kSlot, kSlot};
      _mm->msgs[i].msg_hdr.msg_iov = &_mm->iov[i];
      _mm->msgs[i].msg_hdr.msg_iovlen = 1;
    }
  }
  for (std::size_t i = 0; i < kTxBatch; ++i) {
    auto& m = _tx->msgs[i].msg_hdr;
    m.msg_iov = _tx->with_vnet ? _tx->iov[i] : _tx->iov[i] + 1;
    m.msg_iovlen = _tx->with_vnet ? 2 : 1;
    _tx->slot_of[i] = static_cast<std::uint8_t>(i);
    _tx->iov[i][0] = {&_tx->vnet, sizeof _tx->vnet};
    _tx->iov[i][1] = {_tx->slot(static_cast<unsigned>(i)), 0};
  }

  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = static_cast<int>(ifindex);
  if (::bind(_fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
    fail("bind to " + opts.interface);
}

afpacket_port::~afpacket_port() {
  if (_ring != nullptr) ::munmap(_ring, _ring_bytes);
  if (_fd >= 0) ::close(_fd);
}

bool afpacket_port::accept_csum(csum_state c) {
  if (c != csum_state::partial) return true;
  if (_csum_policy == csum_partial_policy::drop) {
    _counters.rx_csum_dropped.add();
    return false;
  }
  _counters.rx_csum_partial.add();
  return true;
}

std::span<const rx_frame> afpacket_port::rx_burst() {
  return _mode == afpacket_rx_mode::ring ? rx_burst_ring() : rx_burst_mmsg();
}

std::span<const rx_frame> afpacket_port::rx_burst_ring() {
  auto slot = [this](unsigned i) {
    return reinterpret_cast<tpacket2_hdr*>(_ring + std::size_t{i} * kRingFrameSize);
  };
  // Give back what the previous burst handed out: the caller is done with it now.
  for (; _ring_held > 0; --_ring_held) {
    unsigned i = (_ring_head + _ring_frames - _ring_held) % _ring_frames;
    __atomic_store_n(&slot(i)->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  }
  std::size_t n = 0;
  std::uint64_t bytes = 0;
  for (unsigned seen = 0; seen < kBurst; ++seen) {
    tpacket2_hdr* h = slot(_ring_head);
    const unsigned status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    if ((status & TP_STATUS_USER) == 0) break;
    _ring_head = (_ring_head + 1) % _ring_frames;
    ++_ring_held;
    if (h->tp_len > kMaxFrame || h->tp_snaplen < h->tp_len) {
      _counters.rx_oversize.add();
      continue;
    }
    if (h->tp_len < kMinFrame) {
      _counters.rx_runt.add();
      continue;
    }
    csum_state c = (status & TP_STATUS_CSUMNOTREADY) ? csum_state::partial
                   : (status & TP_STATUS_CSUM_VALID) ? csum_state::verified
                                                     : csum_state::unknown;
    if (!accept_csum(c)) continue;
    _burst[n++] = {{reinterpret_cast<const std::byte*>(h) + h->tp_mac, h->tp_len}, c};
    bytes += h->tp_len;
  }
  if (n > 0) {
    _counters.rx_frames.add(n);
    _counters.rx_bytes.add(bytes);
  }
  return {_burst, n};
}

std::span<const rx_frame> afpacket_port::rx_burst_mmsg() {
  int got = ::recvmmsg(_fd, _mm->msgs, kBurst, MSG_DONTWAIT | MSG_TRUNC, nullptr);
  if (got <= 0) return {};
  std::size_t n = 0;
  std::uint64_t bytes = 0;
  for (int i = 0; i < got; ++i) {
    const auto& m = _mm->msgs[i];
    const std::byte* base = _mm->buf.data() + std::size_t(i) * kSlot;
    const std::size_t len = m.msg_len;
    if (len < sizeof(virtio_net_hdr) + kMinFrame) {
      _counters.rx_runt.add();
      continue;
    }
    virtio_net_hdr vh;
    std::memcpy(&vh, base, sizeof vh);
    const std::size_t flen = len - sizeof vh;
    if ((m.msg_hdr.msg_flags & MSG_TRUNC) || flen > kMaxFrame ||
        vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
      _counters.rx_oversize.add();
      continue;
    }
    csum_state c = (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)   ? csum_state::partial
                   : (vh.flags & VIRTIO_NET_HDR_F_DATA_VALID) ? csum_state::verified
                                                              : csum_state::unknown;
    if (!accept_csum(c)) continue;
    _burst[n++] = {{base + sizeof vh, flen}, c};
    bytes += flen;
  }
  if (n > 0) {
    _counters.rx_frames.add(n);
    _counters.rx_bytes.add(bytes);
  }
  return {_burst, n};
}

void afpacket_port::poll_stats() {
  tpacket_stats st{};  // TPACKET_V1/V2 layout (ring mode is V2, mmsg mode V1)
  socklen_t len = sizeof st;
  if (::getsockopt(_fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0 && st.tp_drops > 0)
    _counters.rx_kernel_drops.add(st.tp_drops);
}

std::span<std::byte> afpacket_port::begin_frame() {
  if (_tx->pending == kTxBatch) flush();
  if (_tx->pending == kTxBatch) {  // the device refused the whole batch: hold back
    _counters.tx_no_buffer.add();
    return {};
  }
  _tx->begun = true;
  return {_tx->slot(_tx->pending), kMaxFrame};
}

void afpacket_port::commit_frame(std::size_t len) {
  if (!_tx->begun) return;
  _tx->begun = false;
  if (len < kMinFrame || len > kMaxFrame) {
    _counters.tx_dropped.add();
    return;
  }
  _tx->iov[_tx->pending][1] = {_tx->slot(_tx->pending), len};
  ++_tx->pending;
}

namespace {
// sendmmsg errors that mean "not now" (full socket buffer or device queue, link down):
// the frames are fine and a later flush sends them. Anything else is about the frame.
bool transient_send_error(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == ENETDOWN || err == ENXIO ||
         err == ENOMEM;
}
}  // namespace

std::size_t afpacket_port::flush() {
  tx_state& t = *_tx;
  const unsigned count = t.pending;
  if (count == 0) return 0;
  unsigned done = 0, sent = 0;  // done: sent or dropped, from the front
  std::uint64_t bytes = 0;
  while (done < count) {
    const int r = ::sendmmsg(_fd, t.msgs + done, count - done, MSG_DONTWAIT);
    if (r > 0) {
      for (unsigned k = done; k < done + static_cast<unsigned>(r); ++k)
        bytes += t.iov[k][1].iov_len;
      done += static_cast<unsigned>(r);
      sent += static_cast<unsigned>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 || transient_send_error(errno)) break;  // keep the rest for the next flush
    _counters.tx_dropped.add();  // this frame can never leave (EMSGSIZE, EINVAL, ...)
    ++done;
  }
  _counters.tx_frames.add(sent);
  _counters.tx_bytes.add(bytes);
  const unsigned left = count - done;
  if (left > 0 && done > 0) {
    // Unsent frames move to the front, in order; the freed slots go to the back.
    std::rotate(t.slot_of, t.slot_of + done, t.slot_of + kTxBatch);
    for (unsigned k = 0; k < left; ++k) t.iov[k][1] = t.iov[k + done][1];
  }
  if (left > 0) _counters.tx_deferred.add(left);
  t.pending = left;
  t.begun = false;
  return sent;
}

}  // namespace anvil::port
