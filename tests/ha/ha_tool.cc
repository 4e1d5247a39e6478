// ha_tool: the client side of bench/e2e/failover.sh, run inside the client namespace
// (`ip netns exec NS ha_tool ...`). The same code the `ha` gtest suite uses in-process.
//
//   ha_tool arp-probe --iface d0 --src-ip IP --vip VIP [--interval-ms 10]
//       broadcast sequenced ARP probes for the VIP until SIGTERM/SIGINT
//   ha_tool arp-check --pcap FILE --vip VIP
//       KEY=VALUE report of who answered for the VIP; exit 3 when two MACs answered
//       in one probe window, 2 when the capture cannot be read
//   ha_tool fill --vip VIP --prefix P --count N       SET N keys; prints acked=
//   ha_tool wait-up --vip VIP --since-ns T [--bound-ms 30000]
//       first successful request on the VIP; prints first_ok_ms= (since T, CLOCK_REALTIME ns)
//   ha_tool failover --vip VIP --kill PID [--kill PID...] [--signal KILL|STOP] [--after CMD]
//       checks the VIP serves, then (t0) stops every PID (then SIGKILLs them all with KILL), runs
//       CMD (e.g. take a dead machine's link down), and requests until one succeeds; prints
//       first_ok_ms= since t0
//   ha_tool read-back --vip VIP --prefix P --count N  prints hits= misses= wrong= failed=
#include <signal.h>
#include <sys/types.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "tests/ha/arp_owners.h"
#include "tests/ha/arp_probe.h"
#include "tests/ha/vip_client.h"

