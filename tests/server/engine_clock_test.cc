// The engine clock follows a monotonic source: stepping the wall clock (NTP, an operator
// with `date -s`) neither expires nor extends TTLs. On the old control loop the clock was
// set from time() every 250 ms, so the forward step below expired every item at once and
// the backward step kept them an hour past their TTL.
#include "control/engine_clock.h"

#include <gtest/gtest.h>

#include <string>

namespace anvil::control {
namespace {

constexpr std::int64_t kStart = 1'700'000'000;
constexpr std::int64_t kSecond = 1'000'000'000;

struct fake_time {
  std::int64_t wall = kStart;
  std::int64_t mono = 5 * kSecond;  // arbitrary origin: only differences count
};

struct fixture {
  fake_time t;
  engine_clock_driver drv{[this] { return t.wall; }, [this] { return t.mono; }};
  cache::engine eng{[this] {
    cache::engine_config c;
    c.memory_limit_bytes = 4u << 20;
    c.partitions = 1;
    c.numa_bind = false;
    c.time = &drv.clock();
    return c;
  }()};
  cache::session s = eng.open_session();

  void store(const std::string& key, cache::exptime_t exptime) {
    ASSERT_EQ(s.store(cache::store_mode::set, key, "v", 0, exptime).st, cache::status::ok);
  }
  bool has(const std::string& key) {
    const bool f = s.get(key).found;
    s.quiescent();
    return f;
  }
  void pass(std::int64_t seconds) {
    t.mono += seconds * kSecond;
    t.wall += seconds;
    drv.tick();
  }
};

TEST(EngineClock, StartsAtTheWallClockAndAdvancesWithTheMonotonicOne) {
  fixture f;
  EXPECT_EQ(f.drv.clock().now(), kStart);
  EXPECT_EQ(f.drv.started_unix(), kStart);
  f.t.mono += kSecond - 1;  // just under a second: no tick yet
  f.drv.tick();
  EXPECT_EQ(f.drv.clock().now(), kStart);
  f.t.mono += 1;
  f.drv.tick();
  EXPECT_EQ(f.drv.clock().now(), kStart + 1);
}

TEST(EngineClock, AForwardWallStepExpiresNothing) {
  fixture f;
  f.store("rel", 100);
  f.store("abs", static_cast<cache::exptime_t>(kStart + 100));  // absolute unix time
  f.t.wall += 3600;                                             // NTP step forward
  f.pass(1);
  EXPECT_EQ(f.drv.clock().now(), kStart + 1);
  EXPECT_TRUE(f.has("rel"));
  EXPECT_TRUE(f.has("abs"));
  f.pass(98);  // 99 s of monotonic time
  EXPECT_TRUE(f.has("rel"));
  EXPECT_TRUE(f.has("abs"));
  f.pass(1);  // 100 s: both reach their expiry (<= now is expired)
  EXPECT_FALSE(f.has("rel"));
  EXPECT_FALSE(f.has("abs"));
}

TEST(EngineClock, ABackwardWallStepExtendsNothingAndTheClockNeverGoesBack) {
  fixture f;
  f.pass(10);
  f.store("rel", 100);  // expires at start + 110
  f.t.wall -= 3600;     // NTP step back
  f.pass(1);
  EXPECT_EQ(f.drv.clock().now(), kStart + 11);
  f.pass(98);
  EXPECT_TRUE(f.has("rel"));
  f.pass(1);
  EXPECT_FALSE(f.has("rel")) << "expired on time, not an hour late";
  // A monotonic source that stalls or reads earlier never moves the clock back.
  const auto now = f.drv.clock().now();
  f.t.mono -= 50 * kSecond;
  f.drv.tick();
  EXPECT_EQ(f.drv.clock().now(), now);
}

TEST(EngineClock, WallClockOutsideTheEngineRangeIsClamped) {
  fake_time t;
  t.wall = -5;
  engine_clock_driver before_epoch([&] { return t.wall; }, [&] { return t.mono; });
  EXPECT_EQ(before_epoch.clock().now(), 1u);
  t.wall = std::int64_t{1} << 40;
  engine_clock_driver far([&] { return t.wall; }, [&] { return t.mono; });
  EXPECT_EQ(far.clock().now(), 0xfffffffeu);
  t.mono += 10 * kSecond;
  far.tick();
  EXPECT_EQ(far.clock().now(), 0xfffffffeu) << "saturates, does not wrap";
}

TEST(EngineClock, SystemSourcesAreSane) {
  engine_clock_driver d;
  EXPECT_GT(d.started_unix(), 1'600'000'000u);
  const auto a = engine_clock_driver::system_monotonic();
  EXPECT_GE(engine_clock_driver::system_monotonic(), a);
}

}  // namespace
}  // namespace anvil::control
