// SYN cookies: when the half-open backlog is full the stack answers a SYN without
// keeping state, encoding what it must remember in the ISS (and, when the client
// uses timestamps, in the low bits of our TSval, which the client echoes):
//   ISS   = hash24(secret, 4-tuple, client ISN, period) << 8 | period:5 << 3 | mss:3
//   (hash24: the top 24 bits of SipHash-2-4 under the stack's key, domain "cookie")
//   TSval = (ts_clock & ~63) | sack:1 << 5 | ws_present:1 << 4 | wscale:4   (<= ts_clock)
// A period is 64 s; a cookie is valid for the current and the previous period. A
// spoofed SYN flood therefore costs no memory at all: the backlog cannot be exhausted.
#pragma once

#include <cstdint>
#include <optional>

#include "dataplane/net/keyed_hash.h"
#include "dataplane/net/tcp_conn.h"

namespace anvil::net {

class syn_cookies {
 public:
  explicit syn_cookies(const prf_key& key) : _key(key) {}

  static constexpr nanos kPeriod = 64 * kNsPerSec;
  static constexpr std::uint16_t kMss[8] = {536, 1000, 1200, 1300, 1360, 1400, 1440, 1460};

  // The ISS for a SYN; `opt` is the SYN's options.
  seq_t make_iss(const tcp_tuple& t, seq_t client_isn, const tcp_options& opt, nanos now) const {
    const std::uint32_t period = static_cast<std::uint32_t>(now / kPeriod);
    std::uint32_t mi = 0;
    const std::uint16_t mss = opt.mss ? opt.mss : 536;
    for (std::uint32_t i = 0; i < 8; ++i)
      if (kMss[i] <= mss) mi = i;
    return (hash(t, client_isn, period) & 0xffffff00u) | ((period & 0x1f) << 3) | mi;
  }

  // The TSval for the SYN-ACK (when the SYN carried timestamps).
  static std::uint32_t make_tsval(std::uint32_t ts_clock, const tcp_options& opt) {
    const std::uint32_t bits =
        (opt.wscale >= 0 ? (0x10u | static_cast<std::uint32_t>(opt.wscale)) : 0u) |
        (opt.sack_permitted ? 0x20u : 0u);
    std::uint32_t v = (ts_clock & ~0x3fu) | bits;
    if (v > ts_clock) v -= 64;
    return v;
  }

  // Validates the ACK completing a cookie handshake; returns the SYN options it encoded.
  std::optional<tcp_options> check(const tcp_tuple& t, const tcp_segment& ack, nanos now) const {
    const seq_t iss = ack.ack - 1;
    const seq_t client_isn = ack.seq - 1;
    const std::uint32_t period = static_cast<std::uint32_t>(now / kPeriod);
    const std::uint32_t low = (iss >> 3) & 0x1f;
    for (std::uint32_t p : {period, period - 1}) {
      if ((p & 0x1f) != low) continue;
      if ((hash(t, client_isn, p) & 0xffffff00u) != (iss & 0xffffff00u)) continue;
      tcp_options o;
      o.mss = kMss[iss & 7];
      if (ack.opt.has_ts && ack.opt.ts_ecr) {
        o.has_ts = true;
        o.ts_val = ack.opt.ts_val;
        if (ack.opt.ts_ecr & 0x10) o.wscale = static_cast<std::int8_t>(ack.opt.ts_ecr & 0xf);
        o.sack_permitted = (ack.opt.ts_ecr & 0x20) != 0;
      }
      return o;
    }
    return std::nullopt;
  }

 private:
  std::uint32_t hash(const tcp_tuple& t, seq_t isn, std::uint32_t period) const {
    return static_cast<std::uint32_t>(tuple_prf(_key, prf_domain::cookie, t, isn, period) >> 32);
  }
  prf_key _key;
};

}  // namespace anvil::net
