// Writer, restorer and scheduler over plain item streams (no engine, no root): round
// trips, every corruption case with its fallback and logged reason, retention, schedule.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "io/crc32c.h"
#include "io/format.h"
#include "io/snapshot_files.h"
#include "io/snapshot_reader.h"
#include "io/snapshot_service.h"
#include "io/snapshot_writer.h"
#include "tests/io/io_test_util.h"
#include "tests/io/log_capture.h"

namespace anvil::io {
namespace {

using test::owned_item;
namespace fs = std::filesystem;

constexpr std::uint32_t kNow = 1'800'000'000;
constexpr std::uint64_t kNode = 77;

std::vector<std::vector<owned_item>> make_items(std::size_t parts, std::size_t n, unsigned seed,
                                                const std::string& tag = "") {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<owned_item>> out(parts);
  for (std::size_t i = 0; i < n; ++i) {
    owned_item it;
    it.key = tag + "key:" + std::to_string(i);
    const std::size_t size = (i % 97 == 0) ? 100'000 + rng() % 50'000 : rng() % 300;
    std::string body(size, '\0');
    for (auto& c : body) c = static_cast<char>('a' + rng() % 26);
    it.value = test::checked_value(body);
    it.flags = static_cast<std::uint32_t>(rng());
    switch (i % 4) {
      case 0:
        it.expires_at = 0;
        break;
      case 1:
        it.expires_at = kNow - 10;
        break;  // expired at restore time
      default:
        it.expires_at = kNow + 1000 + static_cast<std::uint32_t>(i);
        break;
    }
    it.cas = 1000 + i * 3;
    out[i % parts].push_back(it);
  }
  return out;
}

writer_config wcfg(const std::string& dir) {
  writer_config c;
  c.dir = dir;
  c.node_id = kNode;
  c.block_size = 64 << 10;
  c.queue_depth = 4;
  c.io_timeout = std::chrono::milliseconds(10'000);
  return c;
}

restore_config rcfg(const std::string& dir) {
  restore_config c;
  c.dir = dir;
  c.node_id = kNode;
  c.now_unix = kNow;
  c.threads = 3;
  c.queue_depth = 4;
  c.io_timeout = std::chrono::milliseconds(10'000);
  return c;
}

void expect_restored(const test::map_sink& sink,
                     const std::vector<std::vector<owned_item>>& parts) {
  std::size_t live = 0;
  for (const auto& p : parts) {
    for (const auto& it : p) {
      auto f = sink.items.find(it.key);
      if (it.expires_at != 0 && it.expires_at <= kNow) {
        EXPECT_EQ(f, sink.items.end()) << "expired item restored: " << it.key;
        continue;
      }
      ++live;
      ASSERT_NE(f, sink.items.end()) << "missing " << it.key;
      EXPECT_EQ(f->second, it) << it.key;
    }
  }
  EXPECT_EQ(sink.items.size(), live);
}

TEST(Snapshot, RoundTripVariedItems) {
  test::temp_dir d;
  const auto items = make_items(4, 3000, 1);
  test::vector_source src(items, 50'000);
  const auto r = write_snapshot(src, wcfg(d.path()), 1, kNow);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.items, 3000u);
  EXPECT_GT(r.blocks, 4u);
  EXPECT_EQ(test::files_in(d.path()), (std::vector<std::string>{data_name(1), manifest_name(1)}));
  test::map_sink sink;
  const auto rr = restore_latest(sink, rcfg(d.path()));
  ASSERT_TRUE(rr.restored) << rr.cold_start_reason;
  EXPECT_EQ(rr.snapshot_id, 1u);
  EXPECT_EQ(rr.items_expired, 750u);
  expect_restored(sink, items);
  // The counter is at least the saved one and above every restored CAS.
  EXPECT_GE(sink.cas, 50'000u);
}

TEST(Snapshot, CasCounterCoversItemsNewerThanTheSavedCounter) {
  test::temp_dir d;
  std::vector<std::vector<owned_item>> items(1);
  items[0].push_back({"a", test::checked_value("x"), 0, 0, 900});
  test::vector_source src(items, 10);  // a source whose counter lags an item's CAS
  ASSERT_TRUE(write_snapshot(src, wcfg(d.path()), 1, kNow).ok);
  test::map_sink sink;
  ASSERT_TRUE(restore_latest(sink, rcfg(d.path())).restored);
  EXPECT_GE(sink.cas, 900u);
}

TEST(Snapshot, BufferedFallbackAndEmptySource) {
  test::temp_dir d;
  auto cfg = wcfg(d.path());
  cfg.direct_io = false;
  test::vector_source empty(std::vector<std::vector<owned_item>>(3));
  const auto r = write_snapshot(empty, cfg, 5, kNow);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_FALSE(r.direct);
  EXPECT_EQ(r.items, 0u);
  test::map_sink sink;
  auto rc = rcfg(d.path());
  rc.direct_io = false;
  const auto rr = restore_latest(sink, rc);
  ASSERT_TRUE(rr.restored) << rr.cold_start_reason;
  EXPECT_TRUE(sink.items.empty());
}

TEST(Snapshot, RateLimitedWriteCompletes) {
  test::temp_dir d;
  auto cfg = wcfg(d.path());
  cfg.rate_limit_bytes_per_sec = 8 << 20;
  const auto items = make_items(2, 500, 3);
  test::vector_source src(items);
  const auto r = write_snapshot(src, cfg, 1, kNow);
  ASSERT_TRUE(r.ok) << r.reason;
  test::map_sink sink;
  ASSERT_TRUE(restore_latest(sink, rcfg(d.path())).restored);
  expect_restored(sink, items);
}

TEST(Snapshot, MissingDirectoryFailsWithReason) {
  test::temp_dir d;
  const auto items = make_items(1, 10, 4);
  test::vector_source src(items);
  const auto r = write_snapshot(src, wcfg(d.path() + "/gone"), 1, kNow);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, ENOENT);
  EXPECT_NE(r.reason.find("No such file or directory"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("directory missing"), std::string::npos) << r.reason;
}

TEST(Snapshot, CancelledAttemptRemovesItsFiles) {
  test::temp_dir d;
  const auto items = make_items(2, 200, 5);
  test::vector_source src(items);
  std::atomic<bool> cancel{true};
  const auto r = write_snapshot(src, wcfg(d.path()), 1, kNow, &cancel);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, ECANCELED);
  EXPECT_TRUE(r.cleaned_up);
  EXPECT_TRUE(test::files_in(d.path()).empty());
}

// ---- corruption: two snapshots, the newer one damaged; the older one must restore ----

class Corruption : public ::testing::Test {
 protected:
  void SetUp() override {
    old_items = make_items(3, 1500, 10, "old-");
    new_items = make_items(3, 1500, 11, "new-");
    test::vector_source a(old_items, 5000), b(new_items, 6000);
    ASSERT_TRUE(write_snapshot(a, wcfg(d.path()), 1, kNow).ok);
    ASSERT_TRUE(write_snapshot(b, wcfg(d.path()), 2, kNow).ok);
  }
  std::string path(const std::string& name) { return d.path() + "/" + name; }
  // Blocks are sized for the largest possible item, so read the size back.
  std::uint64_t block_size(std::uint64_t id) {
    std::ifstream in(path(manifest_name(id)), std::ios::binary);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), {});
    manifest m;
    format_error err;
    EXPECT_TRUE(
        decode_manifest({reinterpret_cast<const std::byte*>(raw.data()), raw.size()}, m, err));
    EXPECT_GE(m.info.block_count, 3u);
    return m.info.block_size;
  }
  void flip(const std::string& file, std::uint64_t off) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(off));
    char c = 0;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(static_cast<std::streamoff>(off));
    f.write(&c, 1);
  }
  void rewrite_manifest(auto&& edit) {
    std::ifstream in(path(manifest_name(2)), std::ios::binary);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), {});
    manifest m;
    format_error err;
    ASSERT_TRUE(
        decode_manifest({reinterpret_cast<const std::byte*>(raw.data()), raw.size()}, m, err));
    edit(m);
    std::vector<std::byte> out(kManifestSize);
    encode_manifest(m, out);
    std::ofstream(path(manifest_name(2)), std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
  }
  // Restores; expects the fallback to snapshot 1 and `why` in the result and the log.
  void expect_fallback(const std::string& why) {
    test::log_capture logs;
    test::map_sink sink;
    const auto rr = restore_latest(sink, rcfg(d.path()));
    ASSERT_TRUE(rr.restored) << rr.cold_start_reason;
    EXPECT_EQ(rr.snapshot_id, 1u);
    ASSERT_EQ(rr.rejected.size(), 1u);
    EXPECT_EQ(rr.rejected[0].id, 2u);
    EXPECT_NE(rr.rejected[0].reason.find(why), std::string::npos) << rr.rejected[0].reason;
    EXPECT_TRUE(logs.contains("snapshot 2 rejected: "));
    EXPECT_TRUE(logs.contains(why));
    expect_restored(sink, old_items);  // nothing of the rejected snapshot got in
  }
  test::temp_dir d;
  std::vector<std::vector<owned_item>> old_items, new_items;
};

