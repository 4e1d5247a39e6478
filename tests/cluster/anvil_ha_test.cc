// One real `anvil` process with [cluster] configured, in AF_PACKET mode inside a test
// namespace (tests/support/testnet.h), against a real etcd on that namespace's loopback:
// it joins, becomes primary, sends its gratuitous ARPs from every lcore, answers ARP for
// the VIP and serves binary GET/SET on it to a client in the peer namespace, and shows
// all of it in GET /v1/cluster and /metrics. Killing etcd makes it fence itself by time:
// ARP for the VIP stops and the client's connection is reset. SIGTERM releases the VIP
// (the connection is reset) and revokes the lease (the primary key is gone at once, long
// before its TTL). A node whose shard etcd knows with another VIP refuses to start.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "control/cluster/cluster_store.h"
#include "control/cluster/etcd_client.h"
#include "control/cluster/heartbeat.h"
#include "tests/server/anvil_process.h"
#include "tests/support/netns.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testnet.h"

namespace anvil::test {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using bytes_t = std::vector<std::uint8_t>;

constexpr const char* kVip = "198.18.0.100";
constexpr int kEtcdClientPort = 2379, kEtcdPeerPort = 2380, kAdminPort = 11311;
constexpr int kLcores = 2;

// ---- etcd on the stack namespace's loopback ------------------------------------------
class ns_etcd {
 public:
  explicit ns_etcd(const std::string& ns) : _ns(ns), _dir("anvil-ha-etcd") {
    const std::string client = "http://127.0.0.1:" + std::to_string(kEtcdClientPort);
    const std::string peer = "http://127.0.0.1:" + std::to_string(kEtcdPeerPort);
    _args = {"/usr/bin/ip",
             "netns",
             "exec",
             ns,
             "/usr/bin/etcd",
             "--name=m0",
             "--data-dir=" + _dir.path() + "/m0",
             "--listen-client-urls=" + client,
             "--advertise-client-urls=" + client,
             "--listen-peer-urls=" + peer,
             "--initial-advertise-peer-urls=" + peer,
             "--initial-cluster=m0=" + peer,
             "--initial-cluster-state=new",
             "--heartbeat-interval=50",
             "--election-timeout=500",
             "--logger=zap",
             "--log-outputs=" + _dir.path() + "/etcd.log"};
    std::vector<char*> argv;
    for (auto& a : _args) argv.push_back(a.data());
    argv.push_back(nullptr);
    _pid = ::fork();
    if (_pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // ip netns exec execs etcd: the same pid
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~ns_etcd() { kill(); }
  ns_etcd(const ns_etcd&) = delete;
  ns_etcd& operator=(const ns_etcd&) = delete;

  void kill() {
    if (_pid <= 0) return;
    ::kill(_pid, SIGKILL);
    ::waitpid(_pid, nullptr, 0);
    _pid = -1;
  }
  bool wait_healthy(std::chrono::milliseconds bound) const;
  static std::string endpoint() { return "http://127.0.0.1:" + std::to_string(kEtcdClientPort); }

 private:
  std::string _ns;
  temp_dir _dir;
  std::vector<std::string> _args;
  pid_t _pid = -1;
};

// One HTTP/1.0 exchange (`request`: the whole request text) with a server on `ns`'s
// loopback, waiting at most `timeout_s` per send/receive: {status, body}; status 0 when
// nothing answered.
std::pair<int, std::string> http_exchange(const std::string& ns, int port,
                                          const std::string& request, long timeout_s) {
  const int fd = socket_in_netns(ns, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  int status = 0;
  if (reply.rfind("HTTP/1.", 0) == 0 && reply.size() > 12) status = std::atoi(reply.c_str() + 9);
  const auto body = reply.find("\r\n\r\n");
  return {status, body == std::string::npos ? "" : reply.substr(body + 4)};
}

std::pair<int, std::string> http_get(const std::string& ns, int port, const std::string& path) {
  return http_exchange(ns, port, "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", 2);
}

bool ns_etcd::wait_healthy(std::chrono::milliseconds bound) const {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < until) {
    if (http_get(_ns, kEtcdClientPort, "/health").second.find("\"health\":\"true\"") !=
        std::string::npos)
      return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// The shard as etcd holds it, read from inside the namespace.
cluster::shard_read read_shard(const std::string& ns) {
  cluster::shard_read r;
  run_in_netns(ns, [&] {
    cluster::etcd_client etcd({ns_etcd::endpoint()});
    cluster::cluster_store store(etcd, "/anvil");
    r = store.read_shard("s1", 1000ms);
  });
  return r;
}

// ---- ARP from the client's side (a raw socket on its interface) ------------------------
class arp_socket {
 public:
  arp_socket(const testnet& net) : _net(net) {
    _fd = socket_in_netns(net.client_ns(), AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));
    _ifindex = static_cast<int>(ifindex_in_netns(net.client_ns(), net.client_if()));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ARP);
    sll.sll_ifindex = _ifindex;
    EXPECT_EQ(::bind(_fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll), 0);
    _client_mac = parse_mac(net.client_mac());
  }
  ~arp_socket() { ::close(_fd); }

  struct arp {
    std::uint16_t op = 0;
    std::array<std::uint8_t, 6> sha{};
    std::uint32_t spa = 0, tpa = 0;
  };
  // Frames received within `wait` (or until `enough` returns true).
  std::vector<arp> receive(std::chrono::milliseconds wait,
                           const std::function<bool(const std::vector<arp>&)>& enough = {}) {
    std::vector<arp> out;
    const auto until = std::chrono::steady_clock::now() + wait;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{_fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      std::uint8_t f[128];
      const ssize_t n = ::recv(_fd, f, sizeof f, 0);
      if (n < 42 || f[12] != 0x08 || f[13] != 0x06) continue;
      arp a;
      a.op = static_cast<std::uint16_t>(f[20] << 8 | f[21]);
      std::memcpy(a.sha.data(), f + 22, 6);
      a.spa = load_ip(f + 28);
      a.tpa = load_ip(f + 38);
      out.push_back(a);
      if (enough && enough(out)) break;
    }
    return out;
  }
  // Asks "who has `ip`" and counts the replies from `from_mac` within `wait`.
  std::size_t ask(const std::string& ip, const std::string& from_mac,
                  std::chrono::milliseconds wait) {
    std::uint8_t f[60]{};
    std::memset(f, 0xff, 6);
    std::memcpy(f + 6, _client_mac.data(), 6);
    f[12] = 0x08, f[13] = 0x06;
    const std::uint8_t hdr[] = {0, 1, 8, 0, 6, 4, 0, 1};
    std::memcpy(f + 14, hdr, sizeof hdr);
    std::memcpy(f + 22, _client_mac.data(), 6);
    store_ip(f + 28, _net.client_ip());
    store_ip(f + 38, ip);
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = _ifindex;
    to.sll_halen = 6;
    std::memset(to.sll_addr, 0xff, 6);
    // Only what answers this request counts: drop what the socket queued before (the
    // client kernel's own ARP exchanges are on the same interface).
    std::uint8_t junk[128];
    while (::recv(_fd, junk, sizeof junk, MSG_DONTWAIT) > 0) {
    }
    EXPECT_EQ(::sendto(_fd, f, sizeof f, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 60);
    const auto want = parse_mac(from_mac);
    const std::uint32_t target = ip_of(ip);
    auto replies = [&](const std::vector<arp>& seen) {
      std::size_t n = 0;
      for (const auto& a : seen) n += a.op == 2 && a.spa == target && a.sha == want;
      return n;
    };
    return replies(receive(wait, [&](const std::vector<arp>& seen) { return replies(seen) > 0; }));
  }

  static std::uint32_t ip_of(const std::string& s) {
    in_addr a{};
    ::inet_pton(AF_INET, s.c_str(), &a);
    return ntohl(a.s_addr);
  }
  static std::array<std::uint8_t, 6> parse_mac(const std::string& s) {
    std::array<std::uint8_t, 6> m{};
    unsigned v[6]{};
    std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
    for (int i = 0; i < 6; ++i) m[i] = static_cast<std::uint8_t>(v[i]);
    return m;
  }

 private:
  static std::uint32_t load_ip(const std::uint8_t* p) {
    return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
  }
  static void store_ip(std::uint8_t* p, const std::string& s) {
    const std::uint32_t v = ip_of(s);
    p[0] = std::uint8_t(v >> 24), p[1] = std::uint8_t(v >> 16), p[2] = std::uint8_t(v >> 8),
    p[3] = std::uint8_t(v);
  }
  const testnet& _net;
  int _fd = -1;
  int _ifindex = 0;
  std::array<std::uint8_t, 6> _client_mac{};
};

// ---- a memcached binary client on the VIP ----------------------------------------------
class vip_client {
 public:
  explicit vip_client(const testnet& net) {
    _fd = socket_in_netns(net.client_ns(), AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{3, 0};
    ::setsockopt(_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(11211);
    ::inet_pton(AF_INET, kVip, &a.sin_addr);
    _connected = ::connect(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~vip_client() { ::close(_fd); }
  bool connected() const { return _connected; }
  int last_errno() const { return _errno; }

  // SET (op 0x01, flags 0, exptime 0) or GET (0x00): the status and the value; nullopt
  // when the connection failed (last_errno() says how).
  std::optional<std::pair<std::uint16_t, std::string>> call(std::uint8_t op, const std::string& k,
                                                            const std::string& v = "") {
    const std::size_t extras = op == 0x01 ? 8 : 0;
    bytes_t b(24 + extras + k.size() + v.size(), 0);
    b[0] = 0x80, b[1] = op;
    b[2] = std::uint8_t(k.size() >> 8), b[3] = std::uint8_t(k.size());
    b[4] = std::uint8_t(extras);
    const auto body = static_cast<std::uint32_t>(extras + k.size() + v.size());
    for (int i = 0; i < 4; ++i) b[8 + i] = std::uint8_t(body >> (24 - 8 * i));
    std::copy(k.begin(), k.end(), b.begin() + 24 + std::ptrdiff_t(extras));
    std::copy(v.begin(), v.end(), b.begin() + 24 + std::ptrdiff_t(extras + k.size()));
    if (::send(_fd, b.data(), b.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(b.size())) {
      _errno = errno;
      return std::nullopt;
    }
    std::uint8_t h[24];
    if (!read_exact(h, 24) || h[0] != 0x81) return std::nullopt;
    const std::uint32_t len =
        std::uint32_t(h[8]) << 24 | std::uint32_t(h[9]) << 16 | std::uint32_t(h[10]) << 8 | h[11];
    bytes_t rest(len);
    if (len && !read_exact(rest.data(), len)) return std::nullopt;
    const std::size_t skip = std::size_t(h[4]) + (std::size_t(h[2]) << 8 | h[3]);
    return std::make_pair(std::uint16_t(h[6] << 8 | h[7]),
                          std::string(rest.begin() + std::ptrdiff_t(skip), rest.end()));
  }
  // Waits (bounded by the receive timeout) for the server to end the connection.
  bool reset_seen() {
    std::uint8_t c;
    const ssize_t n = ::recv(_fd, &c, 1, 0);
    _errno = n < 0 ? errno : 0;
    return n < 0 && errno == ECONNRESET;
  }

 private:
  bool read_exact(std::uint8_t* p, std::size_t n) {
    for (std::size_t off = 0; off < n;) {
      const ssize_t k = ::recv(_fd, p + off, n - off, 0);
      if (k <= 0) {
        _errno = k < 0 ? errno : 0;
        return false;
      }
      off += std::size_t(k);
    }
    return true;
  }
  int _fd = -1;
  bool _connected = false;
  int _errno = 0;
};

class config_file {
 public:
  explicit config_file(const std::string& text) {
    static int n = 0;
    _path = "/tmp/anvil-ha-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".toml";
    std::ofstream(_path) << text;
  }
  ~config_file() { std::remove(_path.c_str()); }
  const std::string& path() const { return _path; }

 private:
  std::string _path;
};

struct timing {
  int lease_ttl_s = 1, fence_margin_ms = 300, etcd_timeout_ms = 200;
};

std::string node_config(const testnet& net, timing t, const std::string& vip = kVip) {
  return "[network]\nport_type = \"afpacket\"\ninterface = \"" + net.stack_if() + "\"\nip = \"" +
         net.stack_ip() +
         "\"\n"
         "[lcores]\nidle = \"backoff\"\nidle_sleep_us = 100\nidle_spin = 200\n"
         "[server]\nshutdown_timeout_s = 5\n"
         "[admin]\nlisten = \"127.0.0.1:" +
         std::to_string(kAdminPort) +
         "\"\n"
         "[cluster]\nnode_id = \"a\"\nzone = \"z1\"\nshard = \"s1\"\nvip = \"" +
         vip +
         "\"\nmanagement_ip = \"127.0.0.1\"\npeers = [\"b@127.0.0.2\"]\n"
         "etcd_endpoints = [\"" +
         ns_etcd::endpoint() +
         "\"]\nheartbeat_interval_ms = 20\nlease_ttl_s = " + std::to_string(t.lease_ttl_s) +
         "\nfence_margin_ms = " + std::to_string(t.fence_margin_ms) +
         "\netcd_timeout_ms = " + std::to_string(t.etcd_timeout_ms) + "\n";
}

class AnvilHa : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/etcd", X_OK) != 0) GTEST_SKIP() << "etcd not installed (etcd-server)";
    _etcd = std::make_unique<ns_etcd>(_net.stack_ns());
    ASSERT_TRUE(_etcd->wait_healthy(20s)) << "etcd did not become healthy in the namespace";
  }
  void start(timing t, const std::string& vip = kVip) {
    _conf = std::make_unique<config_file>(node_config(_net, t, vip));
    _p = std::make_unique<anvil_process>(
        std::vector<std::string>{"--config", _conf->path(), "-t", std::to_string(kLcores)},
        _net.stack_ns());
  }
  void start_primary(timing t) {
    start(t);
    ASSERT_TRUE(_p->wait_for_log("event=started", 20s)) << _p->log();
    ASSERT_TRUE(_p->wait_for_log("role=primary", 10s)) << _p->log();
  }
  json cluster_status() {
    const auto [status, body] = http_get(_net.stack_ns(), kAdminPort, "/v1/cluster");
    EXPECT_EQ(status, 200) << body;
    return json::parse(body, nullptr, false);
  }

  testnet _net;
  std::unique_ptr<ns_etcd> _etcd;
  std::unique_ptr<config_file> _conf;
  std::unique_ptr<anvil_process> _p;
};

TEST_F(AnvilHa, BecomesPrimaryServesTheVipAndFencesWhenEtcdDies) {
  arp_socket arp(_net);  // open before the take: it sees the gratuitous ARPs
  start_primary({});
  const std::uint32_t vip = arp_socket::ip_of(kVip);
  const auto stack_mac = arp_socket::parse_mac(_net.stack_mac());
  auto garps = [&](const std::vector<arp_socket::arp>& seen) {
    std::size_t n = 0;
    for (const auto& a : seen) n += a.op == 1 && a.spa == vip && a.tpa == vip && a.sha == stack_mac;
    return n;
  };
  // Three from each lcore (address_gate.h), and no more after them.
  auto seen = arp.receive(3s, [&](const auto& s) { return garps(s) >= 3 * kLcores; });
  auto more = arp.receive(300ms);
  seen.insert(seen.end(), more.begin(), more.end());
  EXPECT_EQ(garps(seen), std::size_t{3 * kLcores}) << _p->log();

  EXPECT_EQ(arp.ask(kVip, _net.stack_mac(), 2s), 1u) << "the primary answers ARP for the VIP";
  vip_client c(_net);
  ASSERT_TRUE(c.connected()) << _p->log();
  auto r = c.call(0x01, "ha-key", "ha-value");
  ASSERT_TRUE(r) << "errno " << c.last_errno() << "\n" << _p->log();
  EXPECT_EQ(r->first, 0);
  r = c.call(0x00, "ha-key");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0);
  EXPECT_EQ(r->second, "ha-value");

  json s = cluster_status();
  ASSERT_FALSE(s.is_discarded());
  EXPECT_EQ(s["node"], "a");
  EXPECT_EQ(s["role"], "primary");
  EXPECT_GE(s["epoch"].get<std::int64_t>(), 1);
  EXPECT_EQ(s["shard_state"]["primary"], "a");
  EXPECT_EQ(s["shard_state"]["epoch"], s["epoch"]);
  EXPECT_EQ(s["vip"]["address"], kVip);
  EXPECT_EQ(s["vip"]["held"], true);
  EXPECT_GT(s["vip"]["remaining_ms"].get<std::int64_t>(), 0);
  EXPECT_EQ(s["etcd"]["reachable"], true);
  EXPECT_EQ(s["etcd"]["last_error"], "");
  EXPECT_NE(s["lease"], "0");
  EXPECT_EQ(s["health"]["level"], "ok");
  ASSERT_EQ(s["peers"].size(), 1u) << "b is configured and never heard";
  EXPECT_EQ(s["peers"][0]["node"], "b");
  EXPECT_EQ(s["peers"][0]["state"], "unknown");
  EXPECT_EQ(s["peers"][0]["seen"], false);
  EXPECT_GT(s["heartbeats"]["sent"].get<std::uint64_t>(), 0u);
  const auto [mstatus, metrics] = http_get(_net.stack_ns(), kAdminPort, "/metrics");
  EXPECT_EQ(mstatus, 200);
  EXPECT_NE(metrics.find("anvil_cluster_role{shard=\"s1\",role=\"primary\"} 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("anvil_cluster_vip_held{shard=\"s1\",vip=\"198.18.0.100\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("anvil_cluster_etcd_reachable 1"), std::string::npos);
  {
    // Every anvil_cluster_* name the alert rules use is exported by a clustered node (a
    // renamed metric would leave an alert that can never fire).
    const char* root = std::getenv("ANVIL_SOURCE_ROOT");
    std::ifstream in(std::string(root != nullptr ? root : ANVIL_SOURCE_ROOT_DEFAULT) +
                     "/control/alerts/anvil.rules.yml");
    ASSERT_TRUE(in);
    const std::string rules((std::istreambuf_iterator<char>(in)), {});
    const std::regex name("anvil_cluster_[a-z0-9_]+");
    int checked = 0;
    for (auto it = std::sregex_iterator(rules.begin(), rules.end(), name);
         it != std::sregex_iterator(); ++it, ++checked)
      EXPECT_TRUE(metrics.find("\n" + it->str() + "{") != std::string::npos ||
                  metrics.find("\n" + it->str() + " ") != std::string::npos ||
                  metrics.find("# TYPE " + it->str() + " ") != std::string::npos)
          << "the rules use " << it->str() << " but a clustered node does not export it";
    EXPECT_GE(checked, 5);
  }

  // etcd dies: no keepalive can succeed, so the node must stop answering for the VIP
  // by its fencing deadline (TTL - margin after its last renewal was sent).
  _etcd->kill();
  ASSERT_TRUE(_p->wait_for_log("role=fenced", 10s)) << _p->log();
  EXPECT_TRUE(c.reset_seen()) << "the client's connection is reset; errno " << c.last_errno();
  EXPECT_EQ(arp.ask(kVip, _net.stack_mac(), 500ms), 0u) << "no ARP for the VIP once fenced";
  EXPECT_EQ(arp.ask(_net.stack_ip(), _net.stack_mac(), 2s), 1u) << "the node's own IP still";
  vip_client late(_net);
  EXPECT_FALSE(late.connected()) << "no new connection to the VIP";

  s = cluster_status();
  EXPECT_EQ(s["role"], "fenced");
  EXPECT_EQ(s["vip"]["held"], false);
  EXPECT_EQ(s["etcd"]["reachable"], false);
  EXPECT_NE(s["etcd"]["last_error"], "");
  EXPECT_GT(s["etcd"]["failures"].get<std::uint64_t>(), 0u);
  EXPECT_GE(s["transitions"].get<std::uint64_t>(), 3u) << "candidate, primary, fenced";

  _p->signal(SIGTERM);
  EXPECT_EQ(_p->wait(15s), 0) << _p->log();
}

TEST_F(AnvilHa, SigtermReleasesTheVipThenRevokesTheLease) {
  // A long TTL: if the key goes right after the exit, it was revoked, not expired.
  start_primary({.lease_ttl_s = 10, .fence_margin_ms = 500, .etcd_timeout_ms = 500});
  auto before = read_shard(_net.stack_ns());
  ASSERT_TRUE(before.status.ok()) << before.status.detail;
  ASSERT_TRUE(before.view.has_primary);
  EXPECT_EQ(before.view.primary, "a");

  vip_client c(_net);
  ASSERT_TRUE(c.connected()) << _p->log();
  ASSERT_TRUE(c.call(0x01, "k", "v"));
  _p->signal(SIGTERM);
  EXPECT_TRUE(c.reset_seen()) << "the VIP's connection is reset; errno " << c.last_errno();
  ASSERT_EQ(_p->wait(15s), 0) << _p->log();
  const std::string log = _p->log();
  EXPECT_NE(log.find("event=cluster_resign node=a shard=s1 role=primary"), std::string::npos)
      << log;
  EXPECT_NE(log.find("revoked=true"), std::string::npos) << log;
  const auto after = read_shard(_net.stack_ns());
  ASSERT_TRUE(after.status.ok()) << after.status.detail;
  EXPECT_FALSE(after.view.has_primary) << "the lease was revoked, not left to expire";
  EXPECT_EQ(after.view.epoch, before.view.epoch) << "the epoch is never reset";
}

TEST_F(AnvilHa, AShardEtcdKnowsWithAnotherVipRefusesToStart) {
  run_in_netns(_net.stack_ns(), [] {
    cluster::etcd_client etcd({ns_etcd::endpoint()});
    cluster::cluster_store store(etcd, "/anvil");
    ASSERT_TRUE(store.ensure_shard({.id = "s1", .vip = "198.18.0.200", .zone = "z1"}, 1000ms).ok());
  });
  start({});
  const auto rc = _p->wait(20s);
  ASSERT_TRUE(rc.has_value()) << _p->log();
  EXPECT_EQ(*rc, 1) << _p->log();
  const std::string log = _p->log();
  EXPECT_NE(log.find("event=start_failed node=a shard=s1"), std::string::npos) << log;
  EXPECT_NE(log.find("198.18.0.200"), std::string::npos) << "the reason names the other VIP";
  EXPECT_EQ(log.find("event=started"), std::string::npos) << "never served";
}

// One HTTP/1.0 POST with a bearer token to a server on `ns`'s loopback: {status, body}.
std::pair<int, std::string> http_post(const std::string& ns, int port, const std::string& path,
                                      const std::string& body, const std::string& token) {
  std::string req = "POST " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
  return http_exchange(ns, port, req, 10);
}

// The operator endpoints on a real node, and the switchover's write fence on its data
// plane: peer b is faked by heartbeats from b's configured address (degraded, so it is
// never ready); while a waits for it, a SET on the VIP gets 0x86 and a GET is served;
// when the wait times out writes are accepted again and a is still primary.
TEST_F(AnvilHa, AnOperatorSwitchoverFencesWritesOnTheVipUntilItTimesOut) {
  temp_dir tok("anvil-ha-token");
  const std::string token_path = tok.path() + "/token";
  std::ofstream(token_path) << "s3cret\n";
  ::chmod(token_path.c_str(), 0600);
  std::string cfg = node_config(_net, {});
  cfg.replace(cfg.find("[admin]\n"), 8, "[admin]\ntoken_file = \"" + token_path + "\"\n");
  _conf = std::make_unique<config_file>(cfg);
  _p = std::make_unique<anvil_process>(
      std::vector<std::string>{"--config", _conf->path(), "-t", std::to_string(kLcores)},
      _net.stack_ns());
  ASSERT_TRUE(_p->wait_for_log("event=started", 20s)) << _p->log();
  ASSERT_TRUE(_p->wait_for_log("role=primary", 10s)) << _p->log();

  const std::string ns = _net.stack_ns();
  const std::string failover = R"({"shard": "s1", "to": "b", "timeout_ms": 1500})";
  EXPECT_EQ(http_post(ns, kAdminPort, "/v1/cluster/failover", failover, "").first, 401);
  auto [st, body] = http_post(ns, kAdminPort, "/v1/cluster/failover", failover, "s3cret");
  EXPECT_EQ(st, 409) << body;
  EXPECT_NE(body.find("b has never sent a heartbeat"), std::string::npos) << body;
  std::tie(st, body) =
      http_post(ns, kAdminPort, "/v1/cluster/promote", R"({"node": "a"})", "s3cret");
  EXPECT_EQ(st, 200) << body;
  EXPECT_NE(body.find("a is already primary"), std::string::npos) << body;
  std::tie(st, body) =
      http_post(ns, kAdminPort, "/v1/cluster/demote", R"({"node": "x y"})", "s3cret");
  EXPECT_EQ(st, 400) << body;

  // Fake b: a degraded replica heartbeating from 127.0.0.2:11312 to a's 127.0.0.1:11312.
  std::atomic<bool> stop{false};
  std::thread fake_b([&] {
    const int fd = socket_in_netns(ns, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in me{}, to{};
    me.sin_family = to.sin_family = AF_INET;
    me.sin_port = to.sin_port = htons(11312);
    ::inet_pton(AF_INET, "127.0.0.2", &me.sin_addr);
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&me), sizeof me) != 0) {
      ADD_FAILURE() << "bind 127.0.0.2:11312: " << std::strerror(errno);
      ::close(fd);
      return;
    }
    cluster::heartbeat hb;
    hb.node = "b";
    hb.zone = "z1";
    hb.shard = "s1";
    hb.health = cluster::health_level::degraded;
    hb.reasons = {"canary_slow"};
    hb.incarnation = 7;
    std::vector<std::uint8_t> buf;
    while (!stop.load()) {
      ++hb.seq;
      cluster::encode(hb, buf);
      ::sendto(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      std::this_thread::sleep_for(20ms);
    }
    ::close(fd);
  });
  bool heard = false;
  for (int i = 0; i < 250 && !heard; ++i) {
    heard = cluster_status()["peers"][0]["state"] == "alive";
    if (!heard) std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(heard) << "a hears the fake b";

  vip_client c(_net);
  ASSERT_TRUE(c.connected()) << _p->log();
  auto r = c.call(0x01, "k", "before");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->first, 0) << "writes accepted before the switchover";
  std::pair<int, std::string> outcome;
  std::thread op(
      [&] { outcome = http_post(ns, kAdminPort, "/v1/cluster/failover", failover, "s3cret"); });
  // While a waits for b (never ready: degraded), writes on the VIP are refused, reads go on.
  bool fenced = false;
  for (int i = 0; i < 200 && !fenced; ++i) {
    r = c.call(0x01, "k", "during");
    ASSERT_TRUE(r) << "the connection stays up during the switchover";
    fenced = r->first == 0x86;
    if (!fenced) std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(fenced) << "a SET on the VIP got 0x86 while the switchover waited";
  r = c.call(0x00, "k");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0);
  op.join();
  EXPECT_EQ(outcome.first, 503) << outcome.second;
  EXPECT_NE(outcome.second.find("timed_out"), std::string::npos) << outcome.second;
  EXPECT_NE(outcome.second.find("b is alive, replica, degraded"), std::string::npos)
      << outcome.second;
  r = c.call(0x01, "k", "after");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0) << "writes resumed after the timeout";
  EXPECT_EQ(cluster_status()["role"], "primary");
  stop = true;
  fake_b.join();
}

}  // namespace
}  // namespace anvil::test
