// The on-disk format in memory: checksums, round trips, and every decode error.
#include "io/format.h"

#include <gtest/gtest.h>

#include <vector>

#include "io/crc32c.h"

namespace anvil::io {
namespace {

TEST(Crc32c, StandardCheckValueAndChaining) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  EXPECT_EQ(crc32c("6789", 4, crc32c("12345", 5)), 0xE3069283u);
}

snapshot_info sample_info() {
  snapshot_info i;
  i.node_id = 42;
  i.snapshot_id = 7;
  i.created_unix = 1'700'000'000;
  i.cas_counter = 123456789;
  i.item_count = 1000;
  i.block_count = 3;
  i.block_size = 1 << 16;
  i.partition_count = 8;
  return i;
}

TEST(Format, HeaderRoundTrip) {
  std::vector<std::byte> page(kHeaderSize);
  const auto crc = encode_header(sample_info(), page);
  snapshot_info out;
  std::uint32_t crc2 = 0;
  format_error err;
  ASSERT_TRUE(decode_header(page, out, crc2, err)) << err.reason;
  EXPECT_EQ(crc, crc2);
  EXPECT_EQ(out.node_id, 42u);
  EXPECT_EQ(out.cas_counter, 123456789u);
  EXPECT_EQ(out.item_count, 1000u);
  EXPECT_EQ(out.format_version, kFormatVersion);
}

TEST(Format, HeaderErrors) {
  std::vector<std::byte> page(kHeaderSize);
  encode_header(sample_info(), page);
  snapshot_info out;
  std::uint32_t crc = 0;
  format_error err;
  auto bad = page;
  bad[20] ^= std::byte{1};
  EXPECT_FALSE(decode_header(bad, out, crc, err));
  EXPECT_EQ(err.reason, "header: checksum mismatch");
  bad = page;
  put_u32(bad.data() + 8, kFormatVersion + 1);
  EXPECT_FALSE(decode_header(bad, out, crc, err));
  EXPECT_NE(err.reason.find("future format version " + std::to_string(kFormatVersion + 1)),
            std::string::npos)
      << err.reason;
  bad = page;
  bad[0] = std::byte{'X'};
  EXPECT_FALSE(decode_header(bad, out, crc, err));
  EXPECT_NE(err.reason.find("bad magic"), std::string::npos);
  EXPECT_FALSE(decode_header(std::span(page).first(100), out, crc, err));
}

TEST(Format, ManifestRoundTripAndErrors) {
  manifest m;
  m.info = sample_info();
  m.header_crc = 0xdeadbeef;
  m.blocks_crc = 0x12345678;
  m.data_size = data_file_size(m.info);
  std::vector<std::byte> buf(kManifestSize);
  encode_manifest(m, buf);
  manifest out;
  format_error err;
  ASSERT_TRUE(decode_manifest(buf, out, err)) << err.reason;
  EXPECT_EQ(out.blocks_crc, 0x12345678u);
  EXPECT_EQ(out.data_size, kHeaderSize + std::size_t{3} * (1 << 16));
  for (std::size_t i = 0; i < kManifestSize; ++i) {
    auto bad = buf;
    bad[i] ^= std::byte{0x40};
    EXPECT_FALSE(decode_manifest(bad, out, err)) << "byte " << i;
  }
  EXPECT_FALSE(decode_manifest(std::span(buf).first(50), out, err));
  auto longer = buf;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(decode_manifest(longer, out, err));
}

TEST(Format, BlockBuildAndParse) {
  std::vector<std::byte> buf(4096);
  block_builder b;
  b.reset(buf, 9, 0, 3);
  std::vector<std::string> keys, vals;
  for (int i = 0; i < 20; ++i) {
    keys.push_back("key" + std::to_string(i));
    vals.push_back(std::string(static_cast<std::size_t>(i * 7), static_cast<char>('a' + i)));
  }
  int added = 0;
  for (int i = 0; i < 20; ++i) {
    cache::item_record r{keys[i], vals[i], static_cast<std::uint32_t>(i),
                         static_cast<std::uint32_t>(i * 10), static_cast<cache::cas_t>(1000 + i)};
    if (!b.fits(r)) break;
    b.add(r);
    ++added;
  }
  EXPECT_EQ(added, 20);
  const auto crc = b.seal();
  block_view v;
  format_error err;
  ASSERT_TRUE(check_block(buf, 9, 0, v, err)) << err.reason;
  EXPECT_EQ(v.crc, crc);
  EXPECT_EQ(v.partition, 3u);
  int n = 0;
  ASSERT_TRUE(for_each_record(
      v,
      [&](const cache::item_record& r) {
        EXPECT_EQ(r.key, keys[n]);
        EXPECT_EQ(r.value, vals[n]);
        EXPECT_EQ(r.flags, static_cast<std::uint32_t>(n));
        EXPECT_EQ(r.cas, static_cast<cache::cas_t>(1000 + n));
        ++n;
      },
      err))
      << err.reason;
  EXPECT_EQ(n, 20);
  // Wrong snapshot or position, flipped payload byte: all caught.
  EXPECT_FALSE(check_block(buf, 10, 0, v, err));
  EXPECT_FALSE(check_block(buf, 9, 1, v, err));
  auto bad = buf;
  bad[100] ^= std::byte{1};
  EXPECT_FALSE(check_block(bad, 9, 0, v, err));
  EXPECT_EQ(err.reason, "block 0: checksum mismatch");
  bad = buf;
  put_u32(bad.data() + 28, 5000);
  EXPECT_FALSE(check_block(bad, 9, 0, v, err));
}

// Stale blocks (format 2): ordinals round-trip; count and payload must agree; 0 and
// a full block are fine.
TEST(Format, StaleBlockRoundTripAndErrors) {
  std::vector<std::byte> buf(4096);
  const std::size_t cap = stale_capacity(buf.size());
  EXPECT_EQ(cap, (4096u - kBlockHeaderSize) / 8);
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, cap}) {
    std::vector<std::uint64_t> ord(n);
    for (std::size_t i = 0; i < n; ++i) ord[i] = i == 0 ? ~std::uint64_t{0} : i * 3;
    const auto crc = encode_stale_block(buf, 9, 4, ord);
    block_view v;
    format_error err;
    ASSERT_TRUE(check_block(buf, 9, 4, v, err)) << err.reason;
    EXPECT_TRUE(v.stale);
    EXPECT_EQ(v.crc, crc);
    ASSERT_EQ(v.item_count, n);
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(get_u64(v.payload.data() + 8 * i), ord[i]);
  }
  std::vector<std::uint64_t> ord{1, 2, 3};
  encode_stale_block(buf, 9, 0, ord);
  block_view v;
  format_error err;
  auto bad = buf;
  put_u32(bad.data() + 24, 4);  // count says 4, payload holds 3: CRC catches it first
  EXPECT_FALSE(check_block(bad, 9, 0, v, err));
  // ... and with a matching CRC the length rule does.
  put_u32(bad.data() + 4, crc32c(bad.data() + 8, kBlockHeaderSize - 8 + 24));
  EXPECT_FALSE(check_block(bad, 9, 0, v, err));
  EXPECT_NE(err.reason.find("8-byte ordinals"), std::string::npos) << err.reason;
  // An item block is not stale.
  block_builder b;
  b.reset(buf, 9, 0, 0);
  b.seal();
  ASSERT_TRUE(check_block(buf, 9, 0, v, err));
  EXPECT_FALSE(v.stale);
}

