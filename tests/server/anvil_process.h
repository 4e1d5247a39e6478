// Runs the anvil binary as a child process (optionally inside a network namespace),
// with stderr captured to a file, and stops it with a signal. Never leaves it running:
// the destructor SIGKILLs and reaps a child that is still alive.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace anvil::test {

inline std::string anvil_binary() { return ANVIL_BINARY; }

class anvil_process {
 public:
  // `ns` empty: run in this namespace. The log (stdout and stderr) is a new file in
  // `log_dir`.
  anvil_process(const std::vector<std::string>& args, const std::string& ns = "",
                const std::string& log_dir = "/tmp") {
    std::string tmpl = log_dir + "/anvil-log-XXXXXX";
    int fd = ::mkstemp(tmpl.data());
    _log = tmpl;
    std::vector<std::string> argv;
    if (!ns.empty()) argv = {"/usr/bin/ip", "netns", "exec", ns};
    argv.push_back(anvil_binary());
    argv.insert(argv.end(), args.begin(), args.end());
    _pid = ::fork();
    if (_pid == 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> a;
      for (auto& s : argv) a.push_back(s.data());
      a.push_back(nullptr);
      ::execv(a[0], a.data());
      ::_exit(127);
    }
    ::close(fd);
  }
  ~anvil_process() {
    if (!_status) {
      ::kill(_pid, SIGKILL);
      ::waitpid(_pid, nullptr, 0);
    }
    std::remove(_log.c_str());
  }
  anvil_process(const anvil_process&) = delete;
  anvil_process& operator=(const anvil_process&) = delete;

  std::string log() const {
    std::ifstream in(_log);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // Waits until the log contains `text` (true) or the process exits / time passes.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (log().find(text) != std::string::npos) return true;
      if (exited()) return log().find(text) != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  bool exited() {
    if (_status) return true;
    int st = 0;
    if (::waitpid(_pid, &st, WNOHANG) == _pid) _status = st;
    return _status.has_value();
  }
  // Exit code, or 128+signal; nullopt when still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exited()) {
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return WIFEXITED(*_status) ? WEXITSTATUS(*_status) : 128 + WTERMSIG(*_status);
  }
  void signal(int sig) { ::kill(_pid, sig); }
  pid_t pid() const { return _pid; }

 private:
  pid_t _pid = -1;
  std::string _log;
  std::optional<int> _status;
};

// The value of `key=` in the last log line containing `event`, or -1.
inline long long log_value(const std::string& log, const std::string& event,
                           const std::string& key) {
  std::istringstream in(log);
  std::string line, found;
  while (std::getline(in, line))
    if (line.find("event=" + event) != std::string::npos) found = line;
  auto p = found.find(" " + key + "=");
  if (p == std::string::npos) return -1;
  return std::stoll(found.substr(p + key.size() + 2));
}

}  // namespace anvil::test
