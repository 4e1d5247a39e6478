// Straightforward, portable SHA-256; speed is irrelevant (SASL only).
#include "dataplane/proto/sha256.h"

#include <algorithm>
#include <cstring>

namespace anvil::proto {
namespace {

constexpr std::uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

}  // namespace

sha256::sha256()
    : _h{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19} {}

void sha256::block(const std::uint8_t* p) {
  std::uint32_t w[64];
  for (std::size_t i = 0; i < 16; ++i) {
    w[i] = (std::uint32_t{p[4 * i]} << 24) | (std::uint32_t{p[4 * i + 1]} << 16) |
           (std::uint32_t{p[4 * i + 2]} << 8) | p[4 * i + 3];
  }
  for (int i = 16; i < 64; ++i) {
    const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  std::uint32_t a = _h[0], b = _h[1], c = _h[2], d = _h[3], e = _h[4], f = _h[5], g = _h[6],
                h = _h[7];
  for (int i = 0; i < 64; ++i) {
    const std::uint32_t t1 =
        h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK[i] + w[i];
    const std::uint32_t t2 =
        (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  _h[0] += a;
  _h[1] += b;
  _h[2] += c;
  _h[3] += d;
  _h[4] += e;
  _h[5] += f;
  _h[6] += g;
  _h[7] += h;
}

void sha256::update(std::string_view data) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(data.data());
  std::size_t n = data.size();
  _total += n;
  while (n > 0) {
    const std::size_t take = std::min(n, _buf.size() - _buffered);
    std::memcpy(_buf.data() + _buffered, p, take);
    _buffered += take;
    p += take;
    n -= take;
    if (_buffered == _buf.size()) {
      block(_buf.data());
      _buffered = 0;
    }
  }
}

sha256_digest sha256::finish() {
  const std::uint64_t bits = _total * 8;
  // 0x80, zeros up to 56 mod 64, the bit length: one update (PBKDF2 finishes twice
  // per iteration, so this is on its hot loop).
  std::array<std::uint8_t, 64 + 8> pad{};
  pad[0] = 0x80;
  const std::size_t zeros = (_buffered < 56 ? 55 - _buffered : 119 - _buffered);
  for (int i = 0; i < 8; ++i) pad[1 + zeros + i] = static_cast<std::uint8_t>(bits >> (56 - 8 * i));
  update({reinterpret_cast<const char*>(pad.data()), 1 + zeros + 8});
  sha256_digest out;
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<std::uint8_t>(_h[i] >> (24 - 8 * j));
  }
  return out;
}

namespace {
std::string_view as_view(const sha256_digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}
}  // namespace

namespace {

// HMAC's two hash states after absorbing the padded key: each HMAC of a message under
// the same key then starts from copies of them (2 compressions for a 32-byte message
// instead of 4), which halves PBKDF2's cost per iteration.
struct hmac_state {
  sha256 inner, outer;
  explicit hmac_state(std::string_view key) {
    std::array<std::uint8_t, 64> k{};
    if (key.size() > k.size()) {
      sha256 h;
      h.update(key);
      const auto d = h.finish();
      std::memcpy(k.data(), d.data(), d.size());
    } else {
      std::memcpy(k.data(), key.data(), key.size());
    }
    std::array<std::uint8_t, 64> ipad, opad;
    for (std::size_t i = 0; i < k.size(); ++i) {
      ipad[i] = k[i] ^ 0x36;
      opad[i] = k[i] ^ 0x5c;
    }
    inner.update({reinterpret_cast<const char*>(ipad.data()), ipad.size()});
    outer.update({reinterpret_cast<const char*>(opad.data()), opad.size()});
  }
  sha256_digest mac(std::string_view msg) const {
    sha256 in = inner;
    in.update(msg);
    const auto ih = in.finish();
    sha256 out = outer;
    out.update(as_view(ih));
    return out.finish();
  }
};

}  // namespace

sha256_digest hmac_sha256(std::string_view key, std::string_view msg) {
  return hmac_state(key).mac(msg);
}

// One output block (dkLen = 32) is all a password verifier needs.
sha256_digest pbkdf2_sha256(std::string_view password, std::string_view salt,
                            std::uint32_t iterations) {
  const hmac_state h(password);
  std::array<char, 256 + 4> first{};
  std::size_t n = std::min(salt.size(), std::size_t{256});
  std::memcpy(first.data(), salt.data(), n);
  const char one[4] = {0, 0, 0, 1};
  std::memcpy(first.data() + n, one, 4);
  sha256_digest u = h.mac({first.data(), n + 4});
  sha256_digest t = u;
  for (std::uint32_t i = 1; i < iterations; ++i) {
    u = h.mac(as_view(u));
    for (std::size_t j = 0; j < t.size(); ++j) t[j] ^= u[j];
  }
  return t;
}

}  // namespace anvil::proto
