// The canary's keys: for one lcore, one key per engine partition that hashes into that
// partition (the engine picks the partition from the top bits of the key's XXH3 hash,
// cache/hash.h), all in the reserved key space (dataplane/proto/reserved_keys.h), so
// a canary round writes and reads every partition and no client can touch them. Each
// lcore has its own keys: two lcores' rounds never race on one item.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace anvil::health {

// `partitions` is the engine's partition count (a power of two, >= 1).
std::vector<std::string> canary_keys(unsigned lcore, std::size_t partitions);

// The partition the engine puts `key` in, for `partitions` (a power of two).
std::size_t partition_of(const std::string& key, std::size_t partitions);

}  // namespace anvil::health
