#include "dataplane/net/keyed_hash.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>

namespace anvil::net {

prf_key random_prf_key() {
  // sodium_init picks the implementation and opens the random source; idempotent and
  // thread-safe. It fails only when the kernel has no random source at all: a node
  // with predictable ISNs must not start.
  if (sodium_init() < 0) std::abort();
  prf_key k;
  randombytes_buf(k.data(), k.size());
  return k;
}

std::uint64_t siphash24(const prf_key& key, const void* data, std::size_t n) {
  static_assert(crypto_shorthash_siphash24_KEYBYTES == sizeof(prf_key));
  unsigned char out[crypto_shorthash_siphash24_BYTES];
  crypto_shorthash_siphash24(out, static_cast<const unsigned char*>(data), n, key.data());
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | out[i];
  return v;
}

}  // namespace anvil::net
