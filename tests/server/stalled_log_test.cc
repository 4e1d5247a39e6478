// The anvil binary with its log on a filesystem whose writes stall (anvil_faultfs in
// stall_write: a disk busy with writeback, a journald that does not read). Before the
// log had its own thread, the control thread blocked in write(2) at the first line:
// start-up stopped between two log lines (the two-lcore "start hang": event=port_open,
// then no event=started), nothing was served and SIGTERM was not handled. Now:
//   - it starts and serves while the log is stalled;
//   - SIGTERM stops it while the log is still stalled (its control thread exits within
//     the shutdown and log-drain bounds);
//   - a stall shorter than the log queue loses no line.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>

#include "tests/io/fault_env.h"
#include "tests/server/anvil_process.h"
#include "tests/support/netns.h"
#include "tests/support/testnet.h"

namespace anvil::test {
namespace {

using namespace std::chrono_literals;

class config_file {
 public:
  explicit config_file(const testnet& net) {
    _path = "/tmp/anvil-stalled-" + std::to_string(::getpid()) + ".toml";
    std::ofstream(_path) << "[network]\nport_type = \"afpacket\"\ninterface = \"" << net.stack_if()
                         << "\"\nip = \"" << net.stack_ip()
                         << "\"\n[lcores]\nidle = \"backoff\"\nidle_sleep_us = 200\nidle_spin = "
                            "100\n";
  }
  ~config_file() { std::remove(_path.c_str()); }
  const std::string& path() const { return _path; }

 private:
  std::string _path;
};

// Lifts the stall before the process object is destroyed (declared after it): killing a
// process blocked in a write the FUSE daemon holds would otherwise wait forever.
struct lift_stall {
  io::test::fuse_fault_fs& fs;
  ~lift_stall() { fs.set_mode("normal"); }
};

// One text-protocol `version` over TCP from the client namespace: the answer's first
// line, or "" when there is none within a second.
std::string version_over_tcp(const testnet& net) {
  const int fd = socket_in_netns(net.client_ns(), AF_INET, SOCK_STREAM, 0);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(11211);
  ::inet_pton(AF_INET, net.stack_ip().c_str(), &a.sin_addr);
  std::string line;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::send(fd, "version\r\n", 9, MSG_NOSIGNAL) == 9) {
    char buf[128];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) line.assign(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return line.substr(0, line.find('\r'));
}

bool serves_within(const testnet& net, std::chrono::seconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < deadline) {
    if (version_over_tcp(net).rfind("VERSION ", 0) == 0) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

// The process's main (control) thread has returned from main or called _Exit: it is a
// zombie, or the whole process is gone. A thread still inside a stalled write(2) keeps
// the rest of an exiting process around until the write returns; that is the kernel's.
bool control_thread_exited(pid_t pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(st, line)) return true;
  const auto close_paren = line.rfind(')');
  return close_paren != std::string::npos && line.size() > close_paren + 2 &&
         (line[close_paren + 2] == 'Z' || line[close_paren + 2] == 'X');
}

TEST(AnvilStalledLog, ServesAndStopsWhileItsLogIsStalled) {
  io::test::fuse_fault_fs fs(ANVIL_FAULTFS_BIN);
  testnet net;
  config_file conf(net);
  fs.set_mode("stall_write");  // from the first line on
  anvil_process p({"--config", conf.path(), "-t", "2"}, net.stack_ns(), fs.mnt());
  lift_stall guard{fs};
  EXPECT_TRUE(serves_within(net, 20s))
      << "no VERSION answer while the log is stalled: start-up waits for the log";
  p.signal(SIGTERM);
  bool exited = false;
  for (int i = 0; i < 200 && !(exited = control_thread_exited(p.pid())); ++i)
    std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(exited) << "SIGTERM not handled within 20 s while the log is stalled";
  fs.set_mode("normal");
  const auto rc = p.wait(15s);
  ASSERT_TRUE(rc.has_value()) << "did not exit once the stall was lifted:\n" << p.log();
  EXPECT_EQ(*rc, 0) << p.log();
}

TEST(AnvilStalledLog, AStallShorterThanTheLogQueueLosesNoLine) {
  io::test::fuse_fault_fs fs(ANVIL_FAULTFS_BIN);
  testnet net;
  config_file conf(net);
  fs.set_mode("stall_write");
  anvil_process p({"--config", conf.path(), "-t", "2"}, net.stack_ns(), fs.mnt());
  lift_stall guard{fs};
  ASSERT_TRUE(serves_within(net, 20s)) << "no VERSION answer while the log is stalled";
  fs.set_mode("normal");
  ASSERT_TRUE(p.wait_for_log("event=started", 10s)) << p.log();
  p.signal(SIGTERM);
  const auto rc = p.wait(15s);
  ASSERT_TRUE(rc.has_value()) << p.log();
  EXPECT_EQ(*rc, 0) << p.log();
  const std::string log = p.log();
  EXPECT_EQ(log.rfind("20", 0), 0u) << "the first line is a log line:\n" << log;
  EXPECT_NE(log.find("event=config "), std::string::npos) << log;
  EXPECT_NE(log.find("event=port_open "), std::string::npos) << log;
  EXPECT_NE(log.find("event=stopped unfinished_connections=0 log_lines_dropped=0 "),
            std::string::npos)
      << log;
}

}  // namespace
}  // namespace anvil::test
