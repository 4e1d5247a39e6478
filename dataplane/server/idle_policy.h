// What an lcore does when its queue is empty. On dedicated hardware it spins (lowest
// latency, one core per lcore). In dev mode and tests it backs off: after
// `spin_iterations` empty polls in a row it sleeps `sleep_us` per further empty poll,
// so an idle appliance costs almost nothing and a busy one never sleeps.
#pragma once

#include <cstdint>

namespace anvil::server {

struct idle_policy {
  enum class kind { busy_poll, backoff };
  kind mode = kind::busy_poll;
  std::uint32_t spin_iterations = 1000;  // empty polls before the first sleep
  std::uint32_t sleep_us = 100;          // per sleep (back-off only)

  static idle_policy busy() { return {}; }
  static idle_policy sleepy(std::uint32_t sleep_us = 100, std::uint32_t spins = 100) {
    return {kind::backoff, spins, sleep_us};
  }
};

}  // namespace anvil::server
