// The real per-lcore handler: port frames -> net::stack (TCP/UDP/ARP/ICMP) -> memcached
// binary protocol handler -> cache engine, and back. One `cache_server` per lcore; it
// owns that lcore's stack (its own connection table, timers and buffer pools), its
// cache session and its protocol counters. Plugs into poll_loop<Port, cache_server>.
//
// Buffers and the protocol's backpressure rule:
// - The protocol dispatches a request only when all of it is contiguous in the
//   receive buffer, so TCP receive buffers hold max item size + headers (see
//   tcp_buffers()). Pool memory is one allocation per lcore made at start; pages are
//   touched only as far as a connection's data reaches.
// - Responses are written straight into the connection's send buffer. The sink we
//   hand the protocol starts at the connection's queued (unacknowledged) bytes, so a
//   response that does not fit *now* stops the handler with sink_full (we resume in
//   on_writable when an ACK frees space) instead of looking like "cannot fit even in
//   an empty sink", which would close the connection. The send buffer holds the
//   largest single response (handler::min_sink_capacity()).
// The failover VIP (stack_config::vip, net::address_gate): answered for while the HA
// agent's lease holds; poll_gate() runs at every RX burst and timer pass, so each lcore
// sends its gratuitous ARPs on a take and resets the VIP's connections once it ends.
// Hot path: no OS lock, no heap allocation, no syscall, no virtual call (cache writes
// spin on the engine's bucket and allocation spinlocks, cache/engine.h). Cross-lcore state
// (connection counts, "stats reset" requests) is single-writer atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "cache/engine.h"
#include "dataplane/net/stack.h"
#include "dataplane/port/frame.h"
#include "dataplane/port/port_counters.h"
#include "dataplane/proto/handler.h"
#include "dataplane/server/cycles.h"
#include "dataplane/server/latency_histogram.h"
#include "dataplane/server/lcore_health.h"
#include "dataplane/server/tx_budget.h"

namespace anvil::server {

// What other threads may read about one lcore (single writer: that lcore).
struct alignas(64) lcore_serving_stats {
  std::atomic<std::uint64_t> curr_connections{0};  // established, not yet closed
  port::counter total_connections;
  port::counter rejected_connections;  // refused at the global -c limit
  port::counter drain_refused;         // refused while draining (admin API POST /v1/drain)
  port::counter udp_requests;
  std::atomic<bool> reset_requested{false};  // set by any lcore's "stats reset"
};

// Requests from the control side that an lcore polls (the admin API): written by one
// control thread at a time, read with one relaxed/acquire load per lcore iteration or
// per accept. An lcore never waits for the control side; the control side may wait
// (bounded) for `flush_done`.
struct alignas(64) control_requests {
  // While true every lcore refuses new TCP connections (RST, drain_refused) and keeps
  // serving the ones it has. Read on accept only.
  std::atomic<bool> draining{false};
  // A cache flush for lcore 0 to run with its own session: (sequence << 32) | delay s.
  // A new request replaces a pending one; lcore 0 publishes the sequence it ran.
  std::atomic<std::uint64_t> flush_request{0};
  std::atomic<std::uint32_t> flush_done{0};
};

// Shared, read-only after start-up except for the per-lcore blocks above.
struct server_shared {
  std::uint32_t pid = 0;
  std::uint32_t started_at = 0;  // unix seconds
  std::uint32_t threads = 1;
  // -c, global as memcached's: the connections open on all lcores together. Each lcore's
  // connection table still has room for all of them (the flow hash, not us, picks the
  // lcore); an accept past the limit is reset. 0 = no limit.
  std::uint64_t max_connections = 0;
  std::uint64_t connection_slots = 0;  // each lcore's table (0: max_connections)
  // Accepted and not yet closed, all lcores (written on accept/close only).
  alignas(64) std::atomic<std::uint64_t> open_connections{0};
  std::vector<proto::lcore_counters*> proto;      // one per lcore
  std::vector<lcore_serving_stats*> serving;      // one per lcore
  std::vector<const net::net_counters*> net;      // one per lcore (set by each server)
  std::vector<const latency_histogram*> latency;  // one per lcore (set by each server)
  control_requests control;
  // The health monitor's mailbox per lcore (lcore_health.h); empty or null: no canary.
  std::vector<lcore_health*> health;
  // Stat groups owned off the data plane (`stats storage`: snapshot health), answered
  // on the lcore that got the Stat request; must be lock-free for the caller. Null: none.
  void* stat_group_ctx = nullptr;
  bool (*stat_group)(void* ctx, std::string_view name, proto::facts_provider::stat_emit emit,
                     void* sink) = nullptr;
  // The replication tap per lcore (control/replication/): called after every successful
  // mutation. Empty or a null hook: nothing is replicated.
  std::vector<proto::mutation_hook> mutation_hooks;
};

// Fills memcached's server-wide stats from every lcore (called only for Stat requests).
void fill_server_facts(void* ctx, proto::server_facts& f);
void request_stats_reset(void* ctx);
bool server_stat_group(void* ctx, std::string_view name, proto::facts_provider::stat_emit emit,
                       void* sink);

// Requests served, as the sum of the command counters memcached keeps (gets, stores,
// touches, flushes, deletes, incr/decr); noop/version/stat are not counted.
std::uint64_t requests_served(const proto::lcore_counters& c);

struct cache_server_config {
  net::stack_config stack;
  proto::handler_config proto;
  latency_bounds latency = latency_bounds::measured();  // histogram buckets in cycles
};

// Receive/send buffer sizes that satisfy the protocol's contiguity and sink rules.
struct tcp_buffer_sizes {
  std::uint32_t rx = 0, tx = 0;
};
tcp_buffer_sizes tcp_buffers(std::size_t max_item_size);

class cache_server;

// The stack's application: forwards callbacks to the server (a separate type so the
// stack can be a member of the server).
struct cache_server_app {
  cache_server* s = nullptr;
  void on_accept(net::tcp_conn& c);
  void on_data(net::tcp_conn& c);
  void on_close(net::tcp_conn& c);
  void on_writable(net::tcp_conn& c);
  void on_udp(net::bytes request, net::udp_reply& reply);
};

class cache_server {
 public:
  cache_server(cache::engine& engine, const cache_server_config& cfg, server_shared& shared,
               unsigned lcore);
  cache_server(const cache_server&) = delete;
  cache_server& operator=(const cache_server&) = delete;

