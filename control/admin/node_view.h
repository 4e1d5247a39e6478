// What the admin API reads and acts on: pointers to the counters every lcore already
// publishes (single writer each; read here with relaxed loads), the control requests
// the lcores poll (server_shared::control), the engine (its stats are safe while
// writers run), the snapshot service, and the facts fixed at start-up. Built by
// control/main.cc once the lcores poll; everything pointed to outlives the admin server.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "cache/engine.h"
#include "dataplane/port/port_counters.h"
#include "dataplane/server/cache_server.h"
#include "dataplane/server/loop_counters.h"
#include "io/snapshot_service.h"

namespace anvil::control::admin {

struct lcore_view {
  unsigned lcore = 0;
  unsigned cpu = 0;
  const server::loop_counters* loop = nullptr;
  const port::port_counters* port = nullptr;
};

struct node_view {
  std::string version;
  unsigned node_id = 1;
  std::uint32_t pid = 0;
  std::uint64_t started_at_unix = 0;
  std::string port_type, interface, mac, ip;
  std::uint16_t tcp_port = 0, udp_port = 0;
  std::vector<lcore_view> lcores;
  server::server_shared* shared = nullptr;  // per-lcore counters and control requests
  const cache::engine* engine = nullptr;
  io::snapshot_service* snapshots = nullptr;  // null: snapshots off
  std::string snapshot_dir;
  double snapshot_interval_s = 0;
  unsigned snapshot_keep = 0;
  double cycles_per_second = 1e9;   // for the loop window figures
  nlohmann::json effective_config;  // GET /v1/config
  std::string config_digest;        // "sha256:<hex>" of effective_config
};

// GET /v1/status, /v1/stats, /v1/snapshots (without the listing: snapshot_listing()).
nlohmann::json status_json(const node_view& v, bool draining, const std::string& admin_listen,
                           bool auth);
nlohmann::json stats_json(const node_view& v);
nlohmann::json snapshots_json(const node_view& v);
// Connections still open on every lcore (drain progress).
std::uint64_t open_connections(const node_view& v);

}  // namespace anvil::control::admin
