// Parse + execute + encode cost per request through proto::handler over a real cache
// engine, as one lcore would run it: pre-encoded request bytes in, responses appended
// to a sink that is reset (the "flush") after every call, a quiescent point every 64
// calls (a poll-loop turn). Keys and 32-byte values; items/s counts requests.
//   ./build/bench/proto/bench_proto --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "cache/engine.h"
#include "dataplane/proto/handler.h"
#include "tests/proto/wire_util.h"

namespace {

using namespace anvil;
using namespace anvil::proto::testing;

struct bench_stack {
  explicit bench_stack(bool batch = true, std::size_t memory = 256u << 20)
      : clk(1'700'000'000),
        eng(cache::engine_config{
            .memory_limit_bytes = memory, .partitions = 1, .numa_bind = false, .time = &clk}),
        ses(eng.open_session()),
        h(eng, ses, proto::handler_config{.batch_gets = batch}, counters),
        sink_mem(h.min_sink_capacity()),
        sink{sink_mem.data(), sink_mem.size(), 0} {}

  std::size_t handle(const std::string& in) {
    const auto r = h.handle(conn, {reinterpret_cast<const std::byte*>(in.data()), in.size()}, sink);
    const std::size_t written = sink.size;
    sink.size = 0;
    return r.consumed + written;
  }

  cache::clock clk;
  cache::engine eng;
  cache::session ses;
  proto::lcore_counters counters;
  proto::handler h;
  proto::connection conn;
  std::vector<std::byte> sink_mem;
  proto::output_sink sink;
};

constexpr int kKeys = 1024;
std::string key(int i) { return "key:" + std::to_string(100000 + i); }
const std::string kValue(32, 'v');

void preload(bench_stack& s) {
  std::string in;
  for (int i = 0; i < kKeys; ++i) in += store_req(proto::op::setq, key(i), kValue);
  s.handle(in);
}

void BM_get_hit(benchmark::State& state) {
  bench_stack s;
  preload(s);
  std::vector<std::string> reqs;
  reqs.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) reqs.push_back(get_req(proto::op::get, key(i)));
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.handle(reqs[i++ % kKeys]));
    if ((i & 63) == 0) s.ses.quiescent();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  if (s.counters.get_hits.load() != static_cast<std::uint64_t>(state.iterations())) {
    state.SkipWithError("not every GET hit");
  }
}
BENCHMARK(BM_get_hit);

void BM_set(benchmark::State& state) {
  bench_stack s;
  std::vector<std::string> reqs;
  reqs.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) reqs.push_back(store_req(proto::op::set, key(i), kValue));
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.handle(reqs[i++ % kKeys]));
    if ((i & 63) == 0) s.ses.quiescent();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_set);

// The same two commands as text lines (memtier's memcache_text) on a text connection.
void BM_text_get_hit(benchmark::State& state) {
  bench_stack s;
  preload(s);
  s.conn.reset();  // the preload chose binary for it
  std::vector<std::string> reqs;
  reqs.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) reqs.push_back("get " + key(i) + "\r\n");
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.handle(reqs[i++ % kKeys]));
    if ((i & 63) == 0) s.ses.quiescent();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  if (s.counters.get_hits.load() != static_cast<std::uint64_t>(state.iterations())) {
    state.SkipWithError("not every GET hit");
  }
}
BENCHMARK(BM_text_get_hit);

void BM_text_set(benchmark::State& state) {
  bench_stack s;
  std::vector<std::string> reqs;
  reqs.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) reqs.push_back("set " + key(i) + " 0 0 32\r\n" + kValue + "\r\n");
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.handle(reqs[i++ % kKeys]));
    if ((i & 63) == 0) s.ses.quiescent();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_text_set);

// Sets key(0) .. key(nkeys - 1) through the binary protocol, 1 MiB of SETQs a call.
void preload_keys(bench_stack& s, int nkeys) {
  std::string in;
  for (int i = 0; i < nkeys; ++i) {
    in += store_req(proto::op::setq, key(i), kValue);
    if (in.size() > (1u << 20)) {
      s.handle(in);
      in.clear();
    }
  }
  s.handle(in);
}

