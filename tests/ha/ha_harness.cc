#include "tests/ha/ha_harness.h"

#include <arpa/inet.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tests/support/netns.h"

namespace anvil::ha {

using namespace std::chrono_literals;

namespace {
std::atomic<int> g_counter{0};
}

std::string topology::script() {
  const char* root = std::getenv("ANVIL_SOURCE_ROOT");
  return std::string(root != nullptr ? root : ANVIL_SOURCE_ROOT) + "/tests/ha/topology.sh";
}

topology::topology(bool kernel_data) {
  test::run_command(script() + " reap 2>&1");
  _name = "hat-" + std::to_string(::getpid()) + "-" + std::to_string(g_counter.fetch_add(1));
  std::string out;
  if (test::run_command(script() + " up " + _name + (kernel_data ? " --kernel-data" : "") + " 2>&1",
                        &out) != 0) {
    test::run_command(script() + " down " + _name);
    throw std::runtime_error("topology up failed: " + out);
  }
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) _vars[line.substr(0, eq)] = line.substr(eq + 1);
  }
}

topology::~topology() {
  _probe.reset();
  test::run_command(script() + " down " + _name + " 2>&1");
}

std::string topology::var(const std::string& key) const {
  const auto it = _vars.find(key);
  if (it == _vars.end()) throw std::out_of_range("topology has no " + key);
  return it->second;
}

std::vector<std::string> topology::etcd_endpoints() const {
  return {var("ETCD0_URL"), var("ETCD1_URL"), var("ETCD2_URL")};
}

std::string topology::run(const std::string& cmd, const std::string& args) {
  std::string out;
  if (test::run_command(script() + " " + cmd + " " + _name + " " + args + " 2>&1", &out) != 0)
    throw std::runtime_error("topology.sh " + cmd + " failed: " + out);
  const auto p = out.find("CAPTURE_PID=");
  if (p != std::string::npos) _tcpdump = std::stoi(out.substr(p + 12));
  return out;
}

int topology::client_vip_owner() const {
  std::string out;
  test::run_command("ip -n " + client_ns() + " neigh show " + vip(), &out);
  const auto p = out.find("lladdr ");
  if (p == std::string::npos) return -1;
  const std::string mac = out.substr(p + 7, 17);
  for (int i = 0; i < 3; ++i)
    if (node_mac(i) == mac) return i;
  return -1;
}

std::unique_ptr<vip_client> topology::client(std::chrono::milliseconds op_timeout) const {
  const std::string ns = client_ns();
  return std::make_unique<vip_client>(vip(), 11211, op_timeout, [ns] {
    return test::socket_in_netns(ns, AF_INET, SOCK_STREAM, 0);
  });
}

void topology::start_probe() {
  int fd = -1;
  unsigned ifindex = 0;
  mac m{};
  test::run_in_netns(client_ns(), [&] { fd = arp_probe::open_socket("d0", ifindex, m); });
  _probe = std::make_unique<arp_probe>(fd, ifindex, m, var("CLIENT_IP"), vip(), 10ms);
  _probe->start();
}

arp_owner_report topology::stop_capture_and_analyze(const std::string& pcap) {
  if (_tcpdump > 0) {
    ::kill(_tcpdump, SIGTERM);  // tcpdump flushes and closes the file
    for (int i = 0; i < 200 && ::kill(_tcpdump, 0) == 0; ++i) std::this_thread::sleep_for(10ms);
    _tcpdump = -1;
  }
  return analyze_arp_owners(pcap, vip());
}

