// SASL PLAIN (RFC 4616) against a credentials file of salted password hashes.
// File format, one user per line ('#' starts a comment):
//   user:pbkdf2-sha256:ITERATIONS:SALT_HEX:HASH_HEX
// Passwords are never stored; verification derives PBKDF2-HMAC-SHA-256 and compares
// in constant time. An unknown user costs the same derivation as a known one, so
// timing reveals neither. Iterations run on the calling lcore: keep them modest
// (a few thousand) since a SASL attempt stalls that lcore for their duration. The
// handler bounds that cost: credentials that verified are remembered per lcore
// (verified_cache: a reconnecting client does not pay PBKDF2 again), and a connection
// is closed after a few failed attempts, so one connection costs at most that many
// derivations however many AUTHs it pipelines.
#pragma once

#include <array>
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

// A PLAIN message "[authzid] NUL authcid NUL passwd" split; nullopt when malformed,
// when the authcid is empty, or when an authzid differs from the authcid (no proxy
// authorisation).
struct plain_message {
  std::string_view authcid;
  std::string_view passwd;
};
std::optional<plain_message> parse_plain(std::string_view message);

// Checks a PLAIN message against the credentials (parse_plain, then verify).
bool check_plain(const credentials& creds, std::string_view message);

// Credentials that verified recently, so that a repeated AUTH with the same user and
// password (a reconnect, a connection pool) does not run PBKDF2 again. Holds keyed
// SHA-256 digests of "len(user) user passwd" under a random per-cache key, never
// passwords; fixed capacity, the oldest entry replaced first; no allocation. The
// credentials are immutable while serving, so an entry never goes stale. One per
// lcore (single thread).
class verified_cache {
 public:
  static constexpr std::size_t kEntries = 16;
  explicit verified_cache(const std::array<std::uint8_t, 32>& key) : _key(key) {}
  bool contains(const plain_message& m) const;
  void insert(const plain_message& m);

 private:
  sha256_digest digest(const plain_message& m) const;
  std::array<std::uint8_t, 32> _key;
  std::array<sha256_digest, kEntries> _entries{};
  std::size_t _used = 0;
  std::size_t _next = 0;
};

// Compares two equal-length byte ranges without an early exit.
bool constant_time_equal(const std::uint8_t* a, const std::uint8_t* b, std::size_t n);

}  // namespace anvil::proto
