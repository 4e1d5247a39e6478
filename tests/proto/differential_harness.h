// The memcached side of the differential tests (binary: differential_test.cc, text:
// text_differential_test.cc, meta: meta_differential_test.cc): one stock memcached per
// test suite, and one request stream sent to it on a fresh loopback connection with its
// answer read back until the test's own end-of-answer rule holds, the peer closes, or
// kSilence passes without a byte. What a stream holds, how answers are normalised and
// how Anvil's side is driven stay in each test.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "tests/support/memcached_process.h"

namespace anvil::proto::testing {

// A connected TCP socket to 127.0.0.1:port with TCP_NODELAY, or -1.
inline int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

struct memcached_answer {
  std::string bytes;
  bool closed = false;  // memcached closed the connection (EOF or error)
};

// How long memcached may stay silent before the answer is taken as complete.
inline constexpr std::chrono::seconds kSilence{3};

// Sends `stream` on a fresh connection, writing and reading at once (a long stream
// must not deadlock on full socket buffers), until done(bytes so far) is true, EOF, or
// kSilence without a byte. A failed connect is a test failure and an empty answer.
template <typename Done>
memcached_answer exchange(int port, std::string_view stream, Done done) {
  memcached_answer w;
  const int fd = connect_loopback(port);
  EXPECT_GE(fd, 0) << "connect to memcached on port " << port;
  if (fd < 0) return w;
  std::size_t sent = 0;
  auto deadline = std::chrono::steady_clock::now() + kSilence;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, static_cast<short>(POLLIN | (sent < stream.size() ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if ((p.revents & POLLOUT) != 0 && sent < stream.size()) {
      const ssize_t n = ::send(fd, stream.data() + sent, stream.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
    }
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char buf[65536];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        w.closed = true;
        break;
      }
      w.bytes.append(buf, static_cast<std::size_t>(n));
      deadline = std::chrono::steady_clock::now() + kSilence;
      if (done(std::string_view(w.bytes))) break;
    }
  }
  ::close(fd);
  return w;
}

// A gtest fixture (Base: ::testing::Test or TestWithParam<...>) whose suite shares one
// memcached: the derived fixture's SetUpTestSuite calls start_memcached(its -B and other
// flags); tests GTEST_SKIP when mc() is null (no runnable memcached). `Self` keeps each
// suite's process its own.
template <typename Self, typename Base = ::testing::Test>
class memcached_suite : public Base {
 protected:
  static void start_memcached(std::initializer_list<const char*> args) {
    _mc = new test::memcached_process;
    if (!_mc->start(args)) {
      delete _mc;
      _mc = nullptr;
    }
  }
  static void TearDownTestSuite() {
    delete _mc;
    _mc = nullptr;
  }
  static test::memcached_process* mc() { return _mc; }

 private:
  static inline test::memcached_process* _mc = nullptr;
};

}  // namespace anvil::proto::testing
