// Storage health as operators read it: the state and reason follow the last attempt,
// every counter is listed by name in a fixed order (what `stats storage` prints), and a
// reader racing the io thread never sees a torn reason (TSan, concurrency suite).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "io/health.h"

namespace anvil::io {
namespace {

std::vector<std::pair<std::string, std::string>> stats_of(const storage_health& h) {
  std::vector<std::pair<std::string, std::string>> out;
  h.for_each_stat([&](std::string_view k, std::string_view v) { out.emplace_back(k, v); });
  return out;
}

TEST(StorageHealth, StateReasonAndEveryCounterByName) {
  storage_health h;
  auto s = stats_of(h);
  ASSERT_EQ(s.size(), 2u + storage_health::kCounterCount);
  EXPECT_EQ(s[0], (std::pair<std::string, std::string>{"state", "ok"}));
  EXPECT_EQ(s[1], (std::pair<std::string, std::string>{"reason", ""}));
  EXPECT_EQ(s[2].first, "snapshots_ok");
  EXPECT_EQ(s.back().first, "restored_snapshot_id");

  h.add(storage_health::snapshots_failed, 3);
  h.put(storage_health::last_snapshot_id, 1234567890123ull);
  h.set_degraded("snapshot 7 abandoned: write: No space left on device");
  s = stats_of(h);
  EXPECT_EQ(s[0].second, "degraded");
  EXPECT_EQ(s[1].second, "snapshot 7 abandoned: write: No space left on device");
  auto value = [&](const std::string& name) {
    for (const auto& [k, v] : s)
      if (k == name) return v;
    return std::string("(absent)");
  };
  EXPECT_EQ(value("snapshots_failed"), "3");
  EXPECT_EQ(value("last_snapshot_id"), "1234567890123");
  EXPECT_EQ(value("io_stalls"), "0");
  // Names are unique: a control plane can key on them.
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t j = i + 1; j < s.size(); ++j) EXPECT_NE(s[i].first, s[j].first);

  h.set_ok();
  EXPECT_EQ(h.state(), storage_state::ok);
  EXPECT_EQ(h.reason(), "");
  EXPECT_EQ(h.get(storage_health::snapshots_failed), 3u);  // counters are not reset
}

TEST(StorageHealth, ReaderNeverSeesATornReason) {
  storage_health h;
  const std::string a(200, 'a'), b(37, 'b');
  h.set_degraded(a);
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0};
  // The writer keeps writing until the reader has read a while: on a loaded host the
  // writer could otherwise finish its loop before the reader's first read.
  std::thread writer([&] {
    for (int i = 0; !stop.load() && (i < 20000 || reads.load() < 1000); ++i)
      h.set_degraded(i % 2 ? a : b);
    stop = true;
  });
  while (!stop.load()) {
    const std::string r = h.reason();
    if (!(r == a || r == b)) {
      stop = true;
      writer.join();
      FAIL() << "torn reason of " << r.size() << " bytes";
    }
    ++reads;
  }
  writer.join();
  EXPECT_GT(reads, 0);
}

}  // namespace
}  // namespace anvil::io
