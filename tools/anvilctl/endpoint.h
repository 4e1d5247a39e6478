// Where the admin API is: "HOST:PORT", "[v6]:PORT" or "HOST" (port 11311, the server's
// default `[admin] address`). Pure parsing, no name resolution.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace anvil::ctl {

inline constexpr std::uint16_t default_admin_port = 11311;
inline constexpr const char* default_server = "127.0.0.1:11311";

struct endpoint {
  std::string host;  // without brackets
  std::uint16_t port = default_admin_port;
};

// nullopt for an empty host, a port outside 1..65535, junk after the port, or an
// unclosed '['.
std::optional<endpoint> parse_endpoint(const std::string& s);

}  // namespace anvil::ctl
