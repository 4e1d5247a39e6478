// Keys and values of the load: key i is "key:" + i in at least 8 zero-padded digits, and
// its value is a pure function of (i, length), so any GET hit can be verified without a
// shadow copy of the data, whichever connection wrote the key last.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace anvil::loadgen {

inline std::uint64_t splitmix64(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

class keyspace {
 public:
  static constexpr std::size_t kPrefixLen = 4;  // "key:"

  explicit keyspace(std::uint64_t keys, std::size_t value_len)
      : _keys(keys), _value_len(value_len) {
    _digits = 8;
    for (std::uint64_t k = keys ? keys - 1 : 0, lim = 100000000; k >= lim && _digits < 20;
         lim *= 10)
      ++_digits;
  }

  std::uint64_t keys() const { return _keys; }
  std::size_t key_len() const { return kPrefixLen + _digits; }
  std::size_t value_len() const { return _value_len; }

  // Writes key i into out (key_len() bytes).
  void key(std::uint64_t i, char* out) const {
    out[0] = 'k', out[1] = 'e', out[2] = 'y', out[3] = ':';
    for (std::size_t d = _digits; d-- > 0; i /= 10) out[kPrefixLen + d] = char('0' + i % 10);
  }

  // Writes key i's value into out (value_len() bytes): printable letters from a
  // splitmix64 stream seeded by the key, so neighbouring keys differ in every word.
  void value(std::uint64_t i, std::span<std::byte> out) const {
    std::uint64_t s = i * 0x2545f4914f6cdd1dull + _value_len;
    std::size_t n = 0;
    while (n < out.size()) {
      std::uint64_t w = splitmix64(s);
      for (int b = 0; b < 8 && n < out.size(); ++b, w >>= 8)
        out[n++] = std::byte('a' + (w & 0xff) % 26);
    }
  }

 private:
  std::uint64_t _keys;
  std::size_t _value_len;
  std::size_t _digits;
};

}  // namespace anvil::loadgen
