// The primary's end of replication: accepts replicas on the management network and runs
// one sender thread per replica: hello, then a full copy (the snapshot walk, sent as
// snapshot item blocks), then the live frames of the primary_log from the copy's
// position on, with a position frame every 100 ms; the replica's acks give its lag.
// A sender whose replica fell off the log, or that sees a resync generation (flush,
// ring overflow), sends a new copy on the same connection. Any send/receive error or
// malformed ack drops the connection with the reason logged; the replica reconnects.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cache/engine.h"
#include "control/replication/lag.h"
#include "control/replication/primary_log.h"

namespace anvil::replication {

struct replica_view {
  std::string name;
  std::uint64_t acked = 0;
  lag_value lag;
  bool copying = false;
};

struct primary_counters {
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> copies{0};       // full copies started
  std::atomic<std::uint64_t> dropped{0};      // connections dropped with an error
  std::atomic<std::uint64_t> connections{0};  // replicas accepted
};

class primary_server {
 public:
  // Starts listening on ip:port (port 0: any, see port()). Throws with the reason.
  primary_server(cache::engine& e, primary_log& log, const std::string& ip, std::uint16_t port,
                 std::int64_t epoch, primary_counters& counters);
  ~primary_server();  // stops: closes every connection, joins every thread
  primary_server(const primary_server&) = delete;
  primary_server& operator=(const primary_server&) = delete;

  std::uint16_t port() const { return _port; }
  std::vector<replica_view> replicas() const;
  // The position produced by this node at time t, for the lag of every replica.
  void announce(std::uint64_t pos, lag_tracker::time_point t);

 private:
  struct sender;
  void accept_loop();
  void run_sender(sender& s);
  bool send_copy(sender& s, std::uint64_t& cursor, std::uint64_t& generation, std::string& why);
  bool poll_acks(sender& s, std::string& why);

  cache::engine& _engine;
  primary_log& _log;
  std::int64_t _epoch;
  primary_counters& _counters;
  int _listen_fd = -1;
  std::uint16_t _port = 0;
  std::atomic<bool> _stop{false};
  mutable std::mutex _mu;
  std::list<std::unique_ptr<sender>> _senders;
  std::thread _acceptor;
};

}  // namespace anvil::replication
