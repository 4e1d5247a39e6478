#include "control/replication/replication_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

namespace anvil::replication {

using namespace std::chrono_literals;

replication_service::replication_service(cache::engine& e, unsigned lcores, replication_config cfg)
    : _engine(e), _cfg(std::move(cfg)), _log(_cfg.log_bytes) {
  for (unsigned i = 0; i < lcores; ++i) {
    _rings.push_back(std::make_unique<mutation_ring>(_cfg.ring_entries, e.config().time));
    _ring_ptrs.push_back(_rings.back().get());
  }
  _drain = std::thread([this] { drain_loop(); });
}

replication_service::~replication_service() {
  _stop.store(true);
  if (_drain.joinable()) _drain.join();
  std::lock_guard lk(_mu);
  _server.reset();
  _client.reset();
}

proto::mutation_hook replication_service::hook_for_lcore(unsigned i) {
  if (i >= _rings.size()) throw std::out_of_range("replication: no ring for this lcore");
  return _rings[i]->hook();
}

void replication_service::drain_loop() {
  drain d(_engine, _ring_ptrs, _log);
  std::uint64_t seen_overflows = 0;
  while (!_stop.load()) {
    const bool produce = _producing.load();
    const std::size_t n = d.run_once(produce);
    if (d.overflows() != seen_overflows) {
      spdlog::warn("event=replication_ring_overflow overflows={} action={}", d.overflows(),
                   produce ? "resync every replica" : "none (not primary)");
      _overflows.store(d.overflows());
      seen_overflows = d.overflows();
    }
    if (produce) {
      std::lock_guard lk(_mu);
      if (_server) _server->announce(_log.last(), std::chrono::steady_clock::now());
    }
    if (n == 0) std::this_thread::sleep_for(1ms);
  }
}

void replication_service::stop_client_locked() {
  if (!_client) return;
  _last_applied = std::max(_last_applied, _client->applied());
  _client.reset();
}

void replication_service::on_role_change(cluster::role r, std::int64_t epoch,
                                         std::string primary_management_ip) {
  // "ip:port" (the management address as etcd has it): the host part.
  if (const auto colon = primary_management_ip.find(':'); colon != std::string::npos)
    primary_management_ip.resize(colon);
  std::lock_guard lk(_mu);
  switch (r) {
    case cluster::role::primary: {
      if (_server && epoch == _epoch) return;
      stop_client_locked();
      _server.reset();
      // Continue numbering from what this node applied, so positions stay comparable.
      _log.restart_at(std::max(_last_applied, _log.last()));
      _epoch = epoch;
      try {
        _server =
            std::make_unique<primary_server>(_engine, _log, _cfg.listen_ip, _cfg.port, epoch, _pc);
        _producing.store(true);
        spdlog::info("event=replication_primary epoch={} listen={}:{} position={}", epoch,
                     _cfg.listen_ip, _server->port(), _log.last());
      } catch (const std::exception& ex) {
        _producing.store(false);
        spdlog::error("event=replication_listen_failed reason=\"{}\"", ex.what());
      }
      return;
    }
    case cluster::role::fenced:
      return;  // may come back at the same epoch: keep what runs
    case cluster::role::replica:
    case cluster::role::candidate:
      break;
  }
  if (_server) {
    _last_applied = std::max(_last_applied, _log.last());
    _server.reset();
    _producing.store(false);
  }
  _epoch = epoch;
  if (primary_management_ip.empty() || primary_management_ip == _cfg.listen_ip) {
    stop_client_locked();
    return;
  }
  if (_client && _client->primary() == primary_management_ip) return;
  stop_client_locked();
  _client = std::make_unique<replica_client>(_engine, _cfg.node_id, primary_management_ip,
                                             _cfg.port, _rc);
  spdlog::info("event=replication_replica epoch={} primary={}:{}", epoch, primary_management_ip,
               _cfg.port);
}

std::uint64_t replication_service::position() const {
  std::lock_guard lk(_mu);
  if (_server) return _log.last();
  if (_client) return _client->applied();
  return _last_applied;
}

lag_value replication_service::lag() const {
  std::lock_guard lk(_mu);
  lag_value worst;
  if (_client) return _client->lag();
  if (_server)
    for (const auto& r : _server->replicas()) {
      worst.entries = std::max(worst.entries, r.lag.entries);
      worst.seconds = std::max(worst.seconds, r.lag.seconds);
    }
  return worst;
}

std::uint16_t replication_service::listening_port() const {
  std::lock_guard lk(_mu);
  return _server ? _server->port() : 0;
}

replication_status replication_service::status() const {
  replication_status s;
  s.lag = lag();
  s.position = position();
  {
    std::lock_guard lk(_mu);
    if (_server) {
      s.mode = "primary";
      s.replicas = _server->replicas();
    } else if (_client) {
      s.mode = "replica";
      s.primary = _client->primary();
    }
  }
  s.resyncs = _pc.copies.load() + _rc.connects.load();
  s.bytes_sent = _pc.bytes_sent.load();
  s.bytes_received = _rc.bytes_received.load();
  s.ring_overflows = _overflows.load();
  for (const auto& r : _rings) s.ring_dropped += r->dropped();
  s.dropped_connections = _pc.dropped.load() + _rc.dropped.load();
  s.store_failures = _rc.store_failures.load();
  return s;
}

}  // namespace anvil::replication
