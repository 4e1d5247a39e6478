// Unit tests of the load generator's pieces: histogram bucket arithmetic and quantiles,
// request encoding against the protocol document's byte examples, response parsing at
// every split point, and the key/value functions verification relies on.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "tools/loadgen/histogram.h"
#include "tools/loadgen/keyspace.h"
#include "tools/loadgen/wire.h"

namespace anvil::loadgen {
namespace {

TEST(Histogram, SmallValuesAreExact) {
  for (std::uint64_t v = 0; v < 256; ++v) {
    EXPECT_EQ(histogram::index_of(v), v);
    EXPECT_EQ(histogram::upper_bound_of(histogram::index_of(v)), v);
  }
}

TEST(Histogram, BucketsAreContiguousAndTight) {
  // Every bucket's upper bound maps back to it and the next value opens the next bucket;
  // the width relative to the value stays under 2^-(kSubBits-1).
  for (unsigned i = 0; i + 1 < histogram::kBuckets; ++i) {
    const auto ub = histogram::upper_bound_of(i);
    ASSERT_EQ(histogram::index_of(ub), i) << i;
    ASSERT_EQ(histogram::index_of(ub + 1), i + 1) << i;
    if (i > 0) {
      const auto lo = histogram::upper_bound_of(i - 1) + 1;
      ASSERT_LE(double(ub - lo) / double(lo), 1.0 / histogram::kHalf) << i;
    }
  }
  EXPECT_EQ(histogram::index_of((std::uint64_t(1) << histogram::kMaxBits) - 1),
            histogram::kBuckets - 1);
}

TEST(Histogram, QuantilesOfAUniformSpread) {
  histogram h;
  for (std::uint64_t v = 1; v <= 100000; ++v) h.record(v * 10);  // 10 ns .. 1 ms
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.min(), 10u);
  EXPECT_EQ(h.max(), 1000000u);
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double exact = q * 1e6;
    const double got = double(h.quantile(q));
    EXPECT_GE(got, exact) << q;                        // never below the true quantile
    EXPECT_LE(got, exact * (1 + 1.0 / 128) + 1) << q;  // at most one bucket above
  }
  EXPECT_EQ(h.quantile(1.0), 1000000u);
  EXPECT_NEAR(h.mean(), 500005.0, 1e-6);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(7);
  histogram a, b, both;
  for (int i = 0; i < 50000; ++i) {
    const std::uint64_t v = rng() % 5000000;
    (i % 3 ? a : b).record(v);
    both.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), both.count());
  EXPECT_EQ(a.min(), both.min());
  EXPECT_EQ(a.max(), both.max());
  for (double q : {0.1, 0.5, 0.99, 0.9999}) EXPECT_EQ(a.quantile(q), both.quantile(q));
}

TEST(Histogram, OverflowIsClampedAndCounted) {
  histogram h;
  h.record(std::uint64_t(1) << 50);
  EXPECT_EQ(h.overflow(), 1u);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_LT(h.max(), std::uint64_t(1) << histogram::kMaxBits);
  histogram empty;
  EXPECT_EQ(empty.quantile(0.99), 0u);
  EXPECT_EQ(empty.min(), 0u);
}

std::vector<std::byte> bytes(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int x : v) out.push_back(std::byte(x));
  return out;
}

TEST(Wire, GetMatchesTheProtocolDocumentExample) {
  // "Example: GET request for key 'Hello'" from the binary protocol document.
  std::vector<std::byte> out(wire::get_len(5));
  ASSERT_EQ(wire::encode_get(out.data(), "Hello"), 29u);
  EXPECT_EQ(out, bytes({0x80, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                        0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                        0x00, 0x00, 0x00, 0x00, 'H',  'e',  'l',  'l',  'o'}));
}

TEST(Wire, SetCarriesZeroFlagsAndExpiry) {
  const auto value = bytes({'W', 'o', 'r', 'l', 'd'});
  std::vector<std::byte> out(wire::set_len(5, 5));
  ASSERT_EQ(wire::encode_set(out.data(), "Hello", value), 42u);
  EXPECT_EQ(out, bytes({0x80, 0x01, 0x00, 0x05, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                        0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 'H',
                        'e',  'l',  'l',  'o',  'W',  'o',  'r',  'l',  'd'}));
}

TEST(Wire, ParsesAGetHitAtEverySplitPoint) {
  // GET response with flags 0xdeadbeef and value "World" (protocol document example).
  const auto frame = bytes({0x81, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                            0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                            0x00, 0x01, 0xde, 0xad, 0xbe, 0xef, 'W',  'o',  'r',  'l',  'd'});
  for (std::size_t cut = 0; cut < frame.size(); ++cut) {
    wire::response r{};
    std::size_t used = 0;
    EXPECT_EQ(wire::parse_response(std::span(frame).first(cut), r, used),
              wire::parse_result::need_more)
        << cut;
  }
  auto two = frame;
  two.insert(two.end(), frame.begin(), frame.end());
  wire::response r{};
  std::size_t used = 0;
  ASSERT_EQ(wire::parse_response(two, r, used), wire::parse_result::ok);
  EXPECT_EQ(used, frame.size());
  EXPECT_EQ(r.opcode, wire::kOpGet);
  EXPECT_EQ(r.status, wire::kStatusOk);
  EXPECT_EQ(r.extras_len, 4);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(r.value().data()), r.value().size()),
            "World");
}

