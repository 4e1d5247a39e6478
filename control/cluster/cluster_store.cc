#include "control/cluster/cluster_store.h"

#include <charconv>
#include <nlohmann/json.hpp>

namespace anvil::cluster {

using json = nlohmann::json;

namespace {

std::optional<std::string> str(const json& j, const char* f) {
  auto it = j.find(f);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

struct primary_fields {
  std::string node;
  std::int64_t epoch = 0;
};

std::optional<primary_fields> parse_primary(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto node = str(j, "node");
  auto e = j.find("epoch");
  if (!node || node->empty() || e == j.end() || !e->is_number_integer()) return std::nullopt;
  const auto epoch = e->get<std::int64_t>();
  if (epoch <= 0) return std::nullopt;
  return primary_fields{*node, epoch};
}

struct handover_record {
  std::string to;
  bool force = false;
};

std::optional<handover_record> parse_handover(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto to = str(j, "to");
  auto f = j.find("force");
  if (!to || to->empty() || (f != j.end() && !f->is_boolean())) return std::nullopt;
  return handover_record{*to, f != j.end() && f->get<bool>()};
}

}  // namespace

std::string primary_record(const std::string& node, std::int64_t epoch, const std::string& vip) {
  return json{{"node", node}, {"epoch", epoch}, {"vip", vip}}.dump();
}

std::optional<member_info> parse_member(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto id = str(j, "id"), zone = str(j, "zone"), mgmt = str(j, "management"), data = str(j, "data");
  if (!id || id->empty() || !zone || !mgmt || !data) return std::nullopt;
  return member_info{*id, *zone, *mgmt, *data};
}

std::optional<shard_info> parse_shard(const std::string& id, const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto vip = str(j, "vip"), zone = str(j, "zone");
  if (!vip || vip->empty() || !zone) return std::nullopt;
  return shard_info{id, *vip, *zone};
}

std::string to_json(const member_info& m) {
  return json{{"id", m.id}, {"zone", m.zone}, {"management", m.management}, {"data", m.data}}
      .dump();
}

std::string to_json(const shard_info& s) { return json{{"vip", s.vip}, {"zone", s.zone}}.dump(); }

std::optional<std::int64_t> parse_epoch(const std::string& text) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty() || v < 0)
    return std::nullopt;
  return v;
}

cluster_store::cluster_store(etcd_client& etcd, std::string prefix)
    : _etcd(etcd), _prefix(std::move(prefix)) {
  while (!_prefix.empty() && _prefix.back() == '/') _prefix.pop_back();
}

std::string cluster_store::member_key(const std::string& node) const {
  return _prefix + "/members/" + node;
}

std::string cluster_store::shard_key(const std::string& shard, const char* leaf) const {
  return _prefix + "/shards/" + shard + "/" + leaf;
}

etcd_status cluster_store::register_member(const member_info& m, duration deadline) {
  return _etcd.put(member_key(m.id), to_json(m), 0, deadline);
}

std::vector<member_info> cluster_store::members(duration deadline, etcd_status& status) {
  std::vector<member_info> out;
  auto r = _etcd.get_prefix(_prefix + "/members/", deadline);
  status = r.status;
  if (!r.status.ok()) return out;
  for (const auto& kv : r.kvs) {
    auto m = parse_member(kv.value);
    if (!m) {
      status = {etcd_code::error, kv.key + ": malformed member record"};
      continue;
    }
    out.push_back(*m);
  }
  return out;
}

etcd_status cluster_store::ensure_shard(const shard_info& s, duration deadline) {
  const std::string key = shard_key(s.id, "config");
  auto r = _etcd.txn({{.key = key, .what = etcd_compare::target::create_revision, .number = 0}},
                     {{.what = etcd_op::kind::put, .key = key, .value = to_json(s)}},
                     {{.what = etcd_op::kind::range, .key = key}}, deadline);
  if (!r.status.ok() || r.succeeded) return r.status;
  if (r.ranged.empty() || !r.ranged[0]) return {etcd_code::error, key + ": vanished while read"};
  auto have = parse_shard(s.id, r.ranged[0]->value);
  if (!have) return {etcd_code::error, key + ": malformed shard record"};
  if (*have != s)
    return {etcd_code::error, "shard " + s.id + " is vip " + have->vip + " zone " + have->zone +
                                  " in etcd but vip " + s.vip + " zone " + s.zone + " here"};
  return {};
}

