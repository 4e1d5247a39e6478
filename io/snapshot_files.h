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

// Sorted by id, newest last. Blocking readdir: wrap in call_with_deadline when the
// filesystem may hang. Returns false with errno in `err` when the directory cannot be read.
bool list_snapshots(const std::string& dir, std::vector<snapshot_entry>& out, int& err);

// Runs fn on its own thread and waits up to `timeout`. On time-out the thread is
// detached (counted in health as threads_abandoned) and nullopt is returned; fn must
// own everything it touches (capture by value).
template <class T>
std::optional<T> call_with_deadline(std::function<T()> fn, std::chrono::milliseconds timeout,
                                    storage_health* health);

}  // namespace anvil::io

#include "io/snapshot_files_inl.h"