TEST_F(Corruption, FlippedByteInABlock) {
  flip(path(data_name(2)), kHeaderSize + block_size(2) * 2 + 500);
  expect_fallback("block 2: checksum mismatch");
}

TEST_F(Corruption, FlippedByteInTheLastBlock) {
  const auto size = fs::file_size(path(data_name(2)));
  flip(path(data_name(2)), size - block_size(2) + 40);
  expect_fallback("checksum mismatch");
}

TEST_F(Corruption, FlippedByteInTheHeader) {
  flip(path(data_name(2)), 40);
  expect_fallback("header: checksum mismatch");
}

TEST_F(Corruption, TruncatedDataFile) {
  const auto size = fs::file_size(path(data_name(2)));
  fs::resize_file(path(data_name(2)), size - 4096);
  expect_fallback("data file truncated or resized");
}

TEST_F(Corruption, DeletedManifest) {
  fs::remove(path(manifest_name(2)));
  expect_fallback("no manifest");
}

TEST_F(Corruption, TruncatedManifest) {
  fs::resize_file(path(manifest_name(2)), 50);
  expect_fallback("manifest: truncated");
}

TEST_F(Corruption, FutureFormatVersion) {
  rewrite_manifest([](manifest& m) { m.info.format_version = kFormatVersion + 1; });
  expect_fallback("future format version " + std::to_string(kFormatVersion + 1));
}

