// Index streams for the cache benchmarks (see workload.h).
#include "bench/cache/workload.h"

#include <cmath>
#include <map>
#include <memory>
#include <random>

namespace anvil::bench {

namespace {
// YCSB ZipfianGenerator (Gray et al., "Quickly generating billion-record synthetic
// databases"): rank 0 is the hottest.
class zipfian {
 public:
  zipfian(std::size_t n, double theta) : _n(static_cast<double>(n)), _theta(theta) {
    double zetan = 0;
    for (std::size_t i = 1; i <= n; ++i) zetan += 1.0 / std::pow(static_cast<double>(i), theta);
    _zetan = zetan;
    _alpha = 1.0 / (1.0 - theta);
    const double zeta2 = 1.0 + 1.0 / std::pow(2.0, theta);
    _eta = (1.0 - std::pow(2.0 / _n, 1.0 - theta)) / (1.0 - zeta2 / _zetan);
  }
  std::uint64_t next(double u) const {
    const double uz = u * _zetan;
    if (uz < 1.0) return 0;
    if (uz < 1.0 + std::pow(0.5, _theta)) return 1;
    return static_cast<std::uint64_t>(_n * std::pow(_eta * u - _eta + 1.0, _alpha));
  }

 private:
  double _n, _theta, _zetan = 0, _alpha = 0, _eta = 0;
};

std::uint64_t scramble(std::uint64_t x) {  // FNV-1a over the 8 bytes, like YCSB
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (int i = 0; i < 8; ++i) {
    h ^= (x >> (8 * i)) & 0xff;
    h *= 0x100000001b3ull;
  }
  return h;
}
}  // namespace

const std::vector<std::uint32_t>& index_stream(std::size_t n, bool zipf) {
  static std::map<std::pair<std::size_t, bool>, std::unique_ptr<std::vector<std::uint32_t>>> cache;
  auto& slot = cache[{n, zipf}];
  if (slot) return *slot;
  slot = std::make_unique<std::vector<std::uint32_t>>(kStreamLen);
  std::mt19937_64 rng(42 + n + (zipf ? 1 : 0));
  if (!zipf) {
    for (auto& v : *slot) v = static_cast<std::uint32_t>(rng() % n);
  } else {
    const zipfian z(n, 0.99);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (auto& v : *slot) v = static_cast<std::uint32_t>(scramble(z.next(u(rng))) % n);
  }
  return *slot;
}

}  // namespace anvil::bench
