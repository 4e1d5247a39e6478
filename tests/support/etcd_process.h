// A real etcd (Debian's /usr/bin/etcd, 3.4) on loopback for the HA tests: one member or
// a cluster of several, each on kernel-picked free ports with a temporary data
// directory, tuned for fast elections (heartbeat 50 ms, election timeout 500 ms). Members
// are stopped/continued/killed by PID only; the destructor kills them (SIGKILL) and
// removes the data. A crashed test takes them down too (PR_SET_PDEATHSIG). Header-only.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/memcached_process.h"
#include "tests/support/temp_dir.h"

namespace anvil::test {

class etcd_cluster {
 public:
  static constexpr const char* kPath = "/usr/bin/etcd";

  static bool available() { return ::access(kPath, X_OK) == 0; }

  explicit etcd_cluster(int members) : _dir("anvil-etcd") {
    const std::string token =
        "anvil-test-" + std::to_string(::getpid()) + "-" +
        std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    std::string initial;
    for (int i = 0; i < members; ++i) {
      member m;
      m.name = "m" + std::to_string(i);
      m.client_port = memcached_process::free_port();
      m.peer_port = memcached_process::free_port();
      while (m.peer_port == m.client_port) m.peer_port = memcached_process::free_port();
      initial += (initial.empty() ? "" : ",") + m.name +
                 "=http://127.0.0.1:" + std::to_string(m.peer_port);
      _members.push_back(m);
    }
    for (auto& m : _members) {
      const std::string client = "http://127.0.0.1:" + std::to_string(m.client_port);
      const std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
      m.args = {kPath,
                "--name=" + m.name,
                "--data-dir=" + _dir.path() + "/" + m.name,
                "--listen-client-urls=" + client,
                "--advertise-client-urls=" + client,
                "--listen-peer-urls=" + peer,
                "--initial-advertise-peer-urls=" + peer,
                "--initial-cluster=" + initial,
                "--initial-cluster-state=new",
                "--initial-cluster-token=" + token,
                "--heartbeat-interval=50",
                "--election-timeout=500",
                "--logger=zap",
                "--log-outputs=" + _dir.path() + "/" + m.name + ".log"};
      spawn(m);
    }
  }

  ~etcd_cluster() {
    for (auto& m : _members) kill(m);
  }
  etcd_cluster(const etcd_cluster&) = delete;
  etcd_cluster& operator=(const etcd_cluster&) = delete;

  // Waits (bounded) until every running member answers /health with true.
  bool wait_healthy(std::chrono::milliseconds bound = std::chrono::seconds(20)) const {
    const auto until = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < until) {
      bool all = true;
      for (const auto& m : _members)
        if (m.pid > 0 && !m.stopped && !healthy(m.client_port)) all = false;
      if (all) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (const auto& m : _members) out.push_back(url(m.client_port));
    return out;
  }
  std::string endpoint(int i) const { return url(_members[i].client_port); }
  // SIGSTOP: the member keeps its sockets but answers nothing (connections hang).
  void stop(int i) {
    ::kill(_members[i].pid, SIGSTOP);
    _members[i].stopped = true;
  }
  void resume(int i) {
    ::kill(_members[i].pid, SIGCONT);
    _members[i].stopped = false;
  }
  void kill(int i) { kill(_members[i]); }
  const std::string& dir() const { return _dir.path(); }

 private:
  struct member {
    std::string name;
    int client_port = 0, peer_port = 0;
    std::vector<std::string> args;
    pid_t pid = -1;
    bool stopped = false;
  };

  static std::string url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

  static void spawn(member& m) {
    std::vector<char*> argv;
    for (auto& a : m.args) argv.push_back(a.data());
    argv.push_back(nullptr);
    m.pid = ::fork();
    if (m.pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::execv(kPath, argv.data());
      ::_exit(127);
    }
  }

  static void kill(member& m) {
    if (m.pid <= 0) return;
    ::kill(m.pid, SIGKILL);
    int st = 0;
    ::waitpid(m.pid, &st, 0);
    m.pid = -1;
  }

  // GET /health over a plain socket with a short timeout (no HTTP library needed here).
  static bool healthy(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{0, 300000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      const std::string req = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
      if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
        std::string reply;
        char buf[512];
        ssize_t n;
        while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
        ok = reply.find("\"health\":\"true\"") != std::string::npos;
      }
    }
    ::close(fd);
    return ok;
  }

  temp_dir _dir;
  std::vector<member> _members;
};

}  // namespace anvil::test
