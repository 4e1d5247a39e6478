// Helpers for the io tests: an item stream over plain vectors, a map sink, temp dirs,
// and values that carry their own checksum (so a torn item is detectable).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "io/crc32c.h"
#include "io/item_stream.h"
#include "tests/support/temp_dir.h"

namespace anvil::io::test {

struct owned_item {
  std::string key, value;
  std::uint32_t flags = 0;
  std::uint32_t expires_at = 0;
  cache::cas_t cas = 0;
  cache::item_record rec() const { return {key, value, flags, expires_at, cas}; }
  bool operator==(const owned_item&) const = default;
};

class vector_source final : public item_source {
 public:
  explicit vector_source(std::vector<std::vector<owned_item>> parts, cache::cas_t cas = 0,
                         std::size_t max_item = 1 << 20)
      : _parts(std::move(parts)), _cas(cas), _max(max_item) {}
  std::size_t partition_count() override { return _parts.size(); }
  std::size_t max_item_size() override { return _max; }
  void for_each_item(std::size_t p,
                     const std::function<void(const cache::item_record&)>& fn) override {
    for (const auto& it : _parts[p]) fn(it.rec());
  }
  cache::cas_t cas_counter() override { return _cas; }

 private:
  std::vector<std::vector<owned_item>> _parts;
  cache::cas_t _cas;
  std::size_t _max;
};

class map_sink final : public item_sink {
 public:
  std::unique_ptr<item_inserter> open_inserter() override {
    struct ins final : item_inserter {
      explicit ins(map_sink& s) : sink(s) {}
      bool insert(const cache::item_record& r) override {
        std::lock_guard lk(sink.m);
        sink.items[std::string(r.key)] =
            owned_item{std::string(r.key), std::string(r.value), r.flags, r.expires_at, r.cas};
        return true;
      }
      map_sink& sink;
    };
    return std::make_unique<ins>(*this);
  }
  void raise_cas_counter(cache::cas_t c) override { cas = std::max(cas, c); }
  std::mutex m;
  std::map<std::string, owned_item> items;
  cache::cas_t cas = 0;
};

// A value whose last 8 hex digits are the CRC32C of the rest: any torn value fails.
inline std::string checked_value(std::string body) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", crc32c(body.data(), body.size()));
  return body + buf;
}
inline bool value_ok(std::string_view v) {
  if (v.size() < 8) return false;
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", crc32c(v.data(), v.size() - 8));
  return v.substr(v.size() - 8) == buf;
}

using anvil::test::temp_dir;

inline std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(dir, ec)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace anvil::io::test
