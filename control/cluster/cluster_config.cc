#include "control/cluster/cluster_config.h"

#include <arpa/inet.h>

#include <charconv>
#include <set>

#include "control/cluster/cluster_schema.h"
#include "control/cluster/heartbeat.h"
#include "control/config.h"

namespace anvil::cluster {

namespace {

using control::config_error;

bool ipv4(const std::string& s) {
  in_addr a{};
  return ::inet_pton(AF_INET, s.c_str(), &a) == 1;
}

// Node, zone and shard names travel in heartbeats and etcd keys: 1..32 of [A-Za-z0-9._-].
bool name_ok(const std::string& s) {
  if (s.empty() || s.size() > kMaxName) return false;
  for (char ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '-')
      return false;
  return true;
}

std::int64_t whole(const std::string& field, const toml::node& n, std::int64_t min,
                   std::int64_t max) {
  auto i = n.as_integer();
  if (i == nullptr || i->get() < min || i->get() > max)
    throw config_error(
        field, "must be a whole number " + std::to_string(min) + ".." + std::to_string(max));
  return i->get();
}

std::string text(const std::string& field, const toml::node& n) {
  auto s = n.as_string();
  if (s == nullptr) throw config_error(field, "expected a string");
  return s->get();
}

std::string name(const std::string& field, const toml::node& n) {
  auto v = text(field, n);
  if (!name_ok(v))
    throw config_error(field, "'" + v + "' is not a name (1..32 of A-Z a-z 0-9 . _ -)");
  return v;
}

std::string address(const std::string& field, const toml::node& n) {
  auto v = text(field, n);
  if (!ipv4(v)) throw config_error(field, "'" + v + "' is not an IPv4 address");
  return v;
}

std::vector<std::string> strings(const std::string& field, const toml::node& n) {
  auto a = n.as_array();
  if (a == nullptr) throw config_error(field, "expected an array of strings");
  std::vector<std::string> out;
  for (const auto& e : *a) {
    auto s = e.as_string();
    if (s == nullptr || s->get().empty()) throw config_error(field, "expected an array of strings");
    out.push_back(s->get());
  }
  return out;
}

}  // namespace

std::optional<peer_address> parse_peer(const std::string& t, std::uint16_t default_port) {
  const auto at = t.find('@');
  if (at == std::string::npos) return std::nullopt;
  peer_address p;
  p.node = t.substr(0, at);
  std::string rest = t.substr(at + 1);
  p.port = default_port;  // 0: "the configured heartbeat_port", filled in by finish()
  if (const auto colon = rest.find(':'); colon != std::string::npos) {
    const std::string port = rest.substr(colon + 1);
    unsigned v = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || end != port.data() + port.size() || v == 0 || v > 65535)
      return std::nullopt;
    p.port = static_cast<std::uint16_t>(v);
    rest = rest.substr(0, colon);
  }
  p.host = rest;
  if (!name_ok(p.node) || !ipv4(p.host)) return std::nullopt;
  return p;
}

std::string finish(cluster_config& c) {
  for (auto& p : c.peers)
    if (p.port == 0) p.port = c.heartbeat_port;
  if (!c.enabled())
    return c.configured ? "cluster.node_id: required when a [cluster] section is present" : "";
  if (c.zone.empty()) return "cluster.zone: required (the node's data centre)";
  if (c.vip_zone.empty()) c.vip_zone = c.zone;
  if (c.vip.empty()) return "cluster.vip: required (the shard's virtual IPv4 address)";
  if (c.management_ip.empty()) return "cluster.management_ip: required (heartbeats bind there)";
  if (c.etcd_endpoints.empty()) return "cluster.etcd_endpoints: required (at least one)";
  if (c.fence_margin_ms >= c.lease_ttl_s * 1000)
    return "cluster.fence_margin_ms: must be below cluster.lease_ttl_s (" +
           std::to_string(c.lease_ttl_s * 1000) + " ms)";
  const std::int64_t renew = (c.lease_ttl_s * 1000 - c.fence_margin_ms) / 3;
  if (c.etcd_timeout_ms > renew)
    return "cluster.etcd_timeout_ms: " + std::to_string(c.etcd_timeout_ms) +
           " ms is above (lease_ttl_s - fence_margin_ms) / 3 = " + std::to_string(renew) +
           " ms: three keepalives must fit before fencing";
  if (c.dead_after < c.suspect_after) return "cluster.dead_after: must be at least suspect_after";
  if (c.replication_port == c.heartbeat_port)
    return "cluster.replication_port: must differ from heartbeat_port (" +
           std::to_string(c.heartbeat_port) + ")";
  std::set<std::string> names;
  for (const auto& p : c.peers) {
    if (p.node == c.node_id) return "cluster.peers: lists this node (" + p.node + ") itself";
    if (!names.insert(p.node).second) return "cluster.peers: " + p.node + " is listed twice";
  }
  return "";
}

