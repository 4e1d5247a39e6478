// The meta command line parser (mg ms md ma mn me): a pure function over one command
// line that gives the command, the key (base64-decoded with `b`), every flag's value,
// and the flag tokens in request order (responses echo them in that order), or the
// exact error line memcached 1.6 answers for that line.
//
// What it reproduces of memcached's proto_text.c (probed against 1.6.18):
// - tokens are split on spaces only, at most 24 tokens counting a terminal one; a meta
//   command with more than 20 (mg: 17 flags, ms: 16, md/ma: 17) is refused;
// - the check order: no key -> "ERROR"; key over 250 bytes (before decoding) -> "bad
//   command line format"; ms without a length; too many flags; ms length; then the flags
//   left to right: a flag character seen twice, or one >= 127, ends the scan with
//   "duplicate flag", an unknown one with "invalid flag"; a bad token records its error
//   and the scan goes on (a later error message replaces an earlier one, F's bad token
//   leaves the message as it was); md and ma answer every flag error with "invalid or
//   duplicate flag";
// - numbers as memcached's safe_strto* read them (text_numbers.h); T/N/R are int32
//   (a value past int32 wraps, as memcached's truncation does); F is uint32; C/D/J/E
//   uint64;
// - base64 keys as memcached's decoder reads them (characters outside the alphabet are
//   skipped, decoding stops at the first padded block; an empty result is an error).
// Additions to memcached 1.6.18: `E<cas>` (explicit CAS, from later memcached releases):
// the CAS to give the item ms/ma/md-I write. 1.6.18 answers "invalid flag" for it.
// An opaque over 32 bytes is refused here, before any effect (memcached: mg and ma
// check it after the lookup, so a T or N before it still applies).
// No allocation: the request holds views into `line` and into the caller's key buffer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace anvil::proto::meta {

inline constexpr std::size_t kMaxTokens = 24;     // memcached MAX_TOKENS (with the terminal)
inline constexpr std::size_t kMaxOptTokens = 20;  // MFLAG_MAX_OPT_LENGTH
inline constexpr std::size_t kMaxOpaque = 32;     // MFLAG_MAX_OPAQUE_LENGTH ('O' included)
inline constexpr std::size_t kMaxKey = 250;       // KEY_MAX_LENGTH
// A decoded base64 key of at most 250 encoded bytes fits.
inline constexpr std::size_t kKeyBuffer = 256;

enum class command : std::uint8_t { mg, ms, md, ma, mn, me };

// Everything the flags say (memcached's struct _meta_flags, plus E).
struct flags {
  bool value = false;                // v
  bool no_update = false;            // u
  bool no_reply = false;             // q
  bool set_stale = false;            // I
  bool has_cas = false;              // C
  bool new_ttl = false;              // T
  bool vivify = false;               // N
  bool recache = false;              // R
  bool key_binary = false;           // b
  bool has_new_cas = false;          // E
  char mode = 0;                     // M (its one character)
  std::int32_t exptime = 0;          // T, as sent (int32)
  std::int32_t autoviv_exptime = 0;  // N
  std::int32_t recache_time = 0;     // R
  std::uint32_t client_flags = 0;    // F
  std::uint64_t req_cas = 0;         // C
  std::uint64_t new_cas = 0;         // E
  std::uint64_t delta = 1;           // D (ma; default 1)
  std::uint64_t initial = 0;         // J (ma)
};

struct request {
  command cmd = command::mn;
  std::string_view key;      // decoded with b (then it points into the key buffer)
  std::string_view raw_key;  // as sent
  std::int32_t datalen = 0;  // ms: bytes of the data block, without its "\r\n"
  flags f;
  // The flag tokens in request order (after the key; ms: after the length).
  std::array<std::string_view, kMaxTokens> tok{};
  std::size_t ntok = 0;
  // Order facts the answers depend on (memcached applies T/N in token order).
  bool t_before_r = false;  // a T token precedes the R token
  bool t_after_n = false;   // a T token follows the N token (vivify: T's TTL wins)
};

struct parse_result {
  bool ok = true;
  std::string_view error;  // the whole response line without "\r\n" when !ok
  // ms refused after its length was read: memcached swallows length + 2 bytes.
  bool swallow = false;
  std::uint64_t swallow_bytes = 0;
};

// `line` is the command line without "\r\n" (it may start with spaces). The first
// token must be one of mg ms md ma mn me (the text path only calls for those).
parse_result parse(std::string_view line, request& out, char (&key_buf)[kKeyBuffer]);

// memcached's base64 (RFC 1341 alphabet). decode: bytes written, 0 = invalid (or not
// enough room); encode: bytes written (no terminator), 0 when `cap` is too small.
std::size_t base64_decode(std::string_view in, char* out, std::size_t cap);
std::size_t base64_encode(std::string_view in, char* out, std::size_t cap);
inline constexpr std::size_t base64_encoded_size(std::size_t n) { return (n + 2) / 3 * 4; }

}  // namespace anvil::proto::meta
