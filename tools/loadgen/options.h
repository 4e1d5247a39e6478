// What one load-generator run does (the command line, parsed in main.cc).
#pragma once

#include <cstdint>
#include <string>

namespace anvil::loadgen {

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 11211;
  unsigned connections = 1;
  unsigned threads = 1;
  unsigned pipeline = 1;        // requests outstanding per connection
  bool text = false;            // memtier's memcache_text instead of memcache_binary
  double get_ratio = 0.9;       // fraction of GETs; the rest are SETs
  std::uint64_t keys = 100000;  // key space, chosen uniformly
  std::size_t value_len = 32;
  double warmup_s = 0;         // load before the measured phase, not recorded
  double duration_s = 10;      // measured phase bound (0: bound by requests only)
  std::uint64_t requests = 0;  // total measured requests bound (0: bound by time only)
  bool prefill = true;         // SET every key once before measuring
  bool prefill_only = false;   // ... and stop there
  bool verify = false;         // compare every GET hit with the expected value
  bool miss_is_error = false;  // a GET miss counts as an error (no eviction expected)
  std::uint64_t seed = 1;
  double connect_timeout_s = 5;
  double drain_timeout_s = 5;  // wait for outstanding responses after the bound
  std::string json_path;       // "-" = stdout, empty = none
  bool quiet = false;          // no text report
};

}  // namespace anvil::loadgen
