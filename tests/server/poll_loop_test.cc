// The poll loop over a fake port: it hands each burst to the handler, flushes what the
// handler wrote, runs timers when due, marks quiescent points, honours stop (after
// letting in-flight work drain, bounded), and counts busy/idle iterations.
#include "dataplane/server/poll_loop.h"

#include "dataplane/server/drop_handler.h"
#include "dataplane/server/latency_histogram.h"
#include "dataplane/server/lcore_set.h"
#include "dataplane/server/tx_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <thread>
#include <vector>

namespace anvil::server {
namespace {

using port::rx_frame;

class fake_port {
 public:
  std::span<const rx_frame> rx_burst() {
    ++rx_calls;
    _held.clear();
    if (_queue.empty()) return {};
    _held = std::move(_queue.front());
    _queue.pop_front();
    _frames.clear();
    for (auto& f : _held) _frames.push_back({{f.data(), f.size()}, port::csum_state::unknown});
    return {_frames.data(), _frames.size()};
  }
  std::span<std::byte> begin_frame() {
    if (tx_capacity == 0) return {};
    _building.assign(port::kMaxFrame, std::byte{0});
    return {_building.data(), _building.size()};
  }
  void commit_frame(std::size_t len) {
    --tx_capacity;
    _building.resize(len);
    _pending.push_back(_building);
  }
  std::size_t flush() {
    ++flushes;
    std::size_t n = _pending.size();
    for (auto& f : _pending) sent.push_back(std::move(f));
    _pending.clear();
    return n;
  }
  port::mac_address mac() const { return {2, 0, 0, 0, 0, 1}; }
  const port::port_counters& counters() const { return _counters; }

  void push_burst(std::vector<std::vector<std::byte>> b) { _queue.push_back(std::move(b)); }
  std::size_t pending() const { return _pending.size(); }

  std::vector<std::vector<std::byte>> sent;
  int rx_calls = 0;
  int flushes = 0;
  int tx_capacity = 1 << 30;

