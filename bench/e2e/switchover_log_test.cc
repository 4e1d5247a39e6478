// The planned-switchover benchmark's arithmetic (switchover_log.h): the event log's
// parser on good and malformed lines, and the per-switchover figures on scripted logs
// (time to the first ack on the target, the write pause, the refusals counted, acks on
// the old primary after its fence, a switchover that never reached its target).
#include "bench/e2e/switchover_log.h"

#include <gtest/gtest.h>

namespace anvil::bench {
namespace {

using kind = write_event::kind;
constexpr std::int64_t ms = 1'000'000;

TEST(SwitchoverLog, ParsesEveryKindAndFormatsItBack) {
  std::string why;
  for (const char* line : {"C 1764970100000000000 4242", "A 5 0", "F 6 18446744073709551615",
                           "S 7 3 65535", "E 0 9"}) {
    auto e = parse_event(line, why);
    ASSERT_TRUE(e) << line << ": " << why;
    EXPECT_EQ(format_event(*e), line);
  }
  auto e = parse_event("S 7 3 134", why);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::other_status);
  EXPECT_EQ(e->t_ns, 7);
  EXPECT_EQ(e->value, 3u);
  EXPECT_EQ(e->status, 134);
}

TEST(SwitchoverLog, RefusesMalformedLinesWithAReason) {
  for (const char* line :
       {"", "A", "X 1 2", "A 1", "A x 2", "A 1 y", "A -5 1", "A  1 2", "A 1 2 ", "A 1 2 3", "S 1 2",
        "S 1 2 65536", "C 1 18446744073709551616", "A 9223372036854775808 1", "a 1 2"}) {
    std::string why;
    EXPECT_FALSE(parse_event(line, why)) << "'" << line << "'";
    EXPECT_FALSE(why.empty()) << "'" << line << "'";
  }
}

// Old primary pid 100, target 200: acks every 1 ms, the command at 10.5 ms, one more ack
// on the old primary, two fence refusals and a dead connection for key 11, then key 11
// acknowledged by the target at 21 ms.
std::vector<write_event> one_switchover() {
  std::vector<write_event> ev{{kind::connected, 0, 100}};
  for (std::uint64_t k = 0; k <= 10; ++k) ev.push_back({kind::acked, std::int64_t(k + 1) * ms, k});
  ev.push_back({kind::fenced, 12 * ms, 11});
  ev.push_back({kind::fenced, 13 * ms, 11});
  ev.push_back({kind::failed, 14 * ms, 11});
  ev.push_back({kind::connected, 20 * ms, 200});
  ev.push_back({kind::acked, 21 * ms, 11});
  ev.push_back({kind::acked, 22 * ms, 12});
  return ev;
}

TEST(SwitchoverLog, MeasuresTheFirstAckOnTheTargetThePauseAndTheRefusals) {
  const auto f = analyze(one_switchover(), {{10 * ms + ms / 2, 200}});
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(f[0].reached);
  EXPECT_DOUBLE_EQ(f[0].first_ack_ms, 10.5);
  EXPECT_DOUBLE_EQ(f[0].pause_ms, 10.0);  // from the old primary's last ack (11 ms) to 21 ms
  EXPECT_EQ(f[0].fenced, 2u);
  EXPECT_DOUBLE_EQ(f[0].fence_ms, 1.0);  // 12 ms -> 13 ms
  EXPECT_EQ(f[0].failed, 1u);
  EXPECT_EQ(f[0].other_status, 0u);
  EXPECT_EQ(f[0].retried_keys, 1u);
  EXPECT_EQ(f[0].old_acks_after_fence, 0u);
}

TEST(SwitchoverLog, ASwitchoverThatNeverReachesItsTargetAndAFenceLiftedOnTheOldPrimary) {
  auto ev = one_switchover();
  // Second switchover back to 100 at 30 ms: fenced, then the fence lifts on 200 (the
  // switchover timed out) and 200 acknowledges again; 100 never answers.
  ev.push_back({kind::fenced, 31 * ms, 13});
  ev.push_back({kind::other_status, 32 * ms, 13, 0x85});
  ev.push_back({kind::acked, 40 * ms, 13});
  ev.push_back({kind::acked, 41 * ms, 14});
  const auto f = analyze(ev, {{10 * ms + ms / 2, 200}, {30 * ms, 100}});
  ASSERT_EQ(f.size(), 2u);
  EXPECT_TRUE(f[0].reached);
  EXPECT_EQ(f[0].fenced, 2u) << "the second window's refusals are not the first's";
  EXPECT_FALSE(f[1].reached);
  EXPECT_EQ(f[1].fenced, 1u);
  EXPECT_EQ(f[1].fence_ms, 0.0) << "one refusal: no span";
  EXPECT_EQ(f[1].other_status, 1u);
  EXPECT_EQ(f[1].retried_keys, 1u);
  EXPECT_EQ(f[1].old_acks_after_fence, 2u);
  EXPECT_DOUBLE_EQ(f[1].pause_ms, 18.0);  // 22 ms -> 40 ms
}

TEST(SwitchoverLog, EdgesNoAckBeforeTheCommandAnUnknownPidAndAnEmptyLog) {
  // The command before any ack: the pause counts from the command.
  std::vector<write_event> ev{{kind::connected, 5 * ms, 7}, {kind::acked, 8 * ms, 0}};
  auto f = analyze(ev, {{2 * ms, 7}});
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(f[0].reached);
  EXPECT_DOUBLE_EQ(f[0].first_ack_ms, 6.0);
  EXPECT_DOUBLE_EQ(f[0].pause_ms, 6.0);
  EXPECT_EQ(f[0].retried_keys, 0u);
  // A connection whose server did not say its pid (0) is never "the target", even for a
  // target of 0.
  ev = {{kind::connected, 1, 0}, {kind::acked, 2, 0}};
  f = analyze(ev, {{1, 0}});
  EXPECT_FALSE(f[0].reached);
  // Nothing logged, no rounds.
  EXPECT_TRUE(analyze({}, {}).empty());
  f = analyze({}, {{1, 9}});
  ASSERT_EQ(f.size(), 1u);
  EXPECT_FALSE(f[0].reached);
  EXPECT_EQ(f[0].pause_ms, 0.0);
}

TEST(SwitchoverLog, Median) {
  EXPECT_EQ(median({}), 0.0);
  EXPECT_EQ(median({3}), 3.0);
  EXPECT_EQ(median({5, 1, 3}), 3.0);
  EXPECT_EQ(median({4, 1, 3, 2}), 2.5);
}

}  // namespace
}  // namespace anvil::bench
