// Restore at start-up: find the newest snapshot whose manifest, header and every block
// checksum verify, then load it into an item_sink. Reads go through a fresh io_uring
// with blocks in flight; inserts run on several threads (blocks are dealt out by the
// partition of their first item, so threads mostly touch different partitions).
//
// Verification reads the whole snapshot before anything is inserted, so a bad block
// late in the file never leaves half a snapshot in the cache: a snapshot is restored
// whole or not at all. A rejected snapshot falls back to the previous one, then to a
// cold start; every rejection carries its reason. Any I/O that misses its deadline
// ends the restore with a cold start (the filesystem is not answering). Never throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "io/health.h"
#include "io/item_stream.h"

namespace anvil::io {

struct restore_config {
  std::string dir;
  std::uint64_t node_id = 0;
  std::uint32_t now_unix = 0;  // items with 0 < expires_at <= now are skipped
  unsigned queue_depth = 8;    // block reads in flight
  unsigned threads = 0;        // inserting threads; 0 = hardware concurrency
  std::chrono::milliseconds io_timeout{5000};
  bool direct_io = true;
};

struct rejected_snapshot {
  std::uint64_t id = 0;
  std::string reason;
};

struct restore_result {
  bool restored = false;  // false: cold start
  std::string cold_start_reason;
  std::uint64_t snapshot_id = 0;
  std::uint64_t items_in_snapshot = 0;
  std::uint64_t items_restored = 0;
  std::uint64_t items_expired = 0;
  std::uint64_t items_not_stored = 0;
  std::uint64_t items_stale =
      0;                         // recorded stale by the writer (deleted/rewritten during its walk)
  std::uint64_t bytes_read = 0;  // both passes
  std::uint64_t data_bytes = 0;  // size of the restored data file
  std::uint64_t cas_counter = 0;  // what the sink's counter was raised to
  double seconds = 0;
  double verify_seconds = 0;
  std::vector<rejected_snapshot> rejected;  // newest first
};

restore_result restore_latest(item_sink& sink, const restore_config& cfg,
                              storage_health* health = nullptr);

// Verification alone (no inserts): "" when snapshot `id` is valid, else the reason.
std::string verify_snapshot(const restore_config& cfg, std::uint64_t id);

}  // namespace anvil::io
