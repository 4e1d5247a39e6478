// memcached's "stats detail" per-prefix counters (get/hit/set/del per key prefix up to
// the first ':'), recorded only while `stats detail on` is in force. A fixed table
// (no allocation): prefixes past kSlots or longer than kMaxPrefix are not recorded,
// and the table is per lcore (the dump shows the lcore that answers it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace anvil::proto {

class prefix_stats {
 public:
  static constexpr std::size_t kSlots = 64;
  static constexpr std::size_t kMaxPrefix = 48;
  static constexpr std::size_t kDumpCapacity = 64 + kSlots * (kMaxPrefix + 4 * 21 + 32);

  bool enabled() const { return _enabled; }
  void set_enabled(bool on) { _enabled = on; }

  void record_get(std::string_view key, bool hit);
  void record_set(std::string_view key);
  void record_delete(std::string_view key);

  // memcached's text: "PREFIX p get N hit N set N del N\r\n"... "END\r\n".
  std::string_view dump(std::span<char> buf) const;

 private:
  struct slot {
    std::array<char, kMaxPrefix> prefix{};
    std::uint8_t len = 0;
    bool used = false;
    std::uint64_t gets = 0, hits = 0, sets = 0, dels = 0;
  };
  slot* find(std::string_view key);

  bool _enabled = false;
  std::array<slot, kSlots> _slots{};
};

}  // namespace anvil::proto
