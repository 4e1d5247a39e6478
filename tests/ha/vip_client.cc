#include "tests/ha/vip_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "tests/e2e/binproto.h"

namespace anvil::ha {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

std::string test_key(const std::string& prefix, std::uint64_t i) {
  return prefix + std::to_string(i);
}
std::string test_value(const std::string& prefix, std::uint64_t i) {
  return "v" + std::to_string(i * 2654435761u % 1000003u) + "-" + prefix + std::to_string(i);
}

vip_client::vip_client(std::string ip, std::uint16_t port, std::chrono::milliseconds op_timeout,
                       std::function<int()> make_socket)
    : _ip(std::move(ip)), _port(port), _timeout(op_timeout), _make_socket(std::move(make_socket)) {
  if (!_make_socket) _make_socket = [] { return ::socket(AF_INET, SOCK_STREAM, 0); };
}

vip_client::~vip_client() {
  if (_fd >= 0) ::close(_fd);
}

void vip_client::drop(const std::string& why) {
  if (_fd >= 0) ::close(_fd);
  _fd = -1;
  ++_failures;
  _last_error = why;
}

bool vip_client::ensure_connected() {
  if (_fd >= 0) return true;
  _fd = _make_socket();
  if (_fd < 0) {
    _last_error = std::string("socket: ") + std::strerror(errno);
    ++_failures;
    return false;
  }
  ::fcntl(_fd, F_SETFL, ::fcntl(_fd, F_GETFL) | O_NONBLOCK);
  const int one = 1;
  ::setsockopt(_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(_port);
  ::inet_pton(AF_INET, _ip.c_str(), &a.sin_addr);
  ++_connects;
  if (::connect(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    drop(std::string("connect: ") + std::strerror(errno));
    return false;
  }
  pollfd p{_fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(_timeout.count())) != 1) {
    drop("connect: no answer within the deadline");
    return false;
  }
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(_fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    drop(std::string("connect: ") + std::strerror(err));
    return false;
  }
  return true;
}

bool vip_client::exchange(const std::string& request, std::string& response) {
  if (!ensure_connected()) return false;
  const auto deadline = clock::now() + _timeout;
  auto left_ms = [&] {
    return static_cast<int>(std::max<long>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count()));
  };
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(_fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN) {
      drop(std::string("send: ") + std::strerror(errno));
      return false;
    }
    pollfd p{_fd, POLLOUT, 0};
    if (::poll(&p, 1, left_ms()) != 1) {
      drop("send: deadline");
      return false;
    }
  }
  std::string buf;
  char tmp[4096];
  for (;;) {
    const std::size_t whole =
        e2e::complete_response(reinterpret_cast<const unsigned char*>(buf.data()), buf.size());
    if (whole != 0) {
      response = buf.substr(0, whole);
      if (whole != buf.size()) {
        drop("more bytes than one response");
        return false;
      }
      return true;
    }
    pollfd p{_fd, POLLIN, 0};
    if (::poll(&p, 1, left_ms()) != 1) {
      drop("receive: deadline");
      return false;
    }
    const ssize_t n = ::recv(_fd, tmp, sizeof tmp, 0);
    if (n <= 0) {
      drop(n == 0 ? "receive: connection closed" : std::string("receive: ") + std::strerror(errno));
      return false;
    }
    buf.append(tmp, static_cast<std::size_t>(n));
  }
}

op_result vip_client::set(const std::string& key, const std::string& value) {
  const std::uint32_t opaque = ++_opaque;
  std::string resp;
  if (!exchange(e2e::set_request(key, value, 0, opaque), resp)) return op_result::failed;
  e2e::response r{reinterpret_cast<const unsigned char*>(resp.data())};
  if (r.magic() != e2e::kResponseMagic || r.opaque() != opaque || !r.sane()) {
    drop("malformed SET response");
    return op_result::failed;
  }
  _last_status = r.status();
  return r.status() == 0 ? op_result::ok : op_result::failed;
}

op_result vip_client::get(const std::string& key, std::string& value) {
  const std::uint32_t opaque = ++_opaque;
  std::string resp;
  if (!exchange(e2e::request(e2e::op_get, key, {}, {}, opaque), resp)) return op_result::failed;
  e2e::response r{reinterpret_cast<const unsigned char*>(resp.data())};
  if (r.magic() != e2e::kResponseMagic || r.opaque() != opaque || !r.sane()) {
    drop("malformed GET response");
    return op_result::failed;
  }
  _last_status = r.status();
  if (r.status() == 1) return op_result::miss;
  if (r.status() != 0) return op_result::failed;
  value = std::string(r.value());
  return op_result::ok;
}

bool vip_client::serves() {
  std::string v;
  return get("ha-probe-key", v) != op_result::failed;
}

std::chrono::system_clock::time_point vip_client::wait_serving(std::chrono::milliseconds bound) {
  const auto until = clock::now() + bound;
  while (clock::now() < until) {
    if (serves()) return std::chrono::system_clock::now();
    std::this_thread::sleep_for(5ms);
  }
  return {};
}

}  // namespace anvil::ha
