#include "control/replication/primary_log.h"

#include <algorithm>

#include "control/replication/frame.h"
#include "dataplane/proto/wire.h"

namespace anvil::replication {

void primary_log::push_locked(std::string frame) {
  const std::uint64_t pos = ++_last;
  if (!frame.empty()) {
    _bytes += frame.size();
    _entries.push_back({pos, std::move(frame)});
  }
  while (_bytes > _max_bytes && !_entries.empty()) {
    _bytes -= _entries.front().frame.size();
    _first_kept = _entries.front().pos + 1;
    _entries.pop_front();
  }
}

void primary_log::resync_all() {
  {
    std::lock_guard lk(_mu);
    ++_last;
    ++_generation;
    ++_resyncs;
    _entries.clear();  // nobody will read them: every sender restarts with a copy
    _bytes = 0;
    _first_kept = _last + 1;
  }
  _cv.notify_all();
}

void primary_log::restart_at(std::uint64_t pos) {
  {
    std::lock_guard lk(_mu);
    _entries.clear();
    _bytes = 0;
    _last = pos;
    _first_kept = pos + 1;
    ++_generation;
  }
  _cv.notify_all();
}

std::uint64_t primary_log::last() const {
  std::lock_guard lk(_mu);
  return _last;
}
std::uint64_t primary_log::resync_generation() const {
  std::lock_guard lk(_mu);
  return _generation;
}
std::uint64_t primary_log::resyncs() const {
  std::lock_guard lk(_mu);
  return _resyncs;
}

primary_log::copy_start primary_log::begin_copy() const {
  std::lock_guard lk(_mu);
  return {_last, _generation};
}

bool primary_log::read(std::uint64_t& cursor, std::uint64_t generation, std::string& out,
                       std::size_t max_bytes, std::chrono::milliseconds wait) {
  std::unique_lock lk(_mu);
  _cv.wait_for(lk, wait, [&] { return _last > cursor || _generation != generation; });
  if (_generation != generation) return false;
  if (_last <= cursor) return true;
  if (cursor + 1 < _first_kept) return false;  // dropped before this sender read them
  // Entries are in position order; positions without a frame are skipped.
  auto it = std::upper_bound(_entries.begin(), _entries.end(), cursor,
                             [](std::uint64_t c, const entry& e) { return c < e.pos; });
  std::size_t taken = 0;
  for (; it != _entries.end() && (taken == 0 || taken + it->frame.size() <= max_bytes); ++it) {
    out += it->frame;
    taken += it->frame.size();
    cursor = it->pos;
  }
  if (it == _entries.end()) cursor = _last;  // frameless positions at the end
  return true;
}

void primary_log::wake() { _cv.notify_all(); }

drain::drain(cache::engine& e, std::span<mutation_ring* const> rings, primary_log& log)
    : _engine(e), _session(e.open_session()), _rings(rings), _log(log) {}

void drain::handle(const ring_entry& e) {
  if (e.opcode == proto::op::flush) {
    // A flush cannot be ordered against other lcores' entries (docs/replication.md):
    // every replica takes a full copy of what the flush left instead. A delayed flush
    // takes effect at its deadline (and replaces a pending one, as in the engine): the
    // copy is taken once that deadline has passed.
    if (e.arg == 0) {
      _flush_deadline = 0;
      _log.resync_all();
    } else {
      _flush_deadline = e.arg;
    }
    return;
  }
  // The item as it is now: at or after this mutation, since the hook ran after the
  // mutation was applied and the ring's release/acquire orders the two.
  const cache::item_view v = _session.peek(e.key_view());
  _log.append_built([&](std::uint64_t pos, std::string& frame) {
    if (v.found)
      append_item_frame(frame, pos,
                        cache::item_record{v.key, v.value, v.flags, v.expires_at, v.cas});
    else
      append_frame(frame, frame_type::del, pos, e.key_view());
  });
}

std::size_t drain::run_once(bool produce, std::size_t max_per_ring) {
  std::size_t n = 0;
  if (_flush_deadline != 0 && _engine.config().time->now() >= _flush_deadline) {
    _flush_deadline = 0;
    if (produce) _log.resync_all();
  }
  for (mutation_ring* r : _rings) {
    if (r->take_overflow()) {
      ++_overflows;
      if (produce) _log.resync_all();
    }
    n += r->pop(max_per_ring, [&](const ring_entry& e) {
      if (produce) handle(e);
    });
  }
  _session.quiescent();
  return n;
}

}  // namespace anvil::replication
