#include "dataplane/proto/sasl.h"

#include <fstream>
#include <sstream>

namespace anvil::proto {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool from_hex(std::string_view hex, std::string& out) {
  if (hex.size() % 2 != 0) return false;
  out.clear();
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

constexpr std::uint32_t kMaxIterations = 1'000'000;

}  // namespace

bool constant_time_equal(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  volatile std::uint8_t diff = 0;
  for (std::size_t i = 0; i < n; ++i) diff = diff | (a[i] ^ b[i]);
  return diff == 0;
}

std::optional<credentials> credentials::parse(std::string_view text, std::string* error) {
  credentials c;
  int lineno = 0;
  for (std::string_view line : split(text, '\n')) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const auto f = split(line, ':');
    auto fail = [&](const char* why) {
      if (error != nullptr) *error = "line " + std::to_string(lineno) + ": " + why;
      return std::nullopt;
    };
    if (f.size() != 5) return fail("expected user:pbkdf2-sha256:iterations:salt:hash");
    if (f[0].empty()) return fail("empty user");
    if (f[1] != "pbkdf2-sha256") return fail("unknown scheme (want pbkdf2-sha256)");
    entry e;
    e.user = std::string(f[0]);
    std::uint64_t it = 0;
    for (char ch : f[2]) {
      if (ch < '0' || ch > '9' || it > kMaxIterations) return fail("bad iteration count");
      it = it * 10 + static_cast<std::uint64_t>(ch - '0');
    }
    if (f[2].empty() || it == 0 || it > kMaxIterations) return fail("bad iteration count");
    e.iterations = static_cast<std::uint32_t>(it);
    if (!from_hex(f[3], e.salt) || e.salt.size() < 8 || e.salt.size() > 256) {
      return fail("salt must be 8..256 bytes of hex");
    }
    std::string hash;
    if (!from_hex(f[4], hash) || hash.size() != e.hash.size())
      return fail("hash must be 32 bytes of hex");
    std::copy(hash.begin(), hash.end(), e.hash.begin());
    c._entries.push_back(std::move(e));
  }
  return c;
}

std::optional<credentials> credentials::load_file(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (error != nullptr) *error = "cannot open " + path;
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), error);
}

std::string credentials::make_line(std::string_view user, std::string_view password,
                                   std::string_view salt, std::uint32_t iterations) {
  const auto h = pbkdf2_sha256(password, salt, iterations);
  return std::string(user) + ":pbkdf2-sha256:" + std::to_string(iterations) + ":" + to_hex(salt) +
         ":" + to_hex({reinterpret_cast<const char*>(h.data()), h.size()});
}

bool credentials::verify(std::string_view user, std::string_view password) const {
  const entry* found = nullptr;
  for (const entry& e : _entries) {
    if (e.user == user && found == nullptr) found = &e;
  }
  // An unknown user runs the same derivation against a fixed dummy entry.
  // Its cost matches the first entry's so timing does not tell the two apart.
  static const sha256_digest kNoHash{};
  const std::uint32_t iterations =
      found != nullptr ? found->iterations : (_entries.empty() ? 1000 : _entries[0].iterations);
  const std::string_view salt =
      found != nullptr ? std::string_view(found->salt) : "anvil-dummy-salt";
  const sha256_digest& want = found != nullptr ? found->hash : kNoHash;
  const auto derived = pbkdf2_sha256(password, salt, iterations);
  const bool same = constant_time_equal(derived.data(), want.data(), derived.size());
  return found != nullptr && same;
}

std::optional<plain_message> parse_plain(std::string_view message) {
  const std::size_t a = message.find('\0');
  if (a == std::string_view::npos) return std::nullopt;
  const std::size_t b = message.find('\0', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  const std::string_view authzid = message.substr(0, a);
  const std::string_view authcid = message.substr(a + 1, b - a - 1);
  if (authcid.empty()) return std::nullopt;
  if (!authzid.empty() && authzid != authcid) return std::nullopt;
  return plain_message{authcid, message.substr(b + 1)};
}

bool check_plain(const credentials& creds, std::string_view message) {
  const auto m = parse_plain(message);
  return m.has_value() && creds.verify(m->authcid, m->passwd);
}

sha256_digest verified_cache::digest(const plain_message& m) const {
  sha256 h;
  h.update({reinterpret_cast<const char*>(_key.data()), _key.size()});
  // The user's length first, so "ab"+"c" and "a"+"bc" never share a digest.
  const std::uint64_t n = m.authcid.size();
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>(n >> (8 * i));
  h.update({len, sizeof len});
  h.update(m.authcid);
  h.update(m.passwd);
  return h.finish();
}

bool verified_cache::contains(const plain_message& m) const {
  if (_used == 0) return false;
  const sha256_digest d = digest(m);
  bool found = false;
  for (std::size_t i = 0; i < _used; ++i)
    found = constant_time_equal(d.data(), _entries[i].data(), d.size()) || found;
  return found;
}

void verified_cache::insert(const plain_message& m) {
  _entries[_next] = digest(m);
  _next = (_next + 1) % kEntries;
  if (_used < kEntries) ++_used;
}

}  // namespace anvil::proto
