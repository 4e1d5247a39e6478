// The `anvil` server: configuration, start-up, the lcores, graceful shutdown.
//
// Lifecycle: parse flags + config file (a bad value exits 2 naming the field) -> pick
// and validate cores (hwloc) -> block SIGINT/SIGTERM in every thread -> open the port
// queues -> one pinned poll loop per lcore -> wait for a signal -> stop flag, let the
// loops drain (bounded by server.shutdown_timeout_s) -> final counters -> exit 0.
// Logs go to stderr, one logfmt line per event (`event=... reason="..."`).
//
// Until the TCP/IP stack, the protocol and the cache are joined, every lcore runs the
// drop-and-count handler: the port and loops are real, nothing answers. The log says
// so at start-up (event=not_wired); nothing here pretends to serve memcached.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <set>

#include "control/config.h"
#include "dataplane/port/afpacket_port.h"
#include "dataplane/server/cpu_pin.h"
#include "dataplane/server/drop_handler.h"
#include "dataplane/server/lcore_set.h"
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

template <class P>
void log_lcore(const char* event, unsigned i, unsigned cpu, const server::loop_counters& l,
               const P& p, const server::drop_counters& d) {
  const auto& c = p.counters();
  const auto busy = l.busy_cycles.get(), idle = l.idle_cycles.get();
  spdlog::info(
      "event={} lcore={} cpu={} iterations={} idle_iterations={} busy_cycles={} idle_cycles={} "
      "busy_pct={:.1f} sleeps={} rx_frames={} rx_bytes={} rx_oversize={} rx_runt={} "
      "rx_csum_partial={} rx_csum_dropped={} tx_frames={} tx_dropped={} tx_no_buffer={} "
      "dropped_arp={} dropped_ipv4={} dropped_other={}",
      event, i, cpu, l.iterations.get(), l.idle_iterations.get(), busy, idle,
      busy + idle ? 100.0 * double(busy) / double(busy + idle) : 0.0, l.sleeps.get(),
      c.rx_frames.get(), c.rx_bytes.get(), c.rx_oversize.get(), c.rx_runt.get(),
      c.rx_csum_partial.get(), c.rx_csum_dropped.get(), c.tx_frames.get(), c.tx_dropped.get(),
      c.tx_no_buffer.get(), d.arp.get(), d.ipv4.get(), d.other.get());
}

template <class P>
int serve(const server_config& cfg, std::vector<std::unique_ptr<P>>& ports,
          const std::vector<unsigned>& cpus, const server::cpu_topology& topo,
          const sigset_t& signals) {
  std::vector<server::drop_counters> drops(ports.size());
  server::loop_config lc;
  lc.idle = cfg.idle;
  lc.drain_timeout_ns = static_cast<std::uint64_t>(cfg.shutdown_timeout_s * 0.8 * 1e9);
  server::lcore_set<P, server::drop_handler> lcores(
      ports, cpus, topo, lc,
      [&](unsigned i) { return std::make_unique<server::drop_handler>(drops[i]); },
      [](unsigned i, unsigned cpu) {
        spdlog::warn("event=pin_failed lcore={} cpu={} reason={}", i, cpu,
                     q("hwloc could not bind the thread; it runs unpinned"));
      });
  spdlog::info("event=started lcores={} cpus={} mac={} idle={} handler=drop_and_count",
               ports.size(), cpu_text(cpus), mac_text(ports[0]->mac()),
               cfg.idle.mode == server::idle_policy::kind::busy_poll ? "busy-poll" : "backoff");

  const auto interval = cfg.stats_interval_s > 0 ? cfg.stats_interval_s : 1.0;
  int sig = -1;
  while (sig < 0) {
    timespec ts{
        static_cast<time_t>(interval),
        static_cast<long>((interval - static_cast<double>(static_cast<time_t>(interval))) * 1e9)};
    sig = ::sigtimedwait(&signals, nullptr, &ts);
    if (sig < 0 && cfg.stats_interval_s > 0)
      for (unsigned i = 0; i < lcores.size(); ++i)
        log_lcore("stats", i, cpus[i], lcores.counters(i), lcores.port(i), drops[i]);
  }
  spdlog::info("event=shutdown_begin signal={} reason={}", sig == SIGINT ? "SIGINT" : "SIGTERM",
               q("signal received: stopping lcores, draining in-flight work"));
  lcores.request_stop();
  const auto bound = std::chrono::milliseconds(static_cast<long>(cfg.shutdown_timeout_s * 1000));
  if (!lcores.wait_stopped(bound)) {
    spdlog::error("event=shutdown_timeout timeout_s={} reason={}", cfg.shutdown_timeout_s,
                  q("an lcore did not stop in time; exiting without waiting for it"));
    spdlog::shutdown();
    std::_Exit(1);
  }
  for (unsigned i = 0; i < lcores.size(); ++i)
    log_lcore("lcore_final", i, cpus[i], lcores.counters(i), lcores.port(i), drops[i]);
  spdlog::info("event=stopped reason={}", q("clean shutdown"));
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

  auto logger = spdlog::stderr_color_mt("anvil");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(cfg.verbosity >= 2   ? spdlog::level::trace
                    : cfg.verbosity == 1 ? spdlog::level::debug
                                         : spdlog::level::info);
  spdlog::flush_on(spdlog::level::trace);

  // Signals are taken synchronously by this (control) thread; lcore threads inherit
  // the blocked mask and never see them.
  // A shell starts background jobs with SIGINT ignored; the default disposition makes
  // sure the blocked signal is queued for sigtimedwait whatever our parent did.
  ::signal(SIGPIPE, SIG_IGN);  // a closed log pipe must not kill the server
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

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
  spdlog::warn("event=not_wired reason={}",
               q("the TCP/IP stack, memcached binary protocol and cache engine are not joined "
                 "to the ports yet: frames are received, counted and dropped; nothing answers "
                 "ARP, ping or memcached clients"));

  try {
    if (cfg.port == port_kind::afpacket) {
      port::afpacket_options o;
      o.interface = cfg.interface;
      o.mac = cfg.mac;
      o.rx_mode = cfg.afpacket_rx;
      o.csum_partial = cfg.csum_partial;
      o.ring_frames = cfg.ring_frames;
      auto ports = port::afpacket_port::open(o, static_cast<unsigned>(cpus.size()));
      spdlog::info(
          "event=port_open port_type=afpacket interface={} queues={} fanout_group={} "
          "rx_mode={} checksum_partial={}",
          cfg.interface, ports.size(), ports[0]->fanout_id(),
          cfg.afpacket_rx == port::afpacket_rx_mode::ring ? "ring" : "mmsg",
          cfg.csum_partial == port::csum_partial_policy::accept ? "accept" : "drop");
      return serve(cfg, ports, cpus, *topo, signals);
    }
#ifdef ANVIL_HAVE_DPDK
    port::dpdk_options o;
    o.eal_args = cfg.eal_args;
    o.device = cfg.dpdk_device;
    o.mac = cfg.mac;
    for (unsigned c : cpus) o.queue_sockets.push_back(static_cast<int>(topo->numa_node_of(c)));
    auto ports = port::dpdk_port::open(o, static_cast<unsigned>(cpus.size()));
    spdlog::info("event=port_open port_type=dpdk port_id={} queues={}", ports[0]->port_id(),
                 ports.size());
    return serve(cfg, ports, cpus, *topo, signals);
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

int main(int argc, char** argv) { return anvil::control::run(argc, argv); }
