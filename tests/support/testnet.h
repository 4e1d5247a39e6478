// A throw-away test network (tools/netns/testnet.sh) owned by one test:
//   stack namespace  [anv-s, no IP]  <-veth->  [anv-c, 198.18.0.2/24]  client namespace
// optionally through a bridge namespace that drops a percentage of IPv4 frames.
// The destructor removes everything; a SIGINT/SIGTERM while networks are up removes
// them too; networks left by a crashed run (owner pid gone) are reaped at creation.
// Names are anvt-<pid>-<n>, unique across concurrent and consecutive tests.
#pragma once

#include <map>
#include <string>

namespace anvil::test {

struct testnet_options {
  int loss_percent = -1;  // -1: direct veth; 0..100: through a lossy bridge
};

class testnet {
 public:
  explicit testnet(testnet_options opts = {});
  ~testnet();
  testnet(const testnet&) = delete;
  testnet& operator=(const testnet&) = delete;

  const std::string& name() const { return _name; }
  const std::string& stack_ns() const { return _vars.at("STACK_NS"); }
  const std::string& client_ns() const { return _vars.at("CLIENT_NS"); }
  const std::string& bridge_ns() const { return _vars.at("BRIDGE_NS"); }
  const std::string& stack_if() const { return _vars.at("STACK_IF"); }
  const std::string& client_if() const { return _vars.at("CLIENT_IF"); }
  const std::string& stack_ip() const { return _vars.at("STACK_IP"); }
  const std::string& client_ip() const { return _vars.at("CLIENT_IP"); }
  const std::string& stack_mac() const { return _vars.at("STACK_MAC"); }
  const std::string& client_mac() const { return _vars.at("CLIENT_MAC"); }

  // "ip netns exec <client ns> " — prefix for running a command as a client.
  std::string client_exec() const { return "ip netns exec " + client_ns() + " "; }

  static std::string script_path();

 private:
  std::string _name;
  std::map<std::string, std::string> _vars;
};

}  // namespace anvil::test
