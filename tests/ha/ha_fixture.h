// The fixture of the `ha` scenarios (ha_test.cc, ha_storage_test.cc): a topology per test
// with the ARP capture of the data bridge and the sequenced prober running from SetUp, the
// three anvil nodes, and the waits every scenario needs (the VIP serving, a settled
// primary, the epoch a node won). Every wait is bounded; nothing is timed. TearDown prints
// the nodes' logs when the test failed and takes everything down (nodes by PID, then the
// namespaces).
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tests/ha/ha_harness.h"

namespace anvil::ha {

class ha_fixture : public ::testing::Test {
 protected:
  void SetUp() override {
    topo = std::make_unique<topology>();
    pcap = "/tmp/anvil-ha-" + topo->name() + ".pcap";
    topo->start_capture(pcap);
    topo->start_probe();
  }
  void TearDown() override {
    if (HasFailure())
      for (auto& n : nodes)
        if (n) std::printf("---- log of n%d\n%s\n", n->index(), n->log().c_str());
    nodes.clear();
    topo.reset();
    std::remove(pcap.c_str());
  }

  void start_nodes(const node_options& o = {}) {
    start_nodes([&o](int) { return o; });
  }
  // Each node with its own options (e.g. its own snapshot directory).
  void start_nodes(const std::function<node_options(int)>& options_of) {
    topo->start_etcd();
    for (int i = 0; i < 3; ++i) {
      nodes.push_back(std::make_unique<anvil_node>(*topo, i, options_of(i)));
      nodes.back()->start();
    }
  }

  // Waits until the VIP serves the client; the node it resolves to (-1: none in time).
  int serving_node(std::chrono::milliseconds bound = std::chrono::seconds(20), int not_this = -1) {
    int owner = -1;
    eventually(
        [&] {
          if (!client->serves()) return false;
          owner = topo->client_vip_owner();
          return owner >= 0 && owner != not_this;
        },
        bound);
    return owner != not_this ? owner : -1;
  }

  // Waits until one node is primary, serves the VIP, and stays so for 1.5 s (three nodes
  // starting at once on a busy machine may hand the VIP around once before settling).
  int stable_primary(std::chrono::milliseconds bound = std::chrono::seconds(30)) {
    using namespace std::chrono_literals;
    const auto until = std::chrono::steady_clock::now() + bound;
    int last = -1;
    auto since = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < until) {
      const int n = client->serves() ? topo->client_vip_owner() : -1;
      if (n != last) last = n, since = std::chrono::steady_clock::now();
      if (n >= 0 && nodes[n]->role() == "primary" &&
          std::chrono::steady_clock::now() - since >= 1500ms)
        return n;
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }

  // The epoch a node logged when it last won the shard (0: never).
  static long won_epoch(const anvil_node& n) {
    const auto lines = n.log_lines("reason=\"won epoch ");
    if (lines.empty()) return 0;
    const auto& l = lines.back();
    return std::stol(l.substr(l.find("reason=\"won epoch ") + 18));
  }
  long max_epoch() const {
    long e = 0;
    for (const auto& n : nodes) e = std::max(e, won_epoch(*n));
    return e;
  }

  arp_owner_report capture_report() {
    topo->stop_probe();
    return topo->stop_capture_and_analyze(pcap);
  }

  std::unique_ptr<topology> topo;
  std::string pcap;
  std::vector<std::unique_ptr<anvil_node>> nodes;
  std::unique_ptr<vip_client> client;
};

}  // namespace anvil::ha
