// SHA-256 (FIPS 180-4), HMAC-SHA-256 (RFC 2104) and PBKDF2-HMAC-SHA-256 (RFC 8018),
// just enough to verify SASL PLAIN passwords against salted hashes without a crypto
// library dependency. Checked against the published test vectors in tests/proto.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace anvil::proto {

using sha256_digest = std::array<std::uint8_t, 32>;

class sha256 {
 public:
  sha256();
  void update(std::string_view data);
  sha256_digest finish();

 private:
  void block(const std::uint8_t* p);
  std::array<std::uint32_t, 8> _h;
  std::array<std::uint8_t, 64> _buf{};
  std::size_t _buffered = 0;
  std::uint64_t _total = 0;
};

sha256_digest hmac_sha256(std::string_view key, std::string_view msg);
sha256_digest pbkdf2_sha256(std::string_view password, std::string_view salt,
                            std::uint32_t iterations);

}  // namespace anvil::proto
