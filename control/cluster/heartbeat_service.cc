#include "control/cluster/heartbeat_service.h"

#include <utility>

namespace anvil::cluster {

heartbeat_service::heartbeat_service(const std::string& self, const std::string& bind_host,
                                     std::uint16_t port, std::vector<peer_address> peers,
                                     time_ms interval_ms, unsigned suspect_after,
                                     unsigned dead_after, std::uint64_t incarnation)
    : _socket(bind_host, port),
      _table(self, std::move(peers), interval_ms, suspect_after, dead_after),
      _interval_ms(interval_ms),
      _incarnation(incarnation) {
  _buf.reserve(kMaxPacket);
}

void heartbeat_service::pump(time_ms now, heartbeat self_state) {
  if (now >= _next_send) {
    self_state.incarnation = _incarnation;
    self_state.seq = ++_seq;
    if (encode(self_state, _buf)) {
      for (const auto& p : _table.peers()) {
        if (_socket.send_to(p.address, _buf))
          ++_counters.sent;
        else
          ++_counters.send_failed;
      }
    } else {
      ++_counters.send_failed;
    }
    // Keep the cadence; after a long pause do not send a burst to catch up.
    _next_send += _interval_ms;
    if (_next_send <= now) _next_send = now + _interval_ms;
  }
  _socket.drain([&](std::span<const std::uint8_t> bytes, const std::string& from, bool truncated) {
    ++_counters.received;
    if (truncated) {
      ++_counters.truncated;
      _table.on_malformed();
      return;
    }
    heartbeat hb;
    if (decode(bytes, hb) != decode_error::none) {
      _table.on_malformed();
      return;
    }
    _table.on_heartbeat(now, hb, from);
  });
}

}  // namespace anvil::cluster
