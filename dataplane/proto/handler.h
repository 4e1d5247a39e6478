// The memcached binary command handler: frames requests out of a connection's
// contiguous receive bytes, executes them against the cache engine and appends the
// responses, in request order, to a caller-provided bounded send buffer.
//
// Server glue (one `handler` per lcore, one `connection` per TCP connection):
//   auto r = h.handle(conn, rx_bytes, sink);
//   drop r.consumed bytes from rx; send sink.data[0, sink.size) and reset sink.size;
//   if r.close_after_flush: close once the sink is sent; else if r.sink_full: call
//   again after the flush; else (r.need_more): wait for r.need_bytes bytes from rx.
//
// Backpressure rule: a request is executed only when its whole response fits in the
// sink. If it does not, handle() stops *before* that request (nothing of it consumed,
// no side effect kept, no counter bumped) and returns sink_full; the caller flushes and
// calls again. Mutations are executed only with kSmallResponseMax bytes of room, so
// they never have to be undone. Reads (get/gat/stat) are re-executed after the flush;
// a GAT's touch is idempotent. The sink must hold at least min_sink_capacity() bytes
// (the largest single response); a response that cannot fit even in an empty sink
// closes the connection (counted as a protocol error) rather than livelocking.
//
// Receive-buffer rule: a request is dispatched only once all 24 + bodylen bytes are
// contiguous in `input` (values are never copied until the engine stores them); a
// value over the item size is refused from its header and skipped as it streams in,
// so the receive buffer never needs more than 24 + 255 + 250 + max item size bytes.
//
// Batching: consecutive complete Get/GetQ/GetK/GetKQ requests already in the input
// are looked up with one engine get_batch() (prefetching), then answered in order.
//
// Threads: a handler belongs to one lcore (its session and counters too); no locks of
// its own (the engine's writes spin on its bucket/allocation spinlocks), no heap
// allocation, no virtual calls per request.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "cache/engine.h"
#include "dataplane/proto/client_gate.h"
#include "dataplane/proto/counters.h"
#include "dataplane/proto/meta_seam.h"
#include "dataplane/proto/mutation_hook.h"
#include "dataplane/proto/parser.h"
#include "dataplane/proto/prefix_stats.h"
#include "dataplane/proto/sasl.h"
#include "dataplane/proto/server_facts.h"
#include "dataplane/proto/writer.h"

namespace anvil::proto {

// memcached's -B: which protocols a connection may speak. With `auto_detect` the first
// byte of a connection decides: 0x80 (the binary request magic) selects binary, anything
// else the text protocol (classic and meta commands) for the life of the connection.
enum class binding : std::uint8_t { auto_detect, binary, ascii };

struct handler_config {
  // Values longer than this are refused with 0x03 (E2BIG) without being buffered;
  // 0 = the engine's max_item_size.
  std::size_t max_value = 0;
  // SASL is off unless credentials are given (memcached -S).
  const credentials* sasl = nullptr;
  // Failed SASL attempts a connection may make; the last one is answered and the
  // connection closed (counted in anvil_auth_failure_closes). Bounds the PBKDF2 work
  // one connection can cause, however many AUTHs it pipelines. At least 1.
  std::uint32_t sasl_max_failures = 3;
  bool flush_enabled = true;                  // memcached -F turns flush off (then 0x20)
  std::string_view version = "1.6.18-anvil";  // Version's reply and `version` stat
  bool batch_gets = true;                    // look runs of Get-family requests up with get_batch()
  server_settings settings;                  // what `stats settings` reports about the server
  binding protocols = binding::auto_detect;  // memcached -B (SASL forces binary)
  // The longest get/gets line accepted (memcached's are unbounded; ours must fit the
  // receive buffer): longer ones get "CLIENT_ERROR line too long" and a close.
  std::size_t max_get_line = 64 * 1024 - 1024;
  // The client gate (client_gate.h, written by the cluster agent in
  // control/cluster/vip_lease.h): while this node is not the shard's primary its key
  // commands are refused (reads only with replica_reads = false), and during a planned
  // switchover its writes get a retryable error. One relaxed load per request (per batch
  // for a run of GETs); null (every server without [cluster]): never refused.
  const std::atomic<std::uint8_t>* gate = nullptr;
  bool replica_reads = false;  // [cluster] replica_reads: a non-primary answers reads
};

// Counts a refusal of the client gate (refusal::none counts nothing).
inline void count_refusal(lcore_counters& c, refusal why) {
  switch (why) {
    case refusal::write_fenced:
      c.refused_fenced_writes.add();
      break;
    case refusal::not_primary_write:
      c.refused_not_primary_writes.add();
      break;
    case refusal::not_primary_read:
      c.refused_not_primary_reads.add();
      break;
    case refusal::none:
      break;
  }
}

// Per-connection protocol state. Plain data, no allocation; reset() for reuse.
class connection {
 public:
  enum class protocol : std::uint8_t { unknown, binary, text };