TEST_F(Corruption, FormatVersionOneIsRejected) {
  rewrite_manifest([](manifest& m) { m.info.format_version = 1; });
  expect_fallback("format version 1 is no longer restored");
}

TEST_F(Corruption, ForeignNodeId) {
  rewrite_manifest([](manifest& m) { m.info.node_id = 999; });
  expect_fallback("foreign node id 999");
}

TEST_F(Corruption, BlockFromAnotherSnapshot) {
  // Same position, valid CRC, other snapshot: caught by the id inside the block.
  std::ifstream a(path(data_name(1)), std::ios::binary);
  std::vector<char> blk(block_size(2));
  ASSERT_EQ(block_size(1), block_size(2));
  a.seekg(kHeaderSize);
  a.read(blk.data(), static_cast<std::streamsize>(blk.size()));
  std::fstream b(path(data_name(2)), std::ios::in | std::ios::out | std::ios::binary);
  b.seekp(kHeaderSize);
  b.write(blk.data(), static_cast<std::streamsize>(blk.size()));
  b.close();
  expect_fallback("block 0: belongs to another snapshot");
}

TEST_F(Corruption, EverySnapshotBadMeansColdStartWithReason) {
  fs::remove(path(manifest_name(2)));
  flip(path(data_name(1)), kHeaderSize + 100);
  test::log_capture logs;
  test::map_sink sink;
  const auto rr = restore_latest(sink, rcfg(d.path()));
  EXPECT_FALSE(rr.restored);
  EXPECT_EQ(rr.cold_start_reason, "no valid snapshot in " + d.path());
  ASSERT_EQ(rr.rejected.size(), 2u);
  EXPECT_NE(rr.rejected[1].reason.find("block 0: checksum mismatch"), std::string::npos);
  EXPECT_TRUE(logs.contains("cold start: no valid snapshot"));
  EXPECT_TRUE(sink.items.empty());
}

