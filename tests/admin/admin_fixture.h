// An admin server over a node made of real counter blocks (two lcores' worth) and a
// small engine, without ports or lcore threads: the endpoints read exactly the
// structures the lcores publish, and a test plays the lcores by writing them.
#pragma once

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>

#include "control/admin/admin_server.h"
#include "control/admin/config_json.h"

namespace anvil::control::admin::testing {

struct fake_node {
  static constexpr unsigned kLcores = 2;
  cache::clock clk{1'700'000'000};
  cache::engine eng{cache::engine_config{.memory_limit_bytes = 8u << 20,
                                         .max_item_size = 1u << 20,
                                         .partitions = 1,
                                         .numa_bind = false,
                                         .time = &clk}};
  server::server_shared shared;
  proto::lcore_counters proto[kLcores];
  server::lcore_serving_stats serving[kLcores];
  net::net_counters net[kLcores];
  server::latency_histogram latency[kLcores] = {
      server::latency_histogram(server::latency_bounds::for_rate(1e9)),
      server::latency_histogram(server::latency_bounds::for_rate(1e9))};
  server::loop_counters loop[kLcores];
  port::port_counters port[kLcores];
  node_view view;

  explicit fake_node(io::snapshot_service* snapshots = nullptr, std::string dir = {}) {
    shared.threads = kLcores;
    shared.max_connections = 100;
    shared.started_at = 1'700'000'000;
    for (unsigned i = 0; i < kLcores; ++i) {
      shared.proto.push_back(&proto[i]);
      shared.serving.push_back(&serving[i]);
      shared.net.push_back(&net[i]);
      shared.latency.push_back(&latency[i]);
      view.lcores.push_back({i, i + 10, &loop[i], &port[i]});
    }
    view.version = "1.6.18-anvil";
    view.pid = 42;
    view.started_at_unix = 1'700'000'000;
    view.port_type = "afpacket";
    view.interface = "anv-s";
    view.mac = "02:00:00:00:00:01";
    view.ip = "198.18.0.1";
    view.tcp_port = 11211;
    view.shared = &shared;
    view.engine = &eng;
    view.snapshots = snapshots;
    view.snapshot_dir = std::move(dir);
    view.cycles_per_second = 1e9;
    server_config cfg;
    view.effective_config = effective_config(cfg);
    view.config_digest = config_digest(view.effective_config);
  }
};

inline admin_config test_config() {
  admin_config c;
  c.port = 0;  // any free port
  c.read_timeout_s = 0.5;
  c.write_timeout_s = 2;
  c.max_connections = 8;
  c.threads = 4;
  c.max_body_bytes = 1024;
  return c;
}

inline constexpr const char* kToken = "s3cret-token";

struct admin_fixture {
  explicit admin_fixture(admin_config cfg = test_config(),
                         std::optional<std::string> token = std::string(kToken),
                         io::snapshot_service* snapshots = nullptr, std::string dir = {})
      : node(snapshots, std::move(dir)), server(cfg, node.view, std::move(token)) {
    server.start({});
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server.port());
    c.set_connection_timeout(5);
    c.set_read_timeout(10);
    return c;
  }
  static httplib::Headers auth(const std::string& token = kToken) {
    return {{"Authorization", "Bearer " + token}};
  }
  fake_node node;
  admin_server server;
};

// A raw TCP connection to the admin port (for inputs a client library would not send).
class raw_conn {
 public:
  explicit raw_conn(std::uint16_t port) {
    _fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    ::setsockopt(_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    _ok = ::connect(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~raw_conn() {
    if (_fd >= 0) ::close(_fd);
  }
  raw_conn(const raw_conn&) = delete;
  raw_conn& operator=(const raw_conn&) = delete;
  bool ok() const { return _ok; }
  bool send(const std::string& s) {
    return ::send(_fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // Everything until the server closes (or 10 s pass): "" when nothing came.
  std::string read_all() {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(_fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  // True once the server has closed the connection (recv returns 0 or a reset).
  bool closed_by_peer() {
    char c;
    const ssize_t n = ::recv(_fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  int _fd = -1;
  bool _ok = false;
};

}  // namespace anvil::control::admin::testing
