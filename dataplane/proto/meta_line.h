// Building one meta response line (HD/VA/EN/NS/EX/NF/ME ... "\r\n") in a fixed buffer
// before it is copied whole into the sink: the line's exact size is known before
// anything is written, so a response is written whole or not at all. No allocation.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "dataplane/proto/meta_parser.h"
#include "dataplane/proto/writer.h"

namespace anvil::proto::meta {

// The longest response line: "VA <10 digits>" + s t c f l h (each with its widest
// number) + an opaque of 32 bytes + " k" with a base64 key and " b" + " Z X W" + "\r\n"
// (383 bytes). A value follows with its own "\r\n".
inline constexpr std::size_t kLineMax = 384;

// The largest response of any meta command for values up to `max_value` bytes.
inline constexpr std::size_t max_response(std::size_t max_value) {
  return kLineMax + max_value + 2;
}

class line_builder {
 public:
  void put(std::string_view s) {
    std::memcpy(_buf + _n, s.data(), s.size());
    _n += s.size();
  }
  void put(char c) { _buf[_n++] = c; }
  void put_u64(std::uint64_t v) {
    _n += static_cast<std::size_t>(std::to_chars(_buf + _n, _buf + _n + 20, v).ptr - (_buf + _n));
  }
  void put_i64(std::int64_t v) {
    _n += static_cast<std::size_t>(std::to_chars(_buf + _n, _buf + _n + 20, v).ptr - (_buf + _n));
  }
  // " k<key>", base64 with a trailing " b" for a binary key (memcached's META_KEY).
  void put_key(std::string_view key, bool binary) {
    put(" k");
    if (!binary) {
      put(key);
      return;
    }
    _n += base64_encode(key, _buf + _n, sizeof _buf - _n);
    put(" b");
  }
  void end() { put("\r\n"); }
  std::size_t size() const { return _n; }
  std::string_view view() const { return {_buf, _n}; }

 private:
  // A base64 key (at most 336 bytes for 250 raw ones, as me may print) plus the rest.
  char _buf[kLineMax + 128];
  std::size_t _n = 0;
};

// Appends the line (and an optional value with its "\r\n"); false when it does not fit.
inline bool write_line(output_sink& out, const line_builder& l, std::string_view value = {},
                       bool with_value = false) {
  const std::size_t n = l.size() + (with_value ? value.size() + 2 : 0);
  if (n > out.room()) return false;
  std::byte* p = out.data + out.size;
  std::memcpy(p, l.view().data(), l.size());
  if (with_value) {
    if (!value.empty()) std::memcpy(p + l.size(), value.data(), value.size());
    std::memcpy(p + l.size() + value.size(), "\r\n", 2);
  }
  out.size += n;
  return true;
}

}  // namespace anvil::proto::meta
