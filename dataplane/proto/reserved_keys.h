// Anvil's reserved key space: keys that begin with "\0anvil\0" belong to the server
// itself (the health canary, control/health/) and never to a client. The handler
// answers a client's request on such a key as the engine answers a key it cannot hold
// (a GET family request misses, every other item command gets 0x04 "Invalid
// arguments") without touching the engine, so a client can neither see, change nor
// delete a server key, and the canary's keys never show in a client's answers. The
// check costs one byte comparison for ordinary keys.
#pragma once

#include <string_view>

namespace anvil::proto {

inline constexpr std::string_view kReservedKeyPrefix{"\0anvil\0", 7};

constexpr bool is_reserved_key(std::string_view key) {
  return !key.empty() && key[0] == '\0' &&
         key.substr(0, kReservedKeyPrefix.size()) == kReservedKeyPrefix;
}

}  // namespace anvil::proto
