// Runs one load: connects, pre-fills the key space, drives the measured phase from
// `threads` epoll threads (connections split round-robin), drains, and returns what
// happened. Each connection keeps `pipeline` requests outstanding and matches responses
// to requests in order (opaque 0, as memtier does). Per-request state lives in
// fixed rings and buffers sized at connect time: nothing is allocated per request.
#pragma once

#include <cstdint>
#include <string>

#include "tools/loadgen/histogram.h"
#include "tools/loadgen/options.h"

namespace anvil::loadgen {

struct error_counts {
  std::uint64_t connect = 0;     // connect failed or timed out
  std::uint64_t disconnect = 0;  // peer closed or reset a connection mid-run
  std::uint64_t protocol = 0;    // bad magic/lengths, wrong opcode, nonzero opaque, unsolicited
  std::uint64_t status = 0;      // a status other than OK (or key-not-found for GET)
  std::uint64_t value = 0;       // a GET hit whose value differs from what was set
  std::uint64_t miss = 0;        // GET misses, counted here only with miss_is_error
  std::uint64_t timeout = 0;     // requests still unanswered after the drain timeout
  std::uint64_t total() const {
    return connect + disconnect + protocol + status + value + miss + timeout;
  }
  void add(const error_counts& o);
};

struct run_result {
  unsigned connections_open = 0;
  std::uint64_t prefilled = 0;
  double prefill_s = 0;
  std::uint64_t requests = 0;         // measured responses received
  std::uint64_t responses_total = 0;  // also those to warm-up requests (server-side cost)
  std::uint64_t gets = 0, sets = 0, get_hits = 0, get_misses = 0;
  double elapsed_s = 0;  // measured phase, first send to last response
  histogram all, get, set;
  error_counts errors;
  double client_wall_s = 0, client_cpu_s = 0;  // this process, after the pre-fill
  std::string first_error;  // a human-readable description of the first error seen
  double throughput() const { return elapsed_s > 0 ? double(requests) / elapsed_s : 0; }
};

run_result run(const options& o);

}  // namespace anvil::loadgen
