// The `ha` suite's harness: tests/ha/topology.sh driven from a test (three nodes, a
// three-member etcd, a client, a data and a management bridge), anvil nodes started in
// the node namespaces, the ARP prober and the capture of the data bridge. Everything is
// torn down by the destructors: processes by PID (PR_SET_PDEATHSIG covers a crashed
// test), namespaces by `topology.sh down`, leftovers of dead runs by `topology.sh reap`.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/ha/arp_owners.h"
#include "tests/ha/arp_probe.h"
#include "tests/ha/vip_client.h"

namespace anvil::ha {

class topology {
 public:
  explicit topology(bool kernel_data = false);
  ~topology();
  topology(const topology&) = delete;
  topology& operator=(const topology&) = delete;

  const std::string& name() const { return _name; }
  std::string var(const std::string& key) const;
  std::string node_ns(int i) const { return var("NODE" + std::to_string(i) + "_NS"); }
  std::string node_mgmt(int i) const { return var("NODE" + std::to_string(i) + "_MGMT"); }
  std::string node_data(int i) const { return var("NODE" + std::to_string(i) + "_DATA"); }
  std::string node_mac(int i) const { return var("NODE" + std::to_string(i) + "_MAC"); }
  std::string client_ns() const { return var("CLIENT_NS"); }
  std::string vip() const { return var("VIP"); }
  std::vector<std::string> etcd_endpoints() const;

  // Runs `topology.sh CMD NAME ARGS`; throws with its output when it fails.
  std::string run(const std::string& cmd, const std::string& args = "");
  void start_etcd() { run("etcd"); }
  void isolate(int node) { run("isolate", std::to_string(node)); }
  void isolate_etcd(const std::string& members) { run("isolate-etcd", members); }
  void cut_replication(int node) { run("cut-replication", std::to_string(node)); }
  void heal() { run("heal"); }
  void start_capture(const std::string& pcap) { run("capture", pcap); }

  // The node (0..2) whose MAC the client resolves the VIP to now, -1 if none.
  int client_vip_owner() const;
  // A client of the VIP from the client namespace.
  std::unique_ptr<vip_client> client(std::chrono::milliseconds op_timeout) const;
  // Starts the sequenced ARP prober in the client namespace (every 10 ms).
  void start_probe();
  void stop_probe() { _probe.reset(); }
  // Reads the capture so far (tcpdump -U writes whole records as they come).
  arp_owner_report analyze_capture(const std::string& pcap) const {
    return analyze_arp_owners(pcap, vip());
  }
  // Stops the capture (SIGTERM to tcpdump) and reads it.
  arp_owner_report stop_capture_and_analyze(const std::string& pcap);

  static std::string script();

 private:
  std::string _name;
  std::map<std::string, std::string> _vars;
  std::unique_ptr<arp_probe> _probe;
  pid_t _tcpdump = -1;
};

struct node_options {
  std::string extra_config;  // appended to the TOML file
};

// One anvil in node namespace `i`, with the fast cluster settings of docs/cluster.md.
class anvil_node {
 public:
  anvil_node(const topology& t, int i, const node_options& opts = {});
  ~anvil_node();
  anvil_node(const anvil_node&) = delete;
  anvil_node& operator=(const anvil_node&) = delete;

  void start();
  void kill9();
  void signal(int sig);
  bool alive();
  std::string log() const;
  // Lines of the log containing `needle`, in order.
  std::vector<std::string> log_lines(const std::string& needle) const;
  // The role in the last event=cluster_role line since the last start ("" before the
  // first: a node starts as a replica without saying so).
  std::string role() const;
  // Waits (bounded) until the log contains `needle`.
  bool wait_log(const std::string& needle, std::chrono::milliseconds bound) const;
  int index() const { return _i; }
  // The admin API's bearer token (every node has one, for the mutating endpoints).
  const std::string& admin_token() const { return _token; }
  pid_t pid() const { return _pid; }

 private:
  const topology& _t;
  int _i;
  std::string _config, _log, _token_file, _token;
  pid_t _pid = -1;
};

// One HTTP/1.0 request over a kernel socket opened in namespace `ns` (e.g. a node's, to
// reach the admin API on the management bridge). The status (0 when no answer came
// within `timeout`) and the body.
struct http_reply {
  int status = 0;
  std::string body;
};
http_reply http_request(const std::string& ns, const std::string& ip, std::uint16_t port,
                        const std::string& method, const std::string& path,
                        const std::string& token, const std::string& body,
                        std::chrono::milliseconds timeout);

template <class F>
bool eventually(F f, std::chrono::milliseconds bound) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

}  // namespace anvil::ha
