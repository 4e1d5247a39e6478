// The server an e2e test talks to, started in the stack namespace of the test's own
// testnet and stopped (SIGTERM, then SIGKILL) when the object goes away:
//   anvil_afpacket  the anvil binary over AF_PACKET on the stack veth
//   anvil_dpdk      the anvil binary over DPDK's net_af_packet vdev (--no-huge)
//   memcached       Debian's memcached with 198.18.0.1/24 on the stack veth: the
//                   harness checks itself against the reference server
// Servers use the back-off idle policy and one lcore, so the clients keep a core.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/testnet.h"

namespace anvil::e2e {

enum class server_kind { anvil_afpacket, anvil_dpdk, memcached };

std::string kind_name(server_kind k);

struct server_options {
  bool udp = false;  // -U on the same port as TCP
  int memory_mb = 64;
  int max_connections = 2048;
};

class server_under_test {
 public:
  // `extra_config` is appended to anvil's TOML file (e.g. an [admin] section).
  server_under_test(server_kind kind, const test::testnet& net, server_options opts = {},
                    const std::string& extra_config = "");
  ~server_under_test();
  server_under_test(const server_under_test&) = delete;
  server_under_test& operator=(const server_under_test&) = delete;

  // Waits until a client in the client namespace gets a binary VERSION answer. "" when
  // serving; otherwise why not (with the server's log).
  std::string wait_ready(std::chrono::milliseconds timeout = std::chrono::seconds(45));
  // Non-empty when the server says it cannot serve yet (anvil's event=not_wired): the
  // test skips with this text rather than failing on a known gap.
  std::string not_serving_reason();

  bool alive();
  long rss_kb() const;  // VmRSS from /proc/<pid>/status, -1 when gone
  std::string log() const;
  const std::string& ip() const { return _ip; }
  std::uint16_t port() const { return 11211; }
  pid_t pid() const { return _pid; }
  server_kind kind() const { return _kind; }

 private:
  void spawn(const std::vector<std::string>& argv);

  server_kind _kind;
  const test::testnet& _net;
  std::string _ip;
  std::string _log_path, _config_path;
  pid_t _pid = -1;
  bool _reaped = false;
};

}  // namespace anvil::e2e
