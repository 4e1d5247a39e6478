// The meta command line parser: memcached's tokenize_command + _meta_flag_preparse and
// the per-command checks of process_m*_command, in memcached's order (meta_parser.h).
#include "dataplane/proto/meta_parser.h"

#include <climits>
#include <cstring>

#include "dataplane/proto/text_numbers.h"

namespace anvil::proto::meta {

namespace {

constexpr std::string_view kError = "ERROR";
constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format";
constexpr std::string_view kBadToken = "CLIENT_ERROR bad token in command line format";
constexpr std::string_view kInvalidFlag = "CLIENT_ERROR invalid flag";
constexpr std::string_view kDuplicateFlag = "CLIENT_ERROR duplicate flag";
constexpr std::string_view kBadKey = "CLIENT_ERROR error decoding key";
constexpr std::string_view kInvalidOrDuplicate = "CLIENT_ERROR invalid or duplicate flag";
constexpr std::string_view kOpaqueTooLong = "CLIENT_ERROR opaque token too long";

// memcached's decode table: 0..63 for the alphabet, 0 for '=', 0x80 for the rest.
constexpr std::array<std::uint8_t, 256> make_dtable() {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = 0x80;
  constexpr std::string_view a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < a.size(); ++i)
    t[static_cast<unsigned char>(a[i])] = static_cast<std::uint8_t>(i);
  t['='] = 0;
  return t;
}
constexpr std::array<std::uint8_t, 256> kDtable = make_dtable();
constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Splits on spaces as memcached's tokenize_command does (a NUL ends the line: it uses
// strlen). Returns memcached's ntokens: the tokens found, at most kMaxTokens - 1, plus
// the terminal token.
std::size_t tokenize(std::string_view line, std::array<std::string_view, kMaxTokens>& tok) {
  if (const void* z = std::memchr(line.data(), '\0', line.size()))
    line = line.substr(0, static_cast<std::size_t>(static_cast<const char*>(z) - line.data()));
  std::size_t n = 0;
  std::size_t i = 0;
  while (i < line.size() && n < kMaxTokens - 1) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i == line.size()) break;
    const std::size_t s = i;
    while (i < line.size() && line[i] != ' ') ++i;
    tok[n++] = line.substr(s, i - s);
  }
  return n + 1;
}

struct scan_state {
  std::string_view err = kBadFormat;
  bool has_error = false;
};

