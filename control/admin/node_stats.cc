// GET /v1/status, /v1/stats and /v1/snapshots from the node's counters (node_view.h).
#include <charconv>
#include <ctime>

#include "control/admin/node_view.h"
#include "dataplane/net/counters.h"
#include "dataplane/proto/general_stats.h"

namespace anvil::control::admin {
namespace {

// The general stats as JSON: numbers stay numbers.
struct json_stat_writer {
  nlohmann::json& j;
  void add(std::string_view name, std::uint64_t v) { j[std::string(name)] = v; }
  void add(std::string_view name, std::string_view v) { j[std::string(name)] = std::string(v); }
  void add_seconds(std::string_view name, double s) { j[std::string(name)] = s; }
};

std::uint64_t ld(const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); }

nlohmann::json latency_json(const server::latency_snapshot& s, double cps) {
  nlohmann::json buckets = nlohmann::json::array();
  std::uint64_t cum = 0;
  for (std::size_t i = 0; i < server::kLatencyBuckets; ++i) {
    cum += s.counts[i];
    nlohmann::json b;
    if (i < server::kLatencyBoundsSeconds.size())
      b["le"] = server::kLatencyBoundsSeconds[i];
    else
      b["le"] = "+Inf";
    b["count"] = cum;
    buckets.push_back(std::move(b));
  }
  return {{"count", s.count()},
          {"sum_seconds", double(s.sum_cycles) / cps},
          {"p50_seconds", s.quantile_upper_bound(0.5)},
          {"p99_seconds", s.quantile_upper_bound(0.99)},
          {"buckets", std::move(buckets)}};
}

// Adds every numeric field of `from` into `into` (objects recursively).
void add_into(nlohmann::json& into, const nlohmann::json& from) {
  for (auto it = from.begin(); it != from.end(); ++it) {
    if (it->is_object()) {
      add_into(into[it.key()], *it);
    } else if (it->is_number_unsigned()) {
      into[it.key()] = (into.contains(it.key()) ? into[it.key()].get<std::uint64_t>() : 0) +
                       it->get<std::uint64_t>();
    }
  }
}

}  // namespace

std::uint64_t open_connections(const node_view& v) {
  std::uint64_t n = 0;
  for (const auto* s : v.shared->serving)
    if (s != nullptr) n += s->curr_connections.load(std::memory_order_relaxed);
  return n;
}

nlohmann::json status_json(const node_view& v, bool draining, const std::string& admin_listen,
                           bool auth) {
  const auto now = static_cast<std::uint64_t>(std::time(nullptr));
  nlohmann::json lcores = nlohmann::json::array();
  for (const auto& l : v.lcores) lcores.push_back({{"lcore", l.lcore}, {"cpu", l.cpu}});
  return {{"version", v.version},
          {"node_id", v.node_id},
          {"pid", v.pid},
          {"started_at_unix", v.started_at_unix},
          {"uptime_seconds", now > v.started_at_unix ? now - v.started_at_unix : 0},
          {"draining", draining},
          {"lcores", std::move(lcores)},
          {"port",
           {{"type", v.port_type},
            {"interface", v.interface},
            {"queues", v.lcores.size()},
            {"mac", v.mac}}},
          {"ip", v.ip},
          {"tcp_port", v.tcp_port},
          {"udp_port", v.udp_port},
          {"admin", {{"listen", admin_listen}, {"auth", auth}}},
          {"config_digest", v.config_digest}};
}

