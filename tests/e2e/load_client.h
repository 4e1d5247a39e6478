// A verifying load client: many connections, each a pipeline of plain binary GET/SET
// with opaque 0 (memtier_benchmark's memcache_binary pattern) or of text "get"/"set"
// lines (its memcache_text pattern; load_options::text_every mixes both on one server),
// responses matched to requests purely by order. Each connection owns its keys, so the expected
// answer to every GET (value, flags, or a miss) is known exactly at the time it is sent. Runs on
// one thread inside the client namespace with epoll; bounded by op count and a deadline, never by a
// timing assertion.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace anvil::e2e {

struct load_options {
  std::string ns, ip;
  std::uint16_t port = 11211;
  int connections = 4;
  int depth = 16;  // requests in flight per connection
  int ops_per_connection = 1000;
  int keys_per_connection = 64;
  int min_value = 1, max_value = 2000;
  int set_every = 3;  // one SET in this many ops, the rest GETs
  // memtier's memcache_text pattern ("set k f 0 n" / "get k", replies by order) on
  // every n-th connection (ids 0, n, 2n...): 0 = all binary, 1 = all text.
  int text_every = 0;
  std::chrono::milliseconds deadline{60000};
  std::uint32_t seed = 1;
};

struct load_result {
  long long ops_ok = 0;        // responses that matched exactly
  long long wrong_values = 0;  // GET answered with other bytes/flags, or a miss of a set key
  long long errors = 0;        // protocol violations, resets, early closes, refused connects
  int unfinished = 0;          // connections that had not completed at the deadline
  int connected = 0;
  std::chrono::milliseconds elapsed{0};
  std::string first_problem;  // request and response bytes of the first failure
  bool ok() const { return wrong_values == 0 && errors == 0 && unfinished == 0; }
  std::string summary() const;
};

load_result run_load(const load_options& opts);

}  // namespace anvil::e2e