 private:
  std::deque<std::vector<std::vector<std::byte>>> _queue;
  std::vector<std::vector<std::byte>> _held;
  std::vector<rx_frame> _frames;
  std::vector<std::byte> _building;
  std::vector<std::vector<std::byte>> _pending;
  port::port_counters _counters;
};
static_assert(port::packet_port<fake_port>);

std::vector<std::byte> frame_of(std::uint8_t tag, std::size_t len = 60) {
  return std::vector<std::byte>(len, std::byte{tag});
}

// Echoes every frame back with its first byte incremented.
struct echo_handler {
  template <class Sink>
  void on_rx(std::span<const rx_frame> burst, Sink& tx, std::uint64_t) {
    bursts.push_back(burst.size());
    for (const auto& f : burst) {
      auto buf = tx.begin_frame();
      if (buf.empty()) {
        ++no_buffer;
        continue;
      }
      std::memcpy(buf.data(), f.bytes.data(), f.bytes.size());
      buf[0] = std::byte{static_cast<std::uint8_t>(std::to_integer<int>(buf[0]) + 1)};
      tx.commit_frame(f.bytes.size());
    }
  }
  void quiescent() { ++quiescent_points; }
  std::vector<std::size_t> bursts;
  int quiescent_points = 0;
  int no_buffer = 0;
};

// A port with device drop counters: the loop reads them about once a second (a
// system call), never per iteration, and once more when it stops.
struct stats_port : fake_port {
  void poll_stats() { ++stats_polls; }
  int stats_polls = 0;
};
static_assert(port::packet_port<stats_port>);

TEST(PollLoop, ReadsPortStatsAboutOnceASecondAndAtTheEnd) {
  stats_port p;
  echo_handler h;
  loop_counters c;
  poll_loop loop(p, h, {}, c);
  const std::uint64_t t0 = monotonic_ns();
  constexpr int kIterations = 10000;
  for (int i = 0; i < kIterations; ++i) loop.run_once();
  const std::uint64_t seconds = (monotonic_ns() - t0) / 1'000'000'000 + 1;
  EXPECT_GE(p.stats_polls, 1) << "the first iteration reads them";
  EXPECT_LE(std::uint64_t(p.stats_polls), seconds) << "not per iteration";
  const int before = p.stats_polls;
  std::atomic<bool> stop{true};
  loop.run(stop);
  EXPECT_EQ(p.stats_polls, before + 1) << "a last read when the loop ends";
}

TEST(PollLoop, HandsEachBurstToTheHandlerAndFlushesWhatItWrote) {
  fake_port p;
  echo_handler h;
  loop_counters c;
  poll_loop loop(p, h, {}, c);
  p.push_burst({frame_of(1), frame_of(2), frame_of(3)});
  p.push_burst({frame_of(7)});
  EXPECT_TRUE(loop.run_once());
  ASSERT_EQ(p.sent.size(), 3u) << "one flush per iteration sends the whole burst's output";
  EXPECT_EQ(std::to_integer<int>(p.sent[0][0]), 2);
  EXPECT_EQ(std::to_integer<int>(p.sent[2][0]), 4);
  EXPECT_EQ(p.pending(), 0u);
  EXPECT_TRUE(loop.run_once());
  EXPECT_FALSE(loop.run_once());
  EXPECT_EQ(h.bursts, (std::vector<std::size_t>{3, 1}));
  EXPECT_EQ(h.quiescent_points, 3) << "every iteration is a quiescent point, idle or not";
  EXPECT_EQ(c.iterations.get(), 3u);
  EXPECT_EQ(c.idle_iterations.get(), 1u);
  EXPECT_EQ(c.rx_frames.get(), 4u);
  EXPECT_EQ(c.rx_bursts.get(), 2u);
  EXPECT_EQ(c.tx_frames.get(), 4u);
  EXPECT_GT(c.busy_cycles.get(), 0u);
}

TEST(PollLoop, AnEmptyBurstDoesNotCallTheHandler) {
  fake_port p;
  echo_handler h;
  loop_counters c;
  poll_loop loop(p, h, {}, c);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(loop.run_once());
  EXPECT_TRUE(h.bursts.empty());
  EXPECT_EQ(c.idle_iterations.get(), 5u);
  EXPECT_EQ(c.busy_cycles.get(), 0u);
}

// on_idle (where the server returns buffer pages, a syscall) runs only after iterations
// that received and sent nothing, never beside a burst being served.
struct idle_handler : echo_handler {
  void on_idle() { ++idle_calls; }
  int idle_calls = 0;
};

TEST(PollLoop, OnIdleRunsOnlyWhenNothingWasServed) {
  fake_port p;
  idle_handler h;
  loop_counters c;
  poll_loop loop(p, h, {}, c);
  p.push_burst({frame_of(1)});
  EXPECT_TRUE(loop.run_once());
  EXPECT_EQ(h.idle_calls, 0);
  EXPECT_FALSE(loop.run_once());
  EXPECT_FALSE(loop.run_once());
  EXPECT_EQ(h.idle_calls, 2);
  p.push_burst({frame_of(2), frame_of(3)});
  EXPECT_TRUE(loop.run_once());
  EXPECT_EQ(h.idle_calls, 2);
  EXPECT_EQ(c.idle_iterations.get(), 2u);
}

TEST(PollLoop, NoBufferIsTheHandlersToCountNotALoopStall) {
  fake_port p;
  p.tx_capacity = 1;
  echo_handler h;
  loop_counters c;
  poll_loop loop(p, h, {}, c);
  p.push_burst({frame_of(1), frame_of(2)});
  loop.run_once();
  EXPECT_EQ(p.sent.size(), 1u);
  EXPECT_EQ(h.no_buffer, 1);
}

struct timer_handler {
  template <class Sink>
  void on_rx(std::span<const rx_frame>, Sink&, std::uint64_t) {}
  template <class Sink>
  std::uint64_t on_timers(Sink& tx, std::uint64_t now) {
    ++runs;
    auto b = tx.begin_frame();
    std::memset(b.data(), 0xee, 60);
    tx.commit_frame(60);
    return now + next_in;
  }
  int runs = 0;
  std::uint64_t next_in = 0;
};

// A handler with a lot to send (a 1 MB response: hundreds of frames) sends it through
// budget_sink: at most kTxBudgetFrames per iteration; what the budget refuses is held
// (as net::stack does) and resumed by resume_output on the next iterations, between RX
// bursts, until all of it left, in order.
struct bulk_handler {
  std::uint32_t owed = 0, next = 0;  // frames still to send, the next sequence number
  std::uint32_t budget = kTxBudgetFrames;
  bool held = false;
  template <class Sink>
  void send_owed(Sink& tx) {
    budget_sink<Sink> out(tx, budget);
    while (owed > 0) {
      auto b = out.begin_frame();
      if (b.empty()) break;  // back-pressure: keep it owed
      std::memcpy(b.data(), &next, sizeof next);
      out.commit_frame(60);
      ++next;
      --owed;
    }
    held = out.held();
  }
  template <class Sink>
  void on_rx(std::span<const rx_frame> burst, Sink& tx, std::uint64_t) {
    owed += 200 * static_cast<std::uint32_t>(burst.size());
    send_owed(tx);
  }
  template <class Sink>
  void resume_output(Sink& tx, std::uint64_t) {
    if (held && budget > 0) send_owed(tx);
  }
  void quiescent() { budget = kTxBudgetFrames; }
};

TEST(PollLoop, ATxBudgetSpreadsABigResponseOverIterationsAndLosesNothing) {
  fake_port p;
  bulk_handler h;
  loop_counters c;
  poll_loop loop(p, h, {}, c);
  p.push_burst({frame_of(1)});  // "a request": 200 frames to send
  std::vector<std::size_t> per_iteration;
  for (int i = 0; i < 6; ++i) {
    const std::size_t before = p.sent.size();
    loop.run_once();
    per_iteration.push_back(p.sent.size() - before);
  }
  EXPECT_EQ(per_iteration, (std::vector<std::size_t>{64, 64, 64, 8, 0, 0}))
      << "a budget per iteration, the rest resumed without new input";
  ASSERT_EQ(p.sent.size(), 200u);
  for (std::uint32_t i = 0; i < 200; ++i) {
    std::uint32_t seq = 0;
    std::memcpy(&seq, p.sent[i].data(), sizeof seq);
    ASSERT_EQ(seq, i) << "in order, none lost";
  }
  EXPECT_EQ(p.counters().tx_no_buffer.get(), 0u) << "the budget is not the port running dry";
}

// A port that refuses (budget left, but no buffer) is held the same way.
TEST(PollLoop, AFullPortHoldsOutputUntilItTakesFramesAgain) {
  fake_port p;
  p.tx_capacity = 10;
  bulk_handler h;
  loop_counters c;
  poll_loop loop(p, h, {}, c);
  p.push_burst({frame_of(1)});
  loop.run_once();
  EXPECT_EQ(p.sent.size(), 10u);
  EXPECT_TRUE(h.held);
  loop.run_once();
  EXPECT_EQ(p.sent.size(), 10u) << "still full";
  p.tx_capacity = 1 << 30;
  for (int i = 0; i < 4; ++i) loop.run_once();
  EXPECT_EQ(p.sent.size(), 200u);
  EXPECT_FALSE(h.held);
}

TEST(PollLoop, TimersRunWhenDueAndTheirFramesLeaveInTheSameIteration) {
  fake_port p;
  timer_handler h;
  loop_counters c;
  poll_loop loop(p, h, {}, c);
  h.next_in = 3'600'000'000'000;  // an hour
  EXPECT_TRUE(loop.run_once());
  EXPECT_EQ(h.runs, 1);
  EXPECT_EQ(p.sent.size(), 1u) << "a retransmit produced by a timer is flushed at once";
  EXPECT_FALSE(loop.run_once());
  EXPECT_EQ(h.runs, 1) << "not due again";
  EXPECT_EQ(c.timer_runs.get(), 1u);
}

struct draining_handler {
  template <class Sink>
  void on_rx(std::span<const rx_frame> b, Sink&, std::uint64_t) {
    received += static_cast<int>(b.size());
  }
  template <class Sink>
  void on_stop(Sink& tx, std::uint64_t) {
    stopped = true;
    auto b = tx.begin_frame();
    tx.commit_frame(b.size() >= 60 ? 60 : 0);  // a FIN, say
  }
  bool in_flight() const { return received < wanted; }
  void on_thread_start() { started = true; }
  bool started = false;
  bool stopped = false;
  int received = 0;
  int wanted = 0;
};

TEST(PollLoop, StopDrainsInFlightWorkThenFlushes) {
  fake_port p;
  draining_handler h;
  h.wanted = 2;
  loop_counters c;
  poll_loop loop(p, h, {}, c);
  std::atomic<bool> stop{true};
  p.push_burst({frame_of(1)});
  p.push_burst({frame_of(2)});
  loop.run(stop);
  EXPECT_TRUE(h.started);
  EXPECT_TRUE(h.stopped);
  EXPECT_EQ(h.received, 2) << "in-flight work completes after stop";
  EXPECT_EQ(p.sent.size(), 1u) << "what on_stop wrote is flushed";
}

TEST(PollLoop, DrainIsBoundedInTime) {
  fake_port p;
  draining_handler h;
  h.wanted = 1'000'000;  // never satisfied
  loop_counters c;
  loop_config cfg;
  cfg.drain_timeout_ns = 50'000'000;
  cfg.idle = idle_policy::sleepy(1000, 0);
  poll_loop loop(p, h, cfg, c);
  std::atomic<bool> stop{true};
  auto t0 = std::chrono::steady_clock::now();
  loop.run(stop);
  auto dt = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(dt, std::chrono::milliseconds(45));
  EXPECT_LT(dt, std::chrono::seconds(2));
}

TEST(PollLoop, BackoffSleepsOnlyAfterTheSpinBudgetAndStopEndsTheLoop) {
  fake_port p;
  echo_handler h;
  loop_counters c;
  loop_config cfg;
  cfg.idle = idle_policy::sleepy(200, 10);
  poll_loop loop(p, h, cfg, c);
  std::atomic<bool> stop{false};
  std::thread t([&] { loop.run(stop); });
  // At least 100 ms, and until it has slept a few times (a loaded machine may not run
  // the thread at first); the 30 s bound only keeps a broken loop from hanging.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (c.sleeps.get() < 5 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  stop.store(true);
  t.join();
  const auto it = c.iterations.get();
  const auto sl = c.sleeps.get();
  EXPECT_GE(sl, 5u) << "an idle back-off loop sleeps";
  EXPECT_LE(sl + 10, it) << "the first 10 empty polls spin";
  EXPECT_LT(it, 2000u) << "an idle back-off loop must not spin: " << it << " iterations";
}

TEST(PollLoop, BusyPollNeverSleeps) {
  fake_port p;
  echo_handler h;
  loop_counters c;
  poll_loop loop(p, h, {}, c);
  std::atomic<bool> stop{false};
  std::thread t([&] { loop.run(stop); });
  // Wait for progress, not for a time: on a loaded machine the thread may not run at
  // all for tens of milliseconds. The bound only keeps a broken loop from hanging.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (c.iterations.get() <= 1000 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  stop.store(true);
  t.join();
  EXPECT_GT(c.iterations.get(), 1000u) << "the loop made no progress in 30 s";
  EXPECT_EQ(c.sleeps.get(), 0u) << "a busy-poll loop never sleeps";
}

TEST(DropHandler, CountsFramesByEtherTypeAndSendsNothing) {
  fake_port p;
  drop_counters d;
  drop_handler h(d);
  loop_counters c;
  poll_loop loop(p, h, {}, c);
  auto typed = [](std::uint8_t hi, std::uint8_t lo) {
    auto f = frame_of(0);
    f[12] = std::byte{hi};
    f[13] = std::byte{lo};
    return f;
  };
  p.push_burst({typed(0x08, 0x06), typed(0x08, 0x00), typed(0x08, 0x00), typed(0x86, 0xdd)});
  loop.run_once();
  EXPECT_EQ(d.arp.get(), 1u);
  EXPECT_EQ(d.ipv4.get(), 2u);
  EXPECT_EQ(d.other.get(), 1u);
  EXPECT_TRUE(p.sent.empty()) << "it must not answer anything";
}

TEST(LcoreSet, RunsOnePinnedLoopPerPortCountersAreReadableWhileRunningAndStopJoins) {
  cpu_topology topo;
  const auto cpus = topo.allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  std::vector<std::unique_ptr<fake_port>> ports;
  for (int i = 0; i < 2; ++i) {
    ports.push_back(std::make_unique<fake_port>());
    ports.back()->push_burst({frame_of(1), frame_of(2)});
  }
  std::vector<drop_counters> drops(2);
  loop_config cfg;
  cfg.idle = idle_policy::sleepy(200, 10);
  std::atomic<int> pin_failures{0};
  lcore_set<fake_port, drop_handler> set(
      ports, {cpus.front(), cpus.back()}, topo, cfg,
      [&](unsigned i) { return std::make_unique<drop_handler>(drops[i]); },
      [&](unsigned, unsigned) { pin_failures.fetch_add(1); });
  ASSERT_EQ(set.size(), 2u);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((set.counters(0).rx_frames.get() < 2 || set.counters(1).rx_frames.get() < 2) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(set.counters(0).rx_frames.get(), 2u);
  EXPECT_EQ(set.counters(1).rx_frames.get(), 2u);
  set.request_stop();
  EXPECT_TRUE(set.wait_stopped(std::chrono::seconds(5)));
  EXPECT_EQ(pin_failures.load(), 0);
  EXPECT_EQ(drops[0].other.get() + drops[1].other.get(), 4u);
}

// A port whose per-thread set-up does not return until released: an lcore that never
// reaches its poll loop (as a thread that is never scheduled, or a driver call that
// blocks). Start-up must not hang on it: wait_started gives up at its bound and the
// report names the lcore, its cpu and where it stopped; once released, it starts.
class stuck_port : public fake_port {
 public:
  void attach_thread() {
    while (!release->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::atomic<bool>* release = nullptr;
};
static_assert(port::packet_port<stuck_port>);

TEST(LcoreSet, StartIsBoundedAndNamesTheLcoreThatDidNotStart) {
  cpu_topology topo;
  const auto cpus = topo.allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  std::atomic<bool> go{true}, hold{false};
  std::vector<std::unique_ptr<stuck_port>> ports;
  for (int i = 0; i < 2; ++i) ports.push_back(std::make_unique<stuck_port>());
  ports[0]->release = &go;
  ports[1]->release = &hold;  // lcore 1 never gets past its set-up
  std::vector<drop_counters> drops(2);
  loop_config cfg;
  cfg.idle = idle_policy::sleepy(200, 10);
  lcore_set<stuck_port, drop_handler> set(
      ports, {cpus.front(), cpus.back()}, topo, cfg,
      [&](unsigned i) { return std::make_unique<drop_handler>(drops[i]); });
  EXPECT_FALSE(set.wait_started(std::chrono::milliseconds(200)));
  const std::string report = set.start_report();
  EXPECT_EQ(report,
            "lcore 1 cpu " + std::to_string(cpus.back()) + ": pinned, setting up its port queue")
      << "lcore 0 polls, so only lcore 1 is reported";
  hold.store(true);
  EXPECT_TRUE(set.wait_started(std::chrono::seconds(5)));
  EXPECT_EQ(set.start_report(), "");
  set.request_stop();
  EXPECT_TRUE(set.wait_stopped(std::chrono::seconds(5)));
}


// The one-second window figures (loop_counters.h): published by the loop once a window
// ends; the longest iteration covers a slow one (a handler that sleeps 30 ms once), and
// the busy cycles never exceed the window's wall cycles. Bounded by iteration count and
// a 5 s guard, asserted on lower bounds only (a slow machine makes them larger).
struct slow_once_handler : echo_handler {
  template <class Sink>
  void on_rx(std::span<const rx_frame> burst, Sink& tx, std::uint64_t now) {
    echo_handler::on_rx(burst, tx, now);
    if (!slept) {
      slept = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    }
  }
  bool slept = false;
};

TEST(PollLoop, PublishesTheLongestIterationAndBusyCyclesOfTheLastWindow) {
  fake_port p;
  slow_once_handler h;
  loop_counters c;
  poll_loop loop(p, h, {}, c);
  EXPECT_EQ(c.windows.load(), 0u);
  p.push_burst({frame_of(1)});
  const std::uint64_t start = monotonic_ns();
  while (c.windows.load() == 0 && monotonic_ns() - start < 5'000'000'000ull) loop.run_once();
  ASSERT_EQ(c.windows.load(), 1u) << "a window ends after about a second";
  const double cps = latency_bounds::measured().cycles_per_second;
  EXPECT_GE(double(c.window_longest_iteration.load()), 0.029 * cps);
  EXPECT_GE(double(c.window_busy_cycles.load()), 0.029 * cps);
  EXPECT_LE(c.window_busy_cycles.load(), c.window_cycles.load());
  EXPECT_GE(double(c.window_cycles.load()), 0.9 * cps);
  // The next window has no slow iteration: what it publishes is its own.
  while (c.windows.load() == 1 && monotonic_ns() - start < 8'000'000'000ull) loop.run_once();
  ASSERT_EQ(c.windows.load(), 2u);
  EXPECT_LT(c.window_longest_iteration.load(), c.window_cycles.load());
  EXPECT_EQ(c.window_busy_cycles.load(), 0u) << "nothing was received or sent";
}

}  // namespace
}  // namespace anvil::server