TEST(Restore, EmptyOrMissingDirectoryIsAColdStart) {
  test::temp_dir d;
  test::map_sink sink;
  auto rr = restore_latest(sink, rcfg(d.path()));
  EXPECT_FALSE(rr.restored);
  EXPECT_EQ(rr.cold_start_reason, "no snapshot in " + d.path());
  rr = restore_latest(sink, rcfg(d.path() + "/nope"));
  EXPECT_FALSE(rr.restored);
  EXPECT_NE(rr.cold_start_reason.find("No such file or directory"), std::string::npos);
}

// ---- the scheduler ----

service_config scfg(const std::string& dir) {
  service_config c;
  c.writer = wcfg(dir);
  c.keep = 2;
  return c;
}

// ---- stale records (format 2): a source that names some of its records stale ----

class stale_source final : public item_source {
 public:
  stale_source(std::vector<std::vector<owned_item>> parts,
               std::vector<std::vector<std::uint64_t>> stale, std::size_t max_item = 1 << 20)
      : _v(parts, 0, max_item), _stale(std::move(stale)) {}
  std::size_t partition_count() override { return _v.partition_count(); }
  std::size_t max_item_size() override { return _v.max_item_size(); }
  void for_each_item(std::size_t p,
                     const std::function<void(const cache::item_record&)>& fn) override {
    _v.for_each_item(p, fn);
  }
  cache::cas_t cas_counter() override { return _v.cas_counter(); }
  void for_each_stale(std::size_t p, const std::function<void(std::uint64_t)>& fn,
                      const std::function<void(const cache::item_record&)>&) override {
    if (p < _stale.size())
      for (auto i : _stale[p]) fn(i);
  }

 private:
  test::vector_source _v;
  std::vector<std::vector<std::uint64_t>> _stale;
};

std::vector<std::vector<owned_item>> small_items(std::size_t parts, std::size_t n) {
  std::vector<std::vector<owned_item>> out(parts);
  for (std::size_t i = 0; i < n; ++i)
    out[i % parts].push_back({"s:" + std::to_string(i), "v" + std::to_string(i), 0, 0, i + 1});
  return out;
}

// Records named stale are not restored; every other one is; out-of-range indexes from
// the source are ignored; the first and last records of a partition work too.
TEST(Snapshot, StaleRecordsAreNotRestored) {
  test::temp_dir d;
  auto items = small_items(3, 30);  // 10 per partition
  stale_source src(items, {{0, 9}, {}, {5, 10, 99}});
  const auto r = write_snapshot(src, wcfg(d.path()), 1, kNow);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.items, 30u);
  EXPECT_EQ(r.stale, 3u);
  test::map_sink sink;
  const auto rr = restore_latest(sink, rcfg(d.path()));
  ASSERT_TRUE(rr.restored) << rr.cold_start_reason;
  EXPECT_EQ(rr.items_stale, 3u);
  EXPECT_EQ(rr.items_restored, 27u);
  items[0].erase(items[0].begin() + 9);
  items[0].erase(items[0].begin());
  items[2].erase(items[2].begin() + 5);
  expect_restored(sink, items);
}

// More stale ordinals than one block holds: several stale blocks; all items stale.
TEST(Snapshot, StaleListSpanningSeveralBlocks) {
  test::temp_dir d;
  auto items = small_items(2, 3000);
  std::vector<std::vector<std::uint64_t>> stale(2);
  for (std::uint64_t i = 0; i < 1500; ++i) stale[0].push_back(i), stale[1].push_back(i);
  stale_source src(items, stale, 100);
  auto w = wcfg(d.path());
  w.block_size = 4096;  // 508 ordinals per stale block: 6 of them
  const auto r = write_snapshot(src, w, 1, kNow);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.stale, 3000u);
  test::map_sink sink;
  const auto rr = restore_latest(sink, rcfg(d.path()));
  ASSERT_TRUE(rr.restored) << rr.cold_start_reason;
  EXPECT_EQ(rr.items_stale, 3000u);
  EXPECT_EQ(sink.items.size(), 0u);
}

