#include "control/health/canary_keys.h"

#include <stdexcept>

#include "cache/hash.h"
#include "dataplane/proto/reserved_keys.h"

namespace anvil::health {

std::size_t partition_of(const std::string& key, std::size_t partitions) {
  unsigned bits = 0;
  while ((std::size_t{1} << bits) < partitions) ++bits;
  return bits == 0 ? 0 : static_cast<std::size_t>(cache::hash_key(key) >> (64 - bits));
}

std::vector<std::string> canary_keys(unsigned lcore, std::size_t partitions) {
  if (partitions == 0 || (partitions & (partitions - 1)) != 0)
    throw std::invalid_argument("canary_keys: partitions must be a power of two");
  std::vector<std::string> keys(partitions);
  std::size_t found = 0;
  const std::string base =
      std::string(proto::kReservedKeyPrefix) + "canary:" + std::to_string(lcore) + ":";
  // A uniform hash fills every partition after about P ln P tries; the bound only
  // stops a broken hash from looping for ever.
  for (std::uint64_t n = 0; found < partitions && n < 1000 * partitions + 100000; ++n) {
    std::string k = base + std::to_string(n);
    std::string& slot = keys[partition_of(k, partitions)];
    if (slot.empty()) {
      slot = std::move(k);
      ++found;
    }
  }
  if (found < partitions) throw std::runtime_error("canary_keys: a partition got no key");
  return keys;
}

}  // namespace anvil::health
