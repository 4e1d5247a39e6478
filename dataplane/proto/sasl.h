// SASL PLAIN (RFC 4616) against a credentials file of salted password hashes.
// File format, one user per line ('#' starts a comment):
//   user:pbkdf2-sha256:ITERATIONS:SALT_HEX:HASH_HEX
// Passwords are never stored; verification derives PBKDF2-HMAC-SHA-256 and compares
// in constant time. An unknown user costs the same derivation as a known one, so
// timing reveals neither. Iterations run on the calling lcore: keep them modest
// (a few thousand) since a SASL attempt stalls that lcore for their duration.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/proto/sha256.h"

namespace anvil::proto {

inline constexpr std::string_view kSaslMechs = "PLAIN";

class credentials {
 public:
  // Parses the file's text; on error returns nullopt and says why in *error.
  static std::optional<credentials> parse(std::string_view text, std::string* error);
  static std::optional<credentials> load_file(const std::string& path, std::string* error);
  // One line for the file (what an admin tool would write).
  static std::string make_line(std::string_view user, std::string_view password,
                               std::string_view salt, std::uint32_t iterations);

  bool verify(std::string_view user, std::string_view password) const;
  std::size_t size() const { return _entries.size(); }

 private:
  struct entry {
    std::string user;
    std::string salt;
    std::uint32_t iterations = 0;
    sha256_digest hash{};
  };
  std::vector<entry> _entries;
};

// Checks a PLAIN message "[authzid] NUL authcid NUL passwd". An authzid, if present,
// must equal the authcid (no proxy authorisation).
bool check_plain(const credentials& creds, std::string_view message);

// Compares two equal-length byte ranges without an early exit.
bool constant_time_equal(const std::uint8_t* a, const std::uint8_t* b, std::size_t n);

}  // namespace anvil::proto
