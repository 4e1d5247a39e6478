#include "io/format.h"

#include <cstring>

#include "io/crc32c.h"

namespace anvil::io {

void put_u32(std::byte* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
void put_u64(std::byte* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint32_t get_u32(const std::byte* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
  return v;
}
std::uint64_t get_u64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

namespace {

// Header and manifest share the layout of their first 72 bytes.
constexpr std::size_t kInfoEnd = 72;

void put_info(std::byte* p, const snapshot_info& i, std::uint32_t own_size, const char* magic) {
  std::memcpy(p, magic, 8);
  put_u32(p + 8, i.format_version);
  put_u32(p + 12, own_size);
  put_u64(p + 16, i.node_id);
  put_u64(p + 24, i.snapshot_id);
  put_u64(p + 32, i.created_unix);
  put_u64(p + 40, i.cas_counter);
  put_u64(p + 48, i.item_count);
  put_u64(p + 56, i.block_count);
  put_u32(p + 64, i.block_size);
  put_u32(p + 68, i.partition_count);
}

// Magic and version first: a future version may move everything after them.
bool get_info(const std::byte* p, std::size_t size, std::uint32_t own_size, const char* magic,
              const char* what, snapshot_info& i, format_error& err) {
  if (size < 12 || std::memcmp(p, magic, 8) != 0) {
    err.reason = std::string(what) + ": bad magic (not an Anvil snapshot file)";
    return false;
  }
  i.format_version = get_u32(p + 8);
  if (i.format_version > kFormatVersion) {
    err.reason = std::string(what) + ": future format version " + std::to_string(i.format_version) +
                 " (this build reads up to " + std::to_string(kFormatVersion) + ")";
    return false;
  }
  if (i.format_version < kOldestReadableVersion && i.format_version != 0) {
    err.reason = std::string(what) + ": format version " + std::to_string(i.format_version) +
                 " is no longer restored (it did not record keys deleted, flushed or "
                 "rewritten during its walk, so they could come back); cold start instead";
    return false;
  }
  if (i.format_version == 0) {
    err.reason = std::string(what) + ": format version 0 is invalid";
    return false;
  }
  if (size < own_size || get_u32(p + 12) != own_size) {
    err.reason = std::string(what) + ": truncated or wrong size";
    return false;
  }
  i.node_id = get_u64(p + 16);
  i.snapshot_id = get_u64(p + 24);
  i.created_unix = get_u64(p + 32);
  i.cas_counter = get_u64(p + 40);
  i.item_count = get_u64(p + 48);
  i.block_count = get_u64(p + 56);
  i.block_size = get_u32(p + 64);
  i.partition_count = get_u32(p + 68);
  return true;
}

}  // namespace

std::uint32_t encode_header(const snapshot_info& info, std::span<std::byte> out) {
  std::memset(out.data(), 0, kHeaderSize);
  put_info(out.data(), info, kHeaderSize, kHeaderMagic);
  const std::uint32_t crc = crc32c(out.data(), kInfoEnd);
  put_u32(out.data() + kInfoEnd, crc);
  return crc;
}

bool decode_header(std::span<const std::byte> page, snapshot_info& out, std::uint32_t& crc,
                   format_error& err) {
  if (!get_info(page.data(), page.size(), kHeaderSize, kHeaderMagic, "header", out, err))
    return false;
  crc = crc32c(page.data(), kInfoEnd);
  if (crc != get_u32(page.data() + kInfoEnd)) {
    err.reason = "header: checksum mismatch";
    return false;
  }
  if (out.block_size == 0 || out.block_size % kHeaderSize != 0) {
    err.reason = "header: block size " + std::to_string(out.block_size) + " is invalid";
    return false;
  }
  return true;
}

void encode_manifest(const manifest& m, std::span<std::byte> out) {
  std::byte* p = out.data();
  std::memset(p, 0, kManifestSize);
  put_info(p, m.info, kManifestSize, kManifestMagic);
  put_u32(p + 72, m.header_crc);
  put_u32(p + 76, m.blocks_crc);
  put_u64(p + 80, m.data_size);
  put_u32(p + 92, crc32c(p, 92));
}

bool decode_manifest(std::span<const std::byte> bytes, manifest& out, format_error& err) {
  const std::byte* p = bytes.data();
  if (!get_info(p, bytes.size(), kManifestSize, kManifestMagic, "manifest", out.info, err))
    return false;
  if (bytes.size() != kManifestSize) {
    err.reason =
        "manifest: size " + std::to_string(bytes.size()) + " != " + std::to_string(kManifestSize);
    return false;
  }
  if (crc32c(p, 92) != get_u32(p + 92)) {
    err.reason = "manifest: checksum mismatch";
    return false;
  }
  out.header_crc = get_u32(p + 72);
  out.blocks_crc = get_u32(p + 76);
  out.data_size = get_u64(p + 80);
  if (out.info.block_size == 0 || out.info.block_size % kHeaderSize != 0 ||
      out.data_size != data_file_size(out.info)) {
    err.reason = "manifest: inconsistent block size or data size";
    return false;
  }
  return true;
}

void block_builder::reset(std::span<std::byte> buf, std::uint64_t snapshot_id, std::uint32_t index,
                          std::uint32_t partition) {
  _buf = buf;
  _used = kBlockHeaderSize;
  _snapshot_id = snapshot_id;
  _index = index;
  _partition = partition;
  _items = 0;
}

void block_builder::add(const cache::item_record& r) {
  std::byte* p = _buf.data() + _used;
  p[0] = static_cast<std::byte>(r.key.size());
  put_u32(p + 1, static_cast<std::uint32_t>(r.value.size()));
  put_u32(p + 5, r.flags);
  put_u32(p + 9, r.expires_at);
  put_u64(p + 13, r.cas);
  p += kRecordHeaderSize;
  std::memcpy(p, r.key.data(), r.key.size());
  if (!r.value.empty()) std::memcpy(p + r.key.size(), r.value.data(), r.value.size());
  _used += record_size(r);
  ++_items;
}

std::uint32_t block_builder::seal() {
  std::byte* p = _buf.data();
  put_u32(p, kBlockMagic);
  put_u64(p + 8, _snapshot_id);
  put_u32(p + 16, _index);
  put_u32(p + 20, _partition);
  put_u32(p + 24, _items);
  put_u32(p + 28, static_cast<std::uint32_t>(_used - kBlockHeaderSize));
  std::memset(p + _used, 0, _buf.size() - _used);
  const std::uint32_t crc = crc32c(p + 8, _used - 8);
  put_u32(p + 4, crc);
  return crc;
}

std::uint32_t encode_stale_block(std::span<std::byte> buf, std::uint64_t snapshot_id,
                                 std::uint32_t index, std::span<const std::uint64_t> ordinals) {
  std::byte* p = buf.data();
  const std::size_t used = kBlockHeaderSize + 8 * ordinals.size();
  for (std::size_t i = 0; i < ordinals.size(); ++i)
    put_u64(p + kBlockHeaderSize + 8 * i, ordinals[i]);
  put_u32(p, kStaleBlockMagic);
  put_u64(p + 8, snapshot_id);
  put_u32(p + 16, index);
  put_u32(p + 20, 0);
  put_u32(p + 24, static_cast<std::uint32_t>(ordinals.size()));
  put_u32(p + 28, static_cast<std::uint32_t>(used - kBlockHeaderSize));
  std::memset(p + used, 0, buf.size() - used);
  const std::uint32_t crc = crc32c(p + 8, used - 8);
  put_u32(p + 4, crc);
  return crc;
}

bool check_block(std::span<const std::byte> block, std::uint64_t snapshot_id, std::uint32_t index,
                 block_view& out, format_error& err) {
  const std::byte* p = block.data();
  const std::string where = "block " + std::to_string(index) + ": ";
  if (block.size() < kBlockHeaderSize ||
      (get_u32(p) != kBlockMagic && get_u32(p) != kStaleBlockMagic)) {
    err.reason = where + "bad magic";
    return false;
  }
  out.stale = get_u32(p) == kStaleBlockMagic;
  const std::uint32_t payload = get_u32(p + 28);
  if (payload > block.size() - kBlockHeaderSize) {
    err.reason = where + "payload length " + std::to_string(payload) + " exceeds the block";
    return false;
  }
  out.crc = get_u32(p + 4);
  if (crc32c(p + 8, kBlockHeaderSize - 8 + payload) != out.crc) {
    err.reason = where + "checksum mismatch";
    return false;
  }
  if (get_u64(p + 8) != snapshot_id || get_u32(p + 16) != index) {
    err.reason = where + "belongs to another snapshot or position";
    return false;
  }
  out.index = index;
  out.partition = get_u32(p + 20);
  out.item_count = get_u32(p + 24);
  out.payload = block.subspan(kBlockHeaderSize, payload);
  if (out.stale && std::uint64_t{out.item_count} * 8 != payload) {
    err.reason = where + "stale block payload is not its count of 8-byte ordinals";
    return false;
  }
  return true;
}

bool parse_record(std::span<const std::byte> payload, std::size_t& pos, cache::item_record& rec,
                  format_error& err) {
  if (payload.size() - pos < kRecordHeaderSize) {
    err.reason = "record header runs past the block payload";
    return false;
  }
  const std::byte* p = payload.data() + pos;
  const std::size_t klen = std::to_integer<std::size_t>(p[0]);
  const std::size_t vlen = get_u32(p + 1);
  if (klen == 0 || klen > cache::kMaxKeyLength ||
      payload.size() - pos - kRecordHeaderSize < klen + vlen) {
    err.reason = "record lengths run past the block payload";
    return false;
  }
  rec.flags = get_u32(p + 5);
  rec.expires_at = get_u32(p + 9);
  rec.cas = get_u64(p + 13);
  const char* kv = reinterpret_cast<const char*>(p + kRecordHeaderSize);
  rec.key = std::string_view(kv, klen);
  rec.value = std::string_view(kv + klen, vlen);
  pos += kRecordHeaderSize + klen + vlen;
  return true;
}

}  // namespace anvil::io
