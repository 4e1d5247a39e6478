#include "control/cluster/etcd_client.h"

#include <httplib.h>
#include <sodium.h>

#include <nlohmann/json.hpp>

namespace anvil::cluster {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

std::string base64_encode(const std::string& bytes) {
  const std::size_t cap = sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string out(cap, '\0');
  sodium_bin2base64(out.data(), cap, reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(cap - 1);  // the terminating NUL
  return out;
}

std::optional<std::string> base64_decode(const std::string& text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size())
    return std::nullopt;
  out.resize(len);
  return out;
}

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

namespace {

// gRPC codes the gateway puts in error replies.
constexpr int kGrpcDeadlineExceeded = 4;
constexpr int kGrpcNotFound = 5;
constexpr int kGrpcUnavailable = 14;
// Our replies are small (a shard's keys); a bigger one is refused, not buffered.
constexpr std::size_t kMaxReply = 4 << 20;

// int64 fields arrive as strings ("123"); accept numbers too. Absent = 0.
std::int64_t i64(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_string()) {
    try {
      std::size_t used = 0;
      const std::string& s = it->get_ref<const std::string&>();
      const long long v = std::stoll(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
  }
  throw std::runtime_error(std::string("field ") + field + " is not an integer");
}

std::string bytes(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end()) return {};
  if (!it->is_string()) throw std::runtime_error(std::string("field ") + field + " is not base64");
  auto d = base64_decode(it->get_ref<const std::string&>());
  if (!d) throw std::runtime_error(std::string("field ") + field + " is not base64");
  return *d;
}

etcd_kv parse_kv(const json& j) {
  etcd_kv kv;
  kv.key = bytes(j, "key");
  kv.value = bytes(j, "value");
  kv.create_revision = i64(j, "create_revision");
  kv.mod_revision = i64(j, "mod_revision");
  kv.version = i64(j, "version");
  kv.lease = i64(j, "lease");
  return kv;
}

std::vector<etcd_kv> parse_kvs(const json& j) {
  std::vector<etcd_kv> out;
  auto it = j.find("kvs");
  if (it == j.end()) return out;
  if (!it->is_array()) throw std::runtime_error("kvs is not an array");
  for (const auto& e : *it) out.push_back(parse_kv(e));
  return out;
}

std::int64_t header_revision(const json& j) {
  auto h = j.find("header");
  return h == j.end() || !h->is_object() ? 0 : i64(*h, "revision");
}

const char* target_name(etcd_compare::target t) {
  switch (t) {
    case etcd_compare::target::create_revision:
      return "CREATE";
    case etcd_compare::target::mod_revision:
      return "MOD";
    case etcd_compare::target::version:
      return "VERSION";
    case etcd_compare::target::value:
      return "VALUE";
  }
  return "MOD";
}

json compare_json(const etcd_compare& c) {
  json j = {{"key", base64_encode(c.key)}, {"target", target_name(c.what)}, {"result", "EQUAL"}};
  switch (c.what) {
    case etcd_compare::target::create_revision:
      j["create_revision"] = std::to_string(c.number);
      break;
    case etcd_compare::target::mod_revision:
      j["mod_revision"] = std::to_string(c.number);
      break;
    case etcd_compare::target::version:
      j["version"] = std::to_string(c.number);
      break;
    case etcd_compare::target::value:
      j["value"] = base64_encode(c.value);
      break;
  }
  return j;
}

json op_json(const etcd_op& op) {
  switch (op.what) {
    case etcd_op::kind::put: {
      json p = {{"key", base64_encode(op.key)}, {"value", base64_encode(op.value)}};
      if (op.lease != 0) p["lease"] = std::to_string(op.lease);
      return {{"request_put", p}};
    }
    case etcd_op::kind::del:
      return {{"request_delete_range", {{"key", base64_encode(op.key)}}}};
    case etcd_op::kind::range:
      return {{"request_range", {{"key", base64_encode(op.key)}}}};
  }
  return {};
}

}  // namespace

// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann::json's moves check invariants only.
struct etcd_client::reply {
  etcd_status status;
  json body;
};

etcd_client::etcd_client(std::vector<std::string> endpoints) : _endpoints(std::move(endpoints)) {
  for (auto& e : _endpoints)
    if (e.find("://") == std::string::npos) e.insert(0, "http://");
}

etcd_client::~etcd_client() = default;

const std::string& etcd_client::current_endpoint() const {
  static const std::string none;
  return _endpoints.empty() ? none : _endpoints[_current];
}

etcd_client::reply etcd_client::call(const std::string& path, const std::string& body,
                                     duration deadline) {
  const auto until = clock_type::now() + deadline;
  reply r;
  r.status = {etcd_code::unreachable, "no etcd endpoint configured"};
  for (std::size_t tried = 0; tried < _endpoints.size(); ++tried) {
    const auto left =
        std::chrono::duration_cast<std::chrono::microseconds>(until - clock_type::now());
    if (left.count() <= 0) {
      r.status = {etcd_code::unreachable, current_endpoint() + ": deadline passed"};
      return r;
    }
    // Share what is left among the endpoints still to try, so one that hangs (accepts,
    // never answers) cannot use up the whole deadline.
    const auto share = left / static_cast<long>(_endpoints.size() - tried);
    const std::string& endpoint = _endpoints[_current];
    httplib::Client http(endpoint);
    http.set_connection_timeout(share);
    http.set_read_timeout(share);
    http.set_write_timeout(share);
    // etcd's gateway ends error replies with an HTTP trailer (Grpc-Trailer-Content-Type)
    // that cpp-httplib 0.11 cannot parse: it then reports a read error after the whole
    // body has arrived. So take the status from the headers and the body as it streams,
    // and judge the reply by them.
    httplib::Request req;
    req.method = "POST";
    req.path = path;
    req.body = body;
    req.set_header("Content-Type", "application/json");
    int status = 0;
    std::string text;
    req.response_handler = [&status](const httplib::Response& h) {
      status = h.status;
      return true;
    };
    req.content_receiver = [&text](const char* data, std::size_t len, std::uint64_t,
                                   std::uint64_t) {
      if (text.size() + len > kMaxReply) return false;
      text.append(data, len);
      return true;
    };
    httplib::Response res;
    httplib::Error failure = httplib::Error::Success;
    const bool sent = http.send(req, res, failure);
    if (status == 0 || (!sent && (text.empty() || !json::accept(text)))) {
      r.status = {etcd_code::unreachable, endpoint + path + ": " + httplib::to_string(failure)};
      _current = (_current + 1) % _endpoints.size();
      continue;
    }
    try {
      r.body = json::parse(text);
    } catch (const std::exception& e) {
      r.status = {etcd_code::error,
                  endpoint + path + ": HTTP " + std::to_string(status) + ", reply is not JSON"};
      return r;
    }
    // A unary error: {"error","message","code"}; a stream error: {"error":{"grpc_code",...}}.
    const json* err = nullptr;
    int code = 0;
    std::string message;
    if (r.body.is_object() && r.body.contains("error")) {
      err = &r.body["error"];
      if (err->is_object()) {
        code = err->value("grpc_code", 0);
        message = err->value("message", "");
      } else {
        code = r.body.value("code", 0);
        message = r.body.value("message", err->is_string() ? err->get<std::string>() : "");
      }
    } else if (status != 200) {
      message = "HTTP " + std::to_string(status);
    }
    if (err == nullptr && status == 200) {
      r.status = {};
      return r;
    }
    std::string detail = endpoint;
    detail.append(path).append(": ").append(message);
    if (code == kGrpcUnavailable || code == kGrpcDeadlineExceeded) {
      r.status = {etcd_code::unreachable, detail};  // e.g. no leader: try another member
      _current = (_current + 1) % _endpoints.size();
      continue;
    }
    r.status = {code == kGrpcNotFound ? etcd_code::not_found : etcd_code::error, detail};
    return r;
  }
  return r;
}

lease_grant_result etcd_client::lease_grant(std::int64_t ttl_s, duration deadline) {
  lease_grant_result out;
  auto r = call("/v3/lease/grant", json{{"TTL", std::to_string(ttl_s)}}.dump(), deadline);
  out.status = r.status;
  if (!r.status.ok()) return out;
  try {
    out.id = i64(r.body, "ID");
    out.ttl_s = i64(r.body, "TTL");
    if (out.id == 0 || out.ttl_s <= 0)
      out.status = {etcd_code::error, "lease grant: " + r.body.dump()};
  } catch (const std::exception& e) {
    out.status = {etcd_code::error, std::string("lease grant: ") + e.what()};
  }
  return out;
}

lease_keepalive_result etcd_client::lease_keepalive(std::int64_t id, duration deadline) {
  lease_keepalive_result out;
  // A bidirectional stream in gRPC; through the gateway one request body gives one
  // {"result":{...}} and the stream ends.
  auto r = call("/v3/lease/keepalive", json{{"ID", std::to_string(id)}}.dump(), deadline);
  out.status = r.status;
  if (r.status.code == etcd_code::not_found) {
    out.status = {};  // the lease is gone: alive() is false
    return out;
  }
  if (!r.status.ok()) return out;
  try {
    auto res = r.body.find("result");
    if (res == r.body.end() || !res->is_object()) throw std::runtime_error("no result");
    out.ttl_s = i64(*res, "TTL");
  } catch (const std::exception& e) {
    out.status = {etcd_code::error, std::string("lease keepalive: ") + e.what()};
  }
  return out;
}

etcd_status etcd_client::lease_revoke(std::int64_t id, duration deadline) {
  return call("/v3/lease/revoke", json{{"ID", std::to_string(id)}}.dump(), deadline).status;
}

range_result etcd_client::get(const std::string& key, duration deadline) {
  range_result out;
  auto r = call("/v3/kv/range", json{{"key", base64_encode(key)}}.dump(), deadline);
  out.status = r.status;
  if (!r.status.ok()) return out;
  try {
    out.revision = header_revision(r.body);
    out.kvs = parse_kvs(r.body);
  } catch (const std::exception& e) {
    out.status = {etcd_code::error, std::string("range: ") + e.what()};
  }
  return out;
}

range_result etcd_client::get_prefix(const std::string& prefix, duration deadline) {
  range_result out;
  auto r = call(
      "/v3/kv/range",
      json{{"key", base64_encode(prefix)}, {"range_end", base64_encode(prefix_end(prefix))}}.dump(),
      deadline);
  out.status = r.status;
  if (!r.status.ok()) return out;
  try {
    out.revision = header_revision(r.body);
    out.kvs = parse_kvs(r.body);
  } catch (const std::exception& e) {
    out.status = {etcd_code::error, std::string("range: ") + e.what()};
  }
  return out;
}

etcd_status etcd_client::put(const std::string& key, const std::string& value, std::int64_t lease,
                             duration deadline) {
  json j = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) j["lease"] = std::to_string(lease);
  return call("/v3/kv/put", j.dump(), deadline).status;
}

