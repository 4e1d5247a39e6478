#include "control/cluster/heartbeat_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "control/cluster/heartbeat.h"

namespace anvil::cluster {

heartbeat_socket::heartbeat_socket(const std::string& host, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1)
    throw std::runtime_error("heartbeat address '" + host + "' is not IPv4");
  _fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (_fd < 0) throw std::runtime_error(std::string("heartbeat socket: ") + std::strerror(errno));
  if (::bind(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const int e = errno;
    ::close(_fd);
    throw std::runtime_error("heartbeat bind " + host + ":" + std::to_string(port) + ": " +
                             std::strerror(e));
  }
  socklen_t len = sizeof a;
  ::getsockname(_fd, reinterpret_cast<sockaddr*>(&a), &len);
  _port = ntohs(a.sin_port);
}

heartbeat_socket::~heartbeat_socket() {
  if (_fd >= 0) ::close(_fd);
}

bool heartbeat_socket::send_to(const peer_address& to, std::span<const std::uint8_t> bytes) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(to.port);
  if (::inet_pton(AF_INET, to.host.c_str(), &a.sin_addr) != 1) return false;
  return ::sendto(_fd, bytes.data(), bytes.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&a),
                  sizeof a) == static_cast<ssize_t>(bytes.size());
}

std::size_t heartbeat_socket::drain(const receiver& fn, std::size_t max_datagrams) {
  std::uint8_t buf[kMaxPacket + 1];
  std::size_t n = 0;
  for (; n < max_datagrams; ++n) {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t got = ::recvfrom(_fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC,
                                   reinterpret_cast<sockaddr*>(&from), &len);
    if (got < 0) break;  // EAGAIN: nothing left (other errors: try again next round)
    char host[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &from.sin_addr, host, sizeof host);
    // With MSG_TRUNC, `got` is the datagram's real length: over our buffer = oversized.
    const bool truncated = static_cast<std::size_t>(got) > kMaxPacket;
    const std::size_t kept = truncated ? sizeof buf : static_cast<std::size_t>(got);
    fn(std::span<const std::uint8_t>(buf, kept), host, truncated);
  }
  return n;
}

}  // namespace anvil::cluster
