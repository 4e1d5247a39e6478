// A minimal HTTP/1.0 GET for the health tests: to 127.0.0.1:port inside a network
// namespace (the node's admin API, a Prometheus started there). A test client only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "tests/support/netns.h"

namespace anvil::health::test {

struct http_reply {
  int status = 0;  // 0: no answer
  std::string body;
};

// One HTTP/1.0 GET to 127.0.0.1:port inside namespace `ns` (a test client, nothing more).
inline http_reply http_get(const std::string& ns, std::uint16_t port, const std::string& path) {
  http_reply r;
  int fd = -1;
  try {
    fd = anvil::test::socket_in_netns(ns, AF_INET, SOCK_STREAM, 0);
  } catch (const std::exception&) {
    return r;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return r;
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return r;
  }
  std::string all;
  char buf[8192];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    all.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  const auto sp = all.find(' ');
  const auto end = all.find("\r\n\r\n");
  if (all.rfind("HTTP/", 0) != 0 || sp == std::string::npos || end == std::string::npos) return r;
  r.status = std::atoi(all.c_str() + sp + 1);
  r.body = all.substr(end + 4);
  return r;
}

}  // namespace anvil::health::test
