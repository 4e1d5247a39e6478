// The classic text commands, transcribed from memcached 1.6's proto_text.c: the same
// checks in the same order, the same reply and error lines, the same counters, and
// memcached's `noreply` (which silences every reply of that command, errors included).
// Counters are bumped only once a reply is written, so a command re-run after
// backpressure is counted once.
#include <array>

#include "dataplane/proto/handler.h"
#include "dataplane/proto/text_line.h"
#include "dataplane/proto/text_numbers.h"
#include "dataplane/proto/text_writer.h"

namespace anvil::proto {
namespace {

constexpr std::size_t kKeyToken = 1;

void reply(text_ctx& x, bool noreply, std::string_view s) {
  if (!noreply) text::put_line(x.out, s);
}
void reply(text_ctx& x, const text_line& l, std::string_view s) { reply(x, l.noreply, s); }

// The client gate (client_gate.h) for a command of this kind: true when it refused it
// (its line written unless noreply, counted either way); then nothing may change.
bool gate_refuses(text_ctx& x, access a, bool noreply) {
  const refusal why = gate_refusal(x.gate, a, x.cfg.replica_reads);
  if (why == refusal::none) [[likely]]
    return false;
  count_refusal(x.counters, why);
  reply(x, noreply, refusal_line(why));
  return true;
}

// memcached's EXPTIME_TO_POSITIVE_TIME: a negative exptime becomes an absolute time
// long past (REALTIME_MAXDELTA + 1), i.e. expired at once; the rest is the engine's
// wire exptime (relative up to 30 days, absolute beyond).
cache::exptime_t wire_exptime(std::int32_t e) {
  return e < 0 ? cache::kMaxRelativeExptime + 1 : static_cast<cache::exptime_t>(e);
}

std::uint8_t store_opcode(std::string_view cmd) {
  if (cmd == "add") return op::add;
  if (cmd == "replace") return op::replace;
  if (cmd == "append") return op::append;
  if (cmd == "prepend") return op::prepend;
  return op::set;  // set, cas
}

cache::store_mode store_mode_of(std::uint8_t opcode) {
  switch (opcode) {
    case op::add:
      return cache::store_mode::add;
    case op::replace:
      return cache::store_mode::replace;
    case op::append:
      return cache::store_mode::append;
    case op::prepend:
      return cache::store_mode::prepend;
    default:
      return cache::store_mode::set;
  }
}

std::string_view store_reply(cache::status st) {
  switch (st) {
    case cache::status::ok:
      return "STORED";
    case cache::status::exists:
      return "EXISTS";
    case cache::status::not_found:
      return "NOT_FOUND";
    case cache::status::not_stored:
      return "NOT_STORED";
    case cache::status::too_large:
      return "SERVER_ERROR object too large for cache";
    case cache::status::no_memory:
      return "SERVER_ERROR out of memory storing object";
    default:
      return "SERVER_ERROR Unhandled storage type.";
  }
}

// Splits the keys of a get line: the next key at or after `pos`, or an empty view.
std::string_view next_key(std::string_view line, std::size_t& pos) {
  while (pos < line.size() && line[pos] == ' ') ++pos;
  const std::size_t start = pos;
  while (pos < line.size() && line[pos] != ' ') ++pos;
  return line.substr(start, pos - start);
}

}  // namespace

// process_get_command(): every key answered in order, then END. A key over 250 bytes
// fails the whole command with nothing but a CLIENT_ERROR (memcached drops the values
// it had stacked). Runs of up to kGetBatch keys are looked up with get_batch().
handler::outcome handler::text_get(connection& c, text_ctx& x, text_line& l, bool cas, bool touch) {
  std::size_t first = kKeyToken;
  cache::exptime_t exptime = 0;
  if (touch) {
    const auto e = text::to_i32(l.tok[1]);
    if (!e) {
      _counters.protocol_errors.add();
      text::put_line(x.out, "CLIENT_ERROR invalid exptime argument");
      return outcome::done;
    }
    exptime = wire_exptime(*e);
    first = 2;
  }
  const std::string_view line = l.line;
  std::size_t pos = first < l.ntokens - 1 ? l.offset_of(first) : line.size();
  if (c._text_resume != 0) {
    pos = c._text_resume;
  } else {
    for (std::size_t p = pos;;) {
      const std::string_view k = next_key(line, p);
      if (k.empty()) break;
      if (k.size() > kMaxKeyLength) {
        _counters.protocol_errors.add();
        text::put_line(x.out, "CLIENT_ERROR bad command line format");
        return outcome::done;
      }
    }
    // The client gate refuses the line whole, before any VALUE (a GAT touches: a write).
    // A get resumed after a flush was let through when it began and ends as it began.
    if (gate_refuses(x, touch ? access::write : access::read, false)) return outcome::done;
  }
  constexpr std::size_t kEnd = 5;  // "END\r\n"
  while (true) {
    std::array<std::size_t, kGetBatch> at{};
    std::size_t count = 0;
    for (std::size_t p = pos; count < kGetBatch;) {
      const std::size_t before = p;
      const std::string_view k = next_key(line, p);
      if (k.empty()) break;
      at[count] = before;
      _batch_keys[count++] = k;
    }
    if (count == 0) break;
    if (touch) {
      for (std::size_t i = 0; i < count; ++i)
        _batch_items[i] = _session.get_and_touch(_batch_keys[i], exptime);
    } else if (count == 1 || !_cfg.batch_gets) {
      for (std::size_t i = 0; i < count; ++i) _batch_items[i] = _session.get(_batch_keys[i]);
    } else {
      _session.get_batch({_batch_keys.data(), count}, {_batch_items.data(), count});
    }
    for (std::size_t i = 0; i < count; ++i) {
      const std::string_view key = _batch_keys[i];
      const cache::item_view& it = _batch_items[i];
      if (it.found) {
        const std::size_t size = text::value_size(key, it.flags, it.value, cas, it.cas);
        if (x.out.room() < size + kEnd) {
          c._text_resume = static_cast<std::uint32_t>(at[i]);
          return outcome::sink_full;
        }
        text::put_value(x.out, key, it.flags, it.value, cas, it.cas);
        if (touch) {
          _counters.touch_hits.add();
          _hook(mutation{op::gat, key, {}, 0, exptime, it.cas, 0});
        } else {
          _counters.get_hits.add();
        }
      } else {
        (touch ? _counters.touch_misses : _counters.get_misses).add();
      }
      (touch ? _counters.cmd_touch : _counters.cmd_get).add();
      if (_prefixes.enabled()) _prefixes.record_get(key, it.found);
    }
    // Resume after this batch if the END (or the next batch) finds no room.
    const std::size_t last = at[count - 1];
    std::size_t p = last;
    next_key(line, p);
    pos = p;
    c._text_resume = static_cast<std::uint32_t>(pos);
  }
  c._text_resume = 0;
  if (x.out.room() < kEnd) {
    c._text_resume = static_cast<std::uint32_t>(line.size());
    return outcome::sink_full;
  }
  text::put(x.out, "END\r\n");
  return outcome::done;
}

// process_update_command(): the line is checked first, in memcached's order.
handler::outcome handler::text_store(text_ctx& x, text_line& l, std::string_view after,
                                     std::size_t& data_used, std::size_t& need) {
  text_store_args a;
  a.is_cas = l.tok[0] == "cas";
  a.noreply = l.take_noreply();
  auto bad_format = [&] {
    _counters.protocol_errors.add();
    reply(x, l, "CLIENT_ERROR bad command line format");
    return outcome::done;
  };
  a.key = l.tok[kKeyToken];
  if (a.key.size() > kMaxKeyLength) return bad_format();
  const auto flags = text::to_u32(l.tok[2]);
  const auto exptime = text::to_i32(l.tok[3]);
  const auto vlen = text::to_i32(l.tok[4]);
  if (!flags || !exptime || !vlen) return bad_format();
  if (a.is_cas) {
    const auto v = text::to_u64(l.tok[5]);
    if (!v) return bad_format();
    a.req_cas = *v;
  }
  if (*vlen < 0 || *vlen > INT32_MAX - 2) return bad_format();
  a.flags = *flags;
  a.exptime = *exptime;
  a.value_len = static_cast<std::size_t>(*vlen);
  a.opcode = store_opcode(l.tok[0]);
  return text_store_run(x, a, after, data_used, need);
}

// process_update_command() past the line checks + complete_nread_ascii(): a value over
// the item size is refused from the line and swallowed; otherwise the command runs once
// its data block has arrived, which must end in "\r\n". The value is a view into the
// receive buffer (the engine copies it once, into the item).
handler::outcome handler::text_store_run(text_ctx& x, const text_store_args& a,
                                         std::string_view after, std::size_t& data_used,
                                         std::size_t& need) {
  const std::string_view key = a.key;
  const std::size_t block = a.value_len + 2;
  const cache::exptime_t exptime = wire_exptime(a.exptime);

  if (gate_refuses(x, access::write, a.noreply)) {  // not primary, or a switchover's fence
    x.swallow = block;  // nothing is stored: the data block is skipped as it arrives
    return outcome::done;
  }
  if (a.value_len > _cfg.max_value) {
    // memcached: item_alloc fails, the data block is swallowed, a SET drops the old value.
    if (_prefixes.enabled()) _prefixes.record_set(key);
    if (a.opcode == op::set && !a.is_cas) _session.remove(key);
    _counters.too_large.add();
    _counters.store_too_large.add();
    reply(x, a.noreply, "SERVER_ERROR object too large for cache");
    x.swallow = block;
    return outcome::done;
  }
  if (after.size() < block) {
    need = block;
    return outcome::done;
  }
  data_used = block;
  if (_prefixes.enabled()) _prefixes.record_set(key);
  _counters.cmd_set.add();
  if (after[a.value_len] != '\r' || after[a.value_len + 1] != '\n') {
    _counters.protocol_errors.add();
    reply(x, a.noreply, "CLIENT_ERROR bad data chunk");
    return outcome::done;
  }
  const std::string_view value = after.substr(0, a.value_len);
  cache::store_result res;
  if (a.is_cas && a.req_cas == 0) {
    // memcached compares the item's CAS with 0, which no stored item has; the engine
    // reads an expected CAS of 0 as "no CAS", so answer from a lookup.
    res.st = _session.get(key).found ? cache::status::exists : cache::status::not_found;
  } else {
    res = _session.store(store_mode_of(a.opcode), key, value, a.flags, exptime, a.req_cas);
  }
  if (a.is_cas) {
    if (res.st == cache::status::ok)
      _counters.cas_hits.add();
    else if (res.st == cache::status::exists)
      _counters.cas_badval.add();
    else if (res.st == cache::status::not_found)
      _counters.cas_misses.add();
  }
  if (res.st == cache::status::ok) {
    _counters.total_items.add();
    _hook(mutation{a.opcode, key, value, a.flags, exptime, res.cas, 0});
  } else if (res.st == cache::status::too_large) {
    _counters.store_too_large.add();
  } else if (res.st == cache::status::no_memory) {
    _counters.store_no_memory.add();
  }
  // The engine says why an add/replace did not store (exists / not_found); memcached's
  // text reply for both is NOT_STORED (EXISTS and NOT_FOUND are for cas).
  if (!a.is_cas && (res.st == cache::status::exists || res.st == cache::status::not_found))
    res.st = cache::status::not_stored;
  reply(x, a.noreply, store_reply(res.st));
  return outcome::done;
}

// process_touch_command()
handler::outcome handler::text_touch(text_ctx& x, text_line& l) {
  l.take_noreply();
  const std::string_view key = l.tok[kKeyToken];
  if (key.size() > kMaxKeyLength) {
    _counters.protocol_errors.add();
    reply(x, l, "CLIENT_ERROR bad command line format");
    return outcome::done;
  }
  const auto e = text::to_i32(l.tok[2]);
  if (!e) {
    _counters.protocol_errors.add();
    reply(x, l, "CLIENT_ERROR invalid exptime argument");
    return outcome::done;
  }
  if (gate_refuses(x, access::write, l.noreply)) return outcome::done;
  const cache::exptime_t exptime = wire_exptime(*e);
  const cache::store_result r = _session.touch(key, exptime);
  _counters.cmd_touch.add();
  if (r.st == cache::status::ok) {
    _counters.touch_hits.add();
    _hook(mutation{op::touch, key, {}, 0, exptime, r.cas, 0});
    reply(x, l, "TOUCHED");
  } else {
    _counters.touch_misses.add();
    reply(x, l, "NOT_FOUND");
  }
  return outcome::done;
}

// process_arithmetic_command(): a missing key is NOT_FOUND (text never creates it).
handler::outcome handler::text_arith(text_ctx& x, text_line& l, bool incr) {
  l.take_noreply();
  const std::string_view key = l.tok[kKeyToken];
  if (key.size() > kMaxKeyLength) {
    _counters.protocol_errors.add();
    reply(x, l, "CLIENT_ERROR bad command line format");
    return outcome::done;
  }
  const auto delta = text::to_u64(l.tok[2]);
  if (!delta) {
    _counters.protocol_errors.add();
    reply(x, l, "CLIENT_ERROR invalid numeric delta argument");
    return outcome::done;
  }
  if (gate_refuses(x, access::write, l.noreply)) return outcome::done;
  const cache::arith_result r = _session.incr_decr(key, incr, *delta, 0, 0xffffffffu);
  switch (r.st) {
    case cache::status::ok: {
      (incr ? _counters.incr_hits : _counters.decr_hits).add();
      _hook(mutation{incr ? op::incr : op::decr, key, {}, 0, 0, r.cas, r.value});
      if (!l.noreply) {
        text::put_u64(x.out, r.value);
        text::put(x.out, "\r\n");
      }
      break;
    }
    case cache::status::non_numeric:
      reply(x, l, "CLIENT_ERROR cannot increment or decrement non-numeric value");
      break;
    case cache::status::no_memory:
      reply(x, l, "SERVER_ERROR out of memory");
      break;
    default:
      (incr ? _counters.incr_misses : _counters.decr_misses).add();
      reply(x, l, "NOT_FOUND");
      break;
  }
  return outcome::done;
}

// process_delete_command(): "delete <key> [0] [noreply]" (a hold time other than 0 is
// refused with memcached's usage line).
handler::outcome handler::text_delete(text_ctx& x, text_line& l) {
  if (l.ntokens > 3) {
    const bool hold_is_zero = l.tok[2] == "0";
    const bool sets_noreply = l.take_noreply();
    const bool valid = (l.ntokens == 4 && (hold_is_zero || sets_noreply)) ||
                       (l.ntokens == 5 && hold_is_zero && sets_noreply);
    if (!valid) {
      _counters.protocol_errors.add();
      reply(x, l, "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]");
      return outcome::done;
    }
  }
  const std::string_view key = l.tok[kKeyToken];
  if (key.size() > kMaxKeyLength) {
    _counters.protocol_errors.add();
    reply(x, l, "CLIENT_ERROR bad command line format");
    return outcome::done;
  }
  if (gate_refuses(x, access::write, l.noreply)) return outcome::done;
  if (_prefixes.enabled()) _prefixes.record_delete(key);
  if (_session.remove(key) == cache::status::ok) {
    _counters.delete_hits.add();
    _hook(mutation{op::del, key, {}, 0, 0, 0, 0});
    reply(x, l, "DELETED");
  } else {
    _counters.delete_misses.add();
    reply(x, l, "NOT_FOUND");
  }
  return outcome::done;
}

// process_flush_all_command(): "flush_all [delay] [noreply]"; a delay <= 0 is now.
handler::outcome handler::text_flush(text_ctx& x, text_line& l) {
  l.take_noreply();
  _counters.cmd_flush.add();
  if (!_cfg.flush_enabled) {
    reply(x, l, "CLIENT_ERROR flush_all not allowed");
    return outcome::done;
  }
  std::int32_t delay = 0;
  if (l.ntokens != (l.noreply ? 3u : 2u)) {
    const auto d = text::to_i32(l.tok[1]);
    if (!d) {
      _counters.protocol_errors.add();
      reply(x, l, "CLIENT_ERROR invalid exptime argument");
      return outcome::done;
    }
    delay = *d;
  }
  if (gate_refuses(x, access::write, l.noreply)) return outcome::done;
  std::uint32_t when = delay > 0 ? static_cast<std::uint32_t>(delay) : 0;
  if (when > cache::kMaxRelativeExptime) {  // memcached's realtime(): an absolute time
    when = when > x.now ? when - x.now : 0;
  }
  _session.flush(when);
  _hook(mutation{op::flush, {}, {}, 0, when, 0, 0});
  reply(x, l, "OK");
  return outcome::done;
}

// process_verbosity_command(): accepted and answered OK (Anvil's log level is set at
// start; memcached's only changes its stderr chatter).
handler::outcome handler::text_verbosity(text_ctx& x, text_line& l) {
  l.take_noreply();
  if (!text::to_u32(l.tok[1])) {
    _counters.protocol_errors.add();
    reply(x, l, "CLIENT_ERROR bad command line format");
    return outcome::done;
  }
  reply(x, l, "OK");
  return outcome::done;
}

}  // namespace anvil::proto
