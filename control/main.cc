// The `anvil` server: configuration, start-up, the lcores, graceful shutdown.
//
// Lifecycle: parse flags + config file (a bad value exits 2 naming the field) -> pick
// and validate cores (hwloc) -> block SIGINT/SIGTERM in every thread -> open the port
// queues -> one pinned poll loop per lcore -> wait for a signal -> stop flag, let the
// loops drain (bounded by server.shutdown_timeout_s) -> final counters -> exit 0.
// Logs go to stderr, one logfmt line per event (`event=... reason="..."`).
//
// Each lcore runs a cache_server (dataplane/server/cache_server.h): its own TCP/IP
// stack instance (connection table, timers, buffers), a cache session and protocol
// counters, over its own port queue; flows are spread by the port (fanout hash / RSS)
// and every lcore listens. The control thread advances the engine clock, runs the health
// monitor (control/health/: canary rounds through each lcore's mailbox, loop stalls,
// state + reasons; SIGUSR2 toggles the [debug] fault knob), logs stats
// and, on a signal, stops the lcores (they answer what they hold, close connections
// and drain, bounded) and logs each lcore's busy cycles and requests served.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <iostream>
#include <optional>
#include <set>

#include "control/admin/admin_server.h"
#include "control/admin/cluster_ops.h"
#include "control/admin/cluster_status.h"
#include "control/admin/config_json.h"
#include "control/admin/token.h"
#include "control/cache_sizing.h"
#include "control/cluster/health_adapter.h"
#include "control/cluster/node_runtime.h"
#include "control/config.h"
#include "control/engine_clock.h"
#include "control/health/canary_keys.h"
#include "control/health/health_metrics.h"
#include "control/health/health_monitor.h"
#include "control/logging.h"
#include "control/replication/replication_metrics.h"
#include "control/replication/replication_service.h"
#include "control/service_notify.h"
#include "dataplane/port/afpacket_port.h"
#include "dataplane/proto/sasl.h"
#include "dataplane/server/cache_server.h"
#include "dataplane/server/cpu_pin.h"
#include "dataplane/server/lcore_set.h"
#include "io/engine_stream.h"
#include "io/snapshot_service.h"
#ifdef ANVIL_HAVE_DPDK
#include "dataplane/port/dpdk_port.h"
#endif