std::map<std::string, config_setter> cluster_schema(cluster_config& c) {
  auto mark = [&c](auto fn) {
    return [&c, fn](const std::string& f, const toml::node& n) {
      c.configured = true;
      fn(f, n);
    };
  };
  return {
      {"node_id", mark([&](auto f, auto& n) { c.node_id = name(f, n); })},
      {"zone", mark([&](auto f, auto& n) { c.zone = name(f, n); })},
      {"shard", mark([&](auto f, auto& n) { c.shard = name(f, n); })},
      {"vip", mark([&](auto f, auto& n) { c.vip = address(f, n); })},
      {"vip_zone", mark([&](auto f, auto& n) { c.vip_zone = name(f, n); })},
      {"management_ip", mark([&](auto f, auto& n) { c.management_ip = address(f, n); })},
      {"heartbeat_port", mark([&](auto f, auto& n) {
         c.heartbeat_port = static_cast<std::uint16_t>(whole(f, n, 1, 65535));
       })},
      {"heartbeat_interval_ms",
       mark([&](auto f, auto& n) { c.heartbeat_interval_ms = whole(f, n, 10, 10000); })},
      {"suspect_after", mark([&](auto f, auto& n) {
         c.suspect_after = static_cast<unsigned>(whole(f, n, 1, 1000));
       })},
      {"dead_after",
       mark([&](auto f, auto& n) { c.dead_after = static_cast<unsigned>(whole(f, n, 1, 10000)); })},
      {"etcd_endpoints", mark([&](auto f, auto& n) { c.etcd_endpoints = strings(f, n); })},
      {"etcd_prefix", mark([&](auto f, auto& n) {
         auto v = text(f, n);
         if (v.empty() || v[0] != '/' || v.size() > 128)
           throw config_error(f, "'" + v + "' must start with / (at most 128 bytes)");
         c.etcd_prefix = v;
       })},
      {"etcd_timeout_ms",
       mark([&](auto f, auto& n) { c.etcd_timeout_ms = whole(f, n, 10, 60000); })},
      {"lease_ttl_s", mark([&](auto f, auto& n) { c.lease_ttl_s = whole(f, n, 1, 60); })},
      {"fence_margin_ms",
       mark([&](auto f, auto& n) { c.fence_margin_ms = whole(f, n, 1, 59999); })},
      {"max_replica_lag", mark([&](auto f, auto& n) {
         c.max_replica_lag = static_cast<std::uint64_t>(whole(f, n, 0, INT64_MAX));
       })},
      {"replication_port", mark([&](auto f, auto& n) {
         c.replication_port = static_cast<std::uint16_t>(whole(f, n, 1, 65535));
       })},
      {"replica_reads", mark([&](auto f, auto& n) {
         auto b = n.as_boolean();
         if (b == nullptr) throw config_error(f, "expected true or false");
         c.replica_reads = b->get();
       })},
      {"replication_ring_entries", mark([&](auto f, auto& n) {
         const auto v = whole(f, n, 2, 1 << 20);
         if ((v & (v - 1)) != 0)
           throw config_error(f, std::to_string(v) + " is not a power of two (2..1048576)");
         c.replication_ring_entries = static_cast<std::uint32_t>(v);
       })},
      {"replication_log_mb", mark([&](auto f, auto& n) {
         c.replication_log_mb = static_cast<std::uint32_t>(whole(f, n, 1, 65536));
       })},
      {"peers", mark([&](auto f, auto& n) {
         c.peers.clear();
         for (const auto& s : strings(f, n)) {
           auto p = parse_peer(s, 0);
           if (!p)
             throw config_error(f,
                                "'" + s + "' is not a peer (name@10.0.0.2 or name@10.0.0.2:11312)");
           c.peers.push_back(*p);
         }
       })},
  };
}

}  // namespace anvil::cluster
