#include "dataplane/proto/prefix_stats.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace anvil::proto {

prefix_stats::slot* prefix_stats::find(std::string_view key) {
  const std::size_t colon = key.find(':');
  if (colon == std::string_view::npos || colon > kMaxPrefix) return nullptr;
  const std::string_view p = key.substr(0, colon);
  for (slot& s : _slots) {
    if (!s.used) {
      s.used = true;
      s.len = static_cast<std::uint8_t>(p.size());
      std::memcpy(s.prefix.data(), p.data(), p.size());
      return &s;
    }
    if (std::string_view(s.prefix.data(), s.len) == p) return &s;
  }
  return nullptr;
}

void prefix_stats::record_get(std::string_view key, bool hit) {
  if (slot* s = find(key)) {
    ++s->gets;
    if (hit) ++s->hits;
  }
}

void prefix_stats::record_set(std::string_view key) {
  if (slot* s = find(key)) ++s->sets;
}

void prefix_stats::record_delete(std::string_view key) {
  if (slot* s = find(key)) ++s->dels;
}

std::string_view prefix_stats::dump(std::span<char> buf) const {
  std::size_t n = 0;
  auto put = [&](std::string_view t) {
    const std::size_t k = std::min(t.size(), buf.size() - n);
    std::memcpy(buf.data() + n, t.data(), k);
    n += k;
  };
  auto num = [&](std::uint64_t v) {
    char tmp[24];
    const auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    put({tmp, static_cast<std::size_t>(r.ptr - tmp)});
  };
  for (const slot& s : _slots) {
    if (!s.used) break;
    put("PREFIX ");
    put({s.prefix.data(), s.len});
    put(" get ");
    num(s.gets);
    put(" hit ");
    num(s.hits);
    put(" set ");
    num(s.sets);
    put(" del ");
    num(s.dels);
    put("\r\n");
  }
  put("END\r\n");
  return {buf.data(), n};
}

}  // namespace anvil::proto