namespace {

using namespace anvil::ha;
using namespace std::chrono_literals;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

int run_probe(const std::string& iface, const std::string& src_ip, const std::string& vip,
              int interval_ms) {
  unsigned ifindex = 0;
  mac m{};
  const int fd = arp_probe::open_socket(iface, ifindex, m);
  arp_probe p(fd, ifindex, m, src_ip, vip, std::chrono::milliseconds(interval_ms));
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  p.start();
  while (g_stop == 0) std::this_thread::sleep_for(20ms);
  p.stop();
  std::printf("probes_sent=%llu\nsend_errors=%llu\n", (unsigned long long)p.sent(),
              (unsigned long long)p.send_errors());
  return 0;
}

int run_check(const std::string& pcap, const std::string& vip) {
  const auto r = analyze_arp_owners(pcap, vip);
  if (!r.error.empty()) {
    std::fprintf(stderr, "ha_tool: %s: %s\n", pcap.c_str(), r.error.c_str());
    return 2;
  }
  std::printf(
      "frames=%llu\nprobes=%llu\nanswers=%llu\nwindows_answered=%llu\nmax_owners=%zu\n"
      "dual_windows=%zu\nowner_changes=%llu\nmalformed=%llu\n",
      (unsigned long long)r.frames, (unsigned long long)r.probes, (unsigned long long)r.answers,
      (unsigned long long)r.windows_answered, r.max_owners, r.dual.size(),
      (unsigned long long)r.owner_changes, (unsigned long long)r.malformed);
  std::string owners;
  for (const auto& m : r.owners_in_order) owners += (owners.empty() ? "" : ",") + mac_string(m);
  std::printf("owners=%s\n", owners.c_str());
  if (!r.dual.empty()) {
    const auto& d = r.dual.front();
    std::string macs;
    for (const auto& m : d.owners) macs += (macs.empty() ? "" : ",") + mac_string(m);
    std::printf("first_dual_s=%.3f\nfirst_dual_owners=%s\n", d.start_s, macs.c_str());
    return 3;
  }
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{"HA benchmark client (bench/e2e/failover.sh)"};
  app.require_subcommand(1);
  std::string vip, iface = "d0", src_ip, pcap, prefix = "k";
  int interval_ms = 10, port = 11211, timeout_ms = 100;
  long long since_ns = 0, bound_ms = 30000;
  std::uint64_t count = 0;

  auto* probe = app.add_subcommand("arp-probe", "broadcast sequenced ARP probes for the VIP");
  probe->add_option("--iface", iface);
  probe->add_option("--src-ip", src_ip)->required();
  probe->add_option("--vip", vip)->required();
  probe->add_option("--interval-ms", interval_ms)->check(CLI::Range(1, 1000));

  auto* check = app.add_subcommand("arp-check", "who answered ARP for the VIP, per probe window");
  check->add_option("--pcap", pcap)->required();
  check->add_option("--vip", vip)->required();

  auto* fill = app.add_subcommand("fill", "SET numbered keys through the VIP");
  auto* wait = app.add_subcommand("wait-up", "time to the first successful request on the VIP");
  auto* fail = app.add_subcommand("failover", "signal the primary, time the VIP's return");
  std::vector<int> pids;
  std::string sig = "KILL", after;
  fail->add_option("--kill", pids, "PIDs to signal")->required();
  fail->add_option("--signal", sig)->check(CLI::IsMember({"KILL", "STOP"}));
  fail->add_option("--after", after, "shell command run right after the signal");
  fail->add_option("--bound-ms", bound_ms)->check(CLI::Range(1LL, 600000LL));
  auto* read = app.add_subcommand("read-back", "GET numbered keys and count right values");
  for (auto* s : {fill, wait, read, fail}) {
    s->add_option("--vip", vip)->required();
    s->add_option("--port", port)->check(CLI::Range(1, 65535));
    s->add_option("--timeout-ms", timeout_ms, "deadline of one request")
        ->check(CLI::Range(1, 60000));
  }
  for (auto* s : {fill, read}) {
    s->add_option("--prefix", prefix);
    s->add_option("--count", count)
        ->required()
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10000000}));
  }
  wait->add_option("--since-ns", since_ns, "CLOCK_REALTIME ns of the fault")->required();
  wait->add_option("--bound-ms", bound_ms)->check(CLI::Range(1LL, 600000LL));
  CLI11_PARSE(app, argc, argv);

  try {
    if (*probe) return run_probe(iface, src_ip, vip, interval_ms);
    if (*check) return run_check(pcap, vip);
    vip_client c(vip, static_cast<std::uint16_t>(port), std::chrono::milliseconds(timeout_ms));
    if (*fill) {
      std::uint64_t acked = 0;
      // An unacknowledged SET (past its deadline, or the VIP moving) is retried for up
      // to 10 s: every key counted was acknowledged by whoever held the VIP then.
      for (std::uint64_t i = 0; i < count; ++i) {
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < until)
          if (c.set(test_key(prefix, i), test_value(prefix, i)) == op_result::ok) {
            ++acked;
            break;
          }
      }
      std::printf("acked=%llu\n", (unsigned long long)acked);
      return acked == count ? 0 : 1;
    }
    if (*wait) {
      const auto t = c.wait_serving(std::chrono::milliseconds(bound_ms));
      if (t == std::chrono::system_clock::time_point{}) {
        std::fprintf(stderr, "ha_tool: the VIP did not serve within %lld ms (%s)\n", bound_ms,
                     c.last_error().c_str());
        return 1;
      }
      const long long ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
      std::printf("first_ok_ms=%.1f\nconnects=%llu\n", double(ns - since_ns) / 1e6,
                  (unsigned long long)c.connects());
      return 0;
    }
    if (*fail) {
      if (c.wait_serving(std::chrono::milliseconds(5000)) ==
          std::chrono::system_clock::time_point{}) {
        std::fprintf(stderr, "ha_tool: the VIP does not serve before the fault (%s)\n",
                     c.last_error().c_str());
        return 1;
      }
      // A machine dies at once: every process is frozen first, then killed, so none of
      // them sees another die and reacts (keepalived's VRRP child, told by the kernel that
      // its parent died, would otherwise send a priority-0 advert: a graceful handover).
      const auto t0 = std::chrono::system_clock::now();
      for (int pid : pids)
        if (::kill(pid, SIGSTOP) != 0) {
          std::fprintf(stderr, "ha_tool: kill -STOP %d: %s\n", pid, std::strerror(errno));
          return 2;
        }
      if (sig == "KILL")
        for (int pid : pids) ::kill(pid, SIGKILL);
      if (!after.empty() && std::system(after.c_str()) != 0)
        std::fprintf(stderr, "ha_tool: '%s' failed\n", after.c_str());
      const auto t = c.wait_serving(std::chrono::milliseconds(bound_ms));
      if (t == std::chrono::system_clock::time_point{}) {
        std::fprintf(stderr, "ha_tool: the VIP did not serve within %lld ms (%s)\n", bound_ms,
                     c.last_error().c_str());
        return 1;
      }
      std::printf("first_ok_ms=%.1f\nconnects=%llu\n",
                  std::chrono::duration<double, std::milli>(t - t0).count(),
                  (unsigned long long)c.connects());
      return 0;
    }
    if (*read) {
      std::uint64_t hits = 0, misses = 0, wrong = 0, failed = 0;
      for (std::uint64_t i = 0; i < count; ++i) {
        std::string v;
        op_result r = op_result::failed;
        for (int attempt = 0; attempt < 3 && r == op_result::failed; ++attempt)
          r = c.get(test_key(prefix, i), v);
        if (r == op_result::ok)
          ++(v == test_value(prefix, i) ? hits : wrong);
        else
          ++(r == op_result::miss ? misses : failed);
      }
      std::printf("hits=%llu\nmisses=%llu\nwrong=%llu\nfailed=%llu\n", (unsigned long long)hits,
                  (unsigned long long)misses, (unsigned long long)wrong,
                  (unsigned long long)failed);
      return failed == 0 ? 0 : 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ha_tool: %s\n", e.what());
    return 2;
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ha_tool: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "ha_tool: unknown error\n");
  }
  return 2;
}
