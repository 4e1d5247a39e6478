// Broadcasts an ARP request for the VIP every `interval` from an interface, each carrying
// a sequence number in its target hardware address (see arp_owners.h), so that a capture
// can be cut into probe windows. Every station that believes it owns the VIP answers
// every probe. Runs on its own thread from start() until stop() or destruction.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "tests/ha/arp_owners.h"

namespace anvil::ha {

// One probe frame (60 bytes, Ethernet + ARP request + padding), for the tests and the tool.
std::string probe_frame(const mac& src, std::uint32_t src_ip, std::uint32_t vip, std::uint64_t seq);

class arp_probe {
 public:
  // `fd` is an AF_PACKET socket (the caller opens it, in the right namespace); the probe
  // owns and closes it. Sender MAC and IP are the client's own.
  arp_probe(int fd, unsigned ifindex, const mac& src, const std::string& src_ip,
            const std::string& vip, std::chrono::milliseconds interval);
  ~arp_probe();
  arp_probe(const arp_probe&) = delete;
  arp_probe& operator=(const arp_probe&) = delete;

  void start();
  void stop();
  std::uint64_t sent() const { return _sent.load(); }
  std::uint64_t send_errors() const { return _errors.load(); }

  // Opens the packet socket for `ifname` in the calling thread's namespace.
  static int open_socket(const std::string& ifname, unsigned& ifindex, mac& addr);

 private:
  int _fd;
  unsigned _ifindex;
  mac _src;
  std::uint32_t _src_ip = 0, _vip = 0;
  std::chrono::milliseconds _interval;
  std::atomic<bool> _stop{false};
  std::atomic<std::uint64_t> _sent{0}, _errors{0};
  std::thread _thread;
};

}  // namespace anvil::ha
