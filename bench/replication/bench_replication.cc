// What replication costs the lcore per mutation (docs/replication.md, "Cost"): the hook
// alone (mutation_ring::on_mutation, a slot copy and one release store), and a binary SET
// through proto::handler over a real engine without and with the hook, so the ratio is
// the share of a SET that replication adds. The ring is drained on the same thread every
// 8192 requests with the clock paused (a drain thread on a 2-core box would measure the
// scheduler instead); the drain's pop cost is reported apart.
//   ./build/bench/replication/bench_replication --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "cache/engine.h"
#include "control/replication/mutation_ring.h"
#include "control/replication/primary_log.h"
#include "dataplane/proto/handler.h"
#include "tests/proto/wire_util.h"

namespace {

using namespace anvil;
using namespace anvil::proto::testing;

constexpr int kKeys = 1024;
std::string key(int i) { return "key:" + std::to_string(100000 + i); }
const std::string kValue(32, 'v');

std::size_t drain(replication::mutation_ring& r) {
  return r.pop(1u << 20,
               [](const replication::ring_entry& e) { benchmark::DoNotOptimize(e.opcode); });
}

// The hook alone: one push per iteration; the ring emptied every 64 pushes outside timing.
void BM_hook_push(benchmark::State& state) {
  replication::mutation_ring ring(16384);
  const proto::mutation_hook hook = ring.hook();
  const std::string k(static_cast<std::size_t>(state.range(0)), 'k');
  std::size_t i = 0;
  for (auto _ : state) {
    hook(proto::mutation{proto::op::set, k, kValue, 0, 0, 1, 0});
    if ((++i & 8191) == 0) {  // rarely, so pausing the clock costs < 0.1 ns per push
      state.PauseTiming();
      drain(ring);
      state.ResumeTiming();
    }
  }
  if (ring.dropped() != 0) state.SkipWithError("the ring overflowed");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_hook_push)->Arg(10)->Arg(64)->Arg(250);

struct bench_stack {
  explicit bench_stack(proto::mutation_hook hook)
      : clk(1'700'000'000),
        eng(cache::engine_config{
            .memory_limit_bytes = 256u << 20, .partitions = 1, .numa_bind = false, .time = &clk}),
        ses(eng.open_session()),
        h(eng, ses, proto::handler_config{}, counters, {}, hook),
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

// A binary SET of a 32-byte value; state.range(0): 1 = with the replication hook.
void BM_set(benchmark::State& state) {
  replication::mutation_ring ring(16384);
  const bool hooked = state.range(0) != 0;
  bench_stack s(hooked ? ring.hook() : proto::mutation_hook{});
  std::vector<std::string> reqs;
  for (int i = 0; i < kKeys; ++i) reqs.push_back(store_req(proto::op::set, key(i), kValue));
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.handle(reqs[i++ % kKeys]));
    if ((i & 63) == 0) s.ses.quiescent();
    // Every 1024 SETs, in both variants (the pause costs the same in each): about what a
    // drain polling every millisecond leaves in the ring at a million SETs per second, so
    // the ring's slots stay in cache as they do in the server.
    if ((i & 1023) == 0) {
      state.PauseTiming();
      drain(ring);
      state.ResumeTiming();
    }
  }
  if (ring.dropped() != 0) state.SkipWithError("the ring overflowed");
  if (hooked && ring.pushed() != static_cast<std::uint64_t>(state.iterations()))
    state.SkipWithError("not every SET reached the ring");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetLabel(hooked ? "with hook" : "no hook");
}
BENCHMARK(BM_set)->Arg(0)->Arg(1);

// The control side's whole drain per entry (pop, engine peek of a 32-byte item, frame
// encoding, the log's append): the mutation rate one drain thread sustains before the
// rings overflow.
void BM_drain_to_log(benchmark::State& state) {
  replication::mutation_ring ring(1024);
  replication::mutation_ring* rings[] = {&ring};
  bench_stack s(proto::mutation_hook{});
  std::string in;
  for (int i = 0; i < kKeys; ++i) in += store_req(proto::op::setq, key(i), kValue);
  s.handle(in);
  replication::primary_log log(64u << 20);
  replication::drain d(s.eng, rings, log);
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) keys.push_back(key(i));
  for (auto _ : state) {
    state.PauseTiming();
    for (int j = 0; j < 1024; ++j) ring.push(proto::op::set, keys[static_cast<std::size_t>(j)], 0);
    state.ResumeTiming();
    benchmark::DoNotOptimize(d.run_once(true));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 1024);
}
BENCHMARK(BM_drain_to_log);

// The control side's pop per entry (not on the lcore), for scale.
void BM_drain_pop(benchmark::State& state) {
  replication::mutation_ring ring(1024);
  const std::string k = key(0);
  for (auto _ : state) {
    state.PauseTiming();
    for (int j = 0; j < 1024; ++j) ring.push(proto::op::set, k, 0);
    state.ResumeTiming();
    benchmark::DoNotOptimize(drain(ring));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 1024);
}
BENCHMARK(BM_drain_pop);

}  // namespace

BENCHMARK_MAIN();
