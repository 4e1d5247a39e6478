// Tells systemd where the server is in its life (tools/deploy/anvil.service has
// Type=notify): READY=1 once the newest snapshot is restored and every lcore polls,
// STOPPING=1 when a signal begins the shutdown, with a one-line STATUS= each time.
// Outside systemd (no NOTIFY_SOCKET) every call does nothing. One datagram per call on
// the control thread: never on an lcore, never blocking serving.
#pragma once

#include <string>

namespace anvil::control {

// true when the message reached systemd's socket (false also when there is none).
bool notify_ready(const std::string& status);
bool notify_stopping(const std::string& status);

}  // namespace anvil::control