nlohmann::json stats_json(const node_view& v) {
  const auto& sh = *v.shared;
  nlohmann::json out;
  proto::server_facts f;
  server::fill_server_facts(v.shared, f);
  nlohmann::json general = nlohmann::json::object();
  json_stat_writer w{general};
  proto::write_general_stats(w, *v.engine, v.version, f);
  out["general"] = std::move(general);

  nlohmann::json storage = nlohmann::json::object();
  if (v.snapshots == nullptr) {
    storage = {{"state", "off"}, {"reason", "no [snapshot] dir configured"}};
  } else {
    v.snapshots->health().for_each_stat([&](std::string_view k, std::string_view val) {
      std::uint64_t n = 0;
      const auto r = std::from_chars(val.data(), val.data() + val.size(), n);
      if (r.ec == std::errc() && r.ptr == val.data() + val.size() && k != "reason")
        storage[std::string(k)] = n;
      else
        storage[std::string(k)] = std::string(val);
    });
  }
  out["storage"] = std::move(storage);

  nlohmann::json lcores = nlohmann::json::array();
  nlohmann::json total = nlohmann::json::object();
  server::latency_snapshot all;
  double ratio_sum = 0, longest = 0;
  for (std::size_t i = 0; i < v.lcores.size(); ++i) {
    const auto& lv = v.lcores[i];
    nlohmann::json l;
    l["lcore"] = lv.lcore;
    l["cpu"] = lv.cpu;
    const auto& lc = *lv.loop;
    const std::uint64_t wc = ld(lc.window_cycles), wb = ld(lc.window_busy_cycles);
    const double ratio = wc ? double(wb) / double(wc) : 0.0;
    const double lng = double(ld(lc.window_longest_iteration)) / v.cycles_per_second;
    ratio_sum += ratio;
    longest = std::max(longest, lng);
    l["loop"] = {
        {"iterations", lc.iterations.get()},   {"idle_iterations", lc.idle_iterations.get()},
        {"busy_cycles", lc.busy_cycles.get()}, {"idle_cycles", lc.idle_cycles.get()},
        {"sleeps", lc.sleeps.get()},           {"busy_ratio", ratio},
        {"longest_iteration_seconds", lng}};
    if (i < sh.serving.size() && sh.serving[i] != nullptr) {
      const auto& s = *sh.serving[i];
      l["connections"] = {{"current", s.curr_connections.load(std::memory_order_relaxed)},
                          {"total", s.total_connections.get()},
                          {"rejected", s.rejected_connections.get()},
                          {"drain_refused", s.drain_refused.get()}};
    }
    if (i < sh.proto.size() && sh.proto[i] != nullptr) {
      const auto& pc = *sh.proto[i];
      nlohmann::json p = nlohmann::json::object();
#define ANVIL_ADMIN_PROTO(n) p[#n] = pc.n.load();
      ANVIL_PROTO_COUNTERS(ANVIL_ADMIN_PROTO)
#undef ANVIL_ADMIN_PROTO
      l["protocol"] = std::move(p);
      nlohmann::json req = nlohmann::json::object();
      for (std::size_t o = 0; o < proto::kReqOps; ++o)
        for (std::size_t st = 0; st < proto::kReqStatuses; ++st) {
          const auto n =
              pc.requests.get(static_cast<proto::req_op>(o), static_cast<proto::req_status>(st));
          if (n != 0)
            req[to_string(static_cast<proto::req_op>(o))]
               [to_string(static_cast<proto::req_status>(st))] = n;
        }
      l["requests"] = std::move(req);
    }
    const auto& pt = *lv.port;
    l["port"] = {{"rx_frames", pt.rx_frames.get()},
                 {"rx_bytes", pt.rx_bytes.get()},
                 {"rx_oversize", pt.rx_oversize.get()},
                 {"rx_runt", pt.rx_runt.get()},
                 {"rx_csum_partial", pt.rx_csum_partial.get()},
                 {"rx_csum_dropped", pt.rx_csum_dropped.get()},
                 {"rx_kernel_drops", pt.rx_kernel_drops.get()},
                 {"rx_missed", pt.rx_missed.get()},
                 {"rx_nombuf", pt.rx_nombuf.get()},
                 {"tx_frames", pt.tx_frames.get()},
                 {"tx_bytes", pt.tx_bytes.get()},
                 {"tx_dropped", pt.tx_dropped.get()},
                 {"tx_deferred", pt.tx_deferred.get()},
                 {"tx_no_buffer", pt.tx_no_buffer.get()}};
    if (i < sh.net.size() && sh.net[i] != nullptr) {
      const auto& n = *sh.net[i];
      nlohmann::json nj = nlohmann::json::object();
#define ANVIL_ADMIN_NET(name, help) nj[#name] = ld(n.name);
      ANVIL_NET_COUNTERS(ANVIL_ADMIN_NET)
#undef ANVIL_ADMIN_NET
      l["net"] = std::move(nj);
    }
    if (i < sh.latency.size() && sh.latency[i] != nullptr) {
      const auto s = sh.latency[i]->read();
      all.merge(s);
      l["latency"] = latency_json(s, v.cycles_per_second);
    }
    nlohmann::json sums = l;
    sums.erase("lcore");
    sums.erase("cpu");
    sums.erase("latency");
    add_into(total, sums);
    lcores.push_back(std::move(l));
  }
  if (!v.lcores.empty()) {
    total["loop"]["busy_ratio"] = ratio_sum / double(v.lcores.size());
    total["loop"]["longest_iteration_seconds"] = longest;
  }
  total["latency"] = latency_json(all, v.cycles_per_second);
  out["total"] = std::move(total);
  out["lcores"] = std::move(lcores);
  return out;
}

nlohmann::json snapshots_json(const node_view& v) {
  if (v.snapshots == nullptr)
    return {{"enabled", false}, {"reason", "no [snapshot] dir configured"}};
  const auto& h = v.snapshots->health();
  const auto r = v.snapshots->last_result();
  using hc = io::storage_health;
  return {{"enabled", true},
          {"dir", v.snapshot_dir},
          {"interval_seconds", v.snapshot_interval_s},
          {"keep", v.snapshot_keep},
          {"storage", {{"state", io::to_string(h.state())}, {"reason", h.reason()}}},
          {"last",
           {{"ok", r.ok},
            {"snapshot_id", r.snapshot_id},
            {"items", r.items},
            {"bytes", r.bytes},
            {"seconds", r.seconds},
            {"reason", r.reason},
            {"last_ok_unix", h.get(hc::last_ok_unix)}}},
          {"snapshots_ok", h.get(hc::snapshots_ok)},
          {"snapshots_failed", h.get(hc::snapshots_failed)}};
}

}  // namespace anvil::control::admin