// _meta_flag_preparse over tok[start, ntokens - 1). Returns false on an error; `st.err`
// says which (for mg and ms; md and ma answer their own message).
bool preparse(request& r, const std::array<std::string_view, kMaxTokens>& tok, std::size_t start,
              std::size_t ntokens, char (&key_buf)[kKeyBuffer], scan_state& st) {
  bool seen[127] = {};
  flags& f = r.f;
  std::size_t t_at = 0, r_at = 0, n_at = 0;
  for (std::size_t i = start; i + 1 < ntokens; ++i) {
    const std::string_view t = tok[i];
    const auto o = static_cast<unsigned char>(t[0]);
    if (o >= 127 || seen[o]) {
      st.err = kDuplicateFlag;
      return false;
    }
    seen[o] = true;
    const std::string_view arg = t.substr(1);
    switch (o) {
      case 'b': {
        const std::size_t n = base64_decode(r.key, key_buf, sizeof key_buf);
        if (n == 0) {
          st.err = kBadKey;
          st.has_error = true;
        }
        r.key = std::string_view(key_buf, n);
        f.key_binary = true;
        break;
      }
      case 'N':
      case 'T':
      case 'R': {
        const auto v = text::to_i32(arg);
        if (!v) {
          st.err = kBadToken;
          st.has_error = true;
          break;
        }
        if (o == 'N') {
          f.vivify = true;
          f.autoviv_exptime = *v;
          n_at = i;
        } else if (o == 'T') {
          f.new_ttl = true;
          f.exptime = *v;
          t_at = i;
        } else {
          f.recache = true;
          f.recache_time = *v;
          r_at = i;
        }
        break;
      }
      case 'l':
      case 'O':
      case 'P':
      case 'L':
      case 'k':
      case 's':
      case 't':
      case 'c':
      case 'f':
      case 'h':
        break;
      case 'v':
        f.value = true;
        break;
      case 'u':
        f.no_update = true;
        break;
      case 'q':
        f.no_reply = true;
        break;
      case 'F':
        if (const auto v = text::to_u32(arg))
          f.client_flags = *v;
        else
          st.has_error = true;  // memcached leaves the message as it was
        break;
      case 'C':
      case 'E': {
        const auto v = text::to_u64(arg);
        if (!v) {
          st.err = kBadToken;
          st.has_error = true;
        } else if (o == 'C') {
          f.has_cas = true;
          f.req_cas = *v;
        } else {
          f.has_new_cas = true;
          f.new_cas = *v;
        }
        break;
      }
      case 'M':
        if (t.size() != 2) {
          st.err = "CLIENT_ERROR incorrect length for M token";
          st.has_error = true;
        } else {
          f.mode = t[1];
        }
        break;
      case 'J':
        if (const auto v = text::to_u64(arg)) {
          f.initial = *v;
        } else {
          st.err = "CLIENT_ERROR invalid numeric initial value";
          st.has_error = true;
        }
        break;
      case 'D':
        if (const auto v = text::to_u64(arg)) {
          f.delta = *v;
        } else {
          st.err = "CLIENT_ERROR invalid numeric delta value";
          st.has_error = true;
        }
        break;
      case 'I':
        f.set_stale = true;
        break;
      default:
        st.err = kInvalidFlag;
        return false;
    }
  }
  r.t_before_r = t_at != 0 && r_at != 0 && t_at < r_at;
  r.t_after_n = t_at != 0 && n_at != 0 && t_at > n_at;
  return !st.has_error;
}

bool opaque_too_long(const request& r) {
  for (std::size_t i = 0; i < r.ntok; ++i)
    if (r.tok[i][0] == 'O' && r.tok[i].size() > kMaxOpaque) return true;
  return false;
}

parse_result fail(std::string_view msg) { return {false, msg, false, 0}; }

}  // namespace

std::size_t base64_decode(std::string_view in, char* out, std::size_t cap) {
  std::size_t count = 0;
  for (const char c : in)
    if (kDtable[static_cast<unsigned char>(c)] != 0x80) ++count;
  if (count == 0 || count % 4 != 0 || count / 4 * 3 > cap) return 0;
  std::size_t pos = 0;
  std::uint8_t block[4];
  unsigned n = 0, pad = 0;
  for (const char c : in) {
    const std::uint8_t v = kDtable[static_cast<unsigned char>(c)];
    if (v == 0x80) continue;
    if (c == '=') ++pad;
    block[n++] = v;
    if (n == 4) {
      out[pos++] = static_cast<char>((block[0] << 2) | (block[1] >> 4));
      out[pos++] = static_cast<char>((block[1] << 4) | (block[2] >> 2));
      out[pos++] = static_cast<char>((block[2] << 6) | block[3]);
      n = 0;
      if (pad != 0) {
        if (pad > 2) return 0;  // invalid padding
        pos -= pad;
        break;
      }
    }
  }
  return pos;
}

std::size_t base64_encode(std::string_view in, char* out, std::size_t cap) {
  if (base64_encoded_size(in.size()) > cap) return 0;
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  std::size_t i = 0, o = 0;
  for (; in.size() - i >= 3; i += 3) {
    out[o++] = kAlphabet[s[i] >> 2];
    out[o++] = kAlphabet[((s[i] & 0x03) << 4) | (s[i + 1] >> 4)];
    out[o++] = kAlphabet[((s[i + 1] & 0x0f) << 2) | (s[i + 2] >> 6)];
    out[o++] = kAlphabet[s[i + 2] & 0x3f];
  }
  if (i < in.size()) {
    out[o++] = kAlphabet[s[i] >> 2];
    if (in.size() - i == 1) {
      out[o++] = kAlphabet[(s[i] & 0x03) << 4];
      out[o++] = '=';
    } else {
      out[o++] = kAlphabet[((s[i] & 0x03) << 4) | (s[i + 1] >> 4)];
      out[o++] = kAlphabet[(s[i + 1] & 0x0f) << 2];
    }
    out[o++] = '=';
  }
  return o;
}