shard_read cluster_store::read_shard(const std::string& shard, duration deadline) {
  shard_read out;
  // One range over the shard's keys: a consistent snapshot at one revision.
  auto r = _etcd.get_prefix(_prefix + "/shards/" + shard + "/", deadline);
  out.status = r.status;
  if (!r.status.ok()) return out;
  for (const auto& kv : r.kvs) {
    if (kv.key == shard_key(shard, "epoch")) {
      auto e = parse_epoch(kv.value);
      if (!e) {
        out.status = {etcd_code::error, kv.key + ": malformed epoch '" + kv.value + "'"};
        return out;
      }
      out.view.epoch = *e;
      out.view.epoch_mod_revision = kv.mod_revision;
    } else if (kv.key == shard_key(shard, "primary")) {
      auto p = parse_primary(kv.value);
      if (!p) {
        out.status = {etcd_code::error, kv.key + ": malformed primary record"};
        return out;
      }
      out.view.has_primary = true;
      out.view.primary = p->node;
      out.view.primary_epoch = p->epoch;
      out.view.primary_lease = kv.lease;
    } else if (kv.key == shard_key(shard, "handover")) {
      auto h = parse_handover(kv.value);
      if (!h) {
        out.status = {etcd_code::error, kv.key + ": malformed handover record"};
        return out;
      }
      out.view.handover_to = h->to;
      out.view.handover_force = h->force;
      out.view.handover_mod_revision = kv.mod_revision;
    } else if (kv.key == shard_key(shard, "config")) {
      out.config = parse_shard(shard, kv.value);
      if (!out.config) {
        out.status = {etcd_code::error, kv.key + ": malformed shard record"};
        return out;
      }
    }
  }
  return out;
}

claim_outcome cluster_store::claim(const std::string& shard, const std::string& node,
                                   const std::string& vip, std::int64_t seen_epoch,
                                   std::int64_t seen_mod_revision, std::int64_t lease,
                                   duration deadline, std::int64_t seen_handover_revision) {
  const std::string ekey = shard_key(shard, "epoch"), pkey = shard_key(shard, "primary"),
                    hkey = shard_key(shard, "handover");
  const std::int64_t next = seen_epoch + 1;
  const std::string record = primary_record(node, next, vip);
  std::vector<etcd_compare> cmp{
      {.key = ekey, .what = etcd_compare::target::mod_revision, .number = seen_mod_revision},
      {.key = pkey, .what = etcd_compare::target::create_revision, .number = 0}};
  std::vector<etcd_op> ops{
      {.what = etcd_op::kind::put, .key = ekey, .value = std::to_string(next)},
      {.what = etcd_op::kind::put, .key = pkey, .value = record, .lease = lease}};
  if (seen_handover_revision == 0) {
    // No switchover may be running: its target has the shard reserved.
    cmp.push_back({.key = hkey, .what = etcd_compare::target::create_revision, .number = 0});
  } else {
    // The handover naming us, exactly as read: consumed by the claim.
    cmp.push_back({.key = hkey,
                   .what = etcd_compare::target::mod_revision,
                   .number = seen_handover_revision});
    ops.push_back({.what = etcd_op::kind::del, .key = hkey});
  }
  auto r = _etcd.txn(
      cmp, ops,
      {{.what = etcd_op::kind::range, .key = ekey}, {.what = etcd_op::kind::range, .key = pkey}},
      deadline);
  claim_outcome out;
  out.status = r.status;
  if (!r.status.ok()) return out;
  if (r.succeeded) {
    out.won = true;
    out.epoch = next;
    return out;
  }
  if (r.ranged.size() == 2) {
    if (r.ranged[0]) out.epoch = parse_epoch(r.ranged[0]->value).value_or(0);
    if (r.ranged[1])
      if (auto p = parse_primary(r.ranged[1]->value)) out.primary = p->node;
  }
  return out;
}

cluster_store::handover_result cluster_store::hand_over(
    const std::string& shard, const std::string& node, const std::string& vip, std::int64_t epoch,
    const std::string& target, bool force, std::int64_t handover_lease, duration deadline) {
  const std::string ekey = shard_key(shard, "epoch"), pkey = shard_key(shard, "primary"),
                    hkey = shard_key(shard, "handover");
  const std::string record =
      json{{"to", target}, {"from", node}, {"epoch", epoch}, {"force", force}}.dump();
  auto r = _etcd.txn(
      {{.key = ekey, .what = etcd_compare::target::value, .value = std::to_string(epoch)},
       {.key = pkey,
        .what = etcd_compare::target::value,
        .value = primary_record(node, epoch, vip)}},
      {{.what = etcd_op::kind::put, .key = hkey, .value = record, .lease = handover_lease},
       {.what = etcd_op::kind::del, .key = pkey}},
      {}, deadline);
  return {r.status, r.status.ok() && r.succeeded};
}

}  // namespace anvil::cluster
