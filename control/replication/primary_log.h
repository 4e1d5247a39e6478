// The primary's outgoing stream, between the drain and the senders (control side only;
// no lcore ever touches it). The drain pops every lcore's mutation_ring, gives each entry
// the next position, reads the key's item from the engine as it is now and appends the
// encoded frame (item, or del when the key is gone) here. Each connected replica's
// sender keeps a cursor into it.
//
// Invariants:
// - Positions are contiguous: entry n is the frame at position n; flush and ring
//   overflow take a position too but produce no frame: they bump `resync_generation`,
//   and every sender restarts with a full copy (docs/replication.md says why). A
//   delayed flush does so when its deadline passes.
// - Memory is bounded (`max_bytes`): the oldest frames are dropped first; a sender
//   whose cursor falls off the front resyncs.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>

#include "cache/engine.h"
#include "control/replication/lag.h"
#include "control/replication/mutation_ring.h"

namespace anvil::replication {

class primary_log {
 public:
  explicit primary_log(std::size_t max_bytes) : _max_bytes(max_bytes) {}

  // Producer (the drain): takes the next position and calls build(pos, frame) under the
  // lock, so the frame carries exactly the position it is stored at. An empty frame is a
  // position without a frame.
  template <class F>
  void append_built(F&& build) {
    {
      std::lock_guard lk(_mu);
      std::string frame;
      build(_last + 1, frame);
      push_locked(std::move(frame));
    }
    _cv.notify_all();
  }
  void append(std::string frame) {
    append_built([&](std::uint64_t, std::string& f) { f = std::move(frame); });
  }
  void resync_all();  // takes a position, no frame, and bumps the resync generation
  // Start numbering after `pos` (a node that becomes primary continues from what it
  // applied, so positions stay comparable). Clears the frames.
  void restart_at(std::uint64_t pos);

  std::uint64_t last() const;
  std::uint64_t resync_generation() const;
  std::uint64_t resyncs() const;

  // A copy starts: the position it covers and the current resync generation, read
  // together.
  struct copy_start {
    std::uint64_t pos;
    std::uint64_t generation;
  };
  copy_start begin_copy() const;

  // Sender: waits up to `wait` for frames after `cursor`, appends up to `max_bytes` of
  // them to `out` and advances `cursor`. Returns false when the frames after `cursor`
  // are gone (fell behind: resync) or the generation moved past `generation`.
  bool read(std::uint64_t& cursor, std::uint64_t generation, std::string& out,
            std::size_t max_bytes, std::chrono::milliseconds wait);
  // Wakes every waiting sender (stop).
  void wake();

 private:
  void push_locked(std::string frame);
  struct entry {
    std::uint64_t pos;
    std::string frame;
  };
  mutable std::mutex _mu;
  std::condition_variable _cv;
  std::deque<entry> _entries;
  std::size_t _bytes = 0;
  std::size_t _max_bytes;
  std::uint64_t _last = 0;
  std::uint64_t _first_kept = 1;  // frames before it were dropped
  std::uint64_t _generation = 0;
  std::uint64_t _resyncs = 0;
};

// Pops the rings into the log. One thread; owns an engine session.
class drain {
 public:
  drain(cache::engine& e, std::span<mutation_ring* const> rings, primary_log& log);
  // One round over every ring (at most `max_per_ring` entries each). With produce false
  // (this node is not primary) entries are dropped. Returns the entries popped.
  std::size_t run_once(bool produce, std::size_t max_per_ring = 4096);
  std::uint64_t overflows() const { return _overflows; }

 private:
  void handle(const ring_entry& e);

  cache::engine& _engine;
  cache::session _session;
  std::span<mutation_ring* const> _rings;
  primary_log& _log;
  std::uint64_t _overflows = 0;
  std::uint32_t _flush_deadline = 0;  // a delayed flush pending (engine clock), 0: none
};

}  // namespace anvil::replication
