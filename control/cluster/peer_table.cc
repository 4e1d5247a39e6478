#include "control/cluster/peer_table.h"

#include <algorithm>

namespace anvil::cluster {

const char* to_string(liveness l) {
  switch (l) {
    case liveness::unknown:
      return "unknown";
    case liveness::alive:
      return "alive";
    case liveness::suspect:
      return "suspect";
    case liveness::dead:
      return "dead";
  }
  return "unknown";
}

peer_table::peer_table(std::string self, std::vector<peer_address> peers, time_ms interval_ms,
                       unsigned suspect_after, unsigned dead_after)
    : _self(std::move(self)),
      _interval_ms(std::max<time_ms>(1, interval_ms)),
      _suspect_after(std::max(1u, suspect_after)),
      _dead_after(std::max(std::max(1u, suspect_after), dead_after)) {
  for (auto& p : peers) _peers.push_back({.address = std::move(p)});
}

accept_result peer_table::on_heartbeat(time_ms now, const heartbeat& hb,
                                       const std::string& from_host) {
  if (hb.node == _self) return accept_result::self;
  auto it = std::find_if(_peers.begin(), _peers.end(),
                         [&](const peer_entry& p) { return p.address.node == hb.node; });
  if (it == _peers.end()) {
    ++_counters.unknown_peer;
    return accept_result::unknown_peer;
  }
  if (it->address.host != from_host) {
    ++_counters.wrong_source;
    return accept_result::wrong_source;
  }
  if (it->seen && hb.incarnation == it->last.incarnation && hb.seq <= it->last.seq) {
    ++_counters.stale;
    return accept_result::stale;
  }
  it->seen = true;
  it->last = hb;
  it->last_seen = now;
  ++it->received;
  ++_counters.accepted;
  return accept_result::accepted;
}

std::uint64_t peer_table::missed(const peer_entry& p, time_ms now) const {
  if (!p.seen || now <= p.last_seen) return 0;
  return static_cast<std::uint64_t>((now - p.last_seen) / _interval_ms);
}

liveness peer_table::state(const peer_entry& p, time_ms now) const {
  if (!p.seen) return liveness::unknown;
  const auto m = missed(p, now);
  if (m >= _dead_after) return liveness::dead;
  if (m >= _suspect_after) return liveness::suspect;
  return liveness::alive;
}

bool peer_table::healthy_caught_up_replica(time_ms now, const std::string& shard,
                                           const std::string& zone, std::uint64_t position,
                                           std::uint64_t max_lag) const {
  for (const auto& p : _peers) {
    if (state(p, now) != liveness::alive) continue;
    const heartbeat& hb = p.last;
    if (hb.shard != shard || hb.zone != zone || hb.node_role != role::replica) continue;
    if (hb.health != health_level::ok) continue;
    // Behind by at most max_lag; a peer ahead of us (position above ours) counts too.
    if (hb.replication_position >= position || position - hb.replication_position <= max_lag)
      return true;
  }
  return false;
}

std::pair<std::uint64_t, std::string> peer_table::highest_primary(time_ms now,
                                                                  const std::string& shard) const {
  std::pair<std::uint64_t, std::string> best{0, {}};
  for (const auto& p : _peers)
    if (state(p, now) == liveness::alive && p.last.shard == shard &&
        p.last.node_role == role::primary && p.last.epoch > best.first)
      best = {p.last.epoch, p.address.node};
  return best;
}

}  // namespace anvil::cluster