namespace anvil::control {
namespace {

std::string mac_text(const port::mac_address& m) {
  char b[18];
  std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

std::string cpu_text(const std::vector<unsigned>& v) {
  std::string s;
  for (unsigned c : v) s += (s.empty() ? "" : ",") + std::to_string(c);
  return s;
}

// A value for a logfmt line: quoted, with quotes and newlines escaped.
std::string q(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out + "\"";
}

int config_failure(const config_error& e) {
  std::fprintf(stderr, "anvil: invalid configuration: %s\n", e.what());
  spdlog::error("event=config_invalid field={} reason={}", q(e.field()), q(e.what()));
  return 2;
}

constexpr std::uint32_t kConnectionSlack = 64;
// How long exit waits for the logging thread to write what is queued (control/logging.h).
constexpr std::chrono::milliseconds kLogDrainBound{3000};

// What the memory limit buys: partitions, segments, index capacity and the worst share of
// the arena lost to segment tails (items never span segments).
void log_sizing(const cache::sizing& s) {
  spdlog::info(
      "event=cache_sizing partitions={} segment_bytes={} segments_per_partition={} "
      "index_slots={} index_bytes={} expected_items={} max_item_waste_pct={:.1f}",
      s.partitions, s.segment_bytes, s.segments_per_partition, s.index_slots, s.index_bytes,
      s.expected_items, 100.0 * s.max_item_waste);
}

template <class P>
void log_lcore(const char* event, unsigned i, unsigned cpu, const server::loop_counters& l,
               const P& p, const server::cache_server& h) {
  const auto& c = p.counters();
  const auto& n = h.net_counters();
  const auto& pc = h.proto_counters();
  const auto busy = l.busy_cycles.get(), idle = l.idle_cycles.get();
  const auto requests = server::requests_served(pc);
  auto ld = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  spdlog::info(
      "event={} lcore={} cpu={} busy_cycles={} requests={} cycles_per_request={:.0f} "
      "iterations={} idle_iterations={} idle_cycles={} busy_pct={:.1f} sleeps={} "
      "curr_connections={} total_connections={} cmd_get={} cmd_set={} get_hits={} "
      "get_misses={} udp_requests={} bytes_read={} bytes_written={} protocol_errors={} "
      "rx_frames={} rx_bytes={} rx_oversize={} rx_runt={} rx_csum_partial={} "
      "rx_csum_dropped={} rx_kernel_drops={} rx_missed={} rx_nombuf={} tx_frames={} "
      "tx_dropped={} tx_deferred={} tx_no_buffer={} tcp_accepts={} "
      "tcp_closes={} tcp_retransmits={} tcp_rto_expired={} tcp_fast_retransmits={} "
      "tcp_sack_retransmits={} tcp_tlp_probes={} tcp_rack_marked_lost={} tcp_rst_sent={} "
      "drop_tcp_checksum={} "
      "drop_udp_port={} arp_replies={} icmp_echo_replies={}",
      event, i, cpu, busy, requests, requests ? double(busy) / double(requests) : 0.0,
      l.iterations.get(), l.idle_iterations.get(), idle,
      busy + idle ? 100.0 * double(busy) / double(busy + idle) : 0.0, l.sleeps.get(),
      h.serving_stats().curr_connections.load(std::memory_order_relaxed),
      h.serving_stats().total_connections.get(), pc.cmd_get.load(), pc.cmd_set.load(),
      pc.get_hits.load(), pc.get_misses.load(), h.serving_stats().udp_requests.get(),
      pc.bytes_read.load(), pc.bytes_written.load(), pc.protocol_errors.load(), c.rx_frames.get(),
      c.rx_bytes.get(), c.rx_oversize.get(), c.rx_runt.get(), c.rx_csum_partial.get(),
      c.rx_csum_dropped.get(), c.rx_kernel_drops.get(), c.rx_missed.get(), c.rx_nombuf.get(),
      c.tx_frames.get(), c.tx_dropped.get(), c.tx_deferred.get(), c.tx_no_buffer.get(),
      ld(n.tcp_accepts), ld(n.tcp_closes), ld(n.tcp_retransmits), ld(n.tcp_rto_expired),
      ld(n.tcp_fast_retransmits), ld(n.tcp_sack_retransmits), ld(n.tcp_tlp_probes),
      ld(n.tcp_rack_marked_lost), ld(n.tcp_rst_sent), ld(n.drop_tcp_checksum), ld(n.drop_udp_port),
      ld(n.arp_replies), ld(n.icmp_echo_replies));
}

// GRO/LRO merge a peer's segments into frames over 1514 bytes, which the port drops
// (rx_oversize): say loudly when they could not be turned off.
void log_offloads(const std::string& interface, const port::nic_offloads* off) {
  if (off == nullptr) {
    spdlog::info("event=nic_offloads interface={} turned_off=\"\" reason={}", interface,
                 q("[afpacket] offloads = keep: frames merged beyond 1514 bytes are dropped"));
    return;
  }
  std::string list;
  for (const auto& f : off->turned_off()) list += (list.empty() ? "" : ",") + f;
  spdlog::info("event=nic_offloads interface={} turned_off={} reason={}", interface, q(list),
               q("no merged super-frames while anvil runs; restored at exit"));
  for (const auto& w : off->warnings())
    spdlog::warn("event=nic_offload_warning interface={} reason={}", interface,
                 q(w +
                   "; frames the NIC merges beyond 1514 bytes will be dropped (rx_oversize): "
                   "turn GRO/LRO off by hand (ethtool -K " +
                   interface + " gro off lro off)"));
}

net::ip4_addr parse_ip4(const std::string& s) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  std::sscanf(s.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d);  // validated by the config
  return net::make_ip4(static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b),
                       static_cast<std::uint8_t>(c), static_cast<std::uint8_t>(d));
}

// Everything every lcore's server shares: the engine and its clock, the protocol and
// stack settings, the server-wide facts.
struct serving_setup {
  engine_clock_driver clock_driver;  // unix time at start + monotonic elapsed
  cache::clock& clock = clock_driver.clock();
  std::unique_ptr<cache::engine> engine;
  std::unique_ptr<io::snapshot_service> snapshots;  // null: snapshots off
  std::optional<proto::credentials> sasl;
  server::cache_server_config server;
  server::server_shared shared;
  std::optional<std::string> admin_token;   // [admin] token_file, read at start-up
  std::vector<unsigned> housekeeping_cpus;  // allowed cpus no lcore polls on
  // The seams of control/admin (health_source.h, metrics.h) for other control rooms:
  // applied to the admin server each time it starts. Empty health: storage only.
  admin::health_source admin_health;
  std::vector<std::pair<std::string, admin::collector>> admin_collectors;
  struct endpoint {
    std::string method, path;
    bool mutating;
    admin::json_endpoint fn;
  };
  std::vector<endpoint> admin_endpoints;  // e.g. GET /v1/cluster
  // [cluster] (control/cluster/node_runtime.h): the seams replication plugs into.
  cluster::runtime_hooks cluster_hooks;
  // What `stats storage` / `stats health` read (lock-free on the lcore that asks).
  struct stat_sources {
    const io::snapshot_service* snapshots = nullptr;
    const health::health_monitor* health = nullptr;  // set before the lcores start
  } stat_src;
};

// The admin API (control/admin/): started once every lcore polls, on the housekeeping
// cpus; it reads the lcores' counters and acts through server_shared::control only.
template <class L>
void fill_admin_view(const server_config& cfg, serving_setup& setup, L& lcores,
                     const std::vector<unsigned>& cpus, admin::node_view& view) {
  view.version = std::string(setup.server.proto.version);
  view.node_id = cfg.node_id;
  view.pid = setup.shared.pid;
  view.started_at_unix = setup.shared.started_at;
  view.port_type = to_string(cfg.port);
  view.interface = cfg.port == port_kind::afpacket ? cfg.interface : cfg.dpdk_device;
  view.mac = mac_text(lcores.port(0).mac());
  view.ip = cfg.ip;
  view.tcp_port = cfg.tcp_port;
  view.udp_port = cfg.udp_port;
  for (unsigned i = 0; i < lcores.size(); ++i)
    view.lcores.push_back({i, cpus[i], &lcores.counters(i), &lcores.port(i).counters()});
  view.shared = &setup.shared;
  view.engine = setup.engine.get();
  view.snapshots = setup.snapshots.get();
  view.snapshot_dir = cfg.snapshot_dir;
  view.snapshot_interval_s = cfg.snapshot_interval_s;
  view.snapshot_keep = cfg.snapshot_keep;
  view.cycles_per_second = setup.server.latency.cycles_per_second;
  view.effective_config = admin::effective_config(cfg);
  view.config_digest = admin::config_digest(view.effective_config);
}

// Null when the address cannot be bound (in use, not local): serving goes on without the
// admin API, the error says why, and the control thread tries again every few seconds.
std::unique_ptr<admin::admin_server> start_admin(const server_config& cfg, serving_setup& setup,
                                                 admin::node_view& view, bool first_try) {
  auto a = std::make_unique<admin::admin_server>(cfg.admin, view, setup.admin_token);
  if (setup.admin_health) a->set_health_source(setup.admin_health);
  for (const auto& [name, c] : setup.admin_collectors) a->collectors().add(name, c);
  for (const auto& e : setup.admin_endpoints) a->add_endpoint(e.method, e.path, e.mutating, e.fn);
  try {
    a->start(setup.housekeeping_cpus);
  } catch (const std::exception& e) {
    if (first_try)
      spdlog::error("event=admin_unavailable listen={} reason={}", cfg.admin.listen_text(),
                    q(std::string(e.what()) +
                      "; serving continues without the admin API, retrying every 5 s"));
    return nullptr;
  }
  spdlog::info(
      "event=admin_listening listen={} auth={} cpus={} max_connections={}", a->listen_text(),
      setup.admin_token ? "bearer" : "off",
      setup.housekeeping_cpus.empty() ? std::string("any") : cpu_text(setup.housekeeping_cpus),
      cfg.admin.max_connections);
  if (setup.housekeeping_cpus.empty())
    spdlog::warn("event=admin_unpinned reason={}",
                 q("every allowed cpu runs an lcore: the admin threads share their cpus"));
  return a;
}

// On demand (SIGUSR1 now, the admin API later): queued on the io thread, never waited
// for here; the outcome shows in `stats storage` and an event=snapshot_* line.
void request_snapshot(serving_setup& setup, const char* source) {
  if (!setup.snapshots) {
    spdlog::warn("event=snapshot_refused source={} reason={}", source,
                 q("snapshots are off: set [snapshot] dir in the configuration"));
    return;
  }
  const auto ticket = setup.snapshots->request_snapshot();
  spdlog::info("event=snapshot_requested source={} ticket={}", source, ticket);
}

// `stats storage`: the snapshot health; `stats health`: the node's health (control/health/).
// Both read lock-free on the lcore that asked.
bool storage_stat_group(void* ctx, std::string_view name, proto::facts_provider::stat_emit emit,
                        void* sink) {
  const auto* src = static_cast<const serving_setup::stat_sources*>(ctx);
  if (name == "health" && src->health != nullptr)
    return src->health->for_each_stat(
        [&](std::string_view k, std::string_view v) { emit(sink, k, v); });
  if (name != "storage") return false;
  const auto* svc = src->snapshots;
  if (svc == nullptr) {
    emit(sink, "state", "off");
    emit(sink, "reason", "no [snapshot] dir configured");
    return true;
  }
  svc->health().for_each_stat([&](std::string_view k, std::string_view v) { emit(sink, k, v); });
  return true;
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The health monitor and one canary mailbox per lcore (filled before the lcores start:
// each cache_server picks its mailbox up in its constructor). `lcores()` gives the
// running lcore set, or null before it started; the inputs read it on the control thread.
// `replication`: set once the cluster runtime exists (empty without [cluster]); read by
// the monitor on the control thread.
template <class L>
std::unique_ptr<health::health_monitor> make_monitor(
    const server_config& cfg, serving_setup& setup, std::size_t n,
    std::vector<std::unique_ptr<server::lcore_health>>& mailboxes, std::function<const L*()> lcores,
    const std::function<health::replication_observation()>* replication) {
  std::vector<server::lcore_health*> raw;
  for (unsigned i = 0; i < n; ++i) {
    mailboxes.push_back(std::make_unique<server::lcore_health>());
    mailboxes.back()->canary_keys = health::canary_keys(i, setup.engine->partition_count());
    raw.push_back(mailboxes.back().get());
  }
  setup.shared.health = raw;
  health::monitor_config mc;
  mc.interval_s = cfg.health_interval_s;
  mc.canary_window_s = cfg.health_canary_window_s;
  mc.loop_stall_s = cfg.health_loop_stall_ms / 1e3;
  auto& t = mc.thresholds;
  t.canary_p99_s = cfg.health_canary_p99_ms / 1e3;
  t.canary_timeout_s = cfg.health_canary_timeout_s;
  t.memory_pressure_evictions_per_s = cfg.health_evictions_per_s;
  t.port_errors_per_s = cfg.health_port_errors_per_s;
  t.connections_near_pct = cfg.health_connections_pct;
  t.recover_evaluations = cfg.health_recover_intervals;
  health::monitor_inputs in;
  const io::snapshot_service* snaps = setup.snapshots.get();
  in.storage = [snaps]() -> std::pair<bool, std::string> {
    if (snaps == nullptr) return {false, ""};
    return {snaps->health().state() == io::storage_state::degraded, snaps->health().reason()};
  };
  cache::engine* engine = setup.engine.get();
  in.evictions = [engine] { return engine->total_stats().evictions; };
  in.port_errors = [lcores] {
    std::uint64_t sum = 0;
    if (const L* l = lcores())
      for (unsigned i = 0; i < l->size(); ++i) {
        const auto& c = l->port(i).counters();
        sum += c.rx_kernel_drops.get() + c.rx_missed.get() + c.rx_nombuf.get() + c.tx_dropped.get();
      }
    return sum;
  };
  server::server_shared* shared = &setup.shared;
  const std::uint64_t limit = cfg.max_connections;
  in.connections = [shared, limit]() -> std::pair<std::uint64_t, std::uint64_t> {
    std::uint64_t open = 0;
    for (const auto* s : shared->serving)
      if (s != nullptr) open += s->curr_connections.load(std::memory_order_relaxed);
    return {open, limit};
  };
  in.replication = [replication] {
    return *replication ? (*replication)() : health::replication_observation{};
  };
  auto m = std::make_unique<health::health_monitor>(
      mc, raw, std::move(in), health::health_monitor::calibrate_tsc(), unix_ms());
  setup.stat_src.health = m.get();
  // /v1/health and anvil_health_* from the monitor, its families on /metrics.
  setup.admin_health = health::health_source_of(*m);
  setup.admin_collectors.emplace_back("health",
                                      health::health_collector_of(*m, cfg.snapshot_interval_s));
  if (cfg.debug_fault_knobs) {
    spdlog::warn("event=fault_knobs_enabled lcore_delay_us={} lcore={} reason={}",
                 cfg.debug_lcore_delay_us, cfg.debug_lcore_delay_lcore,
                 q("[debug] enable_fault_knobs: test-only faults may be injected (SIGUSR2 "
                   "toggles lcore_delay_us); never in production"));
    if (cfg.debug_lcore_delay_us != 0)
      m->set_lcore_delay(cfg.debug_lcore_delay_lcore, cfg.debug_lcore_delay_us);
  }
  return m;
}

// health's replication_lag input: this node's standing behind its shard's primary, from
// the agent's last step (the very positions its caught_up compared) and the stream.
health::replication_observation replication_observation_of(
    const cluster::node_runtime& rt, const replication::replication_service& repl) {
  health::replication_observation o;
  const cluster::runtime_snapshot s = rt.snapshot();
  o.replica = s.status.joined && s.status.current == cluster::role::replica;
  if (!o.replica) return o;
  o.primary = s.status.primary;
  o.max_lag_entries = s.max_replica_lag;
  o.behind_entries = s.status.primary_position > s.replication_position
                         ? s.status.primary_position - s.replication_position
                         : 0;
  o.primary_alive = s.status.primary_alive;
  o.lag_s = repl.lag().seconds;
  if (const auto st = repl.replica_stream()) {
    o.full_copy = st->copying;
    o.stream_idle_s = st->idle_s;
  }
  return o;
}

// SIGUSR2: the [debug] lcore delay on or off (only with enable_fault_knobs).
void toggle_fault_knob(const server_config& cfg, health::health_monitor& m) {
  if (!cfg.debug_fault_knobs) {
    spdlog::warn("event=fault_knob_refused signal=SIGUSR2 reason={}",
                 q("fault knobs are off: [debug] enable_fault_knobs = true to use them"));
    return;
  }
  const unsigned l = cfg.debug_lcore_delay_lcore;
  m.set_lcore_delay(l, m.lcore_delay(l) != 0 ? 0 : cfg.debug_lcore_delay_us);
}

template <class P>
int serve(const server_config& cfg, std::vector<std::unique_ptr<P>>& ports,
          const std::vector<unsigned>& cpus, const server::cpu_topology& topo,
          const sigset_t& signals, serving_setup& setup) {
  auto& sc = setup.server.stack;
  const auto m = ports[0]->mac();
  std::copy(m.begin(), m.end(), sc.mac.b.begin());
  setup.shared.proto.assign(ports.size(), nullptr);
  setup.shared.serving.assign(ports.size(), nullptr);
  setup.shared.net.assign(ports.size(), nullptr);
  setup.shared.latency.assign(ports.size(), nullptr);
  setup.shared.threads = static_cast<std::uint32_t>(ports.size());
  std::vector<server::cache_server*> handlers(ports.size());
  server::loop_config lc;
  lc.idle = cfg.idle;
  lc.drain_timeout_ns = static_cast<std::uint64_t>(cfg.shutdown_timeout_s * 0.8 * 1e9);
  using lcores_t = server::lcore_set<P, server::cache_server>;
  // The mailboxes and the monitor outlive the lcores (declared first, destroyed last).
  std::vector<std::unique_ptr<server::lcore_health>> mailboxes;
  std::function<health::replication_observation()> replication_input;  // set with [cluster]
  std::unique_ptr<health::health_monitor> monitor;
  std::optional<lcores_t> started;
  try {
    monitor = make_monitor<lcores_t>(
        cfg, setup, ports.size(), mailboxes,
        [&]() -> const lcores_t* { return started ? &*started : nullptr; }, &replication_input);
  } catch (const std::exception& e) {
    spdlog::error("event=start_failed reason={}", q(std::string("health monitor: ") + e.what()));
    return 1;
  }
  // [cluster] replication (docs/replication.md): the lcores' mutation hooks feed its rings,
  // the cluster runtime reads its position and tells it the role. Declared before both.
  std::unique_ptr<replication::replication_service> repl;
  if (cfg.cluster.enabled()) {
    repl = std::make_unique<replication::replication_service>(
        *setup.engine, static_cast<unsigned>(ports.size()),
        replication::replication_config{cfg.cluster.node_id, cfg.cluster.management_ip,
                                        cfg.cluster.replication_port,
                                        cfg.cluster.replication_ring_entries,
                                        std::size_t{cfg.cluster.replication_log_mb} << 20});
    for (unsigned i = 0; i < ports.size(); ++i)
      setup.shared.mutation_hooks.push_back(repl->hook_for_lcore(i));
    setup.cluster_hooks.replication_position = [r = repl.get()] { return r->position(); };
    setup.cluster_hooks.on_role_change = [r = repl.get()](cluster::role role, std::int64_t epoch,
                                                          std::string primary) {
      r->on_role_change(role, epoch, std::move(primary));
    };
    setup.admin_collectors.emplace_back("replication", replication::metrics_collector(*repl));
  }
  // [cluster]: join etcd and start the agent before the lcores, which read its VIP lease
  // (declared before the lcores: it outlives them). A refusal stops start-up here.
  std::unique_ptr<cluster::node_runtime> cluster_rt;
  if (cfg.cluster.enabled()) {
    const health::health_monitor& hm = *monitor;
    cluster_rt = std::make_unique<cluster::node_runtime>(
        cfg.cluster, cfg.ip,
        [&hm] {
          const health::health_snapshot snap = hm.snapshot();
          return cluster::to_cluster_health(health::to_admin_report(snap.report),
                                            snap.canary_p99_s);
        },
        setup.cluster_hooks);
    if (const std::string why = cluster_rt->start(); !why.empty()) {
      spdlog::error("event=start_failed node={} shard={} reason={}", cfg.cluster.node_id,
                    cfg.cluster.shard, q("cluster: " + why));
      return 1;
    }
    sc.vip = cluster_rt->vip().gate(parse_ip4(cfg.cluster.vip));
    replication_input = [rt = cluster_rt.get(), r = repl.get()] {
      return replication_observation_of(*rt, *r);
    };
    setup.admin_collectors.emplace_back("cluster", admin::cluster_collector(*cluster_rt));
    spdlog::info(
        "event=cluster_started node={} zone={} shard={} vip={} heartbeat={}:{} peers={} "
        "etcd_endpoints={} lease_ttl_s={} fence_margin_ms={}",
        cfg.cluster.node_id, cfg.cluster.zone, cfg.cluster.shard, cfg.cluster.vip,
        cfg.cluster.management_ip, cfg.cluster.heartbeat_port, cfg.cluster.peers.size(),
        cfg.cluster.etcd_endpoints.size(), cfg.cluster.lease_ttl_s, cfg.cluster.fence_margin_ms);
  }
  setup.admin_endpoints.push_back(
      {"GET", "/v1/cluster", false, admin::cluster_endpoint(cluster_rt.get())});
  {
    // Operator actions (control/admin/cluster_ops.h): token-protected POSTs.
    using kind = cluster::operator_request::kind;
    admin::cluster_submit submit;
    std::int64_t extra = 0;
    admin::forward_hint hint;
    if (cluster_rt) {
      submit = [rt = cluster_rt.get()](cluster::operator_request r) { return rt->submit(r); };
      extra = cluster_rt->operator_wait_extra_ms();
      // The client gate (dataplane/proto/client_gate.h), read by every lcore's handler
      // (one load per request): key commands only on the primary (reads on a replica with
      // replica_reads), and a switchover's write fence.
      setup.server.proto.gate = &cluster_rt->vip().client_gate();
      setup.server.proto.replica_reads = cfg.cluster.replica_reads;
      // A 421 names the primary's admin address, for anvilctl to forward to once.
      hint = {cfg.cluster.node_id, cfg.cluster.shard,
              [rt = cluster_rt.get(), port = cfg.admin.port](const std::string& node) {
                return admin::admin_address_text(rt->management_ip_of(node), port);
              }};
    }
    for (auto [path, k] : {std::pair{"/v1/cluster/failover", kind::failover},
                           std::pair{"/v1/cluster/promote", kind::promote},
                           std::pair{"/v1/cluster/demote", kind::demote}})
      setup.admin_endpoints.push_back(
          {"POST", path, true, admin::cluster_op_endpoint(k, submit, extra, hint)});
  }
  try {
    started.emplace(
        ports, cpus, topo, lc,
        [&](unsigned i) {
          auto h =
              std::make_unique<server::cache_server>(*setup.engine, setup.server, setup.shared, i);
          handlers[i] = h.get();
          return h;
        },
        [](unsigned i, unsigned cpu) {
          spdlog::warn("event=pin_failed lcore={} cpu={} reason={}", i, cpu,
                       q("hwloc could not bind the thread; it runs unpinned"));
        });
  } catch (const std::exception& e) {
    spdlog::error("event=start_failed reason={}",
                  q(std::string("starting the lcores: ") + e.what()));
    return 1;
  }
  lcores_t& lcores = *started;
  // Started means every lcore polls its queue: bounded, and a failure says which lcore
  // stopped where (a thread never scheduled, a pin or a port attach that does not return).
  const auto start_bound =
      std::chrono::milliseconds(static_cast<long>(cfg.lcore_start_timeout_s * 1000));
  if (!lcores.wait_started(start_bound)) {
    spdlog::error("event=start_failed timeout_s={} reason={}", cfg.lcore_start_timeout_s,
                  q("not every lcore is polling: " + lcores.start_report()));
    lcores.request_stop();
    if (!lcores.wait_stopped(std::chrono::seconds(1))) {
      finish_logging(kLogDrainBound);
      std::_Exit(1);  // a thread that never ran cannot be joined in bounded time
    }
    return 1;
  }
  spdlog::info(
      "event=started lcores={} cpus={} mac={} ip={} tcp_port={} udp_port={} idle={} "
      "handler=cache_server protocol={} sasl={} tcp_rx_buffer={} tcp_tx_buffer={} partitions={}",
      ports.size(), cpu_text(cpus), mac_text(ports[0]->mac()), cfg.ip, cfg.tcp_port, cfg.udp_port,
      cfg.idle.mode == server::idle_policy::kind::busy_poll ? "busy-poll" : "backoff", cfg.protocol,
      setup.sasl ? "on" : "off", sc.tcp.rx_buffer, sc.tcp.tx_buffer,
      setup.engine->partition_count());
  admin::node_view admin_view;
  std::unique_ptr<admin::admin_server> admin_api;
  auto admin_retry = std::chrono::steady_clock::now();
  if (cfg.admin.enabled) {
    fill_admin_view(cfg, setup, lcores, cpus, admin_view);
    admin_api = start_admin(cfg, setup, admin_view, true);
    admin_retry += std::chrono::seconds(5);
  }
  // READY=1 after the admin API started (or, if its address is taken, is retrying).
  notify_ready("serving on " + cfg.ip + ":" + std::to_string(cfg.tcp_port) + " with " +
               std::to_string(ports.size()) + " lcores");

  // The engine's clock ticks here (monotonic, control/engine_clock.h); the stats line is
  // periodic if asked.
  using clk = std::chrono::steady_clock;
  const double stats_every = cfg.stats_interval_s;
  auto next_stats = clk::now() + std::chrono::duration_cast<clk::duration>(
                                     std::chrono::duration<double>(stats_every));
  int sig = -1;
  while (sig < 0) {
    monitor->tick(server::monotonic_ns(), unix_ms());
    double wait_s =
        std::clamp(static_cast<double>(monitor->next_due_ns() -
                                       std::min(monitor->next_due_ns(), server::monotonic_ns())) /
                       1e9,
                   0.001, 0.25);
    if (stats_every > 0)
      wait_s =
          std::clamp(std::chrono::duration<double>(next_stats - clk::now()).count(), 0.001, wait_s);
    timespec ts{
        static_cast<time_t>(wait_s),
        static_cast<long>((wait_s - static_cast<double>(static_cast<time_t>(wait_s))) * 1e9)};
    sig = ::sigtimedwait(&signals, nullptr, &ts);
    setup.clock_driver.tick();
    if (sig == SIGUSR1) {
      request_snapshot(setup, "SIGUSR1");
      sig = -1;
    }
    if (sig == SIGUSR2) {
      toggle_fault_knob(cfg, *monitor);
      sig = -1;
    }
    if (cfg.admin.enabled && !admin_api && std::chrono::steady_clock::now() >= admin_retry) {
      admin_api = start_admin(cfg, setup, admin_view, false);
      admin_retry += std::chrono::seconds(5);
    }
    if (sig < 0 && stats_every > 0 && clk::now() >= next_stats) {
      next_stats +=
          std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(stats_every));
      for (unsigned i = 0; i < lcores.size(); ++i)
        log_lcore("stats", i, cpus[i], lcores.counters(i), lcores.port(i), *handlers[i]);
    }
  }
  std::uint64_t open = 0;
  for (auto* h : handlers) open += h->serving_stats().curr_connections.load();
  spdlog::info("event=shutdown_begin signal={} open_connections={} reason={}",
               sig == SIGINT ? "SIGINT" : "SIGTERM", open,
               q("signal received: refusing new connections, answering what was received, "
                 "closing connections, draining in-flight responses"));
  notify_stopping("draining connections, then the final snapshot");
  // A primary gives the shard away first: the VIP goes (the lcores reset its
  // connections), then the lease is revoked, so a replica wins at its next read instead
  // of after a TTL. The drain below then covers connections to the node's own address.
  if (cluster_rt) cluster_rt->stop(true);
  lcores.request_stop();
  const auto bound = std::chrono::milliseconds(static_cast<long>(cfg.shutdown_timeout_s * 1000));
  if (!lcores.wait_stopped(bound)) {
    spdlog::error("event=shutdown_timeout timeout_s={} reason={}", cfg.shutdown_timeout_s,
                  q("an lcore did not stop in time; exiting without waiting for it"));
    finish_logging(kLogDrainBound);
    std::_Exit(1);
  }
  for (unsigned i = 0; i < lcores.size(); ++i)
    log_lcore("lcore_final", i, cpus[i], lcores.counters(i), lcores.port(i), *handlers[i]);
  if (admin_api) admin_api->stop();  // before the snapshot service and the lcores go
  if (setup.snapshots) {             // the final snapshot (bounded), after the last mutation
    setup.snapshots->stop();
    const auto r = setup.snapshots->last_result();
    spdlog::info("event=snapshot_final ok={} snapshot_id={} reason={}", r.ok, r.snapshot_id,
                 q(r.ok ? "written" : r.reason));
  }
  // The lcores have stopped: their stacks can be inspected from here.
  std::size_t unfinished = 0;
  for (auto* h : handlers) unfinished += h->unfinished_connections();
  spdlog::info("event=stopped unfinished_connections={} log_lines_dropped={} reason={}", unfinished,
               dropped_lines(),
               q(unfinished ? "drain bound reached with responses or FINs unacknowledged"
                            : "clean shutdown: every connection closed, every response delivered"));
  return 0;
}

int run(int argc, char** argv) {
  server_config cfg;
  try {
    cfg = load_config(std::vector<std::string>(argv, argv + argc));
  } catch (const early_exit& e) {
    std::cout << e.text;
    return 0;
  } catch (const config_error& e) {
    std::fprintf(stderr, "anvil: invalid configuration: %s\n", e.what());
    return 2;
  }

  // Signals are taken synchronously by this (control) thread; lcore threads inherit
  // the blocked mask and never see them.
  // A shell starts background jobs with SIGINT ignored; the default disposition makes
  // sure the blocked signal is queued for sigtimedwait whatever our parent did.
  ::signal(SIGPIPE, SIG_IGN);  // a closed log pipe must not kill the server
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGUSR1, SIG_DFL);
  ::signal(SIGUSR2, SIG_DFL);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // take a snapshot now (until the admin API exists)
  sigaddset(&signals, SIGUSR2);  // toggle the [debug] fault knob (when enabled)
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // After the mask: the logging thread inherits it. From here no thread waits for
  // stderr's consumer (control/logging.h: a stalled log once held start-up).
  start_logging(cfg.verbosity >= 2   ? spdlog::level::trace
                : cfg.verbosity == 1 ? spdlog::level::debug
                                     : spdlog::level::info);

  std::unique_ptr<server::cpu_topology> topo;
  try {
    topo = std::make_unique<server::cpu_topology>();
  } catch (const std::exception& e) {
    spdlog::error("event=start_failed reason={}", q(e.what()));
    return 1;
  }
  const auto allowed = topo->allowed_cpus();
  std::vector<unsigned> cpus = cfg.cores;
  try {
    if (cpus.empty()) {
      if (cfg.lcores > allowed.size())
        throw config_error("-t/--threads", std::to_string(cfg.lcores) + " lcores but only " +
                                               std::to_string(allowed.size()) +
                                               " cpus are available (" + cpu_text(allowed) + ")");
      cpus.assign(allowed.begin(), allowed.begin() + cfg.lcores);
    }
    for (unsigned c : cpus)
      if (std::find(allowed.begin(), allowed.end(), c) == allowed.end())
        throw config_error("lcores.cores", "cpu " + std::to_string(c) +
                                               " is not available to this process (allowed: " +
                                               cpu_text(allowed) + ")");
#ifndef ANVIL_HAVE_DPDK
    if (cfg.port == port_kind::dpdk)
      throw config_error("network.port_type", "this build has no DPDK support (-Ddpdk=enabled)");
#endif
  } catch (const config_error& e) {
    return config_failure(e);
  }

  spdlog::info(
      "event=config config={} port_type={} interface={} ip={} tcp_port={} udp_port={} "
      "memory_mb={} lcores={} cpus={} max_connections={} max_item_size={} verbosity={}",
      q(cfg.config_path), to_string(cfg.port), q(cfg.interface), cfg.ip, cfg.tcp_port, cfg.udp_port,
      cfg.memory_mb, cpus.size(), cpu_text(cpus), cfg.max_connections, cfg.max_item_size,
      cfg.verbosity);
  serving_setup setup;
  for (unsigned c : topo->allowed_cpus())  // off the lcores' cpus when there are others
    if (std::find(cpus.begin(), cpus.end(), c) == cpus.end()) setup.housekeeping_cpus.push_back(c);
  try {
    if (cfg.admin.enabled && !cfg.admin.token_file.empty()) {
      auto t = admin::load_token_file(cfg.admin.token_file);
      if (!t.token) throw config_error("admin.token_file", t.error);
      setup.admin_token = std::move(t.token);
    }
    if (cfg.sasl) {
      std::string err;
      setup.sasl = proto::credentials::load_file(cfg.sasl_credentials, &err);
      if (!setup.sasl)
        throw config_error("memcached.sasl_credentials", "'" + cfg.sasl_credentials + "': " + err);
      setup.server.proto.sasl = &*setup.sasl;
    }
    const cache_plan plan = plan_cache(cfg, cpus, &setup.clock);
    log_sizing(plan.sizing);
    if (!plan.note.empty()) spdlog::info("event=cache_sizing_note reason={}", q(plan.note));
    setup.engine = std::make_unique<cache::engine>(plan.engine);
  } catch (const config_error& e) {
    return config_failure(e);
  } catch (const std::exception& e) {
    spdlog::error("event=start_failed reason={}", q(std::string("cache engine: ") + e.what()));
    return 1;
  }
  if (!cfg.snapshot_dir.empty()) {
    io::service_config sc;
    sc.writer.dir = cfg.snapshot_dir;
    sc.writer.node_id = cfg.node_id;
    sc.writer.io_timeout =
        std::chrono::milliseconds(static_cast<long>(cfg.snapshot_io_timeout_s * 1000));
    sc.writer.rate_limit_bytes_per_sec =
        static_cast<std::uint64_t>(cfg.snapshot_rate_limit_mb_s * 1e6);
    sc.interval = std::chrono::milliseconds(static_cast<long>(cfg.snapshot_interval_s * 1000));
    sc.keep = cfg.snapshot_keep;
    sc.nice = cfg.snapshot_nice;
    for (unsigned c : topo->allowed_cpus())  // off the lcores' cpus when there are others
      if (std::find(cpus.begin(), cpus.end(), c) == cpus.end()) sc.cpus.push_back(c);
    sc.snapshot_at_shutdown = cfg.snapshot_at_shutdown;
    sc.shutdown_timeout =
        std::chrono::milliseconds(static_cast<long>(cfg.shutdown_timeout_s * 1000));
    setup.snapshots = std::make_unique<io::snapshot_service>(
        io::engine_source_factory(*setup.engine), setup.clock, sc);
    if (cfg.snapshot_require) {
      // The operator asked to know at deploy time: a directory that cannot be made or
      // read stops start-up here instead of serving with storage degraded.
      if (const std::string why = setup.snapshots->prepare(); !why.empty()) {
        spdlog::error("event=start_failed reason={}",
                      q("snapshots required (--require-snapshots / [snapshot] require) but the "
                        "snapshot directory cannot be prepared: " +
                        why));
        return 1;
      }
    }
    // Restore before any port opens: the node serves (and reports ready) warm or not at all.
    io::engine_sink sink(*setup.engine);
    const auto r = setup.snapshots->restore(sink, setup.clock.now());
    if (r.restored)
      spdlog::info(
          "event=restore snapshot_id={} items_restored={} items_expired={} items_not_stored={} "
          "items_stale={} seconds={:.3f}",
          r.snapshot_id, r.items_restored, r.items_expired, r.items_not_stored, r.items_stale,
          r.seconds);
    else
      spdlog::warn("event=cold_start dir={} reason={}", q(cfg.snapshot_dir),
                   q(r.cold_start_reason));
    setup.snapshots->start();
    spdlog::info(
        "event=snapshots_on dir={} interval_s={} keep={} at_shutdown={} io_nice={} io_cpus={}",
        q(cfg.snapshot_dir), cfg.snapshot_interval_s, cfg.snapshot_keep, cfg.snapshot_at_shutdown,
        cfg.snapshot_nice, sc.cpus.empty() ? std::string("any") : cpu_text(sc.cpus));
  }
  setup.stat_src.snapshots = setup.snapshots.get();
  setup.shared.stat_group_ctx = &setup.stat_src;
  setup.shared.stat_group = &storage_stat_group;
  setup.shared.pid = static_cast<std::uint32_t>(::getpid());
  setup.shared.started_at = setup.clock_driver.started_unix();
  setup.shared.max_connections = cfg.max_connections;
  {
    auto& sc = setup.server.stack;
    sc.addresses = {parse_ip4(cfg.ip)};
    if (cfg.tcp_port != 0) sc.tcp_ports = {cfg.tcp_port};
    sc.udp_port = cfg.udp_port;
    // Each lcore may see every connection (the hash decides), so each table has room for
    // the limit, plus slack so a connection past the global -c (server_shared::
    // open_connections) is accepted and reset at once rather than its SYN dropped.
    // Buffers of unused slots are never touched (no RSS).
    sc.max_connections = cfg.max_connections + kConnectionSlack;
    setup.shared.connection_slots = sc.max_connections;
    sc.syn_backlog = std::min<std::uint32_t>(sc.syn_backlog, cfg.max_connections);
    // sc.secret stays unset: each lcore's stack draws its own random PRF key (ISNs,
    // timestamp offsets, table hash, SYN cookies; dataplane/net/keyed_hash.h).
    const auto b = server::tcp_buffers(cfg.max_item_size);
    sc.tcp.rx_buffer = b.rx;
    sc.tcp.tx_buffer = b.tx;
    setup.server.proto.max_get_line = b.rx - 1;  // a get line and its "\n" fit the buffer
    setup.server.proto.protocols = cfg.protocol == "binary"  ? proto::binding::binary
                                   : cfg.protocol == "ascii" ? proto::binding::ascii
                                                             : proto::binding::auto_detect;
    auto ns = [](double s) { return static_cast<anvil::net::nanos>(s * 1e9); };
    sc.tcp.idle_timeout = ns(cfg.idle_timeout_s);
    sc.tcp.fin_wait_2_timeout = ns(cfg.fin_wait_2_timeout_s);
    sc.tcp.keepalive_idle = ns(cfg.tcp_keepalive_s);
    sc.tcp.keepalive_interval = ns(cfg.tcp_keepalive_interval_s);
    sc.tcp.keepalive_probes = cfg.tcp_keepalive_probes;
    // A UDP reply may be as large as any response (memcached sends a GET of the
    // largest value over UDP in as many datagrams as it takes), up to what 65535
    // datagrams carry; a larger one is not sent (the request id field is 16 bits).
    constexpr std::size_t kUdpReplyLimit = 0xffff * (net::kUdpMaxPayload - net::kUdpFrameHeader);
    sc.udp_reply_max = std::min<std::size_t>(b.tx, kUdpReplyLimit);
    // What `stats settings` reports (memcached's -p -U -l -c -t -v).
    auto& st = setup.server.proto.settings;
    st.tcp_port = cfg.tcp_port;
    st.udp_port = cfg.udp_port;
    st.inter = cfg.ip;
    st.max_connections = cfg.max_connections;
    st.threads = static_cast<std::uint32_t>(cpus.size());
    st.verbosity = static_cast<std::uint32_t>(std::max(cfg.verbosity, 0));
    st.tcp_backlog = sc.syn_backlog;
    st.idle_timeout_s = static_cast<std::uint32_t>(sc.tcp.idle_timeout / 1'000'000'000);
  }

  try {
    if (cfg.port == port_kind::afpacket) {
      port::afpacket_options o;
      o.interface = cfg.interface;
      o.mac = cfg.mac;
      o.rx_mode = cfg.afpacket_rx;
      o.csum_partial = cfg.csum_partial;
      o.ring_frames = cfg.ring_frames;
      o.offloads_off = cfg.nic_offloads_off;
      auto ports = port::afpacket_port::open(o, static_cast<unsigned>(cpus.size()));
      spdlog::info(
          "event=port_open port_type=afpacket interface={} queues={} fanout_group={} "
          "rx_mode={} checksum_partial={}",
          cfg.interface, ports.size(), ports[0]->fanout_id(),
          cfg.afpacket_rx == port::afpacket_rx_mode::ring ? "ring" : "mmsg",
          cfg.csum_partial == port::csum_partial_policy::accept ? "accept" : "drop");
      log_offloads(cfg.interface, ports[0]->offloads());
      return serve(cfg, ports, cpus, *topo, signals, setup);
    }
#ifdef ANVIL_HAVE_DPDK
    port::dpdk_options o;
    // net_af_packet's rings are its framecnt=; 512 frames overflow under one 1 MB
    // request, and its fanout then rolls the flow over to another lcore (RST).
    o.eal_args = with_af_packet_framecnt(cfg.eal_args,
                                         std::max<unsigned>(cfg.dpdk_rx_ring, cfg.dpdk_tx_ring));
    o.device = cfg.dpdk_device;
    o.mac = cfg.mac;
    o.rx_desc = cfg.dpdk_rx_ring;
    o.tx_desc = cfg.dpdk_tx_ring;
    for (unsigned c : cpus) o.queue_sockets.push_back(static_cast<int>(topo->numa_node_of(c)));
    auto ports = port::dpdk_port::open(o, static_cast<unsigned>(cpus.size()));
    spdlog::info(
        "event=port_open port_type=dpdk port_id={} queues={} rx_ring_size={} tx_ring_size={}",
        ports[0]->port_id(), ports.size(), ports[0]->rx_ring_size(), ports[0]->tx_ring_size());
    return serve(cfg, ports, cpus, *topo, signals, setup);
#endif
  } catch (const std::exception& e) {
    spdlog::error("event=port_open_failed port_type={} reason={}", to_string(cfg.port),
                  q(e.what()));
    return 1;
  }
  return 1;
}

}  // namespace
}  // namespace anvil::control

int main(int argc, char** argv) {
  const int rc = anvil::control::run(argc, argv);
  // The log is written by its own thread: write what is queued, but a stalled stderr
  // must not keep a stopped server from exiting.
  if (!anvil::control::finish_logging(anvil::control::kLogDrainBound)) std::_Exit(rc);
  return rc;
}