  bool authenticated() const { return _authenticated; }
  bool closing() const { return _closing; }
  protocol speaks() const { return _protocol; }
  void use(protocol p) { _protocol = p; }  // before the first byte (UDP: binary only)
  void reset() { *this = connection{}; }

 private:
  friend class handler;
  std::uint64_t _skip = 0;  // bytes of a refused packet (or text data block) to discard
  protocol _protocol = protocol::unknown;  // chosen by the first byte (handler_config::protocols)
  std::uint32_t _text_resume = 0;  // a multi-get stopped for room: line offset of its next key
  std::uint32_t _auth_failures = 0;
  bool _authenticated = false;
  bool _closing = false;
};

struct handle_result {
  std::size_t consumed = 0;        // bytes of input fully handled
  std::size_t need_bytes = 0;      // need_more: bytes from input[consumed] to progress
  bool need_more = false;          // the next packet is incomplete
  bool sink_full = false;          // stopped for room: flush the sink and call again
  bool close_after_flush = false;  // send what is in the sink, then close
};

// Stat groups written as text lines instead of binary packets: an echo whose opcode is
// this value (no binary opcode is) selects memcached's "STAT name value\r\n" format.
inline constexpr std::uint8_t kTextStats = 0xff;

// The largest single response of either protocol for values up to `max_value` bytes (a
// binary GETK hit, a text "VALUE <key> <flags> <bytes> <cas>" hit with END, or a stats
// detail dump), i.e. the send buffer a server must give a handler.
std::size_t sink_capacity_for(std::size_t max_value);

struct text_line;  // text_line.h

class handler {
 public:
  handler(cache::engine& engine, cache::session& session, const handler_config& cfg,
          lcore_counters& counters, facts_provider facts = {}, mutation_hook hook = {});

  handle_result handle(connection& c, std::span<const std::byte> input, output_sink& out);

  // The largest single response this handler can produce (a GETK hit of the largest
  // value): the sink capacity the caller must provide.
  std::size_t min_sink_capacity() const;

  // The largest body a valid request can have (extras + key + the largest value); an
  // unknown opcode with a larger body is answered and the connection closed.
  std::size_t max_packet_body() const { return 255 + kMaxKeyLength + _cfg.max_value; }

  // Requests answered (or completed silently, quiet) since start: every request counted
  // in lcore_counters::requests. Owner lcore only (a plain count; the server reads the
  // difference around a burst to weight its latency histogram).
  std::uint64_t requests_completed() const { return _completed; }

  // The server's view of the lease, once per poll iteration (owner lcore, plain store):
  // while `lapsed` the client gate reads "not primary" whatever the agent last wrote, so
  // a primary whose lease ran out by time (its agent stuck) stops taking key commands on
  // its own address at the same instant the stack stops answering for the VIP.
  void set_lease_lapsed(bool lapsed) { _lapsed = lapsed ? gate::kNotPrimary : gate::kOpen; }

 private:
  enum class outcome : std::uint8_t { done, sink_full, close };

  // Runs of complete Get-family requests are looked up together (engine get_batch:
  // hashes the burst, prefetches buckets and items a group ahead).
  static constexpr std::size_t kGetBatch = 32;

