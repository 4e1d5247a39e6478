// Snapshot file names in the snapshot directory, listing them, and running a blocking
// filesystem call on a helper thread with a deadline (a hung filesystem then costs a
// detached thread, never the caller).
//
//   snap-<16 hex id>.data, snap-<id>.manifest, snap-<id>.manifest.tmp
// Ids grow by one per attempt; the newest snapshot is the highest id with a manifest.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/health.h"

namespace anvil::io {

std::string data_name(std::uint64_t id);
std::string manifest_name(std::uint64_t id);
std::string manifest_tmp_name(std::uint64_t id);

struct snapshot_entry {
  std::uint64_t id = 0;
  bool data = false;
  bool manifest = false;
  bool manifest_tmp = false;
};

// Sorted by id, newest last. Blocking readdir: use list_snapshots_within when the
// filesystem may hang. Returns false with errno in `err` when the directory cannot be read.
bool list_snapshots(const std::string& dir, std::vector<snapshot_entry>& out, int& err);
// The snapshot entries among directory entry names (others are ignored).
std::vector<snapshot_entry> parse_snapshot_names(const std::vector<std::string>& names);

struct snapshot_listing {
  bool ok = false;  // false: the directory could not be read, errno in err
  int err = 0;
  std::vector<snapshot_entry> entries;
};
// list_snapshots with a deadline that never leaves this process waiting on a hung
// filesystem: the readdir runs in an anvil-iod child (SIGKILLed and left behind at the
// deadline) when there is one, else on a thread that is detached at the deadline
// (threads_abandoned). nullopt: the deadline passed.
std::optional<snapshot_listing> list_snapshots_within(const std::string& dir,
                                                      std::chrono::milliseconds timeout,
                                                      storage_health* health);

// Creates `dir` and every missing parent (mkdir -p), one component at a time through
// a ring with a deadline per call; each component created is made durable by an fsync
// of its parent directory. "" on success (also when everything existed), else the
// reason, naming the component that failed ("cannot create /a/b: Permission denied").
// A stall (a call past `timeout`) abandons that ring and counts io_stalls in `health`.
std::string make_directories(const std::string& dir, std::chrono::milliseconds timeout,
                             storage_health* health);

// Runs fn on its own thread and waits up to `timeout`. On time-out the thread is
// detached (counted in health as threads_abandoned) and nullopt is returned; fn must
// own everything it touches (capture by value).
template <class T>
std::optional<T> call_with_deadline(std::function<T()> fn, std::chrono::milliseconds timeout,
                                    storage_health* health);

}  // namespace anvil::io

#include "io/snapshot_files_inl.h"
