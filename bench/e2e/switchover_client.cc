// switchover_client: the client side of bench/e2e/failover.sh's planned-switchover phase,
// run in the client namespace. Talks to the VIP only (never a node's own address).
//
//   switchover_client write --vip VIP --log FILE [--prefix w] [--interval-us 1000]
//       [--timeout-ms 50]
//       SETs keys prefix0, prefix1, ... in order through the VIP until SIGTERM/SIGINT, each
//       retried until acknowledged: binary status 0x86 (the switchover's write fence,
//       "temporary failure") and every other refusal or missing answer mean "retry the
//       same key". Every attempt is a line of FILE (bench/e2e/switchover_log.h); each new
//       connection first asks `stat` for the server's pid, so an ack names its node.
//       Prints acked=N at the end: keys 0..N-1 were acknowledged.
//   switchover_client analyze --log FILE --rounds FILE
//       ROUNDS lines: "<t_cmd ns> <target pid>"; prints one line per switchover and a
//       summary (median / max), KEY=VALUE.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "bench/e2e/switchover_log.h"
#include "tests/e2e/binproto.h"
#include "tests/ha/vip_client.h"

namespace {

using namespace anvil;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One connection to the VIP with a deadline on every exchange; any failure closes it.
class connection {
 public:
  connection(std::string ip, std::uint16_t port, std::chrono::milliseconds timeout)
      : _ip(std::move(ip)), _port(port), _timeout(timeout) {}
  ~connection() { close(); }
  bool open() {
    close();
    _fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (_fd < 0) return false;
    const int one = 1;
    ::setsockopt(_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(_port);
    if (::inet_pton(AF_INET, _ip.c_str(), &a.sin_addr) != 1) return fail();
    if (::connect(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS)
      return fail();
    pollfd p{_fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(_timeout.count())) != 1) return fail();
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(_fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return err == 0 || fail();
  }
  bool is_open() const { return _fd >= 0; }
  void close() {
    if (_fd >= 0) ::close(_fd);
    _fd = -1;
    _buf.clear();
  }
  bool send_all(const std::string& s) {
    const auto deadline = steady::now() + _timeout;
    std::size_t sent = 0;
    while (sent < s.size()) {
      const ssize_t n = ::send(_fd, s.data() + sent, s.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno != EAGAIN) return fail();
      if (!wait(POLLOUT, deadline)) return fail();
    }
    return true;
  }
  // The next whole response (its bytes), or false on the deadline / a closed connection.
  bool receive(std::string& out) {
    const auto deadline = steady::now() + _timeout;
    for (;;) {
      const std::size_t whole =
          e2e::complete_response(reinterpret_cast<const unsigned char*>(_buf.data()), _buf.size());
      if (whole != 0) {
        out = _buf.substr(0, whole);
        _buf.erase(0, whole);
        return true;
      }
      if (!wait(POLLIN, deadline)) return fail();
      char tmp[4096];
      const ssize_t n = ::recv(_fd, tmp, sizeof tmp, 0);
      if (n <= 0) return fail();
      _buf.append(tmp, static_cast<std::size_t>(n));
    }
  }

 private:
  bool fail() {
    close();
    return false;
  }
  bool wait(short events, steady::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    pollfd p{_fd, events, 0};
    return left.count() > 0 && ::poll(&p, 1, static_cast<int>(left.count())) == 1;
  }
  std::string _ip;
  std::uint16_t _port;
  std::chrono::milliseconds _timeout;
  int _fd = -1;
  std::string _buf;
};

// The server's pid from a binary `stat` (one response per statistic, an empty key ends
// them); 0 when it did not say, nullopt when the connection failed.
std::optional<std::uint64_t> stat_pid(connection& c, std::uint32_t opaque) {
  if (!c.send_all(e2e::request(e2e::op_stat, "", {}, {}, opaque))) return std::nullopt;
  std::uint64_t pid = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string resp;
    if (!c.receive(resp)) return std::nullopt;
    e2e::response r{reinterpret_cast<const unsigned char*>(resp.data())};
    if (r.magic() != e2e::kResponseMagic || !r.sane() || r.status() != 0 || r.key_len() == 0)
      return pid;
    if (r.key() == "pid") pid = std::strtoull(std::string(r.value()).c_str(), nullptr, 10);
  }
  c.close();  // a server that never ends its stats: not one to measure
  return std::nullopt;
}

int run_write(const std::string& vip, int port, const std::string& prefix, const std::string& log,
              int interval_us, int timeout_ms) {
  std::FILE* f = std::fopen(log.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "switchover_client: cannot write %s\n", log.c_str());
    return 2;
  }
  static char buf[1 << 20];
  std::setvbuf(f, buf, _IOFBF, sizeof buf);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  using kind = bench::write_event::kind;
  auto emit = [&](kind k, std::uint64_t v, std::uint16_t status = 0) {
    const std::string line = bench::format_event({k, now_ns(), v, status});
    std::fprintf(f, "%s\n", line.c_str());
  };
  connection c(vip, static_cast<std::uint16_t>(port), std::chrono::milliseconds(timeout_ms));
  std::uint32_t opaque = 0;
  std::uint64_t key = 0, attempts = 0;
  auto next = steady::now();
  while (g_stop == 0) {
    if (!c.is_open()) {
      std::optional<std::uint64_t> pid;
      if (c.open()) pid = stat_pid(c, ++opaque);
      if (!pid) {
        emit(kind::failed, key);
        std::this_thread::sleep_for(1ms);
        continue;
      }
      emit(kind::connected, *pid);
    }
    const std::uint32_t op = ++opaque;
    ++attempts;
    std::string resp;
    if (!c.send_all(
            e2e::set_request(ha::test_key(prefix, key), ha::test_value(prefix, key), 0, op)) ||
        !c.receive(resp)) {
      emit(kind::failed, key);
      continue;
    }
    e2e::response r{reinterpret_cast<const unsigned char*>(resp.data())};
    if (r.magic() != e2e::kResponseMagic || r.opaque() != op || !r.sane()) {
      c.close();
      emit(kind::failed, key);
      continue;
    }
    if (r.status() == 0x86) {  // the write fence: "temporary failure, retry"
      emit(kind::fenced, key);
      std::this_thread::sleep_for(1ms);
      continue;
    }
    if (r.status() != 0) {
      emit(kind::other_status, key, r.status());
      std::this_thread::sleep_for(1ms);
      continue;
    }
    emit(kind::acked, key);
    ++key;
    next += std::chrono::microseconds(interval_us);
    if (next > steady::now())
      std::this_thread::sleep_until(next);
    else
      next = steady::now();
  }
  const bool ok = std::fclose(f) == 0;
  std::printf("acked=%llu\nattempts=%llu\n", (unsigned long long)key, (unsigned long long)attempts);
  return ok ? 0 : 2;
}

int run_analyze(const std::string& log, const std::string& rounds_file) {
  std::ifstream in(log), rin(rounds_file);
  if (!in || !rin) {
    std::fprintf(stderr, "switchover_client: cannot read %s or %s\n", log.c_str(),
                 rounds_file.c_str());
    return 2;
  }
  std::vector<bench::write_event> events;
  std::string line, why;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    auto e = bench::parse_event(line, why);
    if (!e) {
      std::fprintf(stderr, "switchover_client: %s:%zu: %s\n", log.c_str(), n, why.c_str());
      return 2;
    }
    events.push_back(*e);
  }
  std::vector<bench::switchover> rounds;
  for (std::size_t n = 1; std::getline(rin, line); ++n) {
    long long t = 0;
    unsigned long long pid = 0;
    char extra = 0;
    if (std::sscanf(line.c_str(), "%lld %llu %c", &t, &pid, &extra) != 2 || t <= 0 || pid == 0) {
      std::fprintf(stderr, "switchover_client: %s:%zu: want '<t_cmd ns> <target pid>'\n",
                   rounds_file.c_str(), n);
      return 2;
    }
    rounds.push_back({t, pid});
  }
  const auto figs = bench::analyze(events, rounds);
  std::vector<double> first, pause, fence;
  std::uint64_t fenced = 0, failed = 0, other = 0, retried = 0, old_acks = 0, reached = 0;
  for (std::size_t i = 0; i < figs.size(); ++i) {
    const auto& f = figs[i];
    std::printf(
        "round=%zu reached=%d first_ack_ms=%.1f pause_ms=%.1f fence_ms=%.1f fenced=%llu "
        "failed=%llu "
        "other_status=%llu retried_keys=%llu old_acks_after_fence=%llu\n",
        i + 1, f.reached ? 1 : 0, f.first_ack_ms, f.pause_ms, f.fence_ms,
        (unsigned long long)f.fenced, (unsigned long long)f.failed,
        (unsigned long long)f.other_status, (unsigned long long)f.retried_keys,
        (unsigned long long)f.old_acks_after_fence);
    fenced += f.fenced;
    failed += f.failed;
    other += f.other_status;
    retried += f.retried_keys;
    old_acks += f.old_acks_after_fence;
    if (!f.reached) continue;
    ++reached;
    first.push_back(f.first_ack_ms);
    pause.push_back(f.pause_ms);
    fence.push_back(f.fence_ms);
  }
  auto max_of = [](const std::vector<double>& v) {
    return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
  };
  std::printf(
      "switchovers=%zu\nreached=%llu\nfirst_ack_median_ms=%.1f\nfirst_ack_max_ms=%.1f\n"
      "pause_median_ms=%.1f\npause_max_ms=%.1f\nfence_median_ms=%.1f\nfence_max_ms=%.1f\n"
      "fenced_total=%llu\nfailed_total=%llu\n"
      "other_status_total=%llu\nretried_keys_total=%llu\nold_acks_after_fence_total=%llu\n",
      figs.size(), (unsigned long long)reached, bench::median(first), max_of(first),
      bench::median(pause), max_of(pause), bench::median(fence), max_of(fence),
      (unsigned long long)fenced, (unsigned long long)failed, (unsigned long long)other,
      (unsigned long long)retried, (unsigned long long)old_acks);
  return reached == figs.size() ? 0 : 1;
}

int run(int argc, char** argv) {
  CLI::App app{"planned-switchover benchmark client (bench/e2e/failover.sh)"};
  app.require_subcommand(1);
  std::string vip, prefix = "w", log, rounds;
  int port = 11211, interval_us = 1000, timeout_ms = 50;
  auto* write = app.add_subcommand("write", "SET numbered keys through the VIP until SIGTERM");
  write->add_option("--vip", vip)->required();
  write->add_option("--port", port)->check(CLI::Range(1, 65535));
  write->add_option("--prefix", prefix);
  write->add_option("--log", log)->required();
  write->add_option("--interval-us", interval_us, "pace between acknowledged writes")
      ->check(CLI::Range(0, 1000000));
  write->add_option("--timeout-ms", timeout_ms, "deadline of one request")
      ->check(CLI::Range(1, 60000));
  auto* analyze = app.add_subcommand("analyze", "per-switchover figures from a write log");
  analyze->add_option("--log", log)->required();
  analyze->add_option("--rounds", rounds)->required();
  CLI11_PARSE(app, argc, argv);
  if (*write) return run_write(vip, port, prefix, log, interval_us, timeout_ms);
  return run_analyze(log, rounds);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "switchover_client: %s\n", e.what());
  }
  return 2;
}
