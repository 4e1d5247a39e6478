#include "control/replication/tcp_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace anvil::replication {

namespace {

std::string err(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool to_addr(const std::string& ip, std::uint16_t port, sockaddr_in& a, std::string& why) {
  std::memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) {
    why = "not an IPv4 address: '" + ip + "'";
    return false;
  }
  return true;
}

void set_nodelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

int tcp_listen(const std::string& ip, std::uint16_t& port, std::string& why) {
  sockaddr_in a;
  if (!to_addr(ip, port, a, why)) return -1;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    why = err("socket");
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0) {
    why = "bind/listen on " + ip + ":" + std::to_string(port) + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

int tcp_accept(int listen_fd, std::chrono::milliseconds wait, std::string& why) {
  pollfd p{listen_fd, POLLIN, 0};
  const int r = ::poll(&p, 1, static_cast<int>(wait.count()));
  if (r <= 0) return -1;
  const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) {
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) why = err("accept");
    return -1;
  }
  set_nodelay(fd);
  return fd;
}

int tcp_connect(const std::string& ip, std::uint16_t port, std::chrono::milliseconds timeout,
                std::string& why) {
  sockaddr_in a;
  if (!to_addr(ip, port, a, why)) return -1;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    why = err("socket");
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    why = err("connect");
    tcp_close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
    why = "connect: no answer within " + std::to_string(timeout.count()) + " ms";
    tcp_close(fd);
    return -1;
  }
  int soerr = 0;
  socklen_t len = sizeof soerr;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
  if (soerr != 0) {
    why = std::string("connect: ") + std::strerror(soerr);
    tcp_close(fd);
    return -1;
  }
  set_nodelay(fd);
  return fd;
}

bool tcp_send_all(int fd, std::string_view data, std::chrono::milliseconds timeout,
                  std::string& why) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      why = err("send");
      return false;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      why = "send: the peer read nothing for " + std::to_string(timeout.count()) + " ms";
      return false;
    }
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
  return true;
}

long tcp_recv_some(int fd, std::span<std::byte> buf, std::chrono::milliseconds wait,
                   std::string& why) {
  pollfd p{fd, POLLIN, 0};
  const int r = ::poll(&p, 1, static_cast<int>(wait.count()));
  if (r < 0 && errno != EINTR) {
    why = err("poll");
    return -1;
  }
  if (r <= 0) return 0;
  const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
  if (n == 0) {
    why = "the peer closed the connection";
    return -1;
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return 0;
    why = err("recv");
    return -1;
  }
  return n;
}

void tcp_close(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace anvil::replication
