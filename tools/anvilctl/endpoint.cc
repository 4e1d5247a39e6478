#include "tools/anvilctl/endpoint.h"

#include <charconv>

namespace anvil::ctl {

namespace {
std::optional<std::uint16_t> parse_port(const std::string& s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(v);
}
}  // namespace

std::optional<endpoint> parse_endpoint(const std::string& s) {
  endpoint e;
  std::string rest;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string::npos) return std::nullopt;
    e.host = s.substr(1, close - 1);
    rest = s.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
  } else {
    auto colon = s.find(':');
    if (colon != std::string::npos && s.find(':', colon + 1) != std::string::npos)
      return std::nullopt;  // a bare IPv6 address: needs brackets to tell the port apart
    e.host = s.substr(0, colon);
    if (colon != std::string::npos) rest = s.substr(colon);
  }
  if (e.host.empty()) return std::nullopt;
  if (!rest.empty()) {
    auto port = parse_port(rest.substr(1));
    if (!port) return std::nullopt;
    e.port = *port;
  }
  return e;
}

}  // namespace anvil::ctl
