// anvilctl's exit codes and the one error type every command throws. Scripts branch on
// the code, people read the message: 0 ok, 1 unhealthy (or the server answered with an
// error / something unreadable), 2 usage (bad flags, a request the server called bad),
// 3 unreachable (no connection, a timeout), 4 refused (401/403: token missing or wrong).
#pragma once

#include <stdexcept>
#include <string>

namespace anvil::ctl {

enum exit_code : int {
  exit_ok = 0,
  exit_unhealthy = 1,
  exit_usage = 2,
  exit_unreachable = 3,
  exit_refused = 4,
};

// What a command failed with: the message for stderr and the process exit code.
class ctl_error : public std::runtime_error {
 public:
  ctl_error(exit_code code, const std::string& message)
      : std::runtime_error(message), _code(code) {}
  exit_code code() const { return _code; }

 private:
  exit_code _code;
};

}  // namespace anvil::ctl
