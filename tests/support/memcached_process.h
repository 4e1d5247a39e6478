// A stock memcached (Debian's /usr/bin/memcached) started on a free loopback port for
// the tests that compare against it or drive it (the protocol differential test, the
// load generator's integration test). The destructor stops it by its PID only; a
// test that crashes takes it down too (PR_SET_PDEATHSIG). Header-only, so any test
// folder can use it whatever order meson configures the folders in.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

namespace anvil::test {

class memcached_process {
 public:
  static constexpr const char* kPath = "/usr/bin/memcached";

  memcached_process() = default;
  memcached_process(const memcached_process&) = delete;
  memcached_process& operator=(const memcached_process&) = delete;

  // Starts memcached (1 thread, 64 MB, no UDP) with `extra_args` appended, e.g.
  // {"-B", "binary"}, and waits up to 5 s for it to accept a connection. False when
  // there is no runnable memcached or it never listened.
  bool start(std::initializer_list<const char*> extra_args = {}) {
    if (::access(kPath, X_OK) != 0) return false;
    _port = free_port();
    const std::string port = std::to_string(_port);
    std::vector<const char*> argv = {kPath, "-l", "127.0.0.1", "-p", port.c_str(), "-U",
                                     "0",   "-t", "1",         "-m", "64"};
    argv.insert(argv.end(), extra_args);
    if (::geteuid() == 0) {  // memcached refuses to run as root without -u
      argv.push_back("-u");
      argv.push_back("root");
    }
    argv.push_back(nullptr);
    _pid = ::fork();
    if (_pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive a crashed test
      ::execv(kPath, const_cast<char* const*>(argv.data()));
      ::_exit(127);
    }
    for (int i = 0; i < 100; ++i) {
      if (accepts(_port)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  ~memcached_process() {
    if (_pid > 0) {
      ::kill(_pid, SIGTERM);
      int st = 0;
      ::waitpid(_pid, &st, 0);
    }
  }

  int port() const { return _port; }

  // A loopback port the kernel picked as free (SOCK_STREAM: TCP, SOCK_DGRAM: UDP),
  // released for a server to bind.
  static int free_port(int sock_type = SOCK_STREAM) {
    const int fd = ::socket(AF_INET, sock_type, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
  }

 private:
  static bool accepts(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }

  pid_t _pid = -1;
  int _port = 0;
};

}  // namespace anvil::test
