// anvilctl's HA commands (peers, failover, promote, demote) against fake_admin: the
// table built from GET /v1/cluster (lag against the primary, peers never heard from),
// the request bodies on the wire, and what each outcome prints and exits with: done 0,
// refused / not here / timed out 1 with the node's reasons and --force's risks, a bad
// request 2, a missing token 4.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/anvilctl/fake_admin.h"
#include "tests/anvilctl/run_ctl.h"
#include "tests/support/temp_dir.h"

namespace {

using anvil::test::ctl_run;
using anvil::test::fake_admin;
using anvil::test::run_ctl;
using nlohmann::json;

// The shape of GET /v1/cluster (control/admin/cluster_status.cc), trimmed.
constexpr const char* kCluster = R"J({"node": "b", "zone": "dc1", "shard": "s1",
  "role": "replica", "epoch": 0, "replication_position": 90,
  "shard_state": {"primary": "a", "epoch": 4, "zone": "dc1"},
  "vip": {"address": "198.18.0.100", "held": false, "remaining_ms": 0, "takes": 2},
  "health": {"level": "ok", "reasons": [], "canary_p99_us": 80},
  "peers": [
    {"node": "a", "address": "10.1.0.1", "state": "alive", "seen": true, "age_ms": 40,
     "role": "primary", "health": "ok", "reasons": [], "zone": "dc1", "shard": "s1",
     "epoch": 4, "replication_position": 100},
    {"node": "c", "address": "10.1.0.3", "state": "suspect", "seen": true, "age_ms": 900,
     "role": "replica", "health": "degraded", "reasons": ["canary_slow"], "zone": "dc2",
     "shard": "s1", "epoch": 0, "replication_position": 100},
    {"node": "d", "address": "10.1.0.4", "state": "unknown", "seen": false, "age_ms": -1,
     "role": null, "health": null}]})J";

std::string token(const anvil::test::temp_dir& d) {
  std::string p = d.path() + "/token";
  std::ofstream(p) << "s3cret\n";
  return p;
}

