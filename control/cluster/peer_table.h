// The peers this node heartbeats with, as configured ([cluster] peers), and what their
// last heartbeats said. Liveness is counted in missed heartbeats: `suspect` after
// suspect_after intervals of silence, `dead` after dead_after. A heartbeat is accepted
// only from a configured peer name arriving from that peer's configured address, and
// only if it is newer than the last one (same incarnation, higher seq; a new
// incarnation means the peer restarted). Fixed size after construction: a flood of
// forged or unknown packets is counted, never stored.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "control/cluster/heartbeat.h"

namespace anvil::cluster {

struct peer_address {
  std::string node{};
  std::string host{};  // IPv4, dotted
  std::uint16_t port = 0;
  bool operator==(const peer_address&) const = default;
};

enum class liveness { unknown, alive, suspect, dead };
const char* to_string(liveness l);

struct peer_entry {
  peer_address address;
  bool seen = false;
  heartbeat last{};
  time_ms last_seen = 0;
  std::uint64_t received = 0;
};

enum class accept_result { accepted, self, unknown_peer, wrong_source, stale };

struct peer_counters {
  std::uint64_t accepted = 0, malformed = 0, unknown_peer = 0, wrong_source = 0, stale = 0;
};

class peer_table {
 public:
  peer_table(std::string self, std::vector<peer_address> peers, time_ms interval_ms,
             unsigned suspect_after, unsigned dead_after);

  // `from_host` is the datagram's source address.
  accept_result on_heartbeat(time_ms now, const heartbeat& hb, const std::string& from_host);
  void on_malformed() { ++_counters.malformed; }

  // Whole heartbeat intervals since the peer was last heard (0 if never seen).
  std::uint64_t missed(const peer_entry& p, time_ms now) const;
  liveness state(const peer_entry& p, time_ms now) const;

  // A peer that is alive, healthy (ok), a replica of `shard` in `zone`, and at most
  // `max_lag` replication positions behind `position`.
  bool healthy_caught_up_replica(time_ms now, const std::string& shard, const std::string& zone,
                                 std::uint64_t position, std::uint64_t max_lag) const;
  // The highest epoch an alive peer claims to be primary of `shard` at (0: none), and who.
  std::pair<std::uint64_t, std::string> highest_primary(time_ms now,
                                                        const std::string& shard) const;

  const std::vector<peer_entry>& peers() const { return _peers; }
  const peer_counters& counters() const { return _counters; }

 private:
  std::string _self{};
  std::vector<peer_entry> _peers;
  time_ms _interval_ms;
  unsigned _suspect_after, _dead_after;
  peer_counters _counters;
};

}  // namespace anvil::cluster
