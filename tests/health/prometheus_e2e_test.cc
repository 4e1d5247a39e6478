// A real Prometheus against a real node (suite `e2e`, root): anvil serves in a testnet
// with its snapshot directory on the FUSE faultfs of the snapshot tests; Prometheus
// (Debian's `prometheus`) runs in the node's namespace on loopback with a temporary
// config that scrapes the admin API's /metrics every second and loads
// control/alerts/anvil.rules.yml, evaluated every second.
// - `promtool check metrics` passes on a real scrape.
// - A storage fault (EIO on write, then a snapshot) makes AnvilStorageDegraded fire in
//   Prometheus's /api/v1/alerts, and AnvilDegraded appear with code="storage"; after
//   the fault is lifted (and a good snapshot), AnvilStorageDegraded resolves.
// Waits are bounded by counts of polls, never timing assertions.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/health/health_server.h"
#include "tests/health/http_get.h"
#include "tests/io/fault_env.h"
#include "tests/support/netns.h"
#include "tests/support/temp_dir.h"

namespace anvil::health::test {
namespace {

constexpr std::uint16_t kAdminPort = 11311;  // the [admin] default, in the node's namespace
constexpr std::uint16_t kPromPort = 19090;

// Prometheus in namespace `ns`, killed (by its pid) and reaped by the destructor.
class prometheus_process {
 public:
  prometheus_process(const std::string& ns, const std::string& dir, const std::string& rules,
                     std::uint16_t scrape_port) {
    const std::string conf = dir + "/prometheus.yml";
    std::ofstream(conf) << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                           "  evaluation_interval: 1s\n"
                        << "rule_files:\n  - " << rules << "\n"
                        << "scrape_configs:\n  - job_name: anvil\n    static_configs:\n"
                           "      - targets: ['127.0.0.1:"
                        << scrape_port << "']\n";
    _log = dir + "/prometheus.log";
    std::vector<std::string> argv = {"/usr/bin/ip",
                                     "netns",
                                     "exec",
                                     ns,
                                     "prometheus",
                                     "--config.file=" + conf,
                                     "--storage.tsdb.path=" + dir + "/data",
                                     "--web.listen-address=127.0.0.1:" + std::to_string(kPromPort),
                                     "--log.level=warn"};
    _pid = ::fork();
    if (_pid == 0) {
      const int fd = ::open(_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> a;
      for (auto& s : argv) a.push_back(s.data());
      a.push_back(nullptr);
      ::execv(a[0], a.data());
      ::_exit(127);
    }
  }
  ~prometheus_process() {
    if (_pid > 0) {
      ::kill(_pid, SIGTERM);
      for (int i = 0; i < 100; ++i) {
        if (::waitpid(_pid, nullptr, WNOHANG) == _pid) return;
        std::this_thread::sleep_for(50ms);
      }
      ::kill(_pid, SIGKILL);
      ::waitpid(_pid, nullptr, 0);
    }
  }
  std::string log() const {
    std::ifstream in(_log);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  pid_t _pid = -1;
  std::string _log;
};

// The alerts Prometheus reports now: (alertname, state, labels).
nlohmann::json alerts(const std::string& ns) {
  const auto r = http_get(ns, kPromPort, "/api/v1/alerts");
  if (r.status != 200) return nlohmann::json::array();
  const auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("data")) return nlohmann::json::array();
  return j["data"].value("alerts", nlohmann::json::array());
}

// The state of alert `name` (with label code == `code` when given), "" when absent.
std::string alert_state(const nlohmann::json& a, const std::string& name,
                        const std::string& code = "") {
  for (const auto& x : a) {
    const auto& l = x["labels"];
    if (l.value("alertname", "") != name) continue;
    if (!code.empty() && l.value("code", "") != code) continue;
    return x.value("state", "");
  }
  return "";
}

int promtool_check_metrics(const std::string& text, std::string* out) {
  anvil::test::temp_dir d("anvil-promtool");
  std::ofstream(d.path() + "/scrape.txt") << text;
  return anvil::test::run_command("promtool check metrics < " + d.path() + "/scrape.txt 2>&1", out);
}

class PrometheusE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, FUSE)";
    if (!std::filesystem::exists("/usr/bin/prometheus") ||
        std::system("command -v promtool >/dev/null 2>&1") != 0)
      GTEST_SKIP() << "Debian package prometheus not installed (tools/deps.sh installs it)";
    if (!std::filesystem::exists("/dev/fuse")) GTEST_SKIP() << "no /dev/fuse";
  }
};

