// The heartbeat every node sends to its peers over kernel UDP on the management
// network (default every 100 ms): who it is, its role and epoch for its shard, its
// health with reasons, its canary latency and its replication position. Peers use it
// to detect a dead or slow node faster than any lease, and to know whether a healthy,
// caught-up replica exists before a degraded primary steps down.
//
// Wire format (version 1, big-endian, at most kMaxPacket bytes):
//   0  magic "ANHB"         4  version u8   5  role u8   6  health u8   7  reason count u8
//   8  incarnation u64 (random per process start: a restart resets seq)
//   16 seq u64             24 epoch u64    32 replication position u64
//   40 canary latency us u32
//   44 node, zone, shard: each u8 length + bytes (1..kMaxName), then each reason:
//      u8 length + bytes (1..kMaxReason); nothing may follow.
// decode() checks every length against what arrived and every enum against its range;
// a malformed datagram is an error value naming the field, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "control/cluster/health_input.h"
#include "control/cluster/role_machine.h"

namespace anvil::cluster {

inline constexpr std::size_t kMaxPacket = 512;
inline constexpr std::size_t kMaxName = 32;
inline constexpr std::size_t kMaxReason = 48;
inline constexpr std::size_t kMaxReasons = 6;
inline constexpr std::size_t kHeartbeatFixed = 44;

struct heartbeat {
  std::string node, zone, shard;
  role node_role = role::replica;
  health_level health = health_level::ok;
  std::vector<std::string> reasons;
  std::uint64_t incarnation = 0;
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;
  std::uint64_t replication_position = 0;
  std::uint32_t canary_latency_us = 0;
  bool operator==(const heartbeat&) const = default;
};

enum class decode_error {
  none,
  too_short,
  too_long,
  bad_magic,
  bad_version,
  bad_role,
  bad_health,
  too_many_reasons,
  bad_name,    // empty, longer than kMaxName or past the end
  bad_reason,  // empty, longer than kMaxReason or past the end
  trailing_bytes,
};
const char* to_string(decode_error e);

// Encodes into `out` (resized). Fields too long for the format are refused
// (returns false) rather than cut: the caller validated them at configuration.
bool encode(const heartbeat& hb, std::vector<std::uint8_t>& out);
decode_error decode(std::span<const std::uint8_t> in, heartbeat& hb);

}  // namespace anvil::cluster
