// Whether this node's data plane answers clients' key commands: one byte, written by the
// cluster agent (control/cluster/vip_lease.h) and read by every lcore's handler with one
// relaxed load per request (per batch for a run of GETs). Without [cluster] there is no
// gate and nothing is ever refused.
//
// The byte holds two independent bits:
// - kNotPrimary: this node is not the shard's primary holding its lease (a replica, a
//   candidate, fenced, or still joining at start-up). Writes are refused (a replica's
//   data belongs to the primary's replication stream; a write taken here would diverge
//   and be lost), and reads too unless [cluster] replica_reads = true. Binary answers
//   0x07 "not my vbucket" (this node does not own the key: ask another one), text and
//   meta a "SERVER_ERROR not primary: ..." line.
// - kWritesPaused: a planned switchover's write fence on the primary: writes get the
//   retryable 0x86 "temporary failure" (the same node, or the new primary behind the
//   same VIP, takes them a moment later); reads go on.
// Commands that touch no key (noop, version, quit, stats, verbosity, SASL) are always
// answered, so monitoring and health checks can talk to any node.
//
// Invariants: the handler never writes the byte; the writer keeps it alive longer than
// the handlers. Relaxed is enough: the byte publishes no other data, and a request
// already past the check when the bit flips is the same race whatever the ordering.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

namespace anvil::proto {

namespace gate {
inline constexpr std::uint8_t kOpen = 0;
inline constexpr std::uint8_t kWritesPaused = 1;
inline constexpr std::uint8_t kNotPrimary = 2;
}  // namespace gate

// What a command does to the cache, as far as the gate is concerned.
enum class access : std::uint8_t {
  admin,  // touches no key: noop, version, quit, stats, verbosity, SASL
  read,   // get/gets/getk, meta get without T or N, me
  write,  // every mutation, touch and GAT included, flush_all too
};

enum class refusal : std::uint8_t { none, write_fenced, not_primary_write, not_primary_read };

constexpr refusal gate_refusal(std::uint8_t bits, access a, bool replica_reads) {
  if (bits == gate::kOpen || a == access::admin) return refusal::none;
  if ((bits & gate::kNotPrimary) != 0) {
    if (a == access::write) return refusal::not_primary_write;
    return replica_reads ? refusal::none : refusal::not_primary_read;
  }
  return a == access::write ? refusal::write_fenced : refusal::none;
}

// The text/meta answers (memcached's SERVER_ERROR: a client library reports the line).
inline constexpr std::string_view kFencedLine =
    "SERVER_ERROR temporary failure: switchover in progress, retry";
inline constexpr std::string_view kNotPrimaryWriteLine =
    "SERVER_ERROR not primary: this node does not take writes, send them to the primary";
inline constexpr std::string_view kNotPrimaryReadLine =
    "SERVER_ERROR not primary: reads on a replica are off (replica_reads = false)";

constexpr std::string_view refusal_line(refusal r) {
  switch (r) {
    case refusal::write_fenced:
      return kFencedLine;
    case refusal::not_primary_write:
      return kNotPrimaryWriteLine;
    case refusal::not_primary_read:
      return kNotPrimaryReadLine;
    case refusal::none:
      break;
  }
  return {};
}

}  // namespace anvil::proto
