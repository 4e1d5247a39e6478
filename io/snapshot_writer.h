// Writes one snapshot from an item_source to the snapshot directory, on the calling
// thread (the io thread), with a fresh io_uring per attempt.
//
// Invariants: the item source is read only through its concurrent iteration (writers
// are never blocked); after the walk the source names the records that stopped being
// live meanwhile and they are written as stale blocks (docs/snapshot-format.md), so a
// restore never undoes a delete or flush made during the walk; the manifest is written last (tmp,
// fsync, rename, fsync dir), so a crash at any point leaves either a complete snapshot or files
// without a manifest; every filesystem call goes through the ring with a deadline, so this function
// returns within (number of steps) x io_timeout even on a filesystem that never
// answers. A failed attempt removes its partial files when the filesystem still lets it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/item_stream.h"
#include "io/uring.h"

namespace anvil::io {

struct writer_config {
  std::string dir;
  std::uint64_t node_id = 0;
  std::size_t block_size = 1u << 20;           // raised to fit the largest item
  unsigned queue_depth = 4;                    // block writes in flight
  std::uint64_t rate_limit_bytes_per_sec = 0;  // 0 = unlimited
  std::chrono::milliseconds io_timeout{5000};  // deadline of every single I/O
  bool direct_io = true;                       // O_DIRECT when the filesystem supports it
  bool fixed_buffers = true;  // register the block buffers with the ring (pinned once)
};

struct snapshot_result {
  bool ok = false;
  std::string reason;  // why it failed; empty on success
  int error = 0;       // errno of the failure (ETIME: an I/O missed its deadline)
  bool stalled = false;
  bool cleaned_up = true;  // partial files removed (or none written)
  std::uint64_t snapshot_id = 0;
  std::uint64_t items = 0;
  std::uint64_t stale = 0;  // of which recorded stale (deleted/flushed/rewritten during the walk)
  std::uint64_t refreshed = 0;  // of which live records of keys rewritten after their report
  std::uint64_t blocks = 0;
  std::uint64_t bytes = 0;  // data file size
  std::uint64_t cas_counter = 0;
  bool direct = false;
  double seconds = 0;
  double io_wait_seconds = 0;  // spent waiting for a free buffer: the disk was the limit
  double blocks_seconds = 0;   // iterating, filling, sealing and writing the blocks (incl. io wait)
  double finish_seconds = 0;  // header page, fsync, close, manifest (tmp, fsync, rename, dir fsync)
  double data_sync_seconds = 0;  // of which the data file's fsync
  std::uint64_t rings_abandoned = 0;
  std::uint64_t bytes_leaked = 0;  // memory of abandoned rings nobody took over
};

// A ring with I/O the kernel still holds, and the files to remove once it has let go.
struct abandoned_io {
  std::unique_ptr<ring> r;
  std::vector<std::string> files;
};

snapshot_result write_snapshot(item_source& src, const writer_config& cfg,
                               std::uint64_t snapshot_id, std::uint64_t created_unix,
                               const std::atomic<bool>* cancel = nullptr,
                               std::vector<abandoned_io>* abandoned = nullptr);
// With `abandoned`, a stuck ring is handed over (call ring::reap_abandoned on it from
// this thread later, then remove its files) instead of being leaked.

}  // namespace anvil::io
