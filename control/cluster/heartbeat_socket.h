// Kernel UDP for heartbeats on the management network: one non-blocking socket bound to
// the management address, sending a datagram to each peer and draining what arrived.
// A datagram larger than kMaxPacket is reported truncated (MSG_TRUNC), never read past
// the buffer. The control side only: never an lcore.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "control/cluster/peer_table.h"

namespace anvil::cluster {

class heartbeat_socket {
 public:
  // Binds host:port (port 0: the kernel picks; see port()). Throws std::runtime_error
  // with the reason when it cannot.
  heartbeat_socket(const std::string& host, std::uint16_t port);
  ~heartbeat_socket();
  heartbeat_socket(const heartbeat_socket&) = delete;
  heartbeat_socket& operator=(const heartbeat_socket&) = delete;

  std::uint16_t port() const { return _port; }
  // False when the kernel refused the datagram (e.g. no route): heartbeats are best effort.
  bool send_to(const peer_address& to, std::span<const std::uint8_t> bytes);
  // Calls `fn(bytes, source host, truncated)` for every datagram waiting; returns how many.
  using receiver = std::function<void(std::span<const std::uint8_t>, const std::string&, bool)>;
  std::size_t drain(const receiver& fn, std::size_t max_datagrams = 256);
  int fd() const { return _fd; }

 private:
  int _fd = -1;
  std::uint16_t _port = 0;
};

}  // namespace anvil::cluster
