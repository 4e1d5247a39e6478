// anvilctl against the real anvil server (AF_PACKET on a test network, admin API on
// the stack namespace's loopback at the default 127.0.0.1:11311): every subcommand,
// --json that parses, and the exit codes a script relies on: 0, 1 (storage degraded),
// 2 (usage), 3 (server gone), 4 (wrong or missing token).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/anvilctl/run_ctl.h"
#include "tests/server/anvil_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testnet.h"

namespace anvil::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class served_node {
 public:
  // `snapshot_dir` is written as given (a path that cannot be prepared degrades storage).
  explicit served_node(const std::string& snapshot_dir = "") : _dir("anvilctl-e2e") {
    _token = _dir.path() + "/admin.token";
    std::ofstream(_token) << "e2e-token-1234\n";
    ::chmod(_token.c_str(), 0600);
    _wrong = _dir.path() + "/wrong.token";
    std::ofstream(_wrong) << "not-the-token\n";
    const std::string snaps = snapshot_dir.empty() ? _dir.path() + "/snaps" : snapshot_dir;
    _conf = _dir.path() + "/anvil.toml";
    std::ofstream(_conf) << "[network]\nport_type = \"afpacket\"\ninterface = \"" << _net.stack_if()
                         << "\"\nip = \"" << _net.stack_ip()
                         << "\"\n[lcores]\nidle = \"backoff\"\nidle_sleep_us = 200\n"
                            "[snapshot]\ndir = \""
                         << snaps << "\"\n[admin]\ntoken_file = \"" << _token << "\"\n";
    _p = std::make_unique<anvil_process>(std::vector<std::string>{"--config", _conf, "-t", "2"},
                                         _net.stack_ns());
  }
  bool started() { return _p->wait_for_log("event=started", 20s); }
  ctl_run ctl(const std::vector<std::string>& args) { return run_ctl_in(_net.stack_ns(), args); }
  ctl_run ctl_token(std::vector<std::string> args) {
    args.insert(args.begin(), {"--token-file", _token});
    return ctl(args);
  }
  const std::string& wrong_token() const { return _wrong; }
  const testnet& net() const { return _net; }
  anvil_process& process() { return *_p; }
  std::string log() { return _p->log(); }

 private:
  temp_dir _dir;
  testnet _net;
  std::string _token, _wrong, _conf;
  std::unique_ptr<anvil_process> _p;
};

