#include "tests/e2e/server_under_test.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/e2e/binproto.h"
#include "tests/e2e/mc_client.h"
#include "tests/support/netns.h"

namespace anvil::e2e {

using namespace std::chrono_literals;

std::string kind_name(server_kind k) {
  switch (k) {
    case server_kind::anvil_afpacket:
      return "anvil_afpacket";
    case server_kind::anvil_dpdk:
      return "anvil_dpdk";
    case server_kind::memcached:
      return "memcached";
  }
  return "?";
}

server_under_test::server_under_test(server_kind kind, const test::testnet& net,
                                     server_options opts, const std::string& extra_config)
    : _kind(kind), _net(net), _ip(net.stack_ip()) {
  static int n = 0;
  const std::string tag = std::to_string(::getpid()) + "-" + std::to_string(n++);
  _log_path = "/tmp/anvil-e2e-" + tag + ".log";
  const std::string port = "11211";
  std::vector<std::string> argv = {"/usr/bin/ip", "netns", "exec", net.stack_ns()};
  if (kind == server_kind::memcached) {
    // The kernel of the stack namespace is the server here, so it needs the address.
    test::run_command("ip -n " + net.stack_ns() + " addr add " + _ip + "/24 dev " + net.stack_if());
    argv.insert(argv.end(), {"/usr/bin/memcached", "-u", "root", "-l", _ip, "-p", port, "-U",
                             opts.udp ? port : "0", "-m", std::to_string(opts.memory_mb), "-c",
                             std::to_string(opts.max_connections), "-t", "1"});
  } else {
    _config_path = "/tmp/anvil-e2e-" + tag + ".toml";
    std::ofstream conf(_config_path);
    conf << "[lcores]\nidle = \"backoff\"\nidle_sleep_us = 100\nidle_spin = 200\n";
    if (kind == server_kind::anvil_afpacket) {
      conf << "[network]\nport_type = \"afpacket\"\ninterface = \"" << net.stack_if()
           << "\"\nip = \"" << _ip << "\"\n";
    } else {
      conf << "[network]\nport_type = \"dpdk\"\nip = \"" << _ip << "\"\n"
           << "[dpdk]\ndevice = \"net_af_packet0\"\neal_args = [\"--no-huge\", \"-m\", \"64\", "
              "\"--no-shconf\", \"--no-pci\", \"--log-level=lib.eal:error\", \"--vdev\", "
              "\"net_af_packet0,iface="
           << net.stack_if() << "\"]\n";
    }
    conf << extra_config;
    conf.close();
    argv.insert(argv.end(), {ANVIL_BINARY, "--config", _config_path, "-p", port, "-m",
                             std::to_string(opts.memory_mb), "-c",
                             std::to_string(opts.max_connections), "-t", "1"});
    if (opts.udp) argv.insert(argv.end(), {"-U", port});
  }
  spawn(argv);
}

void server_under_test::spawn(const std::vector<std::string>& argv) {
  std::ofstream(_log_path).flush();
  const pid_t parent = ::getpid();
  _pid = ::fork();
  if (_pid == 0) {
    // A test killed by meson's timeout must not leave a server behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    FILE* f = std::fopen(_log_path.c_str(), "w");
    if (f != nullptr) {
      ::dup2(::fileno(f), 1);
      ::dup2(::fileno(f), 2);
    }
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
}

server_under_test::~server_under_test() {
  if (!_reaped && _pid > 0) {
    ::kill(_pid, SIGTERM);
    for (int i = 0; i < 500 && !_reaped; ++i) {
      if (::waitpid(_pid, nullptr, WNOHANG) == _pid)
        _reaped = true;
      else
        std::this_thread::sleep_for(10ms);
    }
    if (!_reaped) {
      ::kill(_pid, SIGKILL);
      ::waitpid(_pid, nullptr, 0);
    }
  }
  std::remove(_log_path.c_str());
  if (!_config_path.empty()) std::remove(_config_path.c_str());
}

bool server_under_test::alive() {
  if (_reaped) return false;
  if (::waitpid(_pid, nullptr, WNOHANG) == _pid) _reaped = true;
  return !_reaped;
}

long server_under_test::rss_kb() const {
  std::ifstream in("/proc/" + std::to_string(_pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

std::string server_under_test::log() const {
  std::ifstream in(_log_path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string server_under_test::not_serving_reason() {
  const std::string l = log();
  if (l.find("event=not_wired") != std::string::npos)
    return "anvil does not serve memcached yet (its log says event=not_wired): the stack, "
           "protocol and cache are not joined in control/main.cc";
  return "";
}

std::string server_under_test::wait_ready(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!alive()) return "server exited during start-up:\n" + log();
    if (_kind != server_kind::memcached && log().find("event=started") == std::string::npos) {
      last = "no event=started in its log yet";
      std::this_thread::sleep_for(50ms);
      continue;
    }
    if (!not_serving_reason().empty()) return not_serving_reason();
    mc_client c(_net.client_ns(), _ip, port(), 1500ms);
    if (c.ok() && c.send_bytes(request(0x0b /* version */, ""))) {
      auto r = c.read_response();
      if (r && response{reinterpret_cast<const unsigned char*>(r->data())}.status() == 0) return "";
      last = "VERSION: " + (r ? hex(*r) : c.error());
    } else {
      last = c.error();
    }
    std::this_thread::sleep_for(100ms);
  }
  return "server not answering after " + std::to_string(timeout.count()) + " ms (" + last + "):\n" +
         log();
}

}  // namespace anvil::e2e
