// What a snapshot reads from and what a restore writes into, as small interfaces, so
// the writer and restorer are tested with plain vectors as well as with the engine.
// io/engine_stream.h binds them to cache::engine (one session per thread).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "cache/engine.h"

namespace anvil::io {

// Used by exactly one thread (the io thread) for one snapshot, then destroyed.
class item_source {
 public:
  virtual ~item_source() = default;
  virtual std::size_t partition_count() = 0;
  virtual std::size_t max_item_size() = 0;
  // Live items of one partition; views valid during the callback only.
  virtual void for_each_item(std::size_t partition,
                             const std::function<void(const cache::item_record&)>& fn) = 0;
  // Read after iteration: at least the CAS of every item seen.
  virtual cache::cas_t cas_counter() = 0;
  // From inside a for_each_item callback that no longer needs its record and is about
  // to wait (disk, rate limit): lets the source's writers reclaim memory meanwhile.
  virtual void pause() {}
  // After every partition was walked: fn(i) for each i-th record (0-based, in the order
  // for_each_item reported them) of `partition` that is no longer its key's live record
  // (deleted, flushed, expired or replaced since). The snapshot records them as stale
  // and restore skips them. refresh(rec): the live record of a key that was replaced
  // after it was reported, when the walk did not report that one (at most once per key;
  // it may call pause() before waiting); the snapshot adds it. Default: none (a source
  // nobody mutates meanwhile).
  virtual void for_each_stale(std::size_t /*partition*/,
                              const std::function<void(std::uint64_t)>& /*fn*/,
                              const std::function<void(const cache::item_record&)>& /*refresh*/) {}
};

// One per inserting thread.
class item_inserter {
 public:
  virtual ~item_inserter() = default;
  virtual bool insert(const cache::item_record& rec) = 0;  // false: not stored (expired, ...)
};

class item_sink {
 public:
  virtual ~item_sink() = default;
  virtual std::unique_ptr<item_inserter> open_inserter() = 0;
  virtual void raise_cas_counter(cache::cas_t at_least) = 0;
};

}  // namespace anvil::io
