// Runs request bytes through a proto::handler the way the server will: bytes arrive in
// pieces into a receive buffer, handle() is called, consumed bytes are dropped, the
// bounded sink is flushed whenever it fills. Checks the interface contract on every
// call (consumed <= input, need_bytes beyond what is buffered, no progress lost).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/engine.h"
#include "dataplane/proto/handler.h"

namespace anvil::proto::testing {

struct run_result {
  std::string output;
  bool closed = false;
  std::size_t unconsumed = 0;  // bytes left in the receive buffer at the end
};

// Feeds `input` cut at the offsets in `cuts` (ascending, within the input).
inline run_result drive(handler& h, cache::session& s, connection& c, std::string_view input,
                        std::span<const std::size_t> cuts, std::size_t sink_cap) {
  run_result rr;
  std::string rx;
  std::vector<std::byte> sink_mem(sink_cap);
  output_sink sink{sink_mem.data(), sink_mem.size(), 0};
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t to = i < cuts.size() ? cuts[i] : input.size();
    rx.append(input.substr(from, to - from));
    from = to;
    for (int rounds = 0;; ++rounds) {
      const auto res =
          h.handle(c, {reinterpret_cast<const std::byte*>(rx.data()), rx.size()}, sink);
      EXPECT_LE(res.consumed, rx.size());
      rr.output.append(reinterpret_cast<const char*>(sink.data), sink.size);
      sink.size = 0;
      rx.erase(0, res.consumed);
      s.quiescent();  // views handed out before are gone, as after a poll-loop turn
      if (res.close_after_flush) {
        rr.closed = true;
        rr.unconsumed = rx.size();
        return rr;
      }
      if (res.sink_full) {
        EXPECT_LT(rounds, 100000) << "no progress under backpressure";
        if (rounds >= 100000) return rr;
        continue;
      }
      EXPECT_TRUE(res.need_more);
      EXPECT_GT(res.need_bytes, rx.size()) << "need_more with the packet already buffered";
      break;
    }
  }
  rr.unconsumed = rx.size();
  return rr;
}

// One engine + session + handler, as one lcore of the server owns them.
struct stack {
  explicit stack(handler_config hc = {}, std::size_t memory = 8u << 20, facts_provider facts = {},
                 mutation_hook hook = {})
      : clk(1'700'000'000),
        eng(cache::engine_config{.memory_limit_bytes = memory,
                                 .max_item_size = 1u << 20,
                                 .partitions = 1,
                                 .numa_bind = false,
                                 .time = &clk}),
        ses(eng.open_session()),
        h(eng, ses, hc, counters, facts, hook) {}

  run_result run(std::string_view input, std::span<const std::size_t> cuts = {},
                 std::size_t sink_cap = 0) {
    return drive(h, ses, conn, input, cuts, sink_cap == 0 ? h.min_sink_capacity() : sink_cap);
  }

  cache::clock clk;
  cache::engine eng;
  cache::session ses;
  lcore_counters counters;
  handler h;
  connection conn;
};

}  // namespace anvil::proto::testing