// 32 GETKQ (all hits) then NOOP in one receive buffer: 33 requests, 33 responses.
// Arg 0: batch lookups off/on; arg 1: keys in the cache (1K fits in L2; 1M does not).
void BM_getkq_batch32(benchmark::State& state) {
  const bool batch = state.range(0) != 0;
  const int nkeys = static_cast<int>(state.range(1));
  bench_stack s(batch, nkeys > kKeys ? (512u << 20) : (256u << 20));
  preload_keys(s, nkeys);
  // Batches over pseudo-random keys (a stride coprime with the key count).
  std::vector<std::string> batches;
  std::uint64_t k = 0;
  for (int b = 0; b < 256; ++b) {
    std::string in;
    for (int j = 0; j < 32; ++j) {
      k = (k + 7919) % static_cast<std::uint64_t>(nkeys);
      in += get_req(proto::op::getkq, key(static_cast<int>(k)));
    }
    in += simple_req(proto::op::noop);
    batches.push_back(std::move(in));
  }
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.handle(batches[i++ % batches.size()]));
    s.ses.quiescent();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 33);
  if (s.counters.get_hits.load() != static_cast<std::uint64_t>(state.iterations()) * 32) {
    state.SkipWithError("not every GETKQ hit");
  }
}
BENCHMARK(BM_getkq_batch32)
    ->ArgNames({"batch", "keys"})
    ->Args({1, 1024})
    ->Args({0, 1024})
    ->Args({1, 1 << 20})
    ->Args({0, 1 << 20});

// memtier's pipelined GETs (-P 8): 8 plain GET requests (binary) or 8 "get <key>" lines
// (text) in one receive buffer, all hits. Arg 0: 0 binary, 1 text; arg 1: keys in the
// cache (1K fits in L2; 1M does not, where looking the 8 up together pays); arg 2:
// batched lookups off/on (off: one lookup per request, text's only way before).
void BM_get_pipelined8(benchmark::State& state) {
  const bool text = state.range(0) != 0;
  const int nkeys = static_cast<int>(state.range(1));
  bench_stack s(state.range(2) != 0, nkeys > kKeys ? (512u << 20) : (256u << 20));
  preload_keys(s, nkeys);
  if (text) s.conn.reset();  // the preload chose binary for it
  // Every key once per pass (a stride coprime with the key count), so with 1M keys
  // the lookups miss the CPU caches as a large working set does.
  std::vector<std::string> batches;
  std::uint64_t k = 0;
  for (int b = 0; b < std::max(256, nkeys / 8); ++b) {
    std::string in;
    for (int j = 0; j < 8; ++j) {
      k = (k + 7919) % static_cast<std::uint64_t>(nkeys);
      in += text ? "get " + key(static_cast<int>(k)) + "\r\n"
                 : get_req(proto::op::get, key(static_cast<int>(k)));
    }
    batches.push_back(std::move(in));
  }
  const std::uint64_t hits0 = s.counters.get_hits.load();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.handle(batches[i++ % batches.size()]));
    if ((i & 7) == 0) s.ses.quiescent();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 8);
  if (s.counters.get_hits.load() - hits0 != static_cast<std::uint64_t>(state.iterations()) * 8) {
    state.SkipWithError("not every GET hit");
  }
}
BENCHMARK(BM_get_pipelined8)
    ->ArgNames({"text", "keys", "batch"})
    ->Args({0, 1024, 1})
    ->Args({1, 1024, 1})
    ->Args({0, 1 << 20, 1})
    ->Args({1, 1 << 20, 1})
    ->Args({0, 1 << 20, 0})
    ->Args({1, 1 << 20, 0});

// The same batch, all misses (quiet: only the NOOP answers).
void BM_getkq_batch32_miss(benchmark::State& state) {
  bench_stack s;
  std::string in;
  for (int k = 0; k < 32; ++k) in += get_req(proto::op::getkq, key(k));
  in += simple_req(proto::op::noop);
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.handle(in));
    s.ses.quiescent();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 33);
}
BENCHMARK(BM_getkq_batch32_miss);

// The engine's own lookup, for reference: GET hit minus this is the protocol's share.
void BM_engine_get_only(benchmark::State& state) {
  bench_stack s;
  preload(s);
  std::vector<std::string> keys;
  keys.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) keys.push_back(key(i));
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.ses.get(keys[i++ % kKeys]));
    if ((i & 63) == 0) s.ses.quiescent();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_engine_get_only);

// Framing and validation alone (no engine): the codec's share of the cost.
void BM_parse_only(benchmark::State& state) {
  const std::string in = get_req(proto::op::get, key(1));
  const auto* p = reinterpret_cast<const std::byte*>(in.data());
  for (auto _ : state) {
    const proto::request_header h = proto::decode_header(p);
    benchmark::DoNotOptimize(proto::check_framing(h));
    benchmark::DoNotOptimize(proto::check_command(h, 1u << 20));
    benchmark::DoNotOptimize(proto::make_request(h, p));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_parse_only);

}  // namespace

BENCHMARK_MAIN();
