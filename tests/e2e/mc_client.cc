#include "tests/e2e/mc_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "tests/support/netns.h"

namespace anvil::e2e {

mc_client::mc_client(const std::string& ns, const std::string& ip, std::uint16_t port,
                     std::chrono::milliseconds timeout) {
  try {
    _fd = test::socket_in_netns(ns, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  } catch (const std::exception& e) {
    _error = e.what();
    return;
  }
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  ::setsockopt(_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  // connect() honours SO_SNDTIMEO, so a server that never answers the SYN times out.
  if (::connect(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    _error = std::string("connect: ") + std::strerror(errno);
}

mc_client::~mc_client() {
  if (_fd >= 0) ::close(_fd);
}

bool mc_client::send_bytes(const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(_fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      _error = std::string("send: ") + (n == 0 ? "0" : std::strerror(errno));
      return false;
    }
    off += std::size_t(n);
  }
  return true;
}

std::optional<std::string> mc_client::read_response() {
  for (;;) {
    auto* p = reinterpret_cast<const unsigned char*>(_in.data());
    if (std::size_t n = complete_response(p, _in.size()); n > 0) {
      std::string r = _in.substr(0, n);
      _in.erase(0, n);
      return r;
    }
    char buf[65536];
    ssize_t n = ::recv(_fd, buf, sizeof buf, 0);
    if (n <= 0) {
      _error =
          n == 0 ? "connection closed by the server" : std::string("recv: ") + std::strerror(errno);
      if (!_in.empty()) _error += " (partial response: " + hex(_in) + ")";
      return std::nullopt;
    }
    _in.append(buf, std::size_t(n));
  }
}

bool mc_client::set(const std::string& key, const std::string& value, std::uint32_t flags) {
  if (!send_bytes(set_request(key, value, flags))) return false;
  auto r = read_response();
  if (!r) return false;
  response v{reinterpret_cast<const unsigned char*>(r->data())};
  if (v.magic() != kResponseMagic || v.opcode() != op_set || v.status() != 0) {
    _error = "SET answered " + hex(*r);
    return false;
  }
  return true;
}

std::optional<std::string> mc_client::get(const std::string& key) {
  if (!send_bytes(request(op_get, key))) return std::nullopt;
  auto r = read_response();
  if (!r) return std::nullopt;
  response v{reinterpret_cast<const unsigned char*>(r->data())};
  if (v.magic() != kResponseMagic || v.opcode() != op_get || !v.sane()) {
    _error = "GET answered " + hex(*r);
    return std::nullopt;
  }
  if (v.status() != 0) {
    _error = "GET status " + std::to_string(v.status());
    return std::nullopt;
  }
  return std::string(v.value());
}

std::map<std::string, std::string> mc_client::stats(const std::string& group) {
  std::map<std::string, std::string> out;
  if (!send_bytes(request(op_stat, group))) return out;
  for (int i = 0; i < 10000; ++i) {
    auto r = read_response();
    if (!r) break;
    response v{reinterpret_cast<const unsigned char*>(r->data())};
    if (v.magic() != kResponseMagic || v.opcode() != op_stat || v.status() != 0 || !v.sane() ||
        v.key_len() == 0)
      break;
    out.emplace(std::string(v.key()), std::string(v.value()));
  }
  return out;
}

std::string control_check(const std::string& ns, const std::string& ip, std::uint16_t port) {
  static std::atomic<int> n{0};
  mc_client c(ns, ip, port);
  if (!c.ok()) return "control client: " + c.error();
  const std::string key = "control:" + std::to_string(::getpid()) + ":" + std::to_string(n++);
  const std::string value = "control value for " + key + std::string(1500, 'c');
  if (!c.set(key, value, 7)) return "control SET " + key + ": " + c.error();
  auto got = c.get(key);
  if (!got) return "control GET " + key + ": " + c.error();
  if (*got != value) return "control GET " + key + " returned a wrong value: " + hex(*got);
  return "";
}

long long stat_value(const std::string& ns, const std::string& ip, std::uint16_t port,
                     const std::string& name) {
  mc_client c(ns, ip, port);
  if (!c.ok()) return -1;
  auto s = c.stats();
  auto it = s.find(name);
  return it == s.end() ? -1 : std::stoll(it->second);
}

}  // namespace anvil::e2e
