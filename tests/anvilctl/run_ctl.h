// Runs the anvilctl binary as a child with its stdout and stderr captured to files and
// a bound on its run time (SIGKILL past it, reported as rc -1). Header-only.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace anvil::test {

struct ctl_run {
  int rc = -1;  // exit code; -1: killed at the time bound or died by a signal
  std::string out, err;
};

inline std::string slurp_file(const std::string& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// `poke`, when given, is called with the child's pid every few milliseconds while it
// runs (to signal it).
// `ns` non-empty: run it inside that network namespace (ip netns exec).
inline ctl_run run_ctl_in(const std::string& ns, const std::vector<std::string>& args,
                          std::chrono::seconds bound = std::chrono::seconds(30),
                          const std::function<void(pid_t)>& poke = nullptr) {
  char out_t[] = "/tmp/anvilctl-out-XXXXXX";
  char err_t[] = "/tmp/anvilctl-err-XXXXXX";
  const int out_fd = ::mkstemp(out_t);
  const int err_fd = ::mkstemp(err_t);
  std::vector<std::string> argv;
  if (!ns.empty()) argv = {"/usr/bin/ip", "netns", "exec", ns};
  argv.push_back(ANVILCTL_BINARY);
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::unsetenv("ANVILCTL_SERVER");
    ::unsetenv("ANVILCTL_TOKEN_FILE");
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  ctl_run r;
  const auto deadline = std::chrono::steady_clock::now() + bound;
  int st = 0;
  while (::waitpid(pid, &st, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      st = -1;
      break;
    }
    if (poke) poke(pid);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (st != -1 && WIFEXITED(st)) r.rc = WEXITSTATUS(st);
  r.out = slurp_file(out_t);
  r.err = slurp_file(err_t);
  std::remove(out_t);
  std::remove(err_t);
  return r;
}

inline ctl_run run_ctl(const std::vector<std::string>& args,
                       std::chrono::seconds bound = std::chrono::seconds(30),
                       const std::function<void(pid_t)>& poke = nullptr) {
  return run_ctl_in("", args, bound, poke);
}

}  // namespace anvil::test
