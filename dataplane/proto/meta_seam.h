// The seam between the text protocol's framing (text_handler.cc) and the meta commands
// (mg ms md ma mn me). The text path owns the connection: it finds a complete command
// line, tokenizes it as memcached does (spaces only), and calls execute_meta() for a
// line whose first token is exactly two bytes, 'm' followed by one of g s d a n e.
// Any other 'm?' token gets memcached's "ERROR" from the text path, never this call.
//
// Contract (what the caller guarantees, what the callee must do):
// - `line` is the command line without its terminator: "\n" is removed, and a "\r"
//   before it too when the line holds more than that "\r" (memcached's rule). It may
//   start with spaces (memcached skips them); it is at most kTextMaxLine bytes.
// - `after_line` is every byte received after the line's "\n" (possibly empty): the
//   data block of `ms` (value + "\r\n") when it has arrived, then later requests. Views
//   are valid during the call only.
// - Backpressure, as for every text command: the caller calls only with at least
//   kTextSmallResponseMax bytes of room in ctx.out. A response is written whole or not
//   at all. A command whose response does not fit (an mg hit with its value) returns
//   meta_status::sink_full having changed nothing (no engine write, no counter bumped,
//   nothing in ctx.out); the caller flushes and calls again with the same line. So a
//   mutation must be executed only once its response is known to fit (it always does:
//   mutations answer with less than kTextSmallResponseMax bytes).
// - ms with a data block not yet complete: return meta_status::need_more with
//   `need_bytes` = how many bytes of `after_line` are needed (value + 2); the caller
//   calls again with the same line when they are there. The caller guarantees that
//   kTextMaxLine + the largest value (handler_config::max_value) + 2 bytes fit its
//   receive buffer; a larger S<len> must be refused from the line alone (memcached:
//   "SERVER_ERROR object too large for cache") and swallowed with ctx.swallow = len + 2.
// - On done, `data_consumed` = bytes of `after_line` consumed (ms: value + 2; else 0).
//   The caller then drops the line, its terminator and those bytes.
// - ctx.close = true: the caller sends what is in ctx.out, then closes the connection.
// - Counters: the same get/set/touch/delete/incr counters the classic commands bump
//   for the same work; errors in ctx.counters.protocol_errors. `cmd_meta` counts `me`
//   only: memcached 1.6.18 bumps it there and nowhere else (probed).
// - Hot path rules: no allocation, no syscall, no lock of its own, no virtual call.
// - Quiet mode (`q`) and `mn` need nothing from the caller: responses are written in
//   request order into ctx.out, which the server sends once the input is drained.
//
// Implemented by meta_exec.cc (the commands) over meta_parser.h (the line).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cache/engine.h"
#include "dataplane/proto/counters.h"
#include "dataplane/proto/mutation_hook.h"
#include "dataplane/proto/prefix_stats.h"
#include "dataplane/proto/writer.h"

namespace anvil::proto {

struct handler_config;

// The longest command line the text path accepts (memcached closes a connection whose
// first 2048 bytes hold no "\n", unless it is a get/gets line; see text_handler.cc).
inline constexpr std::size_t kTextMaxLine = 2048;
// Room the caller guarantees in the sink before any command runs: every response
// without a value fits (the longest meta line with k, O, c, f, t, s, and a base64 key).
inline constexpr std::size_t kTextSmallResponseMax = 1024;

// Everything a text (or meta) command may use; one per handle() call, per lcore.
struct text_ctx {
  cache::engine& engine;
  cache::session& session;
  const handler_config& cfg;  // max_value, version, flush_enabled
  lcore_counters& counters;
  prefix_stats& prefixes;     // memcached's `stats detail`: record gets/sets/deletes if enabled()
  const mutation_hook& hook;  // call after each successful mutation (replication)
  output_sink& out;
  std::uint32_t now;  // the engine clock (unix seconds), read once per handle() call
  // The client gate's bits (client_gate.h), loaded once per command line by the caller:
  // a command that the gate refuses answers refusal_line() and changes nothing.
  std::uint8_t gate = 0;
  // Set by the callee:
  bool close = false;         // send what is in `out`, then close the connection
  std::uint64_t swallow = 0;  // bytes after the consumed ones to discard (refused ms value)
};

enum class meta_status : std::uint8_t { done, need_more, sink_full };

struct meta_result {
  meta_status status = meta_status::done;
  std::size_t data_consumed = 0;  // done: bytes of after_line consumed (ms data block)
  std::size_t need_bytes = 0;     // need_more: bytes of after_line needed
};

// True for the command tokens the text path hands to execute_meta().
constexpr bool is_meta_command(std::string_view token) {
  if (token.size() != 2 || token[0] != 'm') return false;
  switch (token[1]) {
    case 'g':
    case 's':
    case 'd':
    case 'a':
    case 'n':
    case 'e':
      return true;
    default:
      return false;
  }
}

meta_result execute_meta(text_ctx& ctx, std::string_view line, std::string_view after_line);

}  // namespace anvil::proto
