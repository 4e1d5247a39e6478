// The anvil server in a testnet with a [health] section tuned for tests (short interval,
// short canary window), and `stats health` read over the memcached protocol as an
// operator's memcstat would. Shared by the health server tests and the Prometheus test.
#pragma once

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/mc_client.h"
#include "tests/server/anvil_process.h"
#include "tests/support/testnet.h"

namespace anvil::health::test {

using stats_map = std::map<std::string, std::string>;
using namespace std::chrono_literals;

class health_server {
 public:
  // `extra_toml` is appended to the config (more sections: [snapshot], [debug], ...).
  health_server(const anvil::test::testnet& net, const std::string& extra_toml,
                std::vector<std::string> flags = {"-t", "1"})
      : _net(net) {
    _conf =
        "/tmp/anvil-health-" + std::to_string(::getpid()) + "-" + std::to_string(_n++) + ".toml";
    std::ofstream(_conf) << "[network]\nport_type = \"afpacket\"\ninterface = \"" << net.stack_if()
                         << "\"\nip = \"" << net.stack_ip()
                         << "\"\n[lcores]\nidle = \"backoff\"\nidle_sleep_us = 100\n"
                            "[server]\nshutdown_timeout_s = 4\n"
                         << extra_toml;
    flags.insert(flags.begin(), {"--config", _conf});
    _p = std::make_unique<anvil::test::anvil_process>(flags, net.stack_ns());
  }
  ~health_server() { std::remove(_conf.c_str()); }

  std::string wait_ready() {
    if (!_p->wait_for_log("event=started", 60s)) return "not started: " + _p->log();
    for (int i = 0; i < 100; ++i) {
      if (e2e::control_check(_net.client_ns(), _net.stack_ip(), 11211).empty()) return "";
      std::this_thread::sleep_for(100ms);
    }
    return "not answering: " + e2e::control_check(_net.client_ns(), _net.stack_ip(), 11211);
  }
  stats_map stats(const std::string& group) {
    e2e::mc_client c(_net.client_ns(), _net.stack_ip(), 11211);
    return c.ok() ? c.stats(group) : stats_map{};
  }
  stats_map health() { return stats("health"); }
  static bool has_reason(const stats_map& h, const std::string& code) {
    auto it = h.find("reasons");
    if (it == h.end()) return false;
    const std::string list = "," + it->second + ",";
    return list.find("," + code + ",") != std::string::npos;
  }
  static std::string get(const stats_map& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? "" : it->second;
  }
  // Reads `stats health` until `pred` holds, at most `tries` times (bounded by count:
  // each read is one answered request, ~`pause` apart). Returns the last answer.
  template <class Pred>
  stats_map wait_health(Pred pred, int tries = 300, std::chrono::milliseconds pause = 100ms) {
    stats_map h;
    for (int i = 0; i < tries; ++i) {
      h = health();
      if (pred(h)) return h;
      std::this_thread::sleep_for(pause);
    }
    return h;
  }
  anvil::test::anvil_process& process() { return *_p; }

 private:
  static inline int _n = 0;
  const anvil::test::testnet& _net;
  std::string _conf;
  std::unique_ptr<anvil::test::anvil_process> _p;
};

}  // namespace anvil::health::test