  // ---- poll_loop hooks ------------------------------------------------------------
  template <class Sink>
  void on_rx(std::span<const port::rx_frame> burst, Sink& tx, std::uint64_t now_ns) {
    const std::uint64_t t0 = cycles_now();
    const std::uint64_t served = _handler.requests_completed();
    const net::nanos now = static_cast<net::nanos>(now_ns);
    poll_gate(now, tx);  // the VIP's ownership: one load when nothing changed
    for (const auto& f : burst) {
      const bool verified = f.csum == port::csum_state::verified;
      _stack.input(f.bytes, now, tx, net::rx_meta{verified, f.csum != port::csum_state::unknown});
    }
    budget_sink<Sink> out(tx, _tx_budget);
    _stack.flush(now, out);
    _output_held = out.held();
    // Burst received -> responses queued: every request this burst completed took it.
    if (const std::uint64_t n = _handler.requests_completed() - served; n != 0)
      _latency.record(cycles_now() - t0, n);
  }

  // Output the stack held back (the iteration's TX budget ran out, or the port's kept
  // batch was full) goes out here, one budget per iteration, between RX bursts.
  template <class Sink>
  void resume_output(Sink& tx, std::uint64_t now_ns) {
    if (!_output_held || _tx_budget == 0) return;
    budget_sink<Sink> out(tx, _tx_budget);
    _stack.flush(static_cast<net::nanos>(now_ns), out);
    _output_held = out.held();
  }

  // The loop calls this only when the deadline it returned is due, but a connection
  // accepted or written to in on_rx may arm an earlier timer; so never promise more
  // than kTimerGranularity ahead.
  template <class Sink>
  std::uint64_t on_timers(Sink& tx, std::uint64_t now_ns) {
    const net::nanos now = static_cast<net::nanos>(now_ns);
    budget_sink<Sink> out(tx, _tx_budget);
    poll_gate(now, out);  // gratuitous ARPs on a take, RSTs once ownership ends
    _stack.poll_timers(now, out);
    _output_held = out.held();
    const net::nanos next = _stack.next_deadline();
    const net::nanos cap = now + kTimerGranularityNs;
    return static_cast<std::uint64_t>(next < cap ? next : cap);
  }

  void quiescent() {
    _tx_budget = kTxBudgetFrames;  // the end of an iteration: a new budget
    if (_stats.reset_requested.load(std::memory_order_relaxed)) [[unlikely]]
      reset_counters();
    if (_lcore == 0) [[unlikely]]
      run_control_flush();
    if (_health != nullptr) _health->poll(_session);  // a canary round, when posted
    _session.quiescent();
    if (_health != nullptr) _health->fault_delay();  // [debug] lcore_delay_us
  }
  // How long the iteration took (TSC cycles): loop-stall detection.
  void on_iteration(std::uint64_t cycles) {
    if (_health != nullptr) _health->on_iteration(cycles);
  }

