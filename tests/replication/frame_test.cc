// The replication framing: round trips of every frame type, and every malformed input a
// receiver can see (bad magic, version, type, reserved bytes, header and body CRC, a
// length above the limit, bodies of the wrong length for their type, a stream cut at
// every byte). A bad frame is an error with a reason, never a crash or a frame.
#include "control/replication/frame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/crc32c.h"
#include "io/format.h"

namespace anvil::replication {
namespace {

std::span<const std::byte> bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

struct parsed {
  frame_header h;
  std::string body;
};

// Decodes a whole buffer; fails the test on anything but whole frames.
std::vector<parsed> decode_all(const std::string& wire, std::size_t max_body = 1u << 20) {
  frame_reader r(max_body);
  r.feed(wire);
  std::vector<parsed> out;
  frame_header h;
  std::span<const std::byte> body;
  frame_reader::result res;
  while ((res = r.next(h, body)) == frame_reader::result::frame)
    out.push_back({h, std::string(reinterpret_cast<const char*>(body.data()), body.size())});
  EXPECT_EQ(res, frame_reader::result::need_more) << r.error();
  EXPECT_EQ(r.buffered(), 0u);
  return out;
}

// What the reader says about `wire`: the error text, or "" if it decoded cleanly.
std::string error_of(const std::string& wire, std::size_t max_body = 1u << 20) {
  frame_reader r(max_body);
  r.feed(wire);
  frame_header h;
  std::span<const std::byte> body;
  frame_reader::result res;
  while ((res = r.next(h, body)) == frame_reader::result::frame) {
  }
  if (res == frame_reader::result::error) {
    EXPECT_FALSE(r.error().empty());
    // It stays failed.
    EXPECT_EQ(r.next(h, body), frame_reader::result::error);
    return r.error();
  }
  return "";
}

// Rewrites the header CRC after a deliberate change, so the check under test is the one
// that fires.
void fix_header_crc(std::string& w, std::size_t at = 0) {
  auto* p = reinterpret_cast<std::byte*>(w.data() + at);
  io::put_u32(p + 24, io::crc32c(p, 24));
}

std::string item_frame(std::uint64_t seq, const cache::item_record& r) {
  std::string w;
  append_item_frame(w, seq, r);
  return w;
}

TEST(ReplicationFrame, EveryTypeRoundTrips) {
  std::string w;
  append_frame(w, frame_type::hello, 0, "node-b");
  append_frame(w, frame_type::copy_begin, 7, copy_begin_body(65536, 3));
  append_frame(w, frame_type::copy_end, 7, u64_body(99));
  const std::string value(1000, 'v');
  append_item_frame(w, 8, cache::item_record{"key", value, 0xdeadbeef, 1'800'000'000, 12345});
  append_item_frame(w, 9, cache::item_record{std::string(250, 'k'), "", 0, 0, 1});
  append_frame(w, frame_type::del, 10, "gone");
  append_frame(w, frame_type::position, 11);
  append_frame(w, frame_type::ack, 12);
  const auto f = decode_all(w);
  ASSERT_EQ(f.size(), 8u);
  EXPECT_EQ(f[0].h.type, frame_type::hello);
  EXPECT_EQ(f[0].body, "node-b");
  copy_begin_info cb;
  std::string why;
  ASSERT_TRUE(decode_copy_begin(bytes(f[1].body), cb, why)) << why;
  EXPECT_EQ(cb.block_size, 65536u);
  EXPECT_EQ(cb.epoch, 3);
  EXPECT_EQ(f[1].h.seq, 7u);
  std::uint64_t v = 0;
  ASSERT_TRUE(decode_u64(bytes(f[2].body), v, why));
  EXPECT_EQ(v, 99u);
  cache::item_record r;
  ASSERT_TRUE(decode_item(bytes(f[3].body), r, why)) << why;
  EXPECT_EQ(f[3].h.seq, 8u);
  EXPECT_EQ(r.key, "key");
  EXPECT_EQ(r.value, value);
  EXPECT_EQ(r.flags, 0xdeadbeefu);
  EXPECT_EQ(r.expires_at, 1'800'000'000u);
  EXPECT_EQ(r.cas, 12345u);
  ASSERT_TRUE(decode_item(bytes(f[4].body), r, why)) << why;
  EXPECT_EQ(r.key.size(), 250u);
  EXPECT_TRUE(r.value.empty());
  EXPECT_EQ(f[5].h.type, frame_type::del);
  EXPECT_EQ(f[5].body, "gone");
  EXPECT_EQ(f[6].h.type, frame_type::position);
  EXPECT_EQ(f[6].h.seq, 11u);
  EXPECT_EQ(f[7].h.type, frame_type::ack);
}

TEST(ReplicationFrame, ACopyBlockCarriesASnapshotBlock) {
  std::vector<std::byte> block(4096);
  io::block_builder b;
  b.reset(block, 42, 0, 0);
  b.add(cache::item_record{"a", "1", 0, 0, 5});
  b.add(cache::item_record{"b", "22", 7, 0, 6});
  b.seal();
  const std::size_t used = io::kBlockHeaderSize + io::get_u32(block.data() + 28);
  std::string w;
  append_frame(w, frame_type::copy_block, 42, std::span<const std::byte>(block.data(), used));
  const auto f = decode_all(w);
  ASSERT_EQ(f.size(), 1u);
  io::block_view bv;
  io::format_error err;
  ASSERT_TRUE(io::check_block(bytes(f[0].body), 42, 0, bv, err)) << err.reason;
  EXPECT_EQ(bv.item_count, 2u);
}

TEST(ReplicationFrame, ACutStreamNeedsMoreAtEveryByteAndThenDecodes) {
  std::string w;
  append_item_frame(w, 1, cache::item_record{"key", "value", 1, 2, 3});
  append_frame(w, frame_type::del, 2, "key");
  append_frame(w, frame_type::position, 3);
  for (std::size_t cut = 0; cut <= w.size(); ++cut) {
    frame_reader r(1u << 20);
    r.feed(w.substr(0, cut));
    frame_header h;
    std::span<const std::byte> body;
    std::size_t frames = 0;
    frame_reader::result res;
    while ((res = r.next(h, body)) == frame_reader::result::frame) ++frames;
    ASSERT_EQ(res, frame_reader::result::need_more) << "cut at " << cut << ": " << r.error();
    r.feed(w.substr(cut));
    while ((res = r.next(h, body)) == frame_reader::result::frame) ++frames;
    ASSERT_EQ(res, frame_reader::result::need_more) << "cut at " << cut;
    EXPECT_EQ(frames, 3u) << "cut at " << cut;
  }
}

TEST(ReplicationFrame, ByteByByteFeedDecodesTheSameFrames) {
  std::string w;
  for (int i = 0; i < 20; ++i)
    append_item_frame(w, static_cast<std::uint64_t>(i + 1),
                      cache::item_record{"k" + std::to_string(i), std::string(i * 10, 'x'), 0, 0,
                                         static_cast<std::uint64_t>(i + 1)});
  frame_reader r(1u << 20);
  std::size_t frames = 0;
  for (char c : w) {
    r.feed(std::string_view(&c, 1));
    frame_header h;
    std::span<const std::byte> body;
    while (r.next(h, body) == frame_reader::result::frame) {
      EXPECT_EQ(h.seq, frames + 1);
      ++frames;
    }
  }
  EXPECT_EQ(frames, 20u);
}

TEST(ReplicationFrame, BadMagic) {
  std::string w;
  append_frame(w, frame_type::position, 1);
  w[0] = 'X';
  EXPECT_EQ(error_of(w), "bad magic");
}

TEST(ReplicationFrame, BadHeaderChecksum) {
  std::string w;
  append_frame(w, frame_type::position, 1);
  w[8] ^= 1;  // the sequence, CRC left as it was
  EXPECT_EQ(error_of(w), "header checksum mismatch");
  std::string w2;
  append_frame(w2, frame_type::position, 1);
  w2[24] ^= 1;  // the CRC itself
  EXPECT_EQ(error_of(w2), "header checksum mismatch");
}

TEST(ReplicationFrame, BadVersionTypeAndReservedBytes) {
  std::string w;
  append_frame(w, frame_type::position, 1);
  std::string v = w;
  v[4] = 2;
  fix_header_crc(v);
  EXPECT_EQ(error_of(v), "unsupported version 2");
  for (int t : {0, 9, 255}) {
    std::string x = w;
    x[5] = static_cast<char>(t);
    fix_header_crc(x);
    EXPECT_EQ(error_of(x), "unknown frame type " + std::to_string(t));
  }
  for (int at : {6, 7}) {
    std::string x = w;
    x[static_cast<std::size_t>(at)] = 1;
    fix_header_crc(x);
    EXPECT_EQ(error_of(x), "reserved header bytes are not zero");
  }
}

TEST(ReplicationFrame, BodyLengthAtAndOnePastTheLimit) {
  std::string body(100, 'k');
  std::string w;
  append_frame(w, frame_type::copy_block, 1, body);
  EXPECT_EQ(error_of(w, 100), "");  // exactly the limit
  EXPECT_NE(error_of(w, 99).find("body length 100 above the limit 99"), std::string::npos);
  // A huge length with a valid header CRC is refused before anything is buffered for it.
  std::string huge;
  append_frame(huge, frame_type::copy_block, 1);
  io::put_u32(reinterpret_cast<std::byte*>(huge.data() + 16), 0xffffffffu);
  fix_header_crc(huge);
  EXPECT_NE(error_of(huge, 1u << 20).find("above the limit"), std::string::npos);
}

TEST(ReplicationFrame, BadBodyChecksum) {
  std::string w;
  append_frame(w, frame_type::del, 1, "key");
  w.back() ^= 1;
  EXPECT_EQ(error_of(w), "del: body checksum mismatch");
}

// A body whose CRC is right but whose content does not fit its type.
std::string with_body(frame_type t, std::string_view body) {
  std::string w;
  append_frame(w, t, 1, body);
  return w;
}

TEST(ReplicationFrame, BodiesOfTheWrongShapeForTheirType) {
  EXPECT_NE(error_of(with_body(frame_type::hello, "")).find("hello: node name of 0"),
            std::string::npos);
  EXPECT_EQ(error_of(with_body(frame_type::hello, std::string(64, 'n'))), "");
  EXPECT_NE(error_of(with_body(frame_type::hello, std::string(65, 'n'))).find("65 bytes"),
            std::string::npos);
  EXPECT_NE(error_of(with_body(frame_type::del, "")).find("del: key of 0"), std::string::npos);
  EXPECT_EQ(error_of(with_body(frame_type::del, std::string(250, 'k'))), "");
  EXPECT_NE(error_of(with_body(frame_type::del, std::string(251, 'k'))).find("251"),
            std::string::npos);
  EXPECT_NE(error_of(with_body(frame_type::position, "x")).find("unexpected body"),
            std::string::npos);
  EXPECT_NE(error_of(with_body(frame_type::ack, "x")).find("unexpected body"), std::string::npos);
  EXPECT_NE(error_of(with_body(frame_type::copy_begin, std::string(15, '\0'))).find("not 16"),
            std::string::npos);
  std::string cb = copy_begin_body(65536, 1);
  cb[4] = 1;
  EXPECT_NE(error_of(with_body(frame_type::copy_begin, cb)).find("reserved"), std::string::npos);
  EXPECT_NE(error_of(with_body(frame_type::copy_begin, copy_begin_body(31, 1))).find("block size"),
            std::string::npos);
  EXPECT_NE(error_of(with_body(frame_type::copy_end, std::string(7, '\0'))).find("not 8"),
            std::string::npos);
  EXPECT_NE(error_of(with_body(frame_type::copy_block, std::string(31, '\0'))).find("below"),
            std::string::npos);
}

TEST(ReplicationFrame, MalformedItemRecords) {
  const std::string good = item_frame(1, cache::item_record{"key", "value", 0, 0, 1});
  const std::string body = good.substr(kFrameHeaderSize);
  auto item_error = [](std::string b) { return error_of(with_body(frame_type::item, b)); };
  EXPECT_EQ(item_error(body), "");
  // Cut at every length: always an error (a record never parses short).
  for (std::size_t n = 0; n < body.size(); ++n)
    EXPECT_NE(item_error(body.substr(0, n)), "") << "body cut at " << n;
  EXPECT_NE(item_error(body + "x").find("trailing bytes"), std::string::npos);
  std::string zero_key = body;
  zero_key[0] = 0;
  EXPECT_NE(item_error(zero_key), "");
  std::string long_value = body;  // value length past the body
  io::put_u32(reinterpret_cast<std::byte*>(long_value.data() + 1), 1000);
  EXPECT_NE(item_error(long_value).find("run past"), std::string::npos);
  std::string huge_value = body;  // a length that would overflow an addition
  io::put_u32(reinterpret_cast<std::byte*>(huge_value.data() + 1), 0xffffffffu);
  EXPECT_NE(item_error(huge_value), "");
}

TEST(ReplicationFrame, CopyBlockSizeHoldsTheLargestItem) {
  EXPECT_EQ(copy_block_size(1000), 64u << 10);
  EXPECT_GE(copy_block_size(1u << 20),
            io::kBlockHeaderSize + io::kRecordHeaderSize + 250 + (1u << 20));
  EXPECT_EQ(max_body_for(1u << 20), copy_block_size(1u << 20));
}

}  // namespace
}  // namespace anvil::replication
