#include "dataplane/server/cache_server.h"

#include <sys/resource.h>

#include <algorithm>
#include <stdexcept>

namespace anvil::server {

void fill_server_facts(void* ctx, proto::server_facts& f) {
  const auto& sh = *static_cast<const server_shared*>(ctx);
  f.pid = sh.pid;
  f.started_at = sh.started_at;
  f.threads = sh.threads;
  f.max_connections = sh.max_connections;
  for (const auto* s : sh.serving) {
    f.curr_connections += s->curr_connections.load(std::memory_order_relaxed);
    f.total_connections += s->total_connections.get();
    f.rejected_connections += s->rejected_connections.get();
  }
  for (const auto* n : sh.net) {  // SYNs refused because the table or the pool was full
    if (n == nullptr) continue;
    f.rejected_connections += n->tcp_conn_limit.load(std::memory_order_relaxed) +
                              n->tcp_pool_empty.load(std::memory_order_relaxed);
  }
  // Every lcore allocates its whole connection table at start.
  f.connection_structures =
      (sh.connection_slots ? sh.connection_slots : sh.max_connections) * sh.threads;
  for (const auto* c : sh.proto) f.totals.accumulate(*c);
  f.have_totals = true;
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) == 0) {  // Stat requests only, never the hot path
    f.rusage_user = double(ru.ru_utime.tv_sec) + double(ru.ru_utime.tv_usec) / 1e6;
    f.rusage_system = double(ru.ru_stime.tv_sec) + double(ru.ru_stime.tv_usec) / 1e6;
  }
}

void request_stats_reset(void* ctx) {
  auto& sh = *static_cast<server_shared*>(ctx);
  for (auto* s : sh.serving) s->reset_requested.store(true, std::memory_order_relaxed);
}

bool server_stat_group(void* ctx, std::string_view name, proto::facts_provider::stat_emit emit,
                       void* sink) {
  const auto& sh = *static_cast<const server_shared*>(ctx);
  return sh.stat_group != nullptr && sh.stat_group(sh.stat_group_ctx, name, emit, sink);
}

std::uint64_t requests_served(const proto::lcore_counters& c) {
  return c.cmd_get.load() + c.cmd_set.load() + c.cmd_touch.load() + c.cmd_flush.load() +
         c.delete_hits.load() + c.delete_misses.load() + c.incr_hits.load() + c.incr_misses.load() +
         c.decr_hits.load() + c.decr_misses.load();
}

tcp_buffer_sizes tcp_buffers(std::size_t max_item_size) {
  constexpr std::size_t kMin = 64 * 1024, kPage = 4096;
  auto round = [](std::size_t n) { return (n + kPage - 1) / kPage * kPage; };
  // A whole request: a binary 24-byte header + extras (<= 255) + key (<= 250) + value,
  // or a text command line (<= kTextMaxLine + "\r\n") + value + "\r\n".
  const std::size_t request =
      std::max(max_item_size + 24 + 255 + 250, proto::kTextMaxLine + 2 + max_item_size + 2);
  const std::size_t rx = std::max(kMin, round(request));
  // handler::min_sink_capacity(): the largest value response, or a stats dump.
  const std::size_t tx = std::max(kMin, round(proto::sink_capacity_for(max_item_size)));
  return {static_cast<std::uint32_t>(rx), static_cast<std::uint32_t>(tx)};
}