  // Nothing to serve: hand the pages of a few closed connections' large buffers back to
  // the OS (at most kTrimPerIdle madvise calls, none when nothing is queued).
  void on_idle() { _stack.trim_buffers(kTrimPerIdle); }
  static constexpr std::size_t kTrimPerIdle = 4;

  // Graceful stop: answer every complete request already received, then close each
  // connection (FIN after the queued responses); new connections are refused (RST).
  template <class Sink>
  void on_stop(Sink& tx, std::uint64_t now_ns) {
    _stopping = true;
    // A VIP given away before the stop (cluster resign) resets its connections first.
    poll_gate(static_cast<net::nanos>(now_ns), tx);
    _stack.for_each_connection([this](net::tcp_conn& c) {
      if (_conns[c.slot].open) {
        serve(c);
        c.close();
      }
    });
    _stack.flush(static_cast<net::nanos>(now_ns), tx);
  }
  // True while a connection still has responses or our FIN unacknowledged.
  bool in_flight() { return unfinished_connections() > 0; }
  // Connections whose responses or FIN are not yet acknowledged (FIN_WAIT_2 and
  // TIME_WAIT are done: everything we owed was delivered). Not for the hot path.
  std::size_t unfinished_connections() {
    std::size_t any = 0;
    _stack.for_each_connection([&](net::tcp_conn& c) {
      switch (c.state()) {
        case net::tcp_state::syn_received:
        case net::tcp_state::established:
        case net::tcp_state::close_wait:
        case net::tcp_state::fin_wait_1:
        case net::tcp_state::closing:
        case net::tcp_state::last_ack:
          ++any;
          break;
        default:
          break;
      }
    });
    return any;
  }

  // ---- stack callbacks (through cache_server_app) ----------------------------------
  void accept(net::tcp_conn& c);
  void serve(net::tcp_conn& c);
  void closed(net::tcp_conn& c);
  void udp(net::bytes request, net::udp_reply& reply);

  // ---- inspection (other threads: counters only) -----------------------------------
  const net::net_counters& net_counters() const { return _stack.counters(); }
  const proto::lcore_counters& proto_counters() const { return _proto_counters; }
  const lcore_serving_stats& serving_stats() const { return _stats; }
  const latency_histogram& latency() const { return _latency; }

  static constexpr net::nanos kTimerGranularityNs = 1'000'000;  // 1 ms

 private:
  struct conn_state {
    proto::connection proto;
    bool open = false;
  };
  void reset_counters();
  // The stack's VIP ownership at this iteration's clock, passed on to the handler's client
  // gate: a lease that lapsed by time closes the gate on this node's own address too,
  // even before the agent (maybe stuck) releases it. Every handler call comes after one
  // of these in the same iteration.
  template <class Sink>
  void poll_gate(net::nanos now, Sink& tx) {
    _stack.poll_gate(now, tx);
    if (_lease_gated) _handler.set_lease_lapsed(!_stack.gate_held());
  }
  // Lcore 0: a flush the admin API queued (control_requests::flush_request).
  void run_control_flush() {
    const std::uint64_t r = _shared.control.flush_request.load(std::memory_order_acquire);
    const auto seq = static_cast<std::uint32_t>(r >> 32);
    if (seq == _flush_seen) [[likely]]
      return;
    _session.flush(static_cast<std::uint32_t>(r));
    _flush_seen = seq;
    _shared.control.flush_done.store(seq, std::memory_order_release);
  }

  server_shared& _shared;
  unsigned _lcore;
  std::uint32_t _flush_seen = 0;
  latency_histogram _latency;
  lcore_health* _health = nullptr;
  cache::session _session;
  proto::lcore_counters _proto_counters;
  lcore_serving_stats _stats;
  proto::handler _handler;
  cache_server_app _app;
  net::stack<cache_server_app> _stack;
  std::vector<conn_state> _conns;  // indexed by tcp_conn::slot
  std::uint64_t _open = 0;
  bool _stopping = false;
  std::uint32_t _tx_budget = kTxBudgetFrames;  // frames the stack may still send this iteration
  bool _output_held = false;                   // the stack owes output it could not send
  // [cluster]: the client gate also closes when the VIP's lease lapses by time.
  bool _lease_gated = false;
};

inline void cache_server_app::on_accept(net::tcp_conn& c) { s->accept(c); }
inline void cache_server_app::on_data(net::tcp_conn& c) { s->serve(c); }
inline void cache_server_app::on_close(net::tcp_conn& c) { s->closed(c); }
inline void cache_server_app::on_writable(net::tcp_conn& c) { s->serve(c); }
inline void cache_server_app::on_udp(net::bytes request, net::udp_reply& reply) {
  s->udp(request, reply);
}

}  // namespace anvil::server
