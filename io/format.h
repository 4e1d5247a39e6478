// On-disk snapshot format, version 2 (docs/snapshot-format.md is the reference).
// Pure encoding and decoding over byte spans: no I/O, no clock, so every corruption
// case is testable in memory.
//
//   snap-<id>.data      header page (kHeaderSize bytes) + block_count blocks of block_size:
//                       item blocks, then stale blocks (the ordinals of item records that
//                       were no longer their key's live record when the walk ended:
//                       deleted, flushed or rewritten meanwhile; restore skips them)
//   snap-<id>.manifest  written last (tmp, fsync, rename, fsync dir): a snapshot exists
//                       only once its manifest does.
//
// All integers are little-endian. Every block carries its own CRC32C; the header and
// manifest carry one each, and the manifest also holds a CRC32C over the sequence of
// block CRCs, so a block swapped in from another snapshot is caught as well.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "cache/engine.h"

namespace anvil::io {

inline constexpr std::uint32_t kFormatVersion = 2;
// Version 1 had no stale blocks: a key deleted (or flushed, or rewritten) during its walk
// came back at restore. Such snapshots are rejected with a reason (a cold start), never
// restored.
inline constexpr std::uint32_t kOldestReadableVersion = 2;
inline constexpr std::size_t kHeaderSize = 4096;  // the header page; also the max DIO alignment
inline constexpr std::size_t kBlockHeaderSize = 32;
inline constexpr std::size_t kRecordHeaderSize = 21;
inline constexpr std::size_t kManifestSize = 96;
inline constexpr char kHeaderMagic[8] = {'A', 'N', 'V', 'L', 'S', 'N', 'A', 'P'};
inline constexpr char kManifestMagic[8] = {'A', 'N', 'V', 'L', 'M', 'A', 'N', 'I'};
inline constexpr std::uint32_t kBlockMagic = 0x42564e41;       // "ANVB": item records
inline constexpr std::uint32_t kStaleBlockMagic = 0x54564e41;  // "ANVT": stale ordinals

// Fields shared by the data file header and the manifest.
struct snapshot_info {
  std::uint32_t format_version = kFormatVersion;
  std::uint64_t node_id = 0;
  std::uint64_t snapshot_id = 0;
  std::uint64_t created_unix = 0;
  std::uint64_t cas_counter = 0;
  std::uint64_t item_count = 0;   // item records (in item blocks; stale ordinals not counted)
  std::uint64_t block_count = 0;  // item blocks and stale blocks
  std::uint32_t block_size = 0;
  std::uint32_t partition_count = 0;
};

struct manifest {
  snapshot_info info;
  std::uint32_t header_crc = 0;  // CRC of the data file's header page
  std::uint32_t blocks_crc = 0;  // CRC32C over the little-endian block CRCs in order
  std::uint64_t data_size = 0;   // exact size of the data file
};

inline std::uint64_t data_file_size(const snapshot_info& i) {
  return kHeaderSize + i.block_count * std::uint64_t{i.block_size};
}

// A decode error: what was wrong, in words for the log line.
struct format_error {
  std::string reason;
};

// Header page: `out` must be kHeaderSize bytes. Returns the header CRC.
std::uint32_t encode_header(const snapshot_info& info, std::span<std::byte> out);
// Checks magic, version and CRC; returns the info or an error.
bool decode_header(std::span<const std::byte> page, snapshot_info& out, std::uint32_t& crc,
                   format_error& err);

void encode_manifest(const manifest& m, std::span<std::byte> out);  // kManifestSize bytes
bool decode_manifest(std::span<const std::byte> bytes, manifest& out, format_error& err);

// Builds one block in a caller-owned buffer of block_size bytes.
class block_builder {
 public:
  block_builder() = default;
  void reset(std::span<std::byte> buf, std::uint64_t snapshot_id, std::uint32_t index,
             std::uint32_t partition);
  static std::size_t record_size(const cache::item_record& r) {
    return kRecordHeaderSize + r.key.size() + r.value.size();
  }
  bool fits(const cache::item_record& r) const { return _used + record_size(r) <= _buf.size(); }
  void add(const cache::item_record& r);  // precondition: fits(r)
  // Writes the block header (CRC included), zero-fills the tail; returns the CRC.
  std::uint32_t seal();
  std::uint32_t item_count() const { return _items; }
  bool empty() const { return _items == 0; }

 private:
  std::span<std::byte> _buf;
  std::size_t _used = 0;
  std::uint64_t _snapshot_id = 0;
  std::uint32_t _index = 0;
  std::uint32_t _partition = 0;
  std::uint32_t _items = 0;
};

// A stale block: `ordinals` (8 bytes each, LE) into a buffer of block_size bytes, at
// most stale_capacity(block_size) of them. Returns the block CRC.
inline std::size_t stale_capacity(std::size_t block_size) {
  return (block_size - kBlockHeaderSize) / 8;
}
std::uint32_t encode_stale_block(std::span<std::byte> buf, std::uint64_t snapshot_id,
                                 std::uint32_t index, std::span<const std::uint64_t> ordinals);

struct block_view {
  bool stale = false;  // a stale block: item_count ordinals of 8 bytes in the payload
  std::uint32_t crc = 0;
  std::uint32_t index = 0;
  std::uint32_t partition = 0;   // partition of the first item (a hint for restore)
  std::uint32_t item_count = 0;  // records, or ordinals of a stale block
  std::span<const std::byte> payload;
};

// Verifies magic, CRC, snapshot id and index; does not parse records.
bool check_block(std::span<const std::byte> block, std::uint64_t snapshot_id, std::uint32_t index,
                 block_view& out, format_error& err);
// Calls fn(item_record) for each record of a checked block; false + err when a record
// does not parse (which a matching CRC makes a writer bug, still never a crash).
template <class F>
bool for_each_record(const block_view& b, F&& fn, format_error& err);

// Little-endian helpers (the format is LE on every host).
void put_u32(std::byte* p, std::uint32_t v);
void put_u64(std::byte* p, std::uint64_t v);
std::uint32_t get_u32(const std::byte* p);
std::uint64_t get_u64(const std::byte* p);

// ---- implementation of the template ----
bool parse_record(std::span<const std::byte> payload, std::size_t& pos, cache::item_record& rec,
                  format_error& err);

template <class F>
bool for_each_record(const block_view& b, F&& fn, format_error& err) {
  std::size_t pos = 0;
  for (std::uint32_t i = 0; i < b.item_count; ++i) {
    cache::item_record rec;
    if (!parse_record(b.payload, pos, rec, err)) return false;
    fn(rec);
  }
  if (pos != b.payload.size()) {
    err.reason = "block " + std::to_string(b.index) + ": trailing bytes after the last record";
    return false;
  }
  return true;
}

}  // namespace anvil::io
