// Appending memcached text responses to an output_sink. The caller checks room first
// (the text path guarantees kTextSmallResponseMax before a command and checks a value
// line's exact size); these helpers only copy. No allocation.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "dataplane/proto/writer.h"

namespace anvil::proto::text {

inline void put(output_sink& o, std::string_view s) {
  std::memcpy(o.data + o.size, s.data(), s.size());
  o.size += s.size();
}

inline void put_u64(output_sink& o, std::uint64_t v) {
  char* p = reinterpret_cast<char*>(o.data + o.size);
  o.size += static_cast<std::size_t>(std::to_chars(p, p + 20, v).ptr - p);
}

inline void put_line(output_sink& o, std::string_view s) {
  put(o, s);
  put(o, "\r\n");
}

// "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n": its exact size.
inline std::size_t digits(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 10) {
    v /= 10;
    ++n;
  }
  return n;
}
inline std::size_t value_size(std::string_view key, std::uint32_t flags, std::string_view value,
                              bool with_cas, std::uint64_t cas) {
  return 6 + key.size() + 1 + digits(flags) + 1 + digits(value.size()) +
         (with_cas ? 1 + digits(cas) : 0) + 2 + value.size() + 2;
}
// The largest value line for a value of `max_value` bytes.
inline constexpr std::size_t max_value_size(std::size_t max_value) {
  return 6 + 250 + 1 + 10 + 1 + 20 + 1 + 20 + 2 + max_value + 2;
}

inline void put_value(output_sink& o, std::string_view key, std::uint32_t flags,
                      std::string_view value, bool with_cas, std::uint64_t cas) {
  put(o, "VALUE ");
  put(o, key);
  put(o, " ");
  put_u64(o, flags);
  put(o, " ");
  put_u64(o, value.size());
  if (with_cas) {
    put(o, " ");
    put_u64(o, cas);
  }
  put(o, "\r\n");
  put(o, value);
  put(o, "\r\n");
}

}  // namespace anvil::proto::text
