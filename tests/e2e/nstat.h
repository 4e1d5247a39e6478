// The client namespace's kernel counters (nstat -az): frames the server sent with a bad
// IP or TCP checksum are dropped silently by Linux and show up only here.
#pragma once

#include <map>
#include <sstream>
#include <string>

#include "tests/support/netns.h"

namespace anvil::e2e {

// Absolute values of every SNMP/netstat counter in `ns` (-s: the history file is left
// alone, so concurrent readers do not disturb each other).
inline std::map<std::string, long long> nstat_counters(const std::string& ns) {
  std::string out;
  test::run_command("ip netns exec " + ns + " nstat -asz 2>/dev/null", &out);
  std::map<std::string, long long> m;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string name;
    long long v = 0;
    if (l >> name >> v) m[name] = v;
  }
  return m;
}

}  // namespace anvil::e2e
