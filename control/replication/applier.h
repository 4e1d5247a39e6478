// The replica's side of the stream without the socket: takes checked frames in order and
// applies them to this node's engine through its own session (docs/replication.md,
// "Applying"). A protocol violation (a frame out of place, a copy block of another copy
// or out of order, a sequence going backwards) returns false with the reason: the
// connection is dropped and the next one starts with a full copy.
//
// Items are stored as the primary had them: value, flags, CAS (store_options::new_cas)
// and the absolute expiry, so they expire at the same wall-clock second on both nodes.
// The engine's CAS counter is raised past every applied CAS (finish_batch), so a
// replica promoted to primary never hands out a CAS the old primary gave.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "cache/engine.h"
#include "control/replication/frame.h"

namespace anvil::replication {

struct applier_stats {
  std::uint64_t items = 0;           // item records applied (copy and live)
  std::uint64_t deletes = 0;         // del frames applied
  std::uint64_t copies = 0;          // full copies completed
  std::uint64_t store_failures = 0;  // records this engine could not store (too large, memory)
};

class applier {
 public:
  explicit applier(cache::engine& e);

  // One frame whose header and body were checked (frame_reader). Position and ack frames
  // are the caller's business (they carry no data); passing one is a no-op.
  bool apply(const frame_header& h, std::span<const std::byte> body, std::string& why);
  // After a burst of frames: quiescent point, and the CAS counter raised past the
  // largest CAS applied.
  void finish_batch();

  // The last position applied: the copy's position once its copy_end arrived, then each
  // live entry's. 0 while a copy is in progress (the node is not caught up).
  std::uint64_t applied() const { return _copying ? 0 : _applied; }
  bool copying() const { return _copying; }
  bool synced() const { return _synced; }
  const applier_stats& stats() const { return _stats; }

 private:
  void apply_record(const cache::item_record& r);

  cache::engine& _engine;
  cache::session _session;
  std::uint64_t _applied = 0;
  bool _synced = false;  // a copy completed on this stream
  bool _copying = false;
  std::uint64_t _copy_seq = 0;
  std::uint32_t _copy_block_size = 0;
  std::uint32_t _next_block = 0;
  cache::cas_t _max_cas = 0;
  cache::cas_t _raised = 0;
  applier_stats _stats;
};

}  // namespace anvil::replication
