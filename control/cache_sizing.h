// From the server's configuration to the cache engine's, checked before anything is
// allocated: a configuration that leaves a partition without the segments it needs would
// start, look healthy, and answer every SET with out of memory. It is refused instead,
// with a config_error that names the flags to change (the server exits 2).
// The partition count follows the lcores (next power of two), halved by the engine's own
// rule while memory is short (cache/sizing.h); it is never forced past that rule.
// Without [cache] segment_size, segments are sized by cache::auto_segment_size from -I and
// the memory per partition, so that items up to -I lose under 10% of -m to segment tails
// where memory allows; where it does not, `note` says so and names the flags that would
// (the server logs it at start; the configuration still starts).
#pragma once

#include <string>
#include <vector>

#include "cache/engine.h"
#include "cache/sizing.h"
#include "control/config.h"

namespace anvil::control {

struct cache_plan {
  cache::engine_config engine;
  cache::sizing sizing;
  std::string note;  // non-empty: tails of items near -I may exceed 10% of -m, and why
};

// `cpus`: the lcores' OS cpu ids. Throws config_error when the sizing is unusable.
cache_plan plan_cache(const server_config& cfg, const std::vector<unsigned>& cpus,
                      const cache::clock* time);

}  // namespace anvil::control
