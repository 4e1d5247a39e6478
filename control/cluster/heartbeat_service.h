// Sends this node's heartbeat to every configured peer once per interval and feeds
// what arrives into the peer table (malformed datagrams are counted, never trusted).
// Driven by the cluster agent's step(); no thread of its own.
#pragma once

#include <cstdint>
#include <string>

#include "control/cluster/heartbeat.h"
#include "control/cluster/heartbeat_socket.h"
#include "control/cluster/peer_table.h"

namespace anvil::cluster {

struct heartbeat_counters {
  std::uint64_t sent = 0, send_failed = 0, received = 0, truncated = 0;
};

class heartbeat_service {
 public:
  heartbeat_service(const std::string& self, const std::string& bind_host, std::uint16_t port,
                    std::vector<peer_address> peers, time_ms interval_ms, unsigned suspect_after,
                    unsigned dead_after, std::uint64_t incarnation);

  // Sends `self_state` (seq and incarnation filled in here) if an interval has passed
  // since the last send, then drains the socket into the table.
  void pump(time_ms now, heartbeat self_state);

  peer_table& table() { return _table; }
  const peer_table& table() const { return _table; }
  const heartbeat_counters& counters() const { return _counters; }
  std::uint16_t port() const { return _socket.port(); }

 private:
  heartbeat_socket _socket;
  peer_table _table;
  time_ms _interval_ms;
  std::uint64_t _incarnation;
  std::uint64_t _seq = 0;
  time_ms _next_send = 0;
  heartbeat_counters _counters;
  std::vector<std::uint8_t> _buf;
};

}  // namespace anvil::cluster
