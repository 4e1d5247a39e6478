#include "control/replication/frame.h"

#include <cstring>

#include "io/crc32c.h"
#include "io/format.h"

namespace anvil::replication {

namespace {

void put_header(std::byte* h, frame_type type, std::uint64_t seq, std::uint32_t body_len,
                std::uint32_t body_crc) {
  io::put_u32(h, kFrameMagic);
  h[4] = static_cast<std::byte>(kFrameVersion);
  h[5] = static_cast<std::byte>(type);
  h[6] = std::byte{0};
  h[7] = std::byte{0};
  io::put_u64(h + 8, seq);
  io::put_u32(h + 16, body_len);
  io::put_u32(h + 20, body_crc);
  io::put_u32(h + 24, io::crc32c(h, 24));
}

bool known_type(std::uint8_t t) { return t >= 1 && t <= 8; }

}  // namespace

const char* to_string(frame_type t) {
  switch (t) {
    case frame_type::hello:
      return "hello";
    case frame_type::copy_begin:
      return "copy_begin";
    case frame_type::copy_block:
      return "copy_block";
    case frame_type::copy_end:
      return "copy_end";
    case frame_type::item:
      return "item";
    case frame_type::del:
      return "del";
    case frame_type::position:
      return "position";
    case frame_type::ack:
      return "ack";
  }
  return "unknown";
}

void append_frame(std::string& out, frame_type type, std::uint64_t seq,
                  std::span<const std::byte> body) {
  const std::size_t at = out.size();
  out.resize(at + kFrameHeaderSize + body.size());
  auto* h = reinterpret_cast<std::byte*>(out.data() + at);
  put_header(h, type, seq, static_cast<std::uint32_t>(body.size()),
             io::crc32c(body.data(), body.size()));
  if (!body.empty()) std::memcpy(h + kFrameHeaderSize, body.data(), body.size());
}

void append_item_frame(std::string& out, std::uint64_t seq, const cache::item_record& r) {
  // The body is one snapshot record (io/format.cc, block_builder::add), written in place.
  const std::size_t body_len = io::kRecordHeaderSize + r.key.size() + r.value.size();
  const std::size_t at = out.size();
  out.resize(at + kFrameHeaderSize + body_len);
  auto* h = reinterpret_cast<std::byte*>(out.data() + at);
  std::byte* b = h + kFrameHeaderSize;
  b[0] = static_cast<std::byte>(r.key.size());
  io::put_u32(b + 1, static_cast<std::uint32_t>(r.value.size()));
  io::put_u32(b + 5, r.flags);
  io::put_u32(b + 9, r.expires_at);
  io::put_u64(b + 13, r.cas);
  std::memcpy(b + io::kRecordHeaderSize, r.key.data(), r.key.size());
  if (!r.value.empty())
    std::memcpy(b + io::kRecordHeaderSize + r.key.size(), r.value.data(), r.value.size());
  put_header(h, frame_type::item, seq, static_cast<std::uint32_t>(body_len),
             io::crc32c(b, body_len));
}

std::string copy_begin_body(std::uint32_t block_size, std::int64_t epoch) {
  std::string b(16, '\0');
  auto* p = reinterpret_cast<std::byte*>(b.data());
  io::put_u32(p, block_size);
  io::put_u32(p + 4, 0);
  io::put_u64(p + 8, static_cast<std::uint64_t>(epoch));
  return b;
}

std::string u64_body(std::uint64_t v) {
  std::string b(8, '\0');
  io::put_u64(reinterpret_cast<std::byte*>(b.data()), v);
  return b;
}

std::uint32_t copy_block_size(std::size_t max_item_size) {
  const std::size_t need =
      io::kBlockHeaderSize + io::kRecordHeaderSize + cache::kMaxKeyLength + max_item_size;
  std::size_t s = 64u << 10;
  while (s < need) s *= 2;
  return static_cast<std::uint32_t>(s);
}

std::size_t max_body_for(std::size_t max_item_size) { return copy_block_size(max_item_size); }

bool decode_header(std::span<const std::byte> h, std::size_t max_body, frame_header& out,
                   std::string& why) {
  if (h.size() < kFrameHeaderSize) {
    why = "header truncated";
    return false;
  }
  const std::byte* p = h.data();
  if (io::get_u32(p) != kFrameMagic) {
    why = "bad magic";
    return false;
  }
  if (io::crc32c(p, 24) != io::get_u32(p + 24)) {
    why = "header checksum mismatch";
    return false;
  }
  const auto version = std::to_integer<std::uint8_t>(p[4]);
  if (version != kFrameVersion) {
    why = "unsupported version " + std::to_string(version);
    return false;
  }
  const auto type = std::to_integer<std::uint8_t>(p[5]);
  if (!known_type(type)) {
    why = "unknown frame type " + std::to_string(type);
    return false;
  }
  if (p[6] != std::byte{0} || p[7] != std::byte{0}) {
    why = "reserved header bytes are not zero";
    return false;
  }
  out.type = static_cast<frame_type>(type);
  out.seq = io::get_u64(p + 8);
  out.body_len = io::get_u32(p + 16);
  out.body_crc = io::get_u32(p + 20);
  if (out.body_len > max_body) {
    why = "body length " + std::to_string(out.body_len) + " above the limit " +
          std::to_string(max_body) + " (is the primary's -I larger than this node's?)";
    return false;
  }
  return true;
}

bool decode_item(std::span<const std::byte> body, cache::item_record& out, std::string& why) {
  std::size_t pos = 0;
  io::format_error err;
  if (!io::parse_record(body, pos, out, err)) {
    why = "item: " + err.reason;
    return false;
  }
  if (pos != body.size()) {
    why = "item: trailing bytes after the record";
    return false;
  }
  return true;
}

bool decode_copy_begin(std::span<const std::byte> body, copy_begin_info& out, std::string& why) {
  if (body.size() != 16) {
    why = "copy_begin: body is " + std::to_string(body.size()) + " bytes, not 16";
    return false;
  }
  out.block_size = io::get_u32(body.data());
  out.epoch = static_cast<std::int64_t>(io::get_u64(body.data() + 8));
  if (io::get_u32(body.data() + 4) != 0) {
    why = "copy_begin: reserved field is not zero";
    return false;
  }
  if (out.block_size < io::kBlockHeaderSize) {
    why = "copy_begin: block size " + std::to_string(out.block_size) + " below a block header";
    return false;
  }
  return true;
}

bool decode_u64(std::span<const std::byte> body, std::uint64_t& out, std::string& why) {
  if (body.size() != 8) {
    why = "body is " + std::to_string(body.size()) + " bytes, not 8";
    return false;
  }
  out = io::get_u64(body.data());
  return true;
}

bool check_body(const frame_header& h, std::span<const std::byte> body, std::string& why) {
  if (io::crc32c(body.data(), body.size()) != h.body_crc) {
    why = std::string(to_string(h.type)) + ": body checksum mismatch";
    return false;
  }
  const std::size_t n = body.size();
  switch (h.type) {
    case frame_type::hello:
      if (n == 0 || n > kMaxNodeName) {
        why = "hello: node name of " + std::to_string(n) + " bytes (1.." +
              std::to_string(kMaxNodeName) + ")";
        return false;
      }
      return true;
    case frame_type::copy_begin: {
      copy_begin_info info;
      return decode_copy_begin(body, info, why);
    }
    case frame_type::copy_block:
      if (n < io::kBlockHeaderSize) {
        why = "copy_block: " + std::to_string(n) + " bytes, below a block header";
        return false;
      }
      return true;  // the block's own checks run where its copy's id is known
    case frame_type::copy_end: {
      std::uint64_t v = 0;
      if (!decode_u64(body, v, why)) {
        why = "copy_end: " + why;
        return false;
      }
      return true;
    }
    case frame_type::item: {
      cache::item_record r;
      return decode_item(body, r, why);
    }
    case frame_type::del:
      if (n == 0 || n > cache::kMaxKeyLength) {
        why = "del: key of " + std::to_string(n) + " bytes (1..250)";
        return false;
      }
      return true;
    case frame_type::position:
    case frame_type::ack:
      if (n != 0) {
        why =
            std::string(to_string(h.type)) + ": unexpected body of " + std::to_string(n) + " bytes";
        return false;
      }
      return true;
  }
  why = "unknown frame type";
  return false;
}

void frame_reader::feed(std::span<const std::byte> bytes) {
  if (_failed) return;
  if (_pos > 0 && _pos == _buf.size()) {
    _buf.clear();
    _pos = 0;
  } else if (_pos > (1u << 20) && _pos * 2 > _buf.size()) {
    _buf.erase(_buf.begin(), _buf.begin() + static_cast<std::ptrdiff_t>(_pos));
    _pos = 0;
  }
  _buf.insert(_buf.end(), bytes.begin(), bytes.end());
}

frame_reader::result frame_reader::next(frame_header& h, std::span<const std::byte>& body) {
  if (_failed) return result::error;
  const std::size_t avail = _buf.size() - _pos;
  if (avail < kFrameHeaderSize) return result::need_more;
  std::span<const std::byte> hdr(_buf.data() + _pos, kFrameHeaderSize);
  if (!decode_header(hdr, _max_body, h, _why)) {
    _failed = true;
    return result::error;
  }
  if (avail - kFrameHeaderSize < h.body_len) return result::need_more;
  body = std::span<const std::byte>(_buf.data() + _pos + kFrameHeaderSize, h.body_len);
  if (!check_body(h, body, _why)) {
    _failed = true;
    return result::error;
  }
  _pos += kFrameHeaderSize + h.body_len;
  return result::frame;
}

}  // namespace anvil::replication
