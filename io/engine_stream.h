// The item_source / item_sink of io/item_stream.h over cache::engine: a session per
// thread (the snapshot's io thread, each restoring thread). Header-only, so io_lib itself
// links without the engine; include it where the engine is linked.
#pragma once

#include <functional>
#include <memory>

#include "cache/engine.h"
#include "io/item_stream.h"

namespace anvil::io {

class engine_source final : public item_source {
 public:
  explicit engine_source(cache::engine& e) : _engine(e), _session(e.open_session()) {
    _session.record_walk(true);
  }
  std::size_t partition_count() override { return _engine.partition_count(); }
  std::size_t max_item_size() override { return _engine.config().max_item_size; }
  void for_each_item(std::size_t partition,
                     const std::function<void(const cache::item_record&)>& fn) override {
    _session.for_each_item(partition, fn);
  }
  cache::cas_t cas_counter() override { return _engine.cas_counter(); }
  void pause() override { _session.walk_pause(); }
  void for_each_stale(std::size_t partition, const std::function<void(std::uint64_t)>& fn,
                      const std::function<void(const cache::item_record&)>& refresh) override {
    _session.for_each_stale(partition, fn, refresh);
  }

 private:
  cache::engine& _engine;
  cache::session _session;
};

class engine_sink final : public item_sink {
 public:
  explicit engine_sink(cache::engine& e) : _engine(e) {}
  std::unique_ptr<item_inserter> open_inserter() override {
    struct ins final : item_inserter {
      explicit ins(cache::session s) : session(std::move(s)) {}
      bool insert(const cache::item_record& rec) override {
        return session.restore(rec) == cache::status::ok;
      }
      cache::session session;
    };
    return std::make_unique<ins>(_engine.open_session());
  }
  void raise_cas_counter(cache::cas_t at_least) override { _engine.raise_cas_counter(at_least); }

 private:
  cache::engine& _engine;
};

// What snapshot_service takes to snapshot an engine (a session per attempt).
inline std::function<std::unique_ptr<item_source>()> engine_source_factory(cache::engine& e) {
  return [&e] { return std::make_unique<engine_source>(e); };
}

}  // namespace anvil::io
