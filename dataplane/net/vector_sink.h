// A frame sink backed by vectors, for tests and benchmarks: every committed frame is
// kept (or only counted when `keep` is false). `limit` frames at most per drain to
// exercise back-pressure.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "dataplane/net/wire.h"

namespace anvil::net {

struct vector_sink {
  std::vector<std::vector<std::byte>> frames;
  std::size_t limit = SIZE_MAX;  // begin_frame returns empty once this many are queued
  bool keep = true;
  std::size_t committed = 0;
  std::byte scratch[kMaxFrame + 64];

  std::span<std::byte> begin_frame() {
    if (frames.size() >= limit) return {};
    return {scratch, kMaxFrame};
  }
  void commit_frame(std::size_t len) {
    ++committed;
    if (keep) frames.emplace_back(scratch, scratch + len);
  }
  std::vector<std::vector<std::byte>> take() { return std::exchange(frames, {}); }
};

}  // namespace anvil::net
