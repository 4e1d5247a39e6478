// anvil under systemd's Type=notify (tools/deploy/anvil.service): with NOTIFY_SOCKET set
// it sends READY=1 only after it logged event=started (snapshot restored, every lcore
// polling), and STOPPING=1 when SIGTERM begins the shutdown. The test plays systemd: a
// unix datagram socket whose path it hands to the server.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <fstream>

#include "tests/server/anvil_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testnet.h"

namespace anvil::test {
namespace {

using namespace std::chrono_literals;

class notify_socket {
 public:
  explicit notify_socket(const std::string& path) : _path(path) {
    _fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path.copy(a.sun_path, sizeof a.sun_path - 1);
    if (::bind(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::abort();
  }
  ~notify_socket() { ::close(_fd); }
  // The next datagram, or "" when none comes within `timeout`.
  std::string next(std::chrono::milliseconds timeout) {
    pollfd p{_fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return "";
    char buf[4096];
    const ssize_t n = ::recv(_fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  }

 private:
  std::string _path;
  int _fd = -1;
};

TEST(ServiceNotify, ReadyAfterStartedAndStoppingOnSigterm) {
  testnet net;
  temp_dir dir("anvil-notify");
  notify_socket systemd(dir.path() + "/notify");
  const std::string conf = dir.path() + "/anvil.toml";
  std::ofstream(conf) << "[network]\nport_type = \"afpacket\"\ninterface = \"" << net.stack_if()
                      << "\"\nip = \"" << net.stack_ip()
                      << "\"\n[lcores]\nidle = \"backoff\"\nidle_sleep_us = 200\n";
  ::setenv("NOTIFY_SOCKET", (dir.path() + "/notify").c_str(), 1);
  anvil_process p({"--config", conf, "-t", "2"}, net.stack_ns());
  ::unsetenv("NOTIFY_SOCKET");

  const std::string ready = systemd.next(20s);
  ASSERT_NE(ready.find("READY=1"), std::string::npos) << "no READY=1\n" << p.log();
  EXPECT_NE(ready.find("STATUS=serving on " + net.stack_ip() + ":11211 with 2 lcores"),
            std::string::npos)
      << ready;
  EXPECT_NE(p.log().find("event=started"), std::string::npos)
      << "READY=1 came before the server had started\n"
      << p.log();

  p.signal(SIGTERM);
  const std::string stopping = systemd.next(10s);
  EXPECT_NE(stopping.find("STOPPING=1"), std::string::npos) << stopping << "\n" << p.log();
  auto rc = p.wait(20s);
  ASSERT_TRUE(rc.has_value()) << p.log();
  EXPECT_EQ(*rc, 0) << p.log();
  EXPECT_EQ(systemd.next(100ms), "") << "nothing after STOPPING=1";
}

}  // namespace
}  // namespace anvil::test
