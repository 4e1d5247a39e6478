#include "control/replication/applier.h"

#include "io/format.h"

namespace anvil::replication {

applier::applier(cache::engine& e) : _engine(e), _session(e.open_session()) {}

void applier::apply_record(const cache::item_record& r) {
  const std::uint32_t now = _engine.config().time->now();
  if (r.cas > _max_cas) _max_cas = r.cas;
  ++_stats.items;
  if (r.expires_at != 0 && r.expires_at <= now) {  // expired on the way: absent
    _session.remove(r.key);
    return;
  }
  // The store's exptime: absolute unix seconds, unless the value is small enough to be
  // read as relative (a clock near the epoch, as in tests): then the seconds left.
  cache::exptime_t exptime = r.expires_at;
  if (exptime != 0 && exptime <= cache::kMaxRelativeExptime) exptime = r.expires_at - now;
  cache::store_options opt;
  opt.new_cas = r.cas;
  const cache::store_result res =
      _session.store(cache::store_mode::set, r.key, r.value, r.flags, exptime, 0, opt);
  if (res.st != cache::status::ok) {
    ++_stats.store_failures;
    _session.remove(r.key);  // never keep an older value than the primary's
  }
}

bool applier::apply(const frame_header& h, std::span<const std::byte> body, std::string& why) {
  switch (h.type) {
    case frame_type::position:
    case frame_type::ack:
      return true;
    case frame_type::hello:
      why = "hello from the primary";
      return false;
    case frame_type::copy_begin: {
      copy_begin_info info;
      if (!decode_copy_begin(body, info, why)) return false;
      // Everything this node holds may be older than the copy: start from empty. Items
      // stored after the flush (the copy's) are not affected by it (cache/README.md).
      _session.flush(0);
      _copying = true;
      _copy_seq = h.seq;
      _copy_block_size = info.block_size;
      _next_block = 0;
      return true;
    }
    case frame_type::copy_block: {
      if (!_copying) {
        why = "copy_block outside a copy";
        return false;
      }
      if (h.seq != _copy_seq) {
        why = "copy_block of copy " + std::to_string(h.seq) + " inside copy " +
              std::to_string(_copy_seq);
        return false;
      }
      if (body.size() > _copy_block_size) {
        why = "copy_block of " + std::to_string(body.size()) + " bytes above the block size " +
              std::to_string(_copy_block_size);
        return false;
      }
      io::block_view b;
      io::format_error err;
      if (!io::check_block(body, _copy_seq, _next_block, b, err) || b.stale) {
        why = "copy_block: " + (b.stale ? std::string("a stale block") : err.reason);
        return false;
      }
      if (!io::for_each_record(
              b, [&](const cache::item_record& r) { apply_record(r); }, err)) {
        why = "copy_block: " + err.reason;
        return false;
      }
      ++_next_block;
      return true;
    }
    case frame_type::copy_end: {
      if (!_copying || h.seq != _copy_seq) {
        why = "copy_end without its copy_begin";
        return false;
      }
      std::uint64_t cas_counter = 0;
      if (!decode_u64(body, cas_counter, why)) return false;
      if (cas_counter > _max_cas) _max_cas = cas_counter;
      _copying = false;
      _synced = true;
      _applied = _copy_seq;
      ++_stats.copies;
      return true;
    }
    case frame_type::item:
    case frame_type::del: {
      if (!_synced || _copying) {
        why = std::string(to_string(h.type)) + " before a full copy";
        return false;
      }
      if (h.seq <= _applied) {
        why = std::string(to_string(h.type)) + " at position " + std::to_string(h.seq) +
              " not after the applied " + std::to_string(_applied);
        return false;
      }
      if (h.type == frame_type::item) {
        cache::item_record r;
        if (!decode_item(body, r, why)) return false;
        apply_record(r);
      } else {
        _session.remove(std::string_view(reinterpret_cast<const char*>(body.data()), body.size()));
        ++_stats.deletes;
      }
      _applied = h.seq;
      return true;
    }
  }
  why = "unknown frame type";
  return false;
}

void applier::finish_batch() {
  _session.quiescent();
  if (_max_cas > _raised) {
    _engine.raise_cas_counter(_max_cas);
    _raised = _max_cas;
  }
}

}  // namespace anvil::replication