// Malformed stale blocks (valid CRCs, wrong meaning) are rejected with the reason.
class StaleCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    stale_source src(small_items(1, 1), {{0}}, 100);
    auto w = wcfg(d.path());
    w.block_size = 4096;
    ASSERT_TRUE(write_snapshot(src, w, 1, kNow).ok);  // block 0: 1 item; block 1: stale [0]
  }
  std::string path(const std::string& f) const { return d.path() + "/" + f; }
  // Replaces the data file's blocks and fixes the manifest's block CRC chain to match.
  void rewrite_blocks(const std::vector<std::vector<std::byte>>& blocks) {
    std::fstream f(path(data_name(1)), std::ios::in | std::ios::out | std::ios::binary);
    std::uint32_t chain = 0;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      f.seekp(static_cast<std::streamoff>(kHeaderSize + i * 4096));
      f.write(reinterpret_cast<const char*>(blocks[i].data()), 4096);
      std::byte le[4];
      put_u32(le, get_u32(blocks[i].data() + 4));
      chain = crc32c(le, 4, chain);
    }
    f.close();
    std::ifstream in(path(manifest_name(1)), std::ios::binary);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), {});
    manifest m;
    format_error err;
    ASSERT_TRUE(
        decode_manifest({reinterpret_cast<const std::byte*>(raw.data()), raw.size()}, m, err));
    m.blocks_crc = chain;
    std::vector<std::byte> out(kManifestSize);
    encode_manifest(m, out);
    std::ofstream(path(manifest_name(1)), std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
  }
  std::vector<std::byte> item_block(std::uint32_t index) {
    std::vector<std::byte> b(4096);
    block_builder bb;
    bb.reset(b, 1, index, 0);
    bb.add({"s:0", "v0", 0, 0, 1});
    bb.seal();
    return b;
  }
  std::vector<std::byte> stale_block(std::uint32_t index, std::uint64_t ordinal) {
    std::vector<std::byte> b(4096);
    const std::uint64_t o[1] = {ordinal};
    encode_stale_block(b, 1, index, o);
    return b;
  }
  void expect_cold(const std::string& why) {
    test::map_sink sink;
    const auto rr = restore_latest(sink, rcfg(d.path()));
    EXPECT_FALSE(rr.restored);
    ASSERT_EQ(rr.rejected.size(), 1u);
    EXPECT_NE(rr.rejected[0].reason.find(why), std::string::npos) << rr.rejected[0].reason;
    EXPECT_EQ(sink.items.size(), 0u);
  }
  test::temp_dir d;
};

TEST_F(StaleCorruption, TheUntouchedFileRestoresNothing) {
  test::map_sink sink;
  const auto rr = restore_latest(sink, rcfg(d.path()));
  ASSERT_TRUE(rr.restored) << rr.cold_start_reason;
  EXPECT_EQ(rr.items_stale, 1u);
  EXPECT_EQ(sink.items.size(), 0u);
}

TEST_F(StaleCorruption, OrdinalPastTheItems) {
  rewrite_blocks({item_block(0), stale_block(1, 1)});  // one item: ordinal 1 is one past
  expect_cold("stale ordinal 1 past the 1 items");
}

TEST_F(StaleCorruption, ItemBlockAfterAStaleBlock) {
  rewrite_blocks({stale_block(0, 0), item_block(1)});
  expect_cold("item block after a stale block");
}

std::size_t manifests_in(const std::string& dir) {
  std::size_t n = 0;
  for (auto& f : test::files_in(dir)) n += f.ends_with(".manifest");
  return n;
}