parse_result parse(std::string_view line, request& r, char (&key_buf)[kKeyBuffer]) {
  std::array<std::string_view, kMaxTokens> tok{};
  const std::size_t ntokens = tokenize(line, tok);
  r = request{};
  switch (tok[0].size() == 2 ? tok[0][1] : '\0') {
    case 'g':
      r.cmd = command::mg;
      break;
    case 's':
      r.cmd = command::ms;
      break;
    case 'd':
      r.cmd = command::md;
      break;
    case 'a':
      r.cmd = command::ma;
      break;
    case 'e':
      r.cmd = command::me;
      break;
    case 'n':
      r.cmd = command::mn;
      return {};  // mn takes no flags and ignores any token
    default:
      return fail(kError);  // not a meta command (the caller should not ask)
  }
  if (ntokens >= 3) r.key = r.raw_key = tok[1];

  if (r.cmd == command::me) {
    // process_meta_command: only "b" as the third token means anything.
    if (ntokens < 3 || r.key.size() > kMaxKey) return fail(kBadFormat);
    if (ntokens >= 4 && tok[2] == "b") {
      const std::size_t n = base64_decode(r.key, key_buf, sizeof key_buf);
      if (n == 0) return fail(kBadFormat);
      r.key = std::string_view(key_buf, n);
      r.f.key_binary = true;
    }
    return {};
  }

  if (ntokens < 3) return fail(kError);
  if (r.key.size() > kMaxKey) return fail(kBadFormat);
  std::size_t first_flag = 2;
  if (r.cmd == command::ms) {
    if (ntokens == 3) return fail(kBadFormat);
    if (ntokens > kMaxOptTokens) return fail("CLIENT_ERROR options flags too long");
    const auto len = text::to_i32(tok[2]);
    if (!len || *len < 0 || *len > INT_MAX - 2) return fail(kBadFormat);
    r.datalen = *len;
    first_flag = 3;
  } else if (ntokens > kMaxOptTokens) {
    return fail(r.cmd == command::mg ? "CLIENT_ERROR options flags are too long"
                                     : "CLIENT_ERROR options flags too long");
  }
  r.ntok = ntokens - 1 - first_flag;
  for (std::size_t i = 0; i < r.ntok; ++i) r.tok[i] = tok[first_flag + i];

  scan_state st;
  const bool flags_ok = preparse(r, tok, first_flag, ntokens, key_buf, st);
  parse_result res;
  if (r.cmd == command::ms) {
    // From here on memcached swallows the data block of a refused ms.
    res.swallow_bytes = static_cast<std::uint64_t>(r.datalen) + 2;
    std::string_view err = flags_ok ? std::string_view{} : st.err;
    if (flags_ok) {
      if (opaque_too_long(r)) err = kOpaqueTooLong;
      switch (r.f.mode) {
        case 0:
        case 'E':
        case 'A':
        case 'P':
        case 'R':
        case 'S':
          break;
        default:
          err = "CLIENT_ERROR invalid mode for ms M token";
      }
    }
    if (!err.empty()) return {false, err, true, res.swallow_bytes};
    return res;
  }
  if (!flags_ok) return fail(r.cmd == command::mg ? st.err : kInvalidOrDuplicate);
  if (r.cmd == command::ma) {
    switch (r.f.mode) {
      case 0:
      case 'I':
      case '+':
      case 'D':
      case '-':
        break;
      default:
        return fail("CLIENT_ERROR invalid mode for ma M token");
    }
  }
  if (opaque_too_long(r)) return fail(kOpaqueTooLong);
  return res;
}

}  // namespace anvil::proto::meta