TEST(AnvilctlServer, EverySubcommandAgainstARunningNode) {
  served_node n;
  ASSERT_TRUE(n.started()) << n.log();
  // Some traffic for the counters: a stats request from the client side.
  std::system((n.net().client_exec() + "memcstat --binary --servers=" + n.net().stack_ip() +
               " >/dev/null 2>&1")
                  .c_str());

  ctl_run r = n.ctl({"status"});
  ASSERT_EQ(r.rc, 0) << r.err << n.log();
  EXPECT_NE(r.out.find(n.net().stack_ip() + " tcp 11211"), std::string::npos) << r.out;
  r = n.ctl({"--json", "status"});
  ASSERT_EQ(r.rc, 0) << r.err;
  json status = json::parse(r.out);
  EXPECT_EQ(status["lcores"].size(), 2u);
  EXPECT_EQ(status["ip"], n.net().stack_ip());
  EXPECT_EQ(status["admin"]["auth"], true);

  r = n.ctl({"health"});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("ok since", 0), 0u) << r.out;
  r = n.ctl({"--json", "health"});
  EXPECT_EQ(json::parse(r.out)["state"], "ok");

  r = n.ctl({"stats"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("curr_connections"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("storage"), std::string::npos) << r.out;
  r = n.ctl({"stats", "--per-lcore"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("LCORE"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\ntotal"), std::string::npos) << r.out;
  r = n.ctl({"--json", "stats"});
  json stats = json::parse(r.out);
  EXPECT_EQ(stats["lcores"].size(), 2u);
  EXPECT_TRUE(stats["general"].contains("curr_connections"));

  r = n.ctl({"--json", "top", "--iterations", "2", "--interval", "0.2"});
  ASSERT_EQ(r.rc, 0) << r.err;
  std::istringstream frames(r.out);
  std::string line;
  int count = 0;
  while (std::getline(frames, line)) {
    EXPECT_EQ(json::parse(line)["lcores"].size(), 2u) << line;
    ++count;
  }
  EXPECT_EQ(count, 2);
  r = n.ctl({"top", "--iterations", "1", "--interval", "0.2"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("OPS/S"), std::string::npos) << r.out;

  r = n.ctl({"config", "show"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("[snapshot]"), std::string::npos) << r.out;
  r = n.ctl({"--json", "config", "show"});
  EXPECT_TRUE(json::parse(r.out).contains("admin")) << r.out;
  EXPECT_EQ(r.out.find("e2e-token-1234"), std::string::npos) << "the token never shows";

  // Mutations: refused without the token and with a wrong one, done with it.
  EXPECT_EQ(n.ctl({"snapshot", "now"}).rc, 4);
  EXPECT_EQ(n.ctl({"--token-file", n.wrong_token(), "snapshot", "now"}).rc, 4);
  r = n.ctl_token({"snapshot", "now", "--wait", "20"});
  EXPECT_EQ(r.rc, 0) << r.out << r.err << n.log();
  EXPECT_NE(r.out.find("written"), std::string::npos) << r.out;
  r = n.ctl({"snapshot", "list"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("yes"), std::string::npos) << r.out;  // a complete snapshot
  r = n.ctl({"--json", "snapshot", "list"});
  EXPECT_EQ(json::parse(r.out)["last"]["ok"], true) << r.out;

  EXPECT_EQ(n.ctl({"--token-file", n.wrong_token(), "log-level", "debug"}).rc, 4);
  r = n.ctl_token({"log-level", "debug"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("-> debug"), std::string::npos) << r.out;
  EXPECT_EQ(n.ctl_token({"log-level", "info"}).rc, 0);

  EXPECT_EQ(n.ctl_token({"flush"}).rc, 2);  // no --yes
  r = n.ctl_token({"flush", "--yes"});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("flushed"), std::string::npos) << r.out;

  EXPECT_EQ(n.ctl({"drain"}).rc, 4);
  r = n.ctl_token({"drain", "--wait", "10"});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("draining, 0 connection(s) open"), std::string::npos) << r.out;
  r = n.ctl({"--json", "drain", "--status"});
  EXPECT_EQ(json::parse(r.out)["draining"], true) << r.out;
  r = n.ctl({"--json", "status"});
  EXPECT_EQ(json::parse(r.out)["draining"], true) << r.out;
  r = n.ctl_token({"drain", "--cancel"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("accepting connections"), std::string::npos) << r.out;

  EXPECT_EQ(n.ctl({"log-level", "chatty"}).rc, 2);

  // The node goes away: unreachable.
  n.process().signal(SIGTERM);
  ASSERT_TRUE(n.process().wait(30s).has_value()) << n.log();
  r = n.ctl({"health"});
  EXPECT_EQ(r.rc, 3) << r.out << r.err;
}

TEST(AnvilctlServer, StorageDegradedIsExitOneWithTheReason) {
  temp_dir d("anvilctl-e2e");
  std::ofstream(d.path() + "/file") << "in the way";
  served_node n(d.path() + "/file/snaps");  // a directory that cannot be created
  ASSERT_TRUE(n.started()) << n.log();
  ctl_run r = n.ctl({"health"});
  EXPECT_EQ(r.rc, 1) << r.out << r.err << n.log();
  EXPECT_NE(r.out.find("degraded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("storage"), std::string::npos) << r.out;
  r = n.ctl({"--json", "health"});
  EXPECT_EQ(r.rc, 1);
  bool storage = false;  // other reasons may come with it (the health model's own)
  const json health = json::parse(r.out);
  for (const auto& reason : health["reasons"]) storage |= reason["code"] == "storage";
  EXPECT_TRUE(storage) << r.out;
}

}  // namespace
}  // namespace anvil::test
