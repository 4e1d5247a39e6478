#include "control/admin/node_metrics.h"

#include <set>
#include <string>

#include "control/admin/health_source.h"
#include "dataplane/net/counters.h"

namespace anvil::control::admin {
namespace {

std::uint64_t ld(const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); }

template <class F>
std::uint64_t sum_net(const node_view& v, F field) {
  std::uint64_t n = 0;
  for (const auto* c : v.shared->net)
    if (c != nullptr) n += ld(field(*c));
  return n;
}

#ifndef ANVIL_VERSION_COMPILER
#if defined(__clang__)
#define ANVIL_VERSION_COMPILER "clang-" __clang_version__
#elif defined(__GNUC__)
#define ANVIL_VERSION_COMPILER "gcc-" __VERSION__
#else
#define ANVIL_VERSION_COMPILER "unknown"
#endif
#endif

void requests(const node_view& v, exposition& x) {
  x.family("anvil_requests_total", "counter",
           "Binary-protocol requests by operation (quiet variants folded) and response status");
  for (std::size_t o = 0; o < proto::kReqOps; ++o)
    for (std::size_t s = 0; s < proto::kReqStatuses; ++s) {
      std::uint64_t n = 0;
      for (const auto* pc : v.shared->proto)
        if (pc != nullptr)
          n += pc->requests.get(static_cast<proto::req_op>(o), static_cast<proto::req_status>(s));
      if (n == 0) continue;  // a series appears with its first request
      x.sample("anvil_requests_total",
               {{"op", to_string(static_cast<proto::req_op>(o))},
                {"status", to_string(static_cast<proto::req_status>(s))}},
               n);
    }
  server::latency_snapshot all;
  for (const auto* h : v.shared->latency)
    if (h != nullptr) all.merge(h->read());
  std::vector<double> bounds(server::kLatencyBoundsSeconds.begin(),
                             server::kLatencyBoundsSeconds.end());
  std::vector<std::uint64_t> counts(all.counts.begin(), all.counts.end());
  x.histogram("anvil_request_duration_seconds",
              "Server-side request latency, all lcores: burst received to responses queued", bounds,
              counts, double(all.sum_cycles) / v.cycles_per_second);
}

void cache(const node_view& v, exposition& x) {
  const auto ps = v.engine->total_stats();
  proto::counter_totals t;
  for (const auto* pc : v.shared->proto)
    if (pc != nullptr) t.accumulate(*pc);
  auto gauge = [&](const char* n, const char* help, std::uint64_t val) {
    x.family(n, "gauge", help);
    x.sample(n, {}, val);
  };
  auto counter = [&](const char* n, const char* help, std::uint64_t val) {
    x.family(n, "counter", help);
    x.sample(n, {}, val);
  };
  gauge("anvil_cache_items", "Items resident", ps.items);
  gauge("anvil_cache_bytes", "Item bytes in use", ps.bytes_used);
  gauge("anvil_cache_limit_bytes", "Item memory limit", ps.bytes_limit);
  counter("anvil_cache_evictions_total", "Items evicted to make room", ps.evictions);
  counter("anvil_cache_expired_total", "Expired items reclaimed", ps.expired_reclaimed);
  counter("anvil_cache_hits_total", "Get hits", t.get_hits);
  counter("anvil_cache_misses_total", "Get misses", t.get_misses);
  // The client gate (dataplane/proto/client_gate.h): key commands this node refused.
  x.family("anvil_requests_refused_total", "counter",
           "Key commands refused: not the shard's primary (reads, writes), or a switchover's "
           "write fence");
  x.sample("anvil_requests_refused_total", {{"reason", "not_primary_read"}},
           t.refused_not_primary_reads);
  x.sample("anvil_requests_refused_total", {{"reason", "not_primary_write"}},
           t.refused_not_primary_writes);
  x.sample("anvil_requests_refused_total", {{"reason", "write_fence"}}, t.refused_fenced_writes);
}

void connections(const node_view& v, exposition& x) {
  std::uint64_t cur = 0, total = 0, limit_rejected = 0, drain = 0;
  for (const auto* s : v.shared->serving) {
    if (s == nullptr) continue;
    cur += s->curr_connections.load(std::memory_order_relaxed);
    total += s->total_connections.get();
    limit_rejected += s->rejected_connections.get();
    drain += s->drain_refused.get();
  }
  x.family("anvil_connections", "gauge", "Connections open, all lcores");
  x.sample("anvil_connections", {}, cur);
  x.family("anvil_connections_limit", "gauge", "The global connection limit (-c); 0 = none");
  x.sample("anvil_connections_limit", {}, v.shared->max_connections);
  x.family("anvil_connections_total", "counter", "Connections accepted");
  x.sample("anvil_connections_total", {}, total);
  x.family("anvil_connections_rejected_total", "counter", "Connections refused, by reason");
  x.sample("anvil_connections_rejected_total", {{"reason", "limit"}}, limit_rejected);
  x.sample("anvil_connections_rejected_total", {{"reason", "table_full"}},
           sum_net(
               v, [](const net::net_counters& c) -> auto& { return c.tcp_conn_limit; }));
  x.sample("anvil_connections_rejected_total", {{"reason", "pool_empty"}},
           sum_net(
               v, [](const net::net_counters& c) -> auto& { return c.tcp_pool_empty; }));
  x.sample("anvil_connections_rejected_total", {{"reason", "draining"}}, drain);
  x.family("anvil_draining", "gauge", "1 while the node refuses new connections (drain)");
  x.sample("anvil_draining", {},
           std::uint64_t{v.shared->control.draining.load(std::memory_order_relaxed)});
}

void tcp(const node_view& v, exposition& x) {
  auto counter = [&](const char* n, const char* help, std::uint64_t val) {
    x.family(n, "counter", help);
    x.sample(n, {}, val);
  };
  using nc = net::net_counters;
  counter("anvil_tcp_retransmits_total", "TCP segments retransmitted (all causes)",
          sum_net(
              v, [](const nc& c) -> auto& { return c.tcp_retransmits; }));
  counter("anvil_tcp_rto_total", "TCP retransmission timeouts",
          sum_net(
              v, [](const nc& c) -> auto& { return c.tcp_rto_expired; }));
  counter("anvil_tcp_fast_retransmits_total", "TCP fast retransmits",
          sum_net(
              v, [](const nc& c) -> auto& { return c.tcp_fast_retransmits; }));
  counter("anvil_tcp_out_of_order_dropped_total", "Out-of-order TCP segments dropped: queue full",
          sum_net(
              v, [](const nc& c) -> auto& { return c.drop_tcp_ooo_full; }));
  counter("anvil_tcp_segments_received_total", "TCP segments received for a connection",
          sum_net(
              v, [](const nc& c) -> auto& { return c.tcp_rx_segments; }));
  counter("anvil_tcp_segments_sent_total", "TCP segments sent",
          sum_net(
              v, [](const nc& c) -> auto& { return c.tcp_tx_segments; }));
  x.family("anvil_net_drops_total", "counter", "Frames or segments the stack dropped, by reason");
#define ANVIL_ADMIN_DROP(name, help)                                                   \
  if (std::string_view(#name).starts_with("drop_"))                                    \
    x.sample("anvil_net_drops_total", {{"reason", std::string_view(#name).substr(5)}}, \
             sum_net(                                                                  \
                 v, [](const nc& c) -> auto& { return c.name; }));
  ANVIL_NET_COUNTERS(ANVIL_ADMIN_DROP)
#undef ANVIL_ADMIN_DROP
}

void ports_and_loops(const node_view& v, exposition& x) {
  struct fam {
    const char* name;
    const char* type;
    const char* help;
  };
  auto per_lcore = [&](fam f, auto value) {
    x.family(f.name, f.type, f.help);
    for (const auto& l : v.lcores) {
      const std::string id = std::to_string(l.lcore);
      value(id, l);
    }
  };
  auto plain = [&](const char* name, auto get) {
    return [&x, name, get](const std::string& id, const lcore_view& l) {
      x.sample(name, {{"lcore", id}}, get(l));
    };
  };
  per_lcore({"anvil_port_rx_frames_total", "counter", "Frames received on the lcore's queue"},
            plain("anvil_port_rx_frames_total",
                  [](const lcore_view& l) { return l.port->rx_frames.get(); }));
  per_lcore({"anvil_port_tx_frames_total", "counter", "Frames sent on the lcore's queue"},
            plain("anvil_port_tx_frames_total",
                  [](const lcore_view& l) { return l.port->tx_frames.get(); }));
  per_lcore({"anvil_port_rx_bytes_total", "counter", "Bytes received on the lcore's queue"},
            plain("anvil_port_rx_bytes_total",
                  [](const lcore_view& l) { return l.port->rx_bytes.get(); }));
  per_lcore({"anvil_port_tx_bytes_total", "counter", "Bytes sent on the lcore's queue"},
            plain("anvil_port_tx_bytes_total",
                  [](const lcore_view& l) { return l.port->tx_bytes.get(); }));
  per_lcore({"anvil_port_tx_deferred_total", "counter",
             "Frames a full device queue refused (kept and retried)"},
            plain("anvil_port_tx_deferred_total",
                  [](const lcore_view& l) { return l.port->tx_deferred.get(); }));
  per_lcore({"anvil_port_drops_total", "counter", "Frames the port dropped, by reason"},
            [&](const std::string& id, const lcore_view& l) {
              const auto& p = *l.port;
              const std::pair<const char*, std::uint64_t> drops[] = {
                  {"rx_oversize", p.rx_oversize.get()}, {"rx_runt", p.rx_runt.get()},
                  {"rx_csum", p.rx_csum_dropped.get()}, {"rx_kernel", p.rx_kernel_drops.get()},
                  {"rx_missed", p.rx_missed.get()},     {"rx_nombuf", p.rx_nombuf.get()},
                  {"tx_dropped", p.tx_dropped.get()}};
              for (const auto& [reason, n] : drops)
                x.sample("anvil_port_drops_total", {{"lcore", id}, {"reason", reason}}, n);
            });
  per_lcore(
      {"anvil_loop_busy_ratio", "gauge",
       "Busy cycles / all cycles of the lcore's last one-second window"},
      [&](const std::string& id, const lcore_view& l) {
        const auto wc = ld(l.loop->window_cycles), wb = ld(l.loop->window_busy_cycles);
        x.sample("anvil_loop_busy_ratio", {{"lcore", id}}, wc ? double(wb) / double(wc) : 0.0);
      });
  per_lcore({"anvil_loop_longest_iteration_seconds", "gauge",
             "The longest poll-loop iteration in the lcore's last one-second window"},
            [&](const std::string& id, const lcore_view& l) {
              x.sample("anvil_loop_longest_iteration_seconds", {{"lcore", id}},
                       double(ld(l.loop->window_longest_iteration)) / v.cycles_per_second);
            });
  per_lcore({"anvil_loop_iterations_total", "counter", "Poll-loop iterations"},
            plain("anvil_loop_iterations_total",
                  [](const lcore_view& l) { return l.loop->iterations.get(); }));
}

void snapshots(const node_view& v, exposition& x) {
  using hc = io::storage_health;
  const io::storage_health* h = v.snapshots ? &v.snapshots->health() : nullptr;
  auto get = [&](hc::counter c) { return h ? h->get(c) : 0; };
  auto one = [&](const char* n, const char* type, const char* help, double val) {
    x.family(n, type, help);
    x.sample(n, {}, val);
  };
  one("anvil_snapshot_last_success_timestamp_seconds", "gauge",
      "Unix time of the last good snapshot (0: none)", double(get(hc::last_ok_unix)));
  one("anvil_snapshot_last_duration_seconds", "gauge", "How long the last good snapshot took",
      double(get(hc::last_duration_us)) / 1e6);
  one("anvil_snapshot_last_bytes", "gauge", "Data file size of the last good snapshot",
      double(get(hc::last_bytes)));
  one("anvil_snapshot_success_total", "counter", "Snapshots that succeeded",
      double(get(hc::snapshots_ok)));
  one("anvil_snapshot_failures_total", "counter", "Snapshot attempts that failed",
      double(get(hc::snapshots_failed)));
  one("anvil_storage_io_errors_total", "counter", "Snapshot filesystem errors",
      double(get(hc::io_errors)));
  one("anvil_storage_io_stalls_total", "counter", "Snapshot I/Os that missed their deadline",
      double(get(hc::io_stalls)));
  one("anvil_storage_healthy", "gauge",
      "1 when snapshot storage is ok (or snapshots are off), 0 when degraded",
      h == nullptr || h->state() == io::storage_state::ok ? 1.0 : 0.0);
}

}  // namespace

void collect_node(const node_view& v, exposition& x) {
  x.family("anvil_build_info", "gauge", "The build (value 1)");
  x.sample("anvil_build_info",
           {{"version", v.version},
            {"compiler", ANVIL_VERSION_COMPILER},
#ifdef ANVIL_HAVE_DPDK
            {"dpdk", "yes"}},
#else
            {"dpdk", "no"}},
#endif
           std::uint64_t{1});
  x.family("anvil_start_time_seconds", "gauge", "Unix time the server started");
  x.sample("anvil_start_time_seconds", {}, v.started_at_unix);
  requests(v, x);
  cache(v, x);
  connections(v, x);
  tcp(v, x);
  ports_and_loops(v, x);
  snapshots(v, x);
}

void collect_health(const health_report& r, exposition& x) {
  x.family("anvil_health_state", "gauge", "1 for the node's current health state");
  for (auto s : kHealthStates)
    x.sample("anvil_health_state", {{"state", to_string(s)}},
             std::uint64_t{s == r.state ? 1u : 0u});
  x.family("anvil_health_reason", "gauge", "1 for every health reason currently active");
  std::set<std::string> seen;
  for (const auto& reason : r.reasons)
    if (seen.insert(reason.code).second)
      x.sample("anvil_health_reason", {{"code", reason.code}}, std::uint64_t{1});
}

}  // namespace anvil::control::admin
