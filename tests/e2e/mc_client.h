// A blocking memcached binary client whose sockets live in a network namespace (the
// client side of a testnet). Every call has a deadline; failures are reported as
// strings, never thrown, so a test can say exactly what the server did.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "tests/e2e/binproto.h"

namespace anvil::e2e {

class mc_client {
 public:
  // Connects from namespace `ns`; ok() says whether it worked, error() why not.
  mc_client(const std::string& ns, const std::string& ip, std::uint16_t port,
            std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ~mc_client();
  mc_client(const mc_client&) = delete;
  mc_client& operator=(const mc_client&) = delete;

  bool ok() const { return _fd >= 0 && _error.empty(); }
  const std::string& error() const { return _error; }

  bool send_bytes(const std::string& bytes);
  // The next complete response (raw bytes), or nullopt on timeout/close (see error()).
  std::optional<std::string> read_response();

  // SET then GET of the same key; true when the value comes back intact.
  bool set(const std::string& key, const std::string& value, std::uint32_t flags = 0);
  std::optional<std::string> get(const std::string& key);  // nullopt: miss or failure
  // `stats` (group "") or `stats <group>`; empty when the server answered an error.
  std::map<std::string, std::string> stats(const std::string& group = "");

 private:
  int _fd = -1;
  std::string _error;
  std::string _in;
};

// Set and read back one fresh key over a new connection: "" when the server serves,
// otherwise what went wrong.
std::string control_check(const std::string& ns, const std::string& ip, std::uint16_t port);

// Reads one stat (e.g. "get_hits") over a fresh connection; -1 when absent.
long long stat_value(const std::string& ns, const std::string& ip, std::uint16_t port,
                     const std::string& name);

}  // namespace anvil::e2e
