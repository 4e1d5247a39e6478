// Integration: anvil-loadgen (the binary, path in $ANVIL_LOADGEN) against a real
// memcached on loopback that this test starts and stops by its PID, and against a tiny
// in-test server that answers GETs with a wrong value, to prove errors are counted and
// turn into a non-zero exit.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/memcached_process.h"

namespace {

using anvil::test::memcached_process;

int listen_loopback(int& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

// Runs the load generator; returns its exit code (-1 if it did not exit normally) and
// leaves its JSON result in `result` (null when it wrote none).
int run_loadgen(int port, const std::string& extra, nlohmann::json& result) {
  const char* exe = std::getenv("ANVIL_LOADGEN");
  if (exe == nullptr) return -1;
  char path[] = "/tmp/loadgen-test-XXXXXX";
  const int fd = ::mkstemp(path);
  ::close(fd);
  const std::string cmd = std::string(exe) + " -q -s 127.0.0.1 -p " + std::to_string(port) +
                          " --json " + path + " " + extra;
  const int st = std::system(cmd.c_str());
  const int exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  ::unlink(path);
  if (!ss.str().empty()) result = nlohmann::json::parse(ss.str());
  return exit_code;
}

TEST(LoadgenMemcached, PipelinedMixWithVerificationHasNoErrors) {
  ASSERT_NE(std::getenv("ANVIL_LOADGEN"), nullptr);
  memcached_process mc;
  if (!mc.start()) GTEST_SKIP() << "no runnable " << memcached_process::kPath;
  nlohmann::json j;
  const int rc = run_loadgen(
      mc.port(), "-c 8 -t 2 -P 16 -k 5000 -d 32 -r 0.9 -D 1 --verify --miss-is-error", j);
  ASSERT_EQ(rc, 0) << j.dump(2);
  EXPECT_EQ(j["connections_open"], 8);
  EXPECT_EQ(j["prefilled"], 5000);
  EXPECT_GT(j["requests"].get<std::uint64_t>(), 1000u);
  EXPECT_EQ(j["errors"]["total"], 0);
  EXPECT_EQ(j["get_misses"], 0);
  EXPECT_EQ(j["requests"], j["gets"].get<std::uint64_t>() + j["sets"].get<std::uint64_t>());
  const double get_share = j["gets"].get<double>() / j["requests"].get<double>();
  EXPECT_NEAR(get_share, 0.9, 0.03);
  EXPECT_GT(j["throughput_rps"].get<double>(), 0);
  const auto& lat = j["latency_us"]["all"];
  EXPECT_LE(lat["p50"].get<double>(), lat["p99"].get<double>());
  EXPECT_LE(lat["p99"].get<double>(), lat["p999"].get<double>());
}

TEST(LoadgenMemcached, RequestBoundIsExact) {
  memcached_process mc;
  if (!mc.start()) GTEST_SKIP() << "no runnable " << memcached_process::kPath;
  nlohmann::json j;
  const int rc = run_loadgen(mc.port(), "-c 3 -P 4 -k 100 -D 0 -n 1001 --verify", j);
  ASSERT_EQ(rc, 0) << j.dump(2);
  EXPECT_EQ(j["requests"], 1001);
}

TEST(LoadgenMemcached, WarmupIsAnsweredButNotRecorded) {
  memcached_process mc;
  if (!mc.start()) GTEST_SKIP() << "no runnable " << memcached_process::kPath;
  nlohmann::json j;
  const int rc = run_loadgen(mc.port(), "-c 2 -P 4 -k 100 -w 0.3 -D 0.3 --verify", j);
  ASSERT_EQ(rc, 0) << j.dump(2);
  EXPECT_GT(j["requests"].get<std::uint64_t>(), 0u);
  EXPECT_GT(j["responses_total"].get<std::uint64_t>(), j["requests"].get<std::uint64_t>());
  EXPECT_EQ(j["latency_us"]["all"]["count"], j["requests"]);
}

TEST(LoadgenMemcached, RefusedConnectionIsAnErrorAndExitsNonZero) {
  int port = 0;
  const int fd = listen_loopback(port);
  ::close(fd);  // nobody listens there now
  nlohmann::json j;
  const int rc = run_loadgen(port, "-c 2 -D 0.2 --connect-timeout 1", j);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(j["errors"]["connect"], 2);
}

// Answers every request in order: SET with OK, GET with a 32-byte value of 'x', which
// is never what the load generator stored.
void serve_wrong_values(int lfd, std::atomic<bool>& stop) {
  const int fd = ::accept(lfd, nullptr, nullptr);
  if (fd < 0) return;
  std::vector<unsigned char> buf;
  unsigned char tmp[65536];
  while (!stop) {
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) break;
    buf.insert(buf.end(), tmp, tmp + n);
    std::size_t off = 0;
    std::string out;
    while (buf.size() - off >= 24) {
      const unsigned char* h = buf.data() + off;
      const std::size_t body = (std::size_t(h[8]) << 24) | (h[9] << 16) | (h[10] << 8) | h[11];
      if (buf.size() - off < 24 + body) break;
      const bool get = h[1] == 0x00;
      std::string rsp(24, '\0');
      rsp[0] = char(0x81);
      rsp[1] = char(h[1]);
      if (get) {
        rsp[4] = 4;
        rsp[11] = char(4 + 32);
        rsp += std::string(4, '\0') + std::string(32, 'x');
      }
      out += rsp;
      off += 24 + body;
    }
    buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(off));
    if (!out.empty() && ::send(fd, out.data(), out.size(), MSG_NOSIGNAL) < 0) break;
  }
  ::close(fd);
}

TEST(LoadgenMemcached, WrongValuesAreCountedAndExitNonZero) {
  int port = 0;
  const int lfd = listen_loopback(port);
  ASSERT_GE(lfd, 0);
  std::atomic<bool> stop{false};
  std::thread server(serve_wrong_values, lfd, std::ref(stop));
  nlohmann::json j;
  const int rc = run_loadgen(port, "-c 1 -P 8 -k 50 -r 1 -D 0 -n 200 --verify", j);
  stop = true;
  ::shutdown(lfd, SHUT_RDWR);
  server.join();
  ::close(lfd);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(j["errors"]["value"], 200);
  EXPECT_EQ(j["requests"], 200);
}

}  // namespace
