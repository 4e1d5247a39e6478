// The replication stream's framing (docs/replication.md, "Wire format"): pure encoding
// and an incremental decoder over bytes, no socket, so every malformed input is tested
// in memory.
//
// A frame is a 28-byte header then `body_len` bytes, all integers little-endian:
//   0 magic "ANRP" | 4 version | 5 type | 6 reserved (0) | 8 sequence (u64)
//   16 body_len (u32) | 20 body CRC32C | 24 header CRC32C (of bytes 0..23)
// Bodies by type (every length is checked by decode_body):
//   hello       replica -> primary: the replica's node name (1..64 bytes)
//   copy_begin  block_size (u32), reserved (u32), epoch (u64); seq = the position the
//               copy starts from (the live stream continues at seq + 1)
//   copy_block  one snapshot item block (io/format.h), at most block_size bytes
//   copy_end    cas_counter (u64)
//   item        one snapshot record (io/format.h: 21-byte header, key, value)
//   del         the key (1..250 bytes)
//   position    empty; seq = the primary's last produced position
//   ack         empty; seq = the replica's last applied position
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/engine.h"

namespace anvil::replication {

inline constexpr std::uint32_t kFrameMagic = 0x50524e41;  // "ANRP" little-endian
inline constexpr std::uint8_t kFrameVersion = 1;
inline constexpr std::size_t kFrameHeaderSize = 28;
inline constexpr std::size_t kMaxNodeName = 64;

enum class frame_type : std::uint8_t {
  hello = 1,
  copy_begin = 2,
  copy_block = 3,
  copy_end = 4,
  item = 5,
  del = 6,
  position = 7,
  ack = 8,
};
const char* to_string(frame_type t);

struct frame_header {
  frame_type type = frame_type::position;
  std::uint64_t seq = 0;
  std::uint32_t body_len = 0;
  std::uint32_t body_crc = 0;
};

// Appends a whole frame (header + body) to `out`.
void append_frame(std::string& out, frame_type type, std::uint64_t seq,
                  std::span<const std::byte> body);
inline void append_frame(std::string& out, frame_type type, std::uint64_t seq,
                         std::string_view body = {}) {
  append_frame(
      out, type, seq,
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(body.data()), body.size()));
}
// Body encoders.
void append_item_frame(std::string& out, std::uint64_t seq, const cache::item_record& r);
std::string copy_begin_body(std::uint32_t block_size, std::int64_t epoch);
std::string u64_body(std::uint64_t v);

// The largest body a receiver accepts, from its own largest item (-I): a copy block
// holds at least one largest record. Replicas therefore need the primary's -I or more.
std::size_t max_body_for(std::size_t max_item_size);
std::uint32_t copy_block_size(std::size_t max_item_size);

// Parsed bodies.
struct copy_begin_info {
  std::uint32_t block_size = 0;
  std::int64_t epoch = 0;
};

// Checks one header: magic, version, reserved, type, CRC, body_len <= max_body.
bool decode_header(std::span<const std::byte> h, std::size_t max_body, frame_header& out,
                   std::string& why);
// Type-specific body checks (CRC first). The views point into `body`.
bool check_body(const frame_header& h, std::span<const std::byte> body, std::string& why);
bool decode_item(std::span<const std::byte> body, cache::item_record& out, std::string& why);
bool decode_copy_begin(std::span<const std::byte> body, copy_begin_info& out, std::string& why);
bool decode_u64(std::span<const std::byte> body, std::uint64_t& out, std::string& why);

// Incremental decoder: feed bytes as they arrive, take whole frames out. After an error
// it stays failed (the connection is dropped; a replica resyncs).
class frame_reader {
 public:
  explicit frame_reader(std::size_t max_body) : _max_body(max_body) {}
  // Appends received bytes.
  void feed(std::span<const std::byte> bytes);
  void feed(std::string_view s) {
    feed(std::span<const std::byte>(reinterpret_cast<const std::byte*>(s.data()), s.size()));
  }
  enum class result { frame, need_more, error };
  // On `frame`, h and body describe the next frame (body valid until the next call).
  result next(frame_header& h, std::span<const std::byte>& body);
  const std::string& error() const { return _why; }
  std::size_t buffered() const { return _buf.size() - _pos; }

 private:
  std::size_t _max_body;
  std::vector<std::byte> _buf;
  std::size_t _pos = 0;
  bool _failed = false;
  std::string _why;
};

}  // namespace anvil::replication