  handle_result handle_binary(connection& c, std::span<const std::byte> input, output_sink& out);
  outcome execute(connection& c, const request& r, output_sink& out, std::uint8_t gate_now);
  // The client gate's bits now: one relaxed load (client_gate.h), and the lapse the
  // server saw this iteration (a plain member).
  std::uint8_t gate_bits() const {
    return static_cast<std::uint8_t>(_cfg.gate->load(std::memory_order_relaxed) | _lapsed);
  }
  status write_gate_refusal(echo e, refusal why, output_sink& out);
  bool refused_by_gate(echo e, std::uint8_t gate_now, output_sink& out);
  std::size_t collect_gets(const connection& c, std::span<const std::byte> input, std::size_t pos);
  outcome exec_get(const request& r, output_sink& out);
  outcome emit_get(const request& r, const cache::item_view& it, output_sink& out);
  outcome exec_touch(const request& r, output_sink& out);
  outcome exec_store(const request& r, output_sink& out);
  outcome exec_delete(const request& r, output_sink& out);
  outcome exec_arith(const request& r, output_sink& out);
  outcome exec_flush(const request& r, output_sink& out);
  outcome exec_sasl(connection& c, const request& r, output_sink& out);
  outcome exec_stat(const request& r, output_sink& out);
  // Stat groups, written as binary packets (echo) or, with e.opcode == kTextStats, as
  // memcached's text lines "STAT name value\r\n" ... "END\r\n".
  bool write_general_stats(echo e, output_sink& out);
  bool write_settings_stats(echo e, output_sink& out);
  bool write_items_stats(echo e, output_sink& out, bool slabs);
  // One request completed: its status is that of the response written at `mark`, or
  // `quiet` when it wrote none.
  void count_request(std::uint8_t opcode, const output_sink& out, std::size_t mark) {
    count_request(opcode, out.size >= mark + kHeaderSize
                              ? status_class(load_be16(out.data + mark + 6))
                              : req_status::quiet);
  }
  void count_request(std::uint8_t opcode, req_status s) {
    _counters.requests.record(opcode, s);
    ++_completed;
  }

  void reset_all_stats();
  // A stat group the server owns: -1 unknown (nothing written), 0 did not fit (rolled
  // back), 1 written.
  int write_group_stats(echo e, output_sink& out, std::string_view name);

  // The text protocol (text_handler.cc, text_commands.cc).
  handle_result handle_text(connection& c, std::span<const std::byte> input, output_sink& out);
  outcome text_emit_get(std::string_view key, bool cas, const cache::item_view& it,
                        output_sink& out);
  std::size_t collect_text_gets(std::string_view input, std::size_t pos);
  outcome text_dispatch(connection& c, text_ctx& x, text_line& l, std::string_view after,
                        std::size_t& data_used, std::size_t& need);
  outcome text_get(connection& c, text_ctx& x, text_line& l, bool cas, bool touch);
  outcome text_store(text_ctx& x, text_line& l, std::string_view after, std::size_t& data_used,
                     std::size_t& need);
  // A storage command's line, parsed (by text_store from tokens, or by text_fast_set).
  struct text_store_args {
    std::string_view key;
    std::uint32_t flags = 0;
    std::int32_t exptime = 0;
    std::size_t value_len = 0;  // at most INT32_MAX - 2
    std::uint64_t req_cas = 0;
    std::uint8_t opcode = 0;  // op::set, add, replace, append or prepend
    bool is_cas = false;
    bool noreply = false;
  };
  // The hot path, memtier's memcache_text SET ("set <key> <flags> <exptime> <bytes>"):
  // outcome::close means "not this shape: take the general path".
  outcome text_fast_set(text_ctx& x, std::string_view line, std::string_view after,
                        std::size_t& data_used, std::size_t& need);
  outcome text_store_run(text_ctx& x, const text_store_args& a, std::string_view after,
                         std::size_t& data_used, std::size_t& need);
  outcome text_touch(text_ctx& x, text_line& l);
  outcome text_arith(text_ctx& x, text_line& l, bool incr);
  outcome text_delete(text_ctx& x, text_line& l);
  outcome text_flush(text_ctx& x, text_line& l);
  outcome text_verbosity(text_ctx& x, text_line& l);
  outcome text_stats(text_ctx& x, text_line& l);

  cache::engine& _engine;
  cache::session& _session;
  handler_config _cfg;
  lcore_counters& _counters;
  std::uint64_t _completed = 0;
  std::uint8_t _lapsed = gate::kOpen;  // set_lease_lapsed()
  facts_provider _facts;
  mutation_hook _hook;
  prefix_stats _prefixes;
  verified_cache _sasl_cache;
  std::array<char, prefix_stats::kDumpCapacity> _dump_buf{};
  std::array<request, kGetBatch> _batch_reqs{};
  std::array<std::string_view, kGetBatch> _batch_keys{};
  std::array<cache::item_view, kGetBatch> _batch_items{};
  // A run of single-key text get lines: each line's length with its "\n", and whether
  // it was a gets.
  std::array<std::uint16_t, kGetBatch> _text_batch_len{};
  std::array<bool, kGetBatch> _text_batch_cas{};
};

}  // namespace anvil::proto
