// The replication tap: an optional observer called after every successful mutation,
// in request order, with views valid during the call only. A plain function pointer
// and context (no virtual call); the default is a null pointer, tested once per
// mutation. The opcode is the non-quiet form (setq reports set).
#pragma once

#include <cstdint>
#include <string_view>

namespace anvil::proto {

struct mutation {
  std::uint8_t opcode = 0;  // set/add/replace/append/prepend/del/incr/decr/touch/gat/flush
  std::string_view key;
  std::string_view value;  // stored bytes (append/prepend: the appended piece)
  std::uint32_t flags = 0;
  std::uint32_t exptime = 0;  // as received (flush: its delay)
  std::uint64_t cas = 0;      // the new CAS (0 for delete and flush)
  std::uint64_t number = 0;   // incr/decr: the new value
};

struct mutation_hook {
  void* ctx = nullptr;
  void (*fn)(void* ctx, const mutation& m) = nullptr;

  void operator()(const mutation& m) const {
    if (fn != nullptr) fn(ctx, m);
  }
};

}  // namespace anvil::proto
