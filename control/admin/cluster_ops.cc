#include "control/admin/cluster_ops.h"

#include <chrono>

namespace anvil::control::admin {

using cluster::operator_request;
using cluster::operator_result;
using nlohmann::json;

namespace {

constexpr std::int64_t kMaxTimeoutMs = 60000;

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  return true;
}

json_reply bad(const std::string& why) {
  return {400, {{"error", "bad_request"}, {"reason", why}}};
}

}  // namespace

std::optional<operator_request> parse_operator_request(operator_request::kind k,
                                                       const std::string& body, std::string& why) {
  json j = body.empty() ? json::object() : json::parse(body, nullptr, false);
  if (!j.is_object()) {
    why = "body is not a JSON object";
    return std::nullopt;
  }
  operator_request r{.what = k};
  const char* node_field = k == operator_request::kind::failover ? "to" : "node";
  auto field_name = [&](const char* f, std::string& out) {
    auto it = j.find(f);
    if (it == j.end()) {
      why = std::string(f) + ": required";
      return false;
    }
    if (!it->is_string() || !valid_name(it->get<std::string>())) {
      why = std::string(f) + ": must be a name of 1..32 of A-Z a-z 0-9 . _ -";
      return false;
    }
    out = it->get<std::string>();
    return true;
  };
  if (k == operator_request::kind::failover && !field_name("shard", r.shard)) return std::nullopt;
  if (!field_name(node_field, r.node)) return std::nullopt;
  if (auto it = j.find("force"); it != j.end()) {
    if (!it->is_boolean()) {
      why = "force: must be true or false";
      return std::nullopt;
    }
    r.force = it->get<bool>();
  }
  if (auto it = j.find("timeout_ms"); it != j.end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 1 ||
        it->get<std::int64_t>() > kMaxTimeoutMs) {
      why = "timeout_ms: must be an integer from 1 to " + std::to_string(kMaxTimeoutMs);
      return std::nullopt;
    }
    r.timeout_ms = it->get<std::int64_t>();
  }
  return r;
}

std::string admin_address_text(const std::string& host, std::uint16_t port) {
  if (host.empty() || port == 0) return "";
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

json_reply operator_reply(const operator_result& r, const forward_hint& hint) {
  int status = 200;
  switch (r.outcome) {
    case operator_result::code::done:
      status = 200;
      break;
    case operator_result::code::refused:
    case operator_result::code::busy:
      status = 409;
      break;
    case operator_result::code::not_here:
      status = 421;  // Misdirected Request: send it to the node named in "primary"
      break;
    case operator_result::code::timed_out:
    case operator_result::code::failed:
      status = 503;
      break;
  }
  json body = {{"outcome", cluster::to_string(r.outcome)},
               {"message", r.message},
               {"problems", r.problems},
               {"risks", r.risks},
               {"primary", r.primary},
               {"epoch", r.epoch}};
  if (status != 200) {
    body["error"] = cluster::to_string(r.outcome);
    body["reason"] = r.message;
  }
  if (status == 421) {
    body["node"] = hint.node;
    body["shard"] = hint.shard;
    body["primary_admin"] =
        !r.primary.empty() && hint.admin_address ? hint.admin_address(r.primary) : std::string();
  }
  return {status, body};
}

json_endpoint cluster_op_endpoint(operator_request::kind k, cluster_submit submit,
                                  std::int64_t wait_extra_ms, forward_hint hint) {
  return [k, submit = std::move(submit), wait_extra_ms,
          hint = std::move(hint)](const std::string& body) -> json_reply {
    if (!submit)
      return {404,
              {{"error", "cluster_not_configured"},
               {"reason", "this node has no [cluster] node_id: high availability is off"}}};
    std::string why;
    auto req = parse_operator_request(k, body, why);
    if (!req) return bad(why);
    const auto bound = std::chrono::milliseconds(req->timeout_ms + wait_extra_ms);
    auto f = submit(*req);
    if (f.wait_for(bound) != std::future_status::ready)
      return {504,
              {{"error", "cluster_timeout"},
               {"reason", "no outcome within " + std::to_string(bound.count()) +
                              " ms; the action may still complete: check GET /v1/cluster"}}};
    return operator_reply(f.get(), hint);
  };
}

}  // namespace anvil::control::admin