TEST(Service, OnDemandRetentionAndShutdownSnapshot) {
  test::temp_dir d;
  cache::clock clk(kNow);
  const auto items = make_items(2, 100, 20);
  // Leftovers of an interrupted attempt: removed at start.
  std::ofstream(d.path() + "/" + data_name(9)) << "partial";
  {
    snapshot_service svc([&] { return std::make_unique<test::vector_source>(items, 7); }, clk,
                         scfg(d.path()));
    svc.start();
    for (int i = 0; i < 4; ++i) {
      const auto t = svc.request_snapshot();
      snapshot_result r;
      ASSERT_TRUE(svc.wait(t, std::chrono::seconds(60), &r));
      ASSERT_TRUE(r.ok) << r.reason;
      EXPECT_EQ(r.snapshot_id, 10u + static_cast<unsigned>(i));  // after the leftover's id
    }
    EXPECT_EQ(svc.health().state(), storage_state::ok);
    EXPECT_EQ(svc.health().get(storage_health::snapshots_ok), 4u);
    EXPECT_EQ(manifests_in(d.path()), 2u);
    svc.stop();  // one more at shutdown
    EXPECT_EQ(svc.health().get(storage_health::snapshots_ok), 5u);
  }
  EXPECT_EQ(test::files_in(d.path()), (std::vector<std::string>{data_name(13), manifest_name(13),
                                                                data_name(14), manifest_name(14)}));
  // The next start restores the newest one through the service (its health records it).
  snapshot_service next([&] { return std::make_unique<test::vector_source>(items, 7); }, clk,
                        scfg(d.path()));
  test::map_sink sink;
  const auto rr = next.restore(sink, kNow);
  ASSERT_TRUE(rr.restored) << rr.cold_start_reason;
  EXPECT_EQ(rr.snapshot_id, 14u);
  EXPECT_EQ(next.health().get(storage_health::restored_snapshot_id), 14u);
  EXPECT_EQ(next.health().get(storage_health::restored_items), rr.items_restored);
  EXPECT_GE(sink.cas, 7u);
}

