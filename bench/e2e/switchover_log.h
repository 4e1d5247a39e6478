// The planned-switchover benchmark's arithmetic (bench/e2e/failover.sh, switchover phase):
// a writer's event log (switchover_client write) and the times the script issued each
// `anvilctl failover` in, per switchover figures out. Pure: no clock, no socket, no file.
//
// Event log, one line per event, times in CLOCK_REALTIME ns (the script's `date +%s%N`):
//   C <t> <pid>            a new connection to the VIP; the server's `stat pid` said <pid>
//                          (0: it did not say)
//   A <t> <key>            SET of key number <key> acknowledged (status 0)
//   F <t> <key>            refused by the write fence (binary status 0x86): retried
//   S <t> <key> <status>   any other status: retried
//   E <t> <key>            no answer (connect failure, deadline, reset): retried
// Keys are written in order, each retried until acknowledged, so keys 0..acked-1 are
// exactly the acknowledged ones. An ack belongs to the node whose pid the last C named.
//
// Per switchover (issued at t_cmd; the window ends where the next one is issued):
//   first_ack_ms   t_cmd -> the first ack in the window on a connection to the target's pid
//   pause_ms       the longest gap between consecutive acks from the last ack before
//                  t_cmd through that first ack on the target (the client-visible write pause)
//   fenced, failed, other_status   refusals in [t_cmd, first ack on the target]
//   fence_ms       first -> last fence refusal in that span (the write fence as this client
//                  saw it; 0 with fewer than two)
//   retried_keys   distinct keys that needed more than one attempt in that span
//   old_acks_after_fence  acks on another pid after the window's first fence refusal:
//                  must be 0 when the switchover succeeded (the fence held until release)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace anvil::bench {

struct write_event {
  enum class kind : std::uint8_t { connected, acked, fenced, other_status, failed };
  kind what = kind::acked;
  std::int64_t t_ns = 0;
  std::uint64_t value = 0;  // the key number; the pid for `connected`
  std::uint16_t status = 0;
};

// One line of the log; nullopt (with `why`) for anything malformed.
std::optional<write_event> parse_event(const std::string& line, std::string& why);
std::string format_event(const write_event& e);

struct switchover {
  std::int64_t t_cmd_ns = 0;
  std::uint64_t target_pid = 0;
};

struct switchover_figures {
  bool reached = false;  // an ack on the target's pid was seen in the window
  double first_ack_ms = 0;
  double pause_ms = 0;
  double fence_ms = 0;
  std::uint64_t fenced = 0, failed = 0, other_status = 0, retried_keys = 0;
  std::uint64_t old_acks_after_fence = 0;
};

// `events` in log order (times non-decreasing), `rounds` in the order issued.
std::vector<switchover_figures> analyze(const std::vector<write_event>& events,
                                        const std::vector<switchover>& rounds);

// Median of `v` (mean of the two middle values for an even count); 0 for none.
double median(std::vector<double> v);

}  // namespace anvil::bench
