// The handler that exists until the TCP/IP stack, the protocol and the cache are
// joined: it counts what arrives (by EtherType) and drops it. It answers nothing — in
// particular it does not pretend to serve memcached. The real handler (stack ->
// protocol -> cache) takes its place as the poll loop's template argument.
#pragma once

#include <cstdint>
#include <span>

#include "dataplane/port/frame.h"
#include "dataplane/port/port_counters.h"

namespace anvil::server {

struct alignas(64) drop_counters {
  port::counter arp;
  port::counter ipv4;
  port::counter other;
};

class drop_handler {
 public:
  explicit drop_handler(drop_counters& c) : _c(c) {}

  template <class Sink>
  void on_rx(std::span<const port::rx_frame> burst, Sink&, std::uint64_t) {
    std::uint64_t arp = 0, ipv4 = 0, other = 0;
    for (const auto& f : burst) {
      const auto hi = f.bytes[12], lo = f.bytes[13];  // ports deliver >= 14 bytes
      if (hi == std::byte{0x08} && lo == std::byte{0x06})
        ++arp;
      else if (hi == std::byte{0x08} && lo == std::byte{0x00})
        ++ipv4;
      else
        ++other;
    }
    if (arp) _c.arp.add(arp);
    if (ipv4) _c.ipv4.add(ipv4);
    if (other) _c.other.add(other);
  }

 private:
  drop_counters& _c;
};

}  // namespace anvil::server
