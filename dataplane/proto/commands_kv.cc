// Item commands: get/gat/touch, set/add/replace/append/prepend, delete, incr/decr,
// flush. Quiet variants suppress success only (GetQ/GetKQ/GATQ/GATKQ: misses); errors
// always go out. Counters are bumped only once the response is written, so a request
// re-run after backpressure is counted once.
#include <array>

#include "dataplane/proto/handler.h"

namespace anvil::proto {
namespace {

bool is_quiet(std::uint8_t opcode) {
  switch (opcode) {
    case op::getq:
    case op::getkq:
    case op::setq:
    case op::addq:
    case op::replaceq:
    case op::delq:
    case op::incrq:
    case op::decrq:
    case op::quitq:
    case op::flushq:
    case op::appendq:
    case op::prependq:
    case op::gatq:
    case op::gatkq:
      return true;
    default:
      return false;
  }
}

// The non-quiet form of an opcode (what the mutation hook reports).
std::uint8_t loud(std::uint8_t opcode) {
  switch (opcode) {
    case op::getq:
      return op::get;
    case op::getkq:
      return op::getk;
    case op::setq:
      return op::set;
    case op::addq:
      return op::add;
    case op::replaceq:
      return op::replace;
    case op::delq:
      return op::del;
    case op::incrq:
      return op::incr;
    case op::decrq:
      return op::decr;
    case op::flushq:
      return op::flush;
    case op::appendq:
      return op::append;
    case op::prependq:
      return op::prepend;
    case op::gatq:
      return op::gat;
    case op::gatkq:
      return op::gatk;
    default:
      return opcode;
  }
}

// Engine status -> wire status, as memcached's complete_update_bin maps store results.
status wire_status(cache::status st, std::uint8_t opcode) {
  switch (st) {
    case cache::status::ok:
      return status::success;
    case cache::status::not_found:
      return status::key_enoent;
    case cache::status::exists:
      return status::key_eexists;
    case cache::status::not_stored:
      if (opcode == op::add) return status::key_eexists;
      if (opcode == op::replace) return status::key_enoent;
      return status::not_stored;
    case cache::status::too_large:
      return status::e2big;
    case cache::status::non_numeric:
      return status::delta_badval;
    case cache::status::no_memory:
      return status::enomem;
    case cache::status::bad_key:
      return status::einval;
  }
  return status::einval;
}

std::array<std::byte, 4> be32_bytes(std::uint32_t v) {
  std::array<std::byte, 4> b;
  store_be32(b.data(), v);
  return b;
}

}  // namespace

handler::outcome handler::exec_get(const request& r, output_sink& out) {
  return emit_get(r, _session.get(r.key), out);
}

handler::outcome handler::emit_get(const request& r, const cache::item_view& it, output_sink& out) {
  const echo e{r.hdr.opcode, r.hdr.opaque};
  const std::uint8_t o = loud(r.hdr.opcode);
  const bool with_key = o == op::getk;
  if (it.found) {
    const auto flags = be32_bytes(it.flags);
    if (!write_response(out, e, status::success, it.cas, flags, with_key ? r.key : "", it.value)) {
      return outcome::sink_full;
    }
    _counters.get_hits.add();
  } else {
    if (!is_quiet(r.hdr.opcode)) {
      if (with_key) {
        if (!write_response(out, e, status::key_enoent, 0, {}, r.key, {})) {
          return outcome::sink_full;
        }
      } else {
        write_error(out, e, status::key_enoent);
      }
    }
    _counters.get_misses.add();
  }
  _counters.cmd_get.add();
  if (_prefixes.enabled()) _prefixes.record_get(r.key, it.found);
  return outcome::done;
}

// Touch answers a hit with the flags only; GAT/GATK like Get/GetK. memcached counts
// all of them as touches (cmd_touch, touch_hits, touch_misses), not as gets.
handler::outcome handler::exec_touch(const request& r, output_sink& out) {
  const echo e{r.hdr.opcode, r.hdr.opaque};
  const std::uint8_t o = loud(r.hdr.opcode);
  const std::uint32_t exptime = load_be32(r.extras.data());
  const cache::item_view it = _session.get_and_touch(r.key, exptime);
  if (it.found) {
    const auto flags = be32_bytes(it.flags);
    const bool ok =
        write_response(out, e, status::success, it.cas, flags, o == op::gatk ? r.key : "",
                       o == op::touch ? std::string_view{} : it.value);
    if (!ok) return outcome::sink_full;
    _counters.touch_hits.add();
    _hook(mutation{o, r.key, {}, 0, exptime, it.cas, 0});
  } else {
    if (!is_quiet(r.hdr.opcode)) {
      if (o == op::gatk) {
        if (!write_response(out, e, status::key_enoent, 0, {}, r.key, {})) {
          return outcome::sink_full;
        }
      } else {
        write_error(out, e, status::key_enoent);
      }
    }
    _counters.touch_misses.add();
  }
  _counters.cmd_touch.add();
  return outcome::done;
}

handler::outcome handler::exec_store(const request& r, output_sink& out) {
  const echo e{r.hdr.opcode, r.hdr.opaque};
  const std::uint8_t o = loud(r.hdr.opcode);
  cache::store_mode mode = cache::store_mode::set;
  std::uint32_t flags = 0, exptime = 0;
  switch (o) {
    case op::add:
      mode = cache::store_mode::add;
      break;
    case op::replace:
      mode = cache::store_mode::replace;
      break;
    case op::append:
      mode = cache::store_mode::append;
      break;
    case op::prepend:
      mode = cache::store_mode::prepend;
      break;
    default:
      break;
  }
  if (r.hdr.extlen == 8) {
    flags = load_be32(r.extras.data());
    exptime = load_be32(r.extras.data() + 4);
  }
  const cache::store_result res = _session.store(mode, r.key, r.value, flags, exptime, r.hdr.cas);
  _counters.cmd_set.add();
  if (r.hdr.cas != 0) {
    if (res.st == cache::status::ok)
      _counters.cas_hits.add();
    else if (res.st == cache::status::exists)
      _counters.cas_badval.add();
    else if (res.st == cache::status::not_found)
      _counters.cas_misses.add();
  }
  if (_prefixes.enabled()) _prefixes.record_set(r.key);
  if (res.st == cache::status::ok) {
    _counters.total_items.add();
    if (!is_quiet(r.hdr.opcode)) write_response(out, e, status::success, res.cas, {}, {}, {});
    _hook(mutation{o, r.key, r.value, flags, exptime, res.cas, 0});
  } else {
    if (res.st == cache::status::too_large) _counters.store_too_large.add();
    if (res.st == cache::status::no_memory) _counters.store_no_memory.add();
    write_error(out, e, wire_status(res.st, o));
  }
  return outcome::done;
}

handler::outcome handler::exec_delete(const request& r, output_sink& out) {
  const echo e{r.hdr.opcode, r.hdr.opaque};
  const cache::status st = _session.remove(r.key, r.hdr.cas);
  if (_prefixes.enabled()) _prefixes.record_delete(r.key);
  if (st == cache::status::ok) {
    _counters.delete_hits.add();
    if (!is_quiet(r.hdr.opcode)) write_response(out, e, status::success, 0, {}, {}, {});
    _hook(mutation{op::del, r.key, {}, 0, 0, 0, 0});
  } else {
    if (st == cache::status::not_found) _counters.delete_misses.add();
    write_error(out, e, wire_status(st, op::del));
  }
  return outcome::done;
}

handler::outcome handler::exec_arith(const request& r, output_sink& out) {
  const echo e{r.hdr.opcode, r.hdr.opaque};
  const std::uint8_t o = loud(r.hdr.opcode);
  const bool incr = o == op::incr;
  const std::uint64_t delta = load_be64(r.extras.data());
  const std::uint64_t initial = load_be64(r.extras.data() + 8);
  const std::uint32_t exptime = load_be32(r.extras.data() + 16);
  const cache::arith_result res =
      _session.incr_decr(r.key, incr, delta, initial, exptime, r.hdr.cas);
  if (res.st == cache::status::ok) {
    // memcached counts a created counter as neither hit nor miss, but as a new item.
    if (res.created)
      _counters.total_items.add();
    else
      (incr ? _counters.incr_hits : _counters.decr_hits).add();
    std::array<std::byte, 8> v;
    store_be64(v.data(), res.value);
    if (!is_quiet(r.hdr.opcode))
      write_response(out, e, status::success, res.cas, {}, {},
                     {reinterpret_cast<const char*>(v.data()), v.size()});
    _hook(mutation{o, r.key, {}, 0, exptime, res.cas, res.value});
  } else {
    if (res.st == cache::status::not_found)
      (incr ? _counters.incr_misses : _counters.decr_misses).add();
    write_error(out, e, wire_status(res.st, o));
  }
  return outcome::done;
}

handler::outcome handler::exec_flush(const request& r, output_sink& out) {
  const echo e{r.hdr.opcode, r.hdr.opaque};
  if (!_cfg.flush_enabled) {
    write_error(out, e, status::auth_error);
    return outcome::done;
  }
  std::uint32_t when = r.hdr.extlen == 4 ? load_be32(r.extras.data()) : 0;
  // memcached's realtime(): above 30 days the value is an absolute unix time.
  if (when > cache::kMaxRelativeExptime) {
    const std::uint32_t now = _engine.config().time->now();
    when = when > now ? when - now : 0;
  }
  _session.flush(when);
  _counters.cmd_flush.add();
  if (!is_quiet(r.hdr.opcode)) write_response(out, e, status::success, 0, {}, {}, {});
  _hook(mutation{op::flush, {}, {}, 0, when, 0, 0});
  return outcome::done;
}

}  // namespace anvil::proto