txn_result etcd_client::txn(const std::vector<etcd_compare>& compare,
                            const std::vector<etcd_op>& success,
                            const std::vector<etcd_op>& failure, duration deadline) {
  json j = {{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const auto& c : compare) j["compare"].push_back(compare_json(c));
  for (const auto& o : success) j["success"].push_back(op_json(o));
  for (const auto& o : failure) j["failure"].push_back(op_json(o));
  txn_result out;
  auto r = call("/v3/kv/txn", j.dump(), deadline);
  out.status = r.status;
  if (!r.status.ok()) return out;
  try {
    out.succeeded = r.body.value("succeeded", false);
    out.revision = header_revision(r.body);
    auto responses = r.body.find("responses");
    if (responses != r.body.end() && responses->is_array())
      for (const auto& resp : *responses) {
        auto range = resp.find("response_range");
        if (range == resp.end()) continue;
        auto kvs = parse_kvs(*range);
        out.ranged.push_back(kvs.empty() ? std::nullopt : std::optional<etcd_kv>(kvs.front()));
      }
  } catch (const std::exception& e) {
    out.status = {etcd_code::error, std::string("txn: ") + e.what()};
  }
  return out;
}

}  // namespace anvil::cluster

namespace anvil::cluster {

member_status_result etcd_client::member_status(duration deadline) {
  member_status_result out;
  auto r = call("/v3/maintenance/status", "{}", deadline);
  out.status = r.status;
  if (!r.status.ok()) return out;
  try {
    auto h = r.body.find("header");
    if (h == r.body.end() || !h->is_object()) throw std::runtime_error("no header");
    out.member_id = static_cast<std::uint64_t>(std::stoull(h->value("member_id", "0")));
    out.raft_term = i64(*h, "raft_term");
    out.leader = static_cast<std::uint64_t>(std::stoull(r.body.value("leader", "0")));
  } catch (const std::exception& e) {
    out.status = {etcd_code::error, std::string("status: ") + e.what()};
  }
  return out;
}

}  // namespace anvil::cluster
