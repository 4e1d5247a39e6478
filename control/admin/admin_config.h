// The `[admin]` settings: where the admin API listens and how it bounds its clients
// (docs/admin.md, docs/anvil.md). Plain data, validated by control/config.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace anvil::control::admin {

struct admin_config {
  bool enabled = true;
  std::string address = "127.0.0.1";   // IPv4 of the management address (kernel socket)
  std::uint16_t port = 11311;          // 0: any free port (logged in event=admin_listening)
  std::string token_file;              // empty: mutating endpoints answer 403
  unsigned max_connections = 16;       // open at once; one more gets 503 and is closed
  unsigned threads = 4;                // workers, each serving one connection at a time
  double read_timeout_s = 5;           // a whole request must arrive within this
  double write_timeout_s = 5;          // a response write without progress for this closes
  std::size_t max_body_bytes = 65536;  // larger bodies get 413
  std::string listen_text() const { return address + ":" + std::to_string(port); }
};

}  // namespace anvil::control::admin