cache_server::cache_server(cache::engine& engine, const cache_server_config& cfg,
                           server_shared& shared, unsigned lcore)
    : _shared(shared),
      _lcore(lcore),
      _latency(cfg.latency),
      _health(lcore < shared.health.size() ? shared.health[lcore] : nullptr),
      _session(engine.open_session()),
      _handler(engine, _session, cfg.proto, _proto_counters,
               proto::facts_provider{&shared, &fill_server_facts, &request_stats_reset,
                                     &server_stat_group},
               lcore < shared.mutation_hooks.size() ? shared.mutation_hooks[lcore]
                                                    : proto::mutation_hook{}),
      _app{this},
      _stack(cfg.stack, _app),
      _conns(cfg.stack.max_connections),
      _lease_gated(cfg.proto.gate != nullptr && cfg.stack.vip.enabled()) {
  if (cfg.stack.tcp.tx_buffer < _handler.min_sink_capacity())
    throw std::invalid_argument("cache_server: TCP send buffer below the largest response");
  shared.proto.at(lcore) = &_proto_counters;
  shared.serving.at(lcore) = &_stats;
  shared.net.at(lcore) = &_stack.counters();
  if (shared.latency.size() > lcore) shared.latency[lcore] = &_latency;
}

void cache_server::accept(net::tcp_conn& c) {
  conn_state& st = _conns[c.slot];
  st.proto.reset();
  if (_stopping) {  // draining: refuse new connections
    st.open = false;
    c.abort();
    return;
  }
  if (_shared.control.draining.load(std::memory_order_relaxed)) {  // POST /v1/drain
    st.open = false;
    _stats.drain_refused.add();
    c.abort();
    return;
  }
  // -c is global: one shared count, taken here and given back in closed().
  if (_shared.max_connections != 0 &&
      _shared.open_connections.fetch_add(1, std::memory_order_relaxed) >= _shared.max_connections) {
    _shared.open_connections.fetch_sub(1, std::memory_order_relaxed);
    st.open = false;
    _stats.rejected_connections.add();
    c.abort();
    return;
  }
  st.open = true;
  ++_open;
  _stats.curr_connections.store(_open, std::memory_order_relaxed);
  _stats.total_connections.add();
}

void cache_server::closed(net::tcp_conn& c) {
  conn_state& st = _conns[c.slot];
  if (!st.open) return;
  st.open = false;
  st.proto.reset();
  if (_shared.max_connections != 0)
    _shared.open_connections.fetch_sub(1, std::memory_order_relaxed);
  if (_open > 0) --_open;
  _stats.curr_connections.store(_open, std::memory_order_relaxed);
}

// Runs the protocol over what the connection has received, writing into its send
// buffer, until it needs more input or more send space (on_writable resumes it).
void cache_server::serve(net::tcp_conn& c) {
  conn_state& st = _conns[c.slot];
  if (!st.open) return;
  {
    const net::mut_bytes space = c.send_space();
    if (space.empty()) return;  // full (an ACK resumes us) or already closing
    const std::size_t queued = c.send_queued();
    proto::output_sink out{space.data() - queued, queued + space.size(), queued};
    const net::bytes in = c.recv_view();
    const proto::handle_result r = _handler.handle(st.proto, in, out);
    c.consume(r.consumed);
    c.commit_send(out.size - queued);
    if (r.close_after_flush) {
      c.close();  // FIN after the queued responses
      return;
    }
    if (r.sink_full) return;  // the responses go out; the ACK that frees space resumes us
    // need_more: a partial request (or nothing) is left.
    if (c.peer_closed()) c.close();  // EOF: memcached closes too
    return;
  }
}

void cache_server::udp(net::bytes request, net::udp_reply& reply) {
  proto::connection conn;  // UDP has no connection state: one request, one reply
  conn.use(proto::connection::protocol::binary);  // the text protocol is TCP only
  proto::output_sink out{reply.space.data(), reply.space.size(), 0};
  _handler.handle(conn, request, out);
  reply.len = out.size;
  _stats.udp_requests.add();
}

void cache_server::reset_counters() {
  _stats.reset_requested.store(false, std::memory_order_relaxed);
#define ANVIL_SERVER_RESET(n) _proto_counters.n.reset();
  ANVIL_PROTO_COUNTERS(ANVIL_SERVER_RESET)
#undef ANVIL_SERVER_RESET
}

}  // namespace anvil::server