TEST_F(PrometheusE2e, StorageFaultFiresTheStorageAlertAndItResolves) {
  io::test::reap_stale();
  io::test::fuse_fault_fs fs(ANVIL_FAULTFS_BIN);
  const std::string dir = fs.mnt() + "/snaps";
  anvil::test::testnet net;
  health_server srv(net, "[health]\ninterval_s = 0.2\nrecover_intervals = 1\n[snapshot]\ndir = \"" +
                             dir + "\"\nio_timeout_s = 2\nat_shutdown = false\n");
  ASSERT_EQ(srv.wait_ready(), "") << srv.process().log();
  const std::string ns = net.stack_ns();

  // A real scrape, checked by promtool.
  http_reply m;
  for (int i = 0; i < 100 && m.status != 200; ++i) {
    m = http_get(ns, kAdminPort, "/metrics");
    if (m.status != 200) std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(m.status, 200) << srv.process().log();
  for (const char* family : {"anvil_health_state", "anvil_health_reason", "anvil_storage_healthy",
                             "anvil_canary_duration_seconds_bucket", "anvil_loop_stalls_total",
                             "anvil_snapshot_interval_seconds"})
    EXPECT_NE(m.body.find(family), std::string::npos) << family;
  std::string lint;
  EXPECT_EQ(promtool_check_metrics(m.body, &lint), 0) << lint;

  anvil::test::temp_dir pd("anvil-prometheus");
  const std::string rules =
      std::string(std::getenv("ANVIL_SOURCE_ROOT") ? std::getenv("ANVIL_SOURCE_ROOT")
                                                   : ANVIL_SOURCE_ROOT_DEFAULT) +
      "/control/alerts/anvil.rules.yml";
  ASSERT_TRUE(std::filesystem::exists(rules)) << rules;
  // Every metric the rules name is in the node's scrape (a renamed metric would leave an
  // alert that can never fire).
  {
    std::ifstream in(rules);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    const std::regex name("anvil_[a-z0-9_]+");
    int checked = 0;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), name);
         it != std::sregex_iterator(); ++it, ++checked) {
      const std::string n = it->str();
      // The HA families exist only on a node with [cluster] (this one has none):
      // cluster_anvil_ha checks anvil_cluster_* on a clustered node; anvil_replication_*
      // is replication's (docs/replication.md).
      if (n.rfind("anvil_cluster_", 0) == 0 || n.rfind("anvil_replication_", 0) == 0) continue;
      // A sample, or the family itself (anvil_health_reason has samples only while a
      // reason is active).
      EXPECT_TRUE(m.body.find("\n" + n + "{") != std::string::npos ||
                  m.body.find("\n" + n + " ") != std::string::npos ||
                  m.body.find("# TYPE " + n + " ") != std::string::npos)
          << "the rules use " << n << " but the node does not export it";
    }
    EXPECT_GE(checked, 15);
  }
  prometheus_process prom(ns, pd.path(), rules, kAdminPort);

  // Prometheus scrapes the node (up == 1) and evaluates the rules.
  bool up = false;
  for (int i = 0; i < 300 && !up; ++i) {
    const auto r = http_get(ns, kPromPort, "/api/v1/query?query=up%7Bjob%3D%22anvil%22%7D");
    const auto j = nlohmann::json::parse(r.body, nullptr, false);
    up = r.status == 200 && !j.is_discarded() && !j["data"]["result"].empty() &&
         j["data"]["result"][0]["value"][1] == "1";
    if (!up) std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(up) << prom.log();
  EXPECT_EQ(alert_state(alerts(ns), "AnvilStorageDegraded"), "");
  EXPECT_EQ(alert_state(alerts(ns), "AnvilDown"), "");

  // The fault: a snapshot fails with EIO.
  auto outcomes = [&] {
    const auto s = srv.stats("storage");
    auto n = [&](const char* k) {
      auto it = s.find(k);
      return it == s.end() ? 0LL : std::stoll(it->second);
    };
    return n("snapshots_ok") + n("snapshots_failed") + n("snapshots_skipped");
  };
  fs.set_mode("eio_write");
  long long done = outcomes();
  srv.process().signal(SIGUSR1);
  for (int i = 0; i < 300 && outcomes() <= done; ++i) std::this_thread::sleep_for(100ms);
  ASSERT_EQ(health_server::get(srv.stats("storage"), "state"), "degraded");

  std::string state;
  for (int i = 0; i < 300 && state != "firing"; ++i) {
    state = alert_state(alerts(ns), "AnvilStorageDegraded");
    if (state != "firing") std::this_thread::sleep_for(200ms);
  }
  ASSERT_EQ(state, "firing") << alerts(ns).dump() << "\n" << prom.log();
  // The health model's view of the same fault reaches Prometheus with its reason code.
  std::string degraded;
  for (int i = 0; i < 300 && degraded.empty(); ++i) {
    degraded = alert_state(alerts(ns), "AnvilDegraded", "storage");
    if (degraded.empty()) std::this_thread::sleep_for(200ms);
  }
  EXPECT_FALSE(degraded.empty()) << alerts(ns).dump();

  // Lifted: a good snapshot, and the alert resolves (leaves /api/v1/alerts).
  fs.set_mode("normal");
  done = outcomes();
  srv.process().signal(SIGUSR1);
  for (int i = 0; i < 300 && outcomes() <= done; ++i) std::this_thread::sleep_for(100ms);
  ASSERT_EQ(health_server::get(srv.stats("storage"), "state"), "ok");
  for (int i = 0; i < 300 && !state.empty(); ++i) {
    state = alert_state(alerts(ns), "AnvilStorageDegraded");
    if (!state.empty()) std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(state, "") << alerts(ns).dump();
}

}  // namespace
}  // namespace anvil::health::test