TEST(Wire, RejectsBadMagicAndImpossibleLengths) {
  auto frame = bytes({0x81, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
                      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
  wire::response r{};
  std::size_t used = 0;
  ASSERT_EQ(wire::parse_response(frame, r, used), wire::parse_result::ok);  // a bare miss
  EXPECT_EQ(r.status, wire::kStatusKeyNotFound);
  frame[0] = std::byte{0x80};
  EXPECT_EQ(wire::parse_response(frame, r, used), wire::parse_result::bad_magic);
  frame[0] = std::byte{0x81};
  frame[3] = std::byte{0x05};  // key length 5 in a 0-byte body
  EXPECT_EQ(wire::parse_response(frame, r, used), wire::parse_result::bad_lengths);
  frame[3] = std::byte{0x00};
  frame[8] = std::byte{0x10};  // 256 MiB body
  EXPECT_EQ(wire::parse_response(frame, r, used), wire::parse_result::bad_lengths);
}

TEST(Keyspace, KeysArePaddedAndValuesAreAFunctionOfTheKey) {
  const keyspace ks(100000, 32);
  ASSERT_EQ(ks.key_len(), 12u);
  std::string k(ks.key_len(), '?');
  ks.key(4711, k.data());
  EXPECT_EQ(k, "key:00004711");
  EXPECT_EQ(keyspace(1000000000, 1).key_len(), 13u);  // 999999999 needs 9 digits

  std::vector<std::byte> a(32), b(32), c(32);
  ks.value(4711, a);
  ks.value(4711, b);
  ks.value(4712, c);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_TRUE(std::all_of(a.begin(), a.end(),
                          [](std::byte x) { return std::byte{'a'} <= x && x <= std::byte{'z'}; }));
}

// --- memcache_text

std::span<const std::byte> bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

TEST(TextWire, RequestsAreMemtiersLines) {
  std::vector<std::byte> buf(64);
  std::string v = "abc";
  std::size_t n = wire::encode_text_get(buf.data(), "key1");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), n), "get key1\r\n");
  EXPECT_EQ(n, wire::text_get_len(4));
  n = wire::encode_text_set(buf.data(), "key1", bytes(v));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), n), "set key1 0 0 3\r\nabc\r\n");
  EXPECT_LE(n, wire::text_set_len(4, 3));
  n = wire::encode_text_set(buf.data(), "k", {});
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), n), "set k 0 0 0\r\n\r\n");
}

TEST(TextWire, RepliesParseAtEverySplitPoint) {
  const std::string hit = "VALUE key1 0 5\r\nhello\r\nEND\r\n";
  for (std::size_t k = 0; k < hit.size(); ++k) {
    wire::response r{};
    std::size_t used = 0;
    EXPECT_EQ(
        wire::parse_text_response(bytes(std::string_view(hit).substr(0, k)), wire::kOpGet, r, used),
        wire::parse_result::need_more)
        << k;
  }
  wire::response r{};
  std::size_t used = 0;
  const std::string two = hit + "END\r\n";  // r.value() points into it: keep it alive
  ASSERT_EQ(wire::parse_text_response(bytes(two), wire::kOpGet, r, used), wire::parse_result::ok);
  EXPECT_EQ(used, hit.size());
  EXPECT_EQ(r.status, wire::kStatusOk);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(r.value().data()), r.value().size()),
            "hello");
  ASSERT_EQ(wire::parse_text_response(bytes("END\r\n"), wire::kOpGet, r, used),
            wire::parse_result::ok);
  EXPECT_EQ(r.status, wire::kStatusKeyNotFound);
  ASSERT_EQ(wire::parse_text_response(bytes("STORED\r\n"), wire::kOpSet, r, used),
            wire::parse_result::ok);
  EXPECT_EQ(r.status, wire::kStatusOk);
  ASSERT_EQ(
      wire::parse_text_response(bytes("SERVER_ERROR out of memory\r\n"), wire::kOpSet, r, used),
      wire::parse_result::ok);
  EXPECT_NE(r.status, wire::kStatusOk);
  EXPECT_EQ(
      wire::parse_text_response(bytes("VALUE k 0 2\r\nabcEND\r\nEND\r\n"), wire::kOpGet, r, used),
      wire::parse_result::bad_lengths);
  EXPECT_EQ(wire::parse_text_response(bytes(std::string(2000, 'x')), wire::kOpGet, r, used),
            wire::parse_result::bad_lengths);
  EXPECT_EQ(wire::parse_text_response(bytes("VALUE k 0 99999999999\r\n"), wire::kOpGet, r, used),
            wire::parse_result::bad_lengths);
}

}  // namespace
}  // namespace anvil::loadgen