anvil_node::anvil_node(const topology& t, int i, const node_options& opts) : _t(t), _i(i) {
  const std::string tag = t.name() + "-n" + std::to_string(i);
  _config = "/tmp/anvil-ha-" + tag + ".toml";
  _log = "/tmp/anvil-ha-" + tag + ".log";
  std::string endpoints, peers;
  for (const auto& e : t.etcd_endpoints())
    endpoints += (endpoints.empty() ? "\"" : ", \"") + e + "\"";
  for (int j = 0; j < 3; ++j)
    if (j != i)
      peers += (peers.empty() ? "\"n" : ", \"n") + std::to_string(j) + "@" + t.node_mgmt(j) + "\"";
  _token_file = "/tmp/anvil-ha-" + tag + ".token";
  _token = "ha-test-token-" + tag;
  {
    std::ofstream(_token_file) << _token << "\n";
    ::chmod(_token_file.c_str(), 0600);
  }
  std::ofstream c(_config);
  // The fast numbers of docs/cluster.md; a canary threshold a shared 2-core VM does not
  // cross by scheduling noise alone (three nodes starting at once measured 200-540 ms
  // canary rounds and 160-260 ms loop stalls there), because a degraded node steps down
  // and does not stand. The gray-failure test's 1 s delay is far over both.
  c << "[lcores]\nidle = \"backoff\"\nidle_sleep_us = 100\nidle_spin = 200\n"
    << "[network]\nport_type = \"afpacket\"\ninterface = \"d0\"\nip = \"" << t.node_data(i)
    << "\"\n"
    << "[admin]\nlisten = \"" << t.node_mgmt(i) << ":11311\"\ntoken_file = \"" << _token_file
    << "\"\n"
    << "[health]\ninterval_s = 0.2\ncanary_p99_ms = 500\ncanary_window_s = 1\n"
    << "recover_intervals = 2\nloop_stall_ms = 2000\n"
    << "[cluster]\nnode_id = \"n" << i << "\"\nzone = \"dc1\"\nshard = \"s1\"\nvip = \"" << t.vip()
    << "\"\nmanagement_ip = \"" << t.node_mgmt(i) << "\"\netcd_endpoints = [" << endpoints
    << "]\npeers = [" << peers << "]\nlease_ttl_s = 1\nfence_margin_ms = 300\n"
    << "etcd_timeout_ms = 200\nheartbeat_interval_ms = 20\nsuspect_after = 5\ndead_after = 20\n"
    << opts.extra_config;
}

anvil_node::~anvil_node() {
  if (_pid > 0) kill9();
  std::remove(_config.c_str());
  std::remove(_log.c_str());
  std::remove(_token_file.c_str());
}

void anvil_node::start() {
  std::ofstream(_log, std::ios::app) << "=== start\n";
  // ANVIL_HA_BINARY runs the suite against another build (e.g. one without the cluster
  // agent, to see the suite fail there).
  const char* other = std::getenv("ANVIL_HA_BINARY");
  const std::string bin = other != nullptr ? other : ANVIL_BINARY;
  const std::vector<std::string> argv = {"/usr/bin/ip", "netns", "exec", _t.node_ns(_i), bin,
                                         "--config",    _config, "-p",   "11211",        "-m",
                                         "64",          "-t",    "1"};
  const pid_t parent = ::getpid();
  _pid = ::fork();
  if (_pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    FILE* f = std::fopen(_log.c_str(), "a");
    if (f != nullptr) {
      ::dup2(::fileno(f), 1);
      ::dup2(::fileno(f), 2);
    }
    std::vector<char*> a;
    a.reserve(argv.size() + 1);
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
}

void anvil_node::kill9() {
  if (_pid <= 0) return;
  ::kill(_pid, SIGKILL);
  ::waitpid(_pid, nullptr, 0);
  _pid = -1;
}

void anvil_node::signal(int sig) {
  if (_pid > 0) ::kill(_pid, sig);
}

bool anvil_node::alive() {
  if (_pid <= 0) return false;
  if (::waitpid(_pid, nullptr, WNOHANG) == _pid) {
    _pid = -1;
    return false;
  }
  return true;
}

std::string anvil_node::log() const {
  std::ifstream in(_log);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> anvil_node::log_lines(const std::string& needle) const {
  std::vector<std::string> out;
  std::istringstream in(log());
  std::string line;
  while (std::getline(in, line))
    if (line.find(needle) != std::string::npos) out.push_back(line);
  return out;
}

std::string anvil_node::role() const {
  // Only the current run counts: the log is kept across restarts of the node.
  std::string last;
  std::istringstream in(log());
  std::string line;
  while (std::getline(in, line)) {
    if (line == "=== start") last.clear();
    if (line.find("event=cluster_role ") != std::string::npos) last = line;
  }
  if (last.empty()) return "";
  const auto& l = last;
  const auto p = l.find(" role=");
  return l.substr(p + 6, l.find(' ', p + 6) - (p + 6));
}

bool anvil_node::wait_log(const std::string& needle, std::chrono::milliseconds bound) const {
  return eventually([&] { return log().find(needle) != std::string::npos; }, bound);
}

http_reply http_request(const std::string& ns, const std::string& ip, std::uint16_t port,
                        const std::string& method, const std::string& path,
                        const std::string& token, const std::string& body,
                        std::chrono::milliseconds timeout) {
  http_reply r;
  const int fd = test::socket_in_netns(ns, AF_INET, SOCK_STREAM, 0);
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = method + " " + path + " HTTP/1.0\r\nHost: " + ip + "\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      std::string reply;
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
      if (reply.rfind("HTTP/1.", 0) == 0 && reply.size() > 12)
        r.status = std::atoi(reply.c_str() + 9);
      const auto p = reply.find("\r\n\r\n");
      if (p != std::string::npos) r.body = reply.substr(p + 4);
    }
  }
  ::close(fd);
  return r;
}

}  // namespace anvil::ha
