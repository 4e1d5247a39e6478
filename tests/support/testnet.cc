#include "tests/support/testnet.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "tests/support/netns.h"

namespace anvil::test {
namespace {

std::atomic<int> g_counter{0};
std::once_flag g_handlers_once;

// On SIGINT/SIGTERM (meson's timeout, Ctrl-C) the process is replaced by
// `testnet.sh reap-owner <our pid>`, which deletes every anvt-<our pid>-* namespace:
// execv is async-signal-safe, and the exit status still says we were interrupted.
char g_script[512];
char g_pid[32];

void on_fatal_signal(int) {
  char* const argv[] = {const_cast<char*>("bash"), g_script, const_cast<char*>("reap-owner"), g_pid,
                        nullptr};
  ::execv("/bin/bash", argv);
  ::_exit(128 + SIGTERM);
}

void install_handlers() {
  std::snprintf(g_script, sizeof g_script, "%s", testnet::script_path().c_str());
  std::snprintf(g_pid, sizeof g_pid, "%d", static_cast<int>(::getpid()));
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace

std::string testnet::script_path() {
  const char* root = std::getenv("ANVIL_SOURCE_ROOT");
  return std::string(root != nullptr ? root : ANVIL_SOURCE_ROOT) + "/tools/netns/testnet.sh";
}

testnet::testnet(testnet_options opts) {
  std::call_once(g_handlers_once, install_handlers);
  run_command(script_path() + " reap 2>&1");
  _name = "anvt-" + std::to_string(::getpid()) + "-" + std::to_string(g_counter.fetch_add(1));
  std::string cmd = script_path() + " create " + _name;
  if (opts.loss_percent >= 0) cmd += " --loss " + std::to_string(opts.loss_percent);
  std::string out;
  if (run_command(cmd + " 2>&1", &out) != 0) {
    run_command(script_path() + " destroy " + _name);
    throw std::runtime_error("testnet create failed: " + out);
  }
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) _vars[line.substr(0, eq)] = line.substr(eq + 1);
  }
}

testnet::~testnet() { run_command(script_path() + " destroy " + _name); }

}  // namespace anvil::test
