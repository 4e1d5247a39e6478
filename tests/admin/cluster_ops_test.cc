// POST /v1/cluster/failover | promote | demote (control/admin/cluster_ops.h): bodies
// parsed strictly with one refusal per rule, each outcome's status and JSON, the bound
// on waiting for the agent, 404 without [cluster], and the token required through a real
// admin_server (the endpoints are registered as mutating, as control/main.cc does).
#include "control/admin/cluster_ops.h"

#include <gtest/gtest.h>

#include "tests/admin/admin_fixture.h"

namespace anvil::control::admin::testing {
namespace {

using cluster::operator_request;
using cluster::operator_result;
using json = nlohmann::json;
using kind = operator_request::kind;

std::string refusal(kind k, const std::string& body) {
  std::string why;
  return parse_operator_request(k, body, why) ? "accepted" : why;
}

TEST(ClusterOps, BodiesParseWithDefaults) {
  std::string why;
  auto r = parse_operator_request(kind::failover, R"({"shard": "s1", "to": "b"})", why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->what, kind::failover);
  EXPECT_EQ(r->shard, "s1");
  EXPECT_EQ(r->node, "b");
  EXPECT_FALSE(r->force);
  EXPECT_EQ(r->timeout_ms, 5000);
  r = parse_operator_request(
      kind::promote, R"({"node": "c-2.x_y", "force": true, "timeout_ms": 60000, "extra": 1})", why);
  ASSERT_TRUE(r) << why << " (unknown fields are ignored, as everywhere in the API)";
  EXPECT_TRUE(r->force);
  EXPECT_EQ(r->timeout_ms, 60000);
  EXPECT_EQ(r->node, "c-2.x_y");
  r = parse_operator_request(kind::demote, R"({"node": "a", "timeout_ms": 1})", why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->timeout_ms, 1);
}

TEST(ClusterOps, EveryMalformedBodyIsRefusedNamingTheField) {
  EXPECT_EQ(refusal(kind::promote, "[1]"), "body is not a JSON object");
  EXPECT_EQ(refusal(kind::promote, "{nope"), "body is not a JSON object");
  EXPECT_EQ(refusal(kind::promote, ""), "node: required") << "an empty body is {}";
  EXPECT_EQ(refusal(kind::failover, R"({"to": "b"})"), "shard: required");
  EXPECT_EQ(refusal(kind::failover, R"({"shard": "s1"})"), "to: required");
  EXPECT_EQ(refusal(kind::failover, R"({"shard": "s1", "node": "b"})"), "to: required")
      << "failover names its target `to`";
  for (const char* bad :
       {R"({"node": ""})", R"({"node": 7})", R"({"node": "a b"})", R"({"node": "a/b"})",
        R"({"node": null})", R"({"node": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})"})
    EXPECT_NE(refusal(kind::demote, bad).find("node: must be a name"), std::string::npos) << bad;
  EXPECT_EQ(refusal(kind::demote, R"({"node": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})"), "accepted")
      << "32 characters is the limit";
  EXPECT_EQ(refusal(kind::promote, R"({"node": "b", "force": "yes"})"),
            "force: must be true or false");
  for (const char* t : {"0", "-1", "60001", "1.5", "\"5\"", "9223372036854775807"})
    EXPECT_NE(refusal(kind::promote, std::string(R"({"node": "b", "timeout_ms": )") + t + "}")
                  .find("timeout_ms: must be an integer from 1 to 60000"),
              std::string::npos)
        << t;
}

TEST(ClusterOps, EachOutcomeHasItsStatus) {
  const std::pair<operator_result::code, int> cases[] = {
      {operator_result::code::done, 200},      {operator_result::code::refused, 409},
      {operator_result::code::busy, 409},      {operator_result::code::not_here, 421},
      {operator_result::code::timed_out, 503}, {operator_result::code::failed, 503}};
  for (auto [c, status] : cases) {
    const json_reply r = operator_reply({.outcome = c,
                                         .message = "m",
                                         .problems = {"p"},
                                         .risks = {"r"},
                                         .primary = "a",
                                         .epoch = 3});
    EXPECT_EQ(r.status, status) << cluster::to_string(c);
    EXPECT_EQ(r.body["outcome"], cluster::to_string(c));
    EXPECT_EQ(r.body["problems"], json::array({"p"}));
    EXPECT_EQ(r.body["risks"], json::array({"r"}));
    EXPECT_EQ(r.body["primary"], "a");
    EXPECT_EQ(r.body["epoch"], 3);
    EXPECT_EQ(r.body.contains("error"), status != 200) << "errors follow the API's convention";
  }
}

TEST(ClusterOps, ANotHereAnswerNamesThisNodeAndThePrimarysAdminAddress) {
  std::vector<std::string> asked;
  const forward_hint hint{"b", "s1", [&asked](const std::string& node) {
                            asked.push_back(node);
                            return node == "a" ? std::string("10.1.0.1:11311") : std::string();
                          }};
  const operator_result here{.outcome = operator_result::code::not_here,
                             .message =
                                 "b is not the primary; a switchover runs on it (the "
                                 "primary is a)",
                             .primary = "a",
                             .epoch = 4};
  json_reply r = operator_reply(here, hint);
  EXPECT_EQ(r.status, 421);
  EXPECT_EQ(r.body["node"], "b");
  EXPECT_EQ(r.body["shard"], "s1");
  EXPECT_EQ(r.body["primary"], "a");
  EXPECT_EQ(r.body["primary_admin"], "10.1.0.1:11311");
  EXPECT_EQ(asked, std::vector<std::string>{"a"});
  // A primary that is not a configured peer, no primary at all, no hint: "" (the key is
  // always there in a 421), and no lookup for an empty name.
  operator_result other = here;
  other.primary = "z";
  EXPECT_EQ(operator_reply(other, hint).body["primary_admin"], "");
  other.primary = "";
  asked.clear();
  EXPECT_EQ(operator_reply(other, hint).body["primary_admin"], "");
  EXPECT_TRUE(asked.empty());
  r = operator_reply(here);
  EXPECT_EQ(r.body["primary_admin"], "");
  EXPECT_EQ(r.body["node"], "");
  // Only a 421 carries the forwarding fields.
  for (auto c : {operator_result::code::done, operator_result::code::refused,
                 operator_result::code::timed_out}) {
    other = here;
    other.outcome = c;
    r = operator_reply(other, hint);
    EXPECT_FALSE(r.body.contains("primary_admin")) << cluster::to_string(c);
    EXPECT_FALSE(r.body.contains("node")) << cluster::to_string(c);
  }
}

TEST(ClusterOps, AdminAddressText) {
  EXPECT_EQ(admin_address_text("10.1.0.1", 11311), "10.1.0.1:11311");
  EXPECT_EQ(admin_address_text("10.1.0.1", 1), "10.1.0.1:1");
  EXPECT_EQ(admin_address_text("10.1.0.1", 65535), "10.1.0.1:65535");
  EXPECT_EQ(admin_address_text("fd00::1", 11311), "[fd00::1]:11311");
  EXPECT_EQ(admin_address_text("", 11311), "") << "a node that is not a configured peer";
  EXPECT_EQ(admin_address_text("10.1.0.1", 0), "") << "[admin] port 0: any free port";
}

std::future<operator_result> ready(operator_result r) {
  std::promise<operator_result> p;
  p.set_value(std::move(r));
  return p.get_future();
}

TEST(ClusterOps, TheEndpointHandsTheRequestOverAndBoundsTheWait) {
  operator_request seen;
  auto ep = cluster_op_endpoint(
      kind::failover,
      [&seen](operator_request r) {
        seen = r;
        return ready({.outcome = operator_result::code::done, .primary = "b", .epoch = 9});
      },
      0);
  json_reply r = ep(R"({"shard": "s1", "to": "b", "timeout_ms": 250})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body["epoch"], 9);
  EXPECT_EQ(seen.node, "b");
  EXPECT_EQ(seen.timeout_ms, 250);
  EXPECT_EQ(ep(R"({"shard": "s1"})").status, 400);

  // An agent that never answers: 504 after timeout_ms + the extra, not a hang.
  std::promise<operator_result> never;
  auto stuck = cluster_op_endpoint(
      kind::demote, [&never](operator_request) { return never.get_future(); }, 10);
  r = stuck(R"({"node": "a", "timeout_ms": 20})");
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.body["error"], "cluster_timeout");

  // The endpoint answers a 421 with its hint.
  auto elsewhere = cluster_op_endpoint(
      kind::failover,
      [](operator_request) {
        return ready({.outcome = operator_result::code::not_here, .primary = "a", .epoch = 2});
      },
      0, {"c", "s1", [](const std::string& n) { return "10.1.0.9:" + n; }});
  r = elsewhere(R"({"shard": "s1", "to": "b"})");
  EXPECT_EQ(r.status, 421);
  EXPECT_EQ(r.body["node"], "c");
  EXPECT_EQ(r.body["primary_admin"], "10.1.0.9:a");

  auto off = cluster_op_endpoint(kind::promote, {}, 0);
  r = off(R"({"node": "a"})");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"], "cluster_not_configured");
}

TEST(ClusterOps, ThroughTheAdminServerTheTokenIsRequired) {
  fake_node node;
  admin_server server(test_config(), node.view, std::string(kToken));
  int calls = 0;
  ASSERT_TRUE(server.add_endpoint("POST", "/v1/cluster/promote", true,
                                  cluster_op_endpoint(
                                      kind::promote,
                                      [&calls](operator_request) {
                                        ++calls;
                                        return ready({.outcome = operator_result::code::refused,
                                                      .problems = {"b is dead"}});
                                      },
                                      0)));
  server.start({});
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(5);
  auto r = c.Post("/v1/cluster/promote", R"({"node": "b"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(calls, 0);
  r = c.Post("/v1/cluster/promote", {{"Authorization", std::string("Bearer ") + kToken}},
             R"({"node": "b"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409) << r->body;
  EXPECT_EQ(json::parse(r->body)["problems"], json::array({"b is dead"}));
  EXPECT_EQ(calls, 1);
  server.stop();
}

}  // namespace
}  // namespace anvil::control::admin::testing
