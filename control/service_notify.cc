#include "control/service_notify.h"

#include <systemd/sd-daemon.h>

namespace anvil::control {

namespace {
bool send(const std::string& state, const std::string& status) {
  const std::string msg = state + "\nSTATUS=" + status;
  return ::sd_notify(0, msg.c_str()) > 0;
}
}  // namespace

bool notify_ready(const std::string& status) { return send("READY=1", status); }
bool notify_stopping(const std::string& status) { return send("STOPPING=1", status); }

}  // namespace anvil::control