// Format 1 had no stale blocks (keys deleted during its walk could come back): it is
// rejected with a reason that says so, never restored.
TEST(Format, VersionOneIsRejectedWithTheReason) {
  std::vector<std::byte> page(kHeaderSize);
  auto info = sample_info();
  info.format_version = 1;
  encode_header(info, page);
  snapshot_info out;
  std::uint32_t crc = 0;
  format_error err;
  EXPECT_FALSE(decode_header(page, out, crc, err));
  EXPECT_NE(err.reason.find("format version 1 is no longer restored"), std::string::npos)
      << err.reason;
  manifest m;
  m.info = info;
  std::vector<std::byte> mb(kManifestSize);
  encode_manifest(m, mb);
  manifest mo;
  EXPECT_FALSE(decode_manifest(mb, mo, err));
  EXPECT_NE(err.reason.find("deleted"), std::string::npos) << err.reason;
}

TEST(Format, FullBlockRefusesMore) {
  std::vector<std::byte> buf(256);
  block_builder b;
  b.reset(buf, 1, 0, 0);
  std::string v(180, 'x');
  cache::item_record r{"k", v, 0, 0, 1};
  ASSERT_TRUE(b.fits(r));
  b.add(r);
  EXPECT_FALSE(b.fits(r));
}

}  // namespace
}  // namespace anvil::io
