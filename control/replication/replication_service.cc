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
  _roles = std::thread([this] { role_loop(); });
}

replication_service::~replication_service() {
  _stop.store(true);
  _pending_cv.notify_all();
  if (_roles.joinable()) _roles.join();
  if (_drain.joinable()) _drain.join();
  std::unique_ptr<primary_server> server;
  std::unique_ptr<replica_client> client;
  {
    std::lock_guard lk(_mu);
    server = std::move(_server);
    client = std::move(_client);
  }
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

void replication_service::on_role_change(cluster::role r, std::int64_t epoch,
                                         std::string primary_management_ip) {
  // "ip:port" (the management address as etcd has it): the host part.
  if (const auto colon = primary_management_ip.find(':'); colon != std::string::npos)
    primary_management_ip.resize(colon);
  {
    std::lock_guard lk(_pending_mu);
    _pending = role_change{r, epoch, std::move(primary_management_ip)};
  }
  _pending_cv.notify_all();
}

void replication_service::role_loop() {
  while (!_stop.load()) {
    std::optional<role_change> c;
    {
      std::unique_lock lk(_pending_mu);
      _pending_cv.wait_for(lk, 100ms, [&] { return _pending.has_value() || _stop.load(); });
      c.swap(_pending);
    }
    if (c && !_stop.load()) apply(*c);
  }
}

void replication_service::apply(const role_change& c) {
  if (c.role == cluster::role::fenced) return;  // may come back at the same epoch: keep all
  const bool primary = c.role == cluster::role::primary;
  const bool follow = !primary && !c.primary_ip.empty() && c.primary_ip != _cfg.listen_ip;
  std::unique_ptr<primary_server> old_server;
  std::unique_ptr<replica_client> old_client;
  {
    std::lock_guard lk(_mu);
    if (primary && _server && _epoch == c.epoch) return;
    if (follow && _client && _client->primary() == c.primary_ip) return;
    if (!primary && !_server && !_client && !follow) return;
    old_server = std::move(_server);
    old_client = std::move(_client);
    _producing.store(false);
  }
  // Stop what ran, outside the lock (joins threads: up to a connect timeout).
  std::uint64_t applied = 0;
  if (old_client) {
    applied = old_client->applied();
    old_client.reset();
  }
  if (old_server) {
    applied = _log.last();
    old_server.reset();
  }
  {
    std::lock_guard lk(_mu);
    _last_applied = std::max(_last_applied, applied);
  }
  if (primary) {
    // Continue numbering from what this node applied, so positions stay comparable.
    std::uint64_t from = 0;
    {
      std::lock_guard lk(_mu);
      from = std::max(_last_applied, _log.last());
    }
    _log.restart_at(from);
    try {
      auto server =
          std::make_unique<primary_server>(_engine, _log, _cfg.listen_ip, _cfg.port, c.epoch, _pc);
      spdlog::info("event=replication_primary epoch={} listen={}:{} position={}", c.epoch,
                   _cfg.listen_ip, server->port(), from);
      std::lock_guard lk(_mu);
      _server = std::move(server);
      _epoch = c.epoch;
      _producing.store(true);
    } catch (const std::exception& ex) {
      spdlog::error("event=replication_listen_failed reason=\"{}\"", ex.what());
    }
    return;
  }
  if (!follow) {
    spdlog::info("event=replication_idle epoch={} reason=\"no primary to follow\"", c.epoch);
    return;
  }
  auto client =
      std::make_unique<replica_client>(_engine, _cfg.node_id, c.primary_ip, _cfg.port, _rc);
  spdlog::info("event=replication_replica epoch={} primary={}:{}", c.epoch, c.primary_ip,
               _cfg.port);
  std::lock_guard lk(_mu);
  _client = std::move(client);
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

std::optional<replica_client::stream_view> replication_service::replica_stream() const {
  std::lock_guard lk(_mu);
  if (!_client) return std::nullopt;
  return _client->stream();
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