TEST(AnvilctlCluster, PeersShowsRolesZonesHealthAndLagBehindThePrimary) {
  fake_admin srv;
  srv.on("GET /v1/cluster", fake_admin::answer{200, kCluster});
  ctl_run r = run_ctl({"--server", srv.address(), "peers"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("shard s1  primary a  epoch 4  zone dc1  vip 198.18.0.100"),
            std::string::npos)
      << r.out;
  // b is 10 behind a; a is the primary (lag 0); c is at a's position; d never heard.
  EXPECT_NE(r.out.find("b (this)"), std::string::npos) << r.out;
  for (const char* s : {"replica", "primary", "degraded (canary_slow)", "suspect", "never"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  std::istringstream lines(r.out);
  std::string line;
  int checked = 0;
  while (std::getline(lines, line)) {
    if (line.starts_with("b (this)")) {
      EXPECT_NE(line.find(" 90 "), std::string::npos) << line;
      EXPECT_NE(line.find(" 10 "), std::string::npos) << "lag: " << line;
      ++checked;
    }
    if (line.starts_with("d ")) {
      EXPECT_NE(line.find("never"), std::string::npos) << line;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2) << r.out;
  r = run_ctl({"--server", srv.address(), "--json", "peers"});
  ASSERT_EQ(r.rc, 0);
  EXPECT_EQ(json::parse(r.out), json::parse(kCluster));
}

TEST(AnvilctlCluster, PeersOnANodeWithoutClusterIsAnErrorWithTheReason) {
  fake_admin srv;
  srv.on("GET /v1/cluster", fake_admin::answer{404, R"J({"error": "cluster_not_configured",
           "reason": "this node has no [cluster] node_id: high availability is off"})J"});
  ctl_run r = run_ctl({"--server", srv.address(), "peers"});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("high availability is off"), std::string::npos) << r.err;
  // An odd body (peers not a list, numbers as strings) prints what it can, no crash.
  srv.on("GET /v1/cluster", fake_admin::answer{200, R"J({"node": "x", "peers": 7,
    "replication_position": "many", "shard_state": [], "vip": null})J"});
  r = run_ctl({"--server", srv.address(), "peers"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("x (this)"), std::string::npos) << r.out;
}

TEST(AnvilctlCluster, FailoverSendsTheRequestAndReportsTheNewPrimary) {
  fake_admin srv;
  anvil::test::temp_dir d("anvilctl-cluster");
  srv.on("POST /v1/cluster/failover",
         fake_admin::answer{200, R"J({"outcome": "done", "message": "b is primary at epoch 5",
           "problems": [], "risks": [], "primary": "b", "epoch": 5})J"});
  ctl_run r = run_ctl({"--server", srv.address(), "--token-file", token(d), "failover", "s1",
                       "--to", "b", "--wait-ms", "2000"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("done: b is primary at epoch 5"), std::string::npos) << r.out;
  EXPECT_EQ(srv.seen().back().authorization, "Bearer s3cret");
  EXPECT_EQ(json::parse(srv.seen().back().body),
            (json{{"shard", "s1"}, {"to", "b"}, {"force", false}, {"timeout_ms", 2000}}));
}

TEST(AnvilctlCluster, ATimedOutSwitchoverExitsOneWithTheReason) {
  fake_admin srv;
  srv.on("POST /v1/cluster/failover",
         fake_admin::answer{503, R"J({"outcome": "timed_out", "error": "timed_out",
           "reason": "x", "message": "switchover to b timed out (b is alive, replica, ok, at position 99 (ours 100))",
           "problems": [], "risks": [], "primary": "a", "epoch": 4})J"});
  ctl_run r = run_ctl({"--server", srv.address(), "failover", "s1", "--to", "b"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("timed_out: switchover to b timed out"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("position 99 (ours 100)"), std::string::npos) << r.out;
}

TEST(AnvilctlCluster, ARefusedPromoteListsTheProblemsAndForceListsTheRisks) {
  fake_admin srv;
  srv.on("POST /v1/cluster/promote", [](const httplib::Request& req) {
    const json b = json::parse(req.body);
    if (!b.value("force", false))
      return fake_admin::answer{409, R"J({"outcome": "refused", "error": "refused", "reason": "x",
        "message": "promoting c refused", "problems": ["c is degraded (canary_slow)",
        "c is in zone dc2 but the VIP's segment is zone dc1"], "risks": [], "primary": "a",
        "epoch": 4})J"};
    return fake_admin::answer{200, R"J({"outcome": "done", "message": "c is primary at epoch 5",
      "problems": ["c is in zone dc2 but the VIP's segment is zone dc1"],
      "risks": ["the VIP moves to zone dc2, outside its L2 segment: clients reach it only after a routing or DNS change to zone dc2",
                "writes acknowledged here but not yet replicated to c (up to 3 positions) are lost"],
      "primary": "c", "epoch": 5})J"};
  });
  ctl_run r = run_ctl({"--server", srv.address(), "promote", "c"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("refused: promoting c refused"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("problem: c is degraded (canary_slow)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--force overrides"), std::string::npos) << r.out;
  r = run_ctl({"--server", srv.address(), "promote", "c", "--force"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("risked (--force)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("DNS change"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("are lost"), std::string::npos) << r.out;
  EXPECT_EQ(json::parse(srv.seen().back().body),
            (json{{"node", "c"}, {"force", true}, {"timeout_ms", 5000}}));
}

TEST(AnvilctlCluster, DemoteOnAReplicaNamesThePrimary) {
  fake_admin srv;
  srv.on("POST /v1/cluster/demote",
         fake_admin::answer{421, R"J({"outcome": "not_here", "error": "not_here", "reason": "x",
           "message": "demote runs on the node being demoted (the primary is a)",
           "problems": [], "risks": [], "primary": "a", "epoch": 4})J"});
  ctl_run r = run_ctl({"--server", srv.address(), "demote", "a", "--no-follow"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("not here: demote runs on the node being demoted"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("run it against a's admin address"), std::string::npos) << r.out;
  ASSERT_FALSE(srv.seen().empty());
  EXPECT_EQ(json::parse(srv.seen().back().body), (json{{"node", "a"}, {"timeout_ms", 5000}}));
}

// --- Forwarding to the primary (tools/anvilctl/forward.h) -------------------------------

// A 421 from node `from` of shard s1 naming `primary` at `admin` (control/admin/cluster_ops.cc).
std::string not_here(const std::string& from, const std::string& primary,
                     const std::string& admin) {
  return json{{"outcome", "not_here"},
              {"error", "not_here"},
              {"reason", "x"},
              {"message", from + " is not the primary; a switchover runs on it (the primary is " +
                              primary + ")"},
              {"problems", json::array()},
              {"risks", json::array()},
              {"primary", primary},
              {"epoch", 4},
              {"node", from},
              {"shard", "s1"},
              {"primary_admin", admin}}
      .dump();
}

std::string cluster_of(const std::string& node, const std::string& shard) {
  return json{{"node", node}, {"shard", shard}, {"role", "primary"}, {"peers", json::array()}}
      .dump();
}

constexpr const char* kDone = R"J({"outcome": "done", "message": "c is primary at epoch 5",
  "problems": [], "risks": [], "primary": "c", "epoch": 5})J";

std::size_t count(fake_admin& srv, const std::string& method, const std::string& path) {
  std::size_t n = 0;
  for (const auto& r : srv.seen()) n += r.method == method && r.path == path ? 1 : 0;
  return n;
}

TEST(AnvilctlCluster, AnActionSentToAReplicaIsForwardedOnceToThePrimary) {
  anvil::test::temp_dir d("anvilctl-cluster");
  fake_admin primary, replica;
  replica.on("POST /v1/cluster/failover",
             fake_admin::answer{421, not_here("b", "a", primary.address())});
  primary.on("GET /v1/cluster", fake_admin::answer{200, cluster_of("a", "s1")});
  primary.on("POST /v1/cluster/failover", fake_admin::answer{200, kDone});
  ctl_run r = run_ctl(
      {"--admin", replica.address(), "--token-file", token(d), "failover", "s1", "--to", "c"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("done: c is primary at epoch 5"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("b (" + replica.address() + ") is not the primary of shard s1; " +
                       "forwarded to the primary a at " + primary.address()),
            std::string::npos)
      << r.err;
  // The primary was asked who it is without the token, then got the same POST with it.
  const auto seen = primary.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method + " " + seen[0].path, "GET /v1/cluster");
  EXPECT_EQ(seen[0].authorization, "");
  EXPECT_EQ(seen[1].method + " " + seen[1].path, "POST /v1/cluster/failover");
  EXPECT_EQ(seen[1].authorization, "Bearer s3cret");
  EXPECT_EQ(json::parse(seen[1].body), json::parse(replica.seen().back().body));
  EXPECT_EQ(replica.seen().size(), 1u);

  // The same for promote and demote, and --json prints the primary's answer.
  for (const char* cmd : {"promote", "demote"}) {
    replica.on(std::string("POST /v1/cluster/") + cmd,
               fake_admin::answer{421, not_here("b", "a", primary.address())});
    primary.on(std::string("POST /v1/cluster/") + cmd, fake_admin::answer{200, kDone});
    r = run_ctl({"--server", replica.address(), "--json", cmd, "a"});
    EXPECT_EQ(r.rc, 0) << cmd << ": " << r.err;
    EXPECT_EQ(json::parse(r.out)["primary"], "c") << cmd;
    EXPECT_NE(r.err.find("forwarded to the primary a"), std::string::npos) << r.err;
  }
}

TEST(AnvilctlCluster, NoFollowPrintsTheAnswerWithThePrimarysAddress) {
  fake_admin primary, replica;
  replica.on("POST /v1/cluster/failover",
             fake_admin::answer{421, not_here("b", "a", primary.address())});
  ctl_run r =
      run_ctl({"--server", replica.address(), "failover", "s1", "--to", "c", "--no-follow"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("not here: b is not the primary"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("run it against a's admin address (" + primary.address() + ")"),
            std::string::npos)
      << r.out;
  EXPECT_TRUE(primary.seen().empty());
  EXPECT_EQ(r.err.find("forwarded"), std::string::npos) << r.err;
}

TEST(AnvilctlCluster, ASecondNotHereIsAnErrorNamingBothNodesNeverALoop) {
  anvil::test::temp_dir d("anvilctl-cluster");
  fake_admin a, b;
  // b names a; a (no longer primary) names b: a loop if followed.
  b.on("POST /v1/cluster/failover", fake_admin::answer{421, not_here("b", "a", a.address())});
  a.on("GET /v1/cluster", fake_admin::answer{200, cluster_of("a", "s1")});
  a.on("POST /v1/cluster/failover", fake_admin::answer{421, not_here("a", "b", b.address())});
  ctl_run r =
      run_ctl({"--server", b.address(), "--token-file", token(d), "failover", "s1", "--to", "c"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("a at " + a.address() + " is not where this runs either"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("it names b"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("after b at " + b.address() + " named a"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not following a second time"), std::string::npos) << r.err;
  EXPECT_EQ(count(b, "POST", "/v1/cluster/failover"), 1u);
  EXPECT_EQ(count(a, "POST", "/v1/cluster/failover"), 1u);
}

TEST(AnvilctlCluster, MalformedNotHereAnswersAreClearErrorsAndNothingIsForwarded) {
  anvil::test::temp_dir d("anvilctl-cluster");
  fake_admin primary, replica;
  primary.on("GET /v1/cluster", fake_admin::answer{200, cluster_of("a", "s1")});
  primary.on("POST /v1/cluster/failover", fake_admin::answer{200, kDone});
  struct bad_case {
    std::string body, error;
  };
  const std::string self = replica.address();
  const bad_case cases[] = {
      {not_here("b", "", primary.address()), "is not where this runs and names no primary"},
      {"{\"outcome\": \"not_here\", \"primary\": ", "not JSON (HTTP 421"},
      {"garbage", "not JSON (HTTP 421"},
      {"[1, 2]", "with a body that is not a JSON object"},
      {"42", "with a body that is not a JSON object"},
      {not_here("b", "b", primary.address()), "names itself as the primary"},
      {not_here("b", "a", "nonsense:99999"), "gives 'nonsense:99999' as the admin address of a"},
      {not_here("b", "a", "[::1"), "gives '[::1' as the admin address of a"},
      {not_here("b", "a", self), "as the primary at its own address"},
      {[&] {
         json j = json::parse(not_here("b", "a", primary.address()));
         j["primary"] = 7;
         return j.dump();
       }(),
       "names no primary"},
  };
  for (const auto& c : cases) {
    replica.on("POST /v1/cluster/failover", fake_admin::answer{421, c.body});
    ctl_run r = run_ctl(
        {"--server", replica.address(), "--token-file", token(d), "failover", "s1", "--to", "c"});
    EXPECT_EQ(r.rc, 1) << c.body << "\n" << r.err;
    EXPECT_NE(r.err.find(c.error), std::string::npos) << c.body << "\n" << r.err;
  }
  EXPECT_TRUE(primary.seen().empty()) << "nothing went to the primary";
}

TEST(AnvilctlCluster, ThePrimaryMustSayWhoItIsBeforeTheTokenGoesThere) {
  anvil::test::temp_dir d("anvilctl-cluster");
  fake_admin other, replica;
  replica.on("POST /v1/cluster/failover",
             fake_admin::answer{421, not_here("b", "a", other.address())});
  other.on("POST /v1/cluster/failover", fake_admin::answer{200, kDone});
  // Another node, another shard (another cluster), no cluster at all, not JSON.
  const std::pair<fake_admin::answer, std::string> cases[] = {
      {{200, cluster_of("x", "s1")}, "the node there is 'x' of shard 's1', not a of shard 's1'"},
      {{200, cluster_of("a", "s2")}, "the node there is 'a' of shard 's2', not a of shard 's1'"},
      {{404, R"J({"error": "cluster_not_configured", "reason": "high availability is off"})J"},
       "high availability is off"},
      {{200, "<html>"}, "not JSON"},
      {{200, "[]"}, "the node there is '' of shard ''"},
  };
  for (const auto& [answer, error] : cases) {
    other.on("GET /v1/cluster", answer);
    ctl_run r = run_ctl(
        {"--server", replica.address(), "--token-file", token(d), "failover", "s1", "--to", "c"});
    EXPECT_NE(r.rc, 0) << error;
    EXPECT_NE(r.err.find("forwarding to the primary a at " + other.address()), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find(error), std::string::npos) << r.err;
  }
  EXPECT_EQ(count(other, "POST", "/v1/cluster/failover"), 0u) << "the token never went there";
  for (const auto& s : other.seen()) EXPECT_EQ(s.authorization, "") << s.path;
}

TEST(AnvilctlCluster, APrimaryThatRefusesTheTokenIsExitFourNamingIt) {
  // A node of the cluster whose token file holds another token: refused (4), and the
  // message says which node and why that matters.
  anvil::test::temp_dir d("anvilctl-cluster");
  fake_admin primary, replica;
  replica.on("POST /v1/cluster/failover",
             fake_admin::answer{421, not_here("b", "a", primary.address())});
  primary.on("GET /v1/cluster", fake_admin::answer{200, cluster_of("a", "s1")});
  primary.on("POST /v1/cluster/failover",
             fake_admin::answer{401, R"J({"error": "unauthorized", "reason": "bad token"})J"});
  ctl_run r = run_ctl(
      {"--server", replica.address(), "--token-file", token(d), "failover", "s1", "--to", "c"});
  EXPECT_EQ(r.rc, 4) << r.err;
  EXPECT_NE(r.err.find("the primary a at " + primary.address() + ", forwarded to:"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("one token per cluster"), std::string::npos) << r.err;
}

TEST(AnvilctlCluster, AnUnreachablePrimaryIsExitThreeNamingIt) {
  anvil::test::temp_dir d("anvilctl-cluster");
  std::string gone;
  {
    fake_admin closed;  // a port that was just free and is closed again
    gone = closed.address();
  }
  fake_admin replica;
  replica.on("POST /v1/cluster/failover", fake_admin::answer{421, not_here("b", "a", gone)});
  ctl_run r = run_ctl({"--server", replica.address(), "--token-file", token(d), "--timeout", "1",
                       "failover", "s1", "--to", "c"});
  EXPECT_EQ(r.rc, 3) << r.err;
  EXPECT_NE(r.err.find("forwarding to the primary a at " + gone + " (named by b)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("cannot reach the admin API"), std::string::npos) << r.err;
}

TEST(AnvilctlCluster, AnAnswerWithoutTheAddressFallsBackToTheNodesPeerList) {
  // A server that does not say primary_admin (older): the primary's management address
  // from GET /v1/cluster of the node asked, at the port anvilctl used.
  anvil::test::temp_dir d("anvilctl-cluster");
  fake_admin replica("127.0.0.1");
  fake_admin primary("127.0.0.2", replica.port());
  ASSERT_GT(primary.port(), 0) << "127.0.0.2:" << replica.port() << " is taken";
  const std::string old = R"J({"outcome": "not_here", "error": "not_here", "reason": "x",
    "message": "b is not the primary (the primary is a)", "problems": [], "risks": [],
    "primary": "a", "epoch": 4})J";
  replica.on("POST /v1/cluster/failover", fake_admin::answer{421, old});
  replica.on("GET /v1/cluster", fake_admin::answer{200, R"J({"node": "b", "shard": "s1", "peers": [
               {"node": "c", "address": "127.0.0.3"}, {"node": "a", "address": "127.0.0.2"}]})J"});
  primary.on("GET /v1/cluster", fake_admin::answer{200, cluster_of("a", "s1")});
  primary.on("POST /v1/cluster/failover", fake_admin::answer{200, kDone});
  ctl_run r = run_ctl(
      {"--server", replica.address(), "--token-file", token(d), "failover", "s1", "--to", "c"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("forwarded to the primary a at " + primary.address()), std::string::npos)
      << r.err;
  EXPECT_EQ(count(primary, "POST", "/v1/cluster/failover"), 1u);
  EXPECT_EQ(replica.seen().back().authorization, "") << "the peer list was read without the token";
  // The primary is not among the peers: an error, nothing forwarded.
  replica.on("GET /v1/cluster",
             fake_admin::answer{200, R"J({"node": "b", "shard": "s1", "peers": []})J"});
  r = run_ctl({"--server", replica.address(), "failover", "s1", "--to", "c"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("b (" + replica.address() +
                       ") names a as the primary but gives no admin address for it"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(count(primary, "POST", "/v1/cluster/failover"), 1u);
}

TEST(AnvilctlCluster, BadRequestsAndMissingArgumentsAreUsageErrors) {
  fake_admin srv;
  srv.on("POST /v1/cluster/failover",
         fake_admin::answer{400, R"J({"error": "bad_request", "reason": "to: must be a name"})J"});
  ctl_run r = run_ctl({"--server", srv.address(), "failover", "s1", "--to", "b c"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("to: must be a name"), std::string::npos) << r.err;
  const auto before = srv.seen().size();
  EXPECT_EQ(run_ctl({"--server", srv.address(), "failover", "s1"}).rc, 2) << "--to is required";
  EXPECT_EQ(run_ctl({"--server", srv.address(), "promote"}).rc, 2);
  EXPECT_EQ(run_ctl({"--server", srv.address(), "demote", "a", "--wait-ms", "0"}).rc, 2);
  EXPECT_EQ(run_ctl({"--server", srv.address(), "demote", "a", "--wait-ms", "60001"}).rc, 2);
  EXPECT_EQ(run_ctl({"--server", srv.address(), "demote", "a", "--force"}).rc, 2)
      << "demote has no --force";
  EXPECT_EQ(srv.seen().size(), before) << "nothing was sent";
  // 401 without a token: refused (4).
  srv.on(
      "POST /v1/cluster/demote",
      fake_admin::answer{401, R"J({"error": "unauthorized", "reason": "bad or missing token"})J"});
  EXPECT_EQ(run_ctl({"--server", srv.address(), "demote", "a"}).rc, 4);
  // A body without an outcome (not our server) is an error, not a crash.
  srv.on("POST /v1/cluster/demote", fake_admin::answer{200, R"J({"hello": 1})J"});
  EXPECT_NE(run_ctl({"--server", srv.address(), "demote", "a"}).rc, 0);
}

}  // namespace
