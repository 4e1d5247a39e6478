// The replica's end of replication: one thread that connects to the primary's
// replication port on the management network, says hello, and applies what arrives
// (applier.h): a full copy first, then the live stream. It acks its applied position
// every 100 ms. Any error (connect, receive, a malformed frame, a frame out of place)
// is logged with its reason and the connection dropped; the next connection (after
// `retry`) starts with a full copy, counted as a resync.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "cache/engine.h"
#include "control/replication/applier.h"
#include "control/replication/lag.h"

namespace anvil::replication {

struct replica_counters {
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> connects{0};  // connections made (each starts with a copy)
  std::atomic<std::uint64_t> dropped{0};   // connections dropped with an error
  std::atomic<std::uint64_t> items{0};     // records applied
  std::atomic<std::uint64_t> store_failures{0};
};

class replica_client {
 public:
  replica_client(cache::engine& e, std::string node_name, std::string primary_ip,
                 std::uint16_t port, replica_counters& counters,
                 std::chrono::milliseconds retry = std::chrono::milliseconds(200));
  ~replica_client();  // stops and joins
  replica_client(const replica_client&) = delete;
  replica_client& operator=(const replica_client&) = delete;

  // The last position applied; kept when the connection drops (the data is still here),
  // 0 while a copy is being applied or before the first one completed.
  std::uint64_t applied() const;
  lag_value lag() const;
  bool synced() const;  // a copy completed on the current connection
  // For health (replication_lag): whether a full copy is being received on the current
  // connection (from the connect until the copy is applied), and how long since the
  // last frame from the primary (since this client started, before the first). An idle
  // live stream still gets a position frame every 100 ms.
  struct stream_view {
    bool copying = false;
    double idle_s = 0;
  };
  stream_view stream() const;
  const std::string& primary() const { return _ip; }

 private:
  void run();
  bool session(std::string& why);

  cache::engine& _engine;
  std::string _name;
  std::string _ip;
  std::uint16_t _port;
  replica_counters& _counters;
  std::chrono::milliseconds _retry;
  std::atomic<bool> _stop{false};
  mutable std::mutex _mu;  // guards the fields below
  lag_tracker _lag;
  bool _synced = false;
  bool _copying = false;
  std::chrono::steady_clock::time_point _last_frame = std::chrono::steady_clock::now();
  std::uint64_t _position = 0;
  std::thread _thread;
};

}  // namespace anvil::replication