TEST(Service, PeriodicSnapshots) {
  test::temp_dir d;
  cache::clock clk(kNow);
  const auto items = make_items(2, 50, 21);
  auto cfg = scfg(d.path());
  cfg.interval = std::chrono::milliseconds(20);
  cfg.snapshot_at_shutdown = false;
  snapshot_service svc([&] { return std::make_unique<test::vector_source>(items); }, clk, cfg);
  svc.start();
  for (int i = 0; i < 3000 && svc.health().get(storage_health::snapshots_ok) < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(svc.health().get(storage_health::snapshots_ok), 3u);
  svc.stop();
  EXPECT_LE(manifests_in(d.path()), 2u);
}

TEST(Service, MissingDirectoryDegradesThenRecovers) {
  test::temp_dir d;
  cache::clock clk(kNow);
  const auto items = make_items(1, 20, 22);
  const std::string dir = d.path() + "/snaps";
  auto cfg = scfg(dir);
  cfg.snapshot_at_shutdown = false;
  snapshot_service svc([&] { return std::make_unique<test::vector_source>(items); }, clk, cfg);
  svc.start();
  ASSERT_TRUE(svc.wait(svc.request_snapshot(), std::chrono::seconds(60)));
  EXPECT_EQ(svc.health().state(), storage_state::ok);  // start() created it
  fs::remove_all(dir);
  snapshot_result r;
  ASSERT_TRUE(svc.wait(svc.request_snapshot(), std::chrono::seconds(60), &r));
  EXPECT_FALSE(r.ok);
  const auto h = svc.health().view();
  EXPECT_EQ(h.state, storage_state::degraded);
  EXPECT_NE(h.reason.find("No such file or directory"), std::string::npos) << h.reason;
  EXPECT_EQ(h.counters.snapshots_failed, 1u);
  EXPECT_EQ(h.counters.io_errors, 1u);
  fs::create_directories(dir);
  ASSERT_TRUE(svc.wait(svc.request_snapshot(), std::chrono::seconds(60), &r));
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(svc.health().state(), storage_state::ok);
  EXPECT_EQ(svc.health().reason(), "");
  svc.stop();
}

// issue 11: a directory several levels under one that exists is created whole (each
// missing component), before the first attempt, and health stays ok throughout.
TEST(Service, CreatesEveryMissingComponentOfTheDirectory) {
  test::temp_dir d;
  cache::clock clk(kNow);
  const auto items = make_items(2, 30, 23);
  const std::string dir = d.path() + "/a/b//c/";
  auto cfg = scfg(dir);
  cfg.snapshot_at_shutdown = false;
  snapshot_service svc([&] { return std::make_unique<test::vector_source>(items); }, clk, cfg);
  svc.start();
  snapshot_result r;
  ASSERT_TRUE(svc.wait(svc.request_snapshot(), std::chrono::seconds(60), &r));
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(svc.health().state(), storage_state::ok) << svc.health().reason();
  EXPECT_EQ(svc.health().get(storage_health::snapshots_failed), 0u);
  svc.stop();
  EXPECT_EQ(manifests_in(d.path() + "/a/b/c"), 1u);
  test::map_sink sink;
  ASSERT_TRUE(restore_latest(sink, rcfg(d.path() + "/a/b/c")).restored);
  expect_restored(sink, items);
}

TEST(Service, PrepareCreatesThePathOrSaysWhyNot) {
  test::temp_dir d;
  cache::clock clk(kNow);
  auto make = [&](const std::string& dir) {
    auto cfg = scfg(dir);
    cfg.snapshot_at_shutdown = false;
    return std::make_unique<snapshot_service>(
        [] { return std::make_unique<test::vector_source>(make_items(1, 1, 1)); }, clk, cfg);
  };
  EXPECT_EQ(make(d.path() + "/x/y/z")->prepare(), "");
  EXPECT_TRUE(fs::is_directory(d.path() + "/x/y/z"));
  EXPECT_EQ(make(d.path() + "/x/y/z")->prepare(), "");  // everything exists: fine
  std::ofstream(d.path() + "/file") << "in the way";
  {
    auto svc = make(d.path() + "/file/sub/snaps");  // a file where a directory must be
    const std::string why = svc->prepare();
    EXPECT_NE(why.find("cannot create " + d.path() + "/file/sub"), std::string::npos) << why;
    EXPECT_NE(why.find("Not a directory"), std::string::npos) << why;
    EXPECT_EQ(svc->health().state(), storage_state::degraded);
    EXPECT_NE(svc->health().reason().find("Not a directory"), std::string::npos);
  }
  {
    auto svc = make(d.path() + "/file");  // the directory itself is a file
    const std::string why = svc->prepare();
    EXPECT_NE(why.find("Not a directory"), std::string::npos) << why;
  }
  EXPECT_NE(make("")->prepare(), "");
  EXPECT_EQ(make_directories("/", std::chrono::seconds(5), nullptr), "");
  EXPECT_NE(make_directories("", std::chrono::seconds(5), nullptr), "");
}

// A directory that cannot be created: serving goes on (nothing throws), health says
// why, every attempt retries the whole path, and the first one after the operator
// removes the obstacle succeeds with health back to ok.
TEST(Service, DirectoryThatCannotBeCreatedDegradesRetriesAndRecovers) {
  test::temp_dir d;
  cache::clock clk(kNow);
  const auto items = make_items(1, 20, 24);
  std::ofstream(d.path() + "/blocker") << "x";
  const std::string dir = d.path() + "/blocker/deeper/snaps";
  auto cfg = scfg(dir);
  cfg.snapshot_at_shutdown = false;
  snapshot_service svc([&] { return std::make_unique<test::vector_source>(items); }, clk, cfg);
  svc.start();
  snapshot_result r;
  for (int i = 1; i <= 2; ++i) {
    ASSERT_TRUE(svc.wait(svc.request_snapshot(), std::chrono::seconds(60), &r));
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.reason.find("Not a directory"), std::string::npos) << r.reason;
    const auto h = svc.health().view();
    EXPECT_EQ(h.state, storage_state::degraded);
    EXPECT_NE(h.reason.find("cannot create " + d.path() + "/blocker/deeper"), std::string::npos)
        << h.reason;
    EXPECT_EQ(h.counters.snapshots_failed, static_cast<std::uint64_t>(i));
  }
  fs::remove(d.path() + "/blocker");
  ASSERT_TRUE(svc.wait(svc.request_snapshot(), std::chrono::seconds(60), &r));
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(svc.health().state(), storage_state::ok);
  EXPECT_EQ(svc.health().reason(), "");
  svc.stop();
  EXPECT_EQ(manifests_in(dir), 1u);
}

TEST(Health, ReasonIsTruncatedNotOverflowed) {
  storage_health h;
  h.set_degraded(std::string(1000, 'x'));
  EXPECT_EQ(h.reason().size(), storage_health::kMaxReason);
  EXPECT_EQ(h.state(), storage_state::degraded);
  h.set_ok();
  EXPECT_EQ(h.reason(), "");
}

}  // namespace
}  // namespace anvil::io
