// The text protocol's framing loop: finds each command line, applies memcached's
// line-length rule, and dispatches as memcached's process_command_ascii() does (same
// order of checks, same arity rules, same error lines). Commands are in
// text_commands.cc; meta commands go through meta_seam.h. memtier's lines have fast
// paths with the general path's replies: a single-key get (a pipelined run of them is
// looked up together, as binary's GETs) and a plain `set` (text_fast_set).
//
// Framing rules (memcached 1.6 try_read_command_ascii, made independent of how the
// bytes arrive so that a request split anywhere behaves the same):
// - a line ends at "\n"; a "\r" before it is dropped when the line holds more than it;
// - a line whose first 2049 bytes hold no "\n" closes the connection without a reply,
//   unless it is a get/gets line (at most 100 leading spaces): those may be up to
//   handler_config::max_get_line bytes (memcached: unbounded), beyond which they are
//   answered "CLIENT_ERROR line too long" and the connection is closed;
// - a storage command runs once its line and data block (<bytes> + 2) are contiguous
//   in the input; a refused data block (too large) is skipped as it streams in.
// Backpressure as in binary: a command runs only with kTextSmallResponseMax bytes of
// room; a multi-get that runs out of room stops before the value that does not fit and
// resumes there (connection::_text_resume) after the flush, without repeating a value.
#include <algorithm>
#include <cstring>

#include "dataplane/proto/handler.h"
#include "dataplane/proto/text_line.h"
#include "dataplane/proto/text_numbers.h"
#include "dataplane/proto/text_writer.h"

namespace anvil::proto {
namespace {

std::string_view as_text(std::span<const std::byte> s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

// memcached's exception for lines without "\n" past 2048 bytes: a large multiget.
bool is_get_line(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  if (i > 100) return false;
  s.remove_prefix(i);
  return s.starts_with("get ") || s.starts_with("gets ");
}

// The hot path, memtier's memcache_text GET: "get <key>" or "gets <key>" with exactly one
// key (no other spaces, no NUL), answered without tokenizing; the reply is the one the
// general path gives. False for any other line (the callers also refuse it while a
// multi-get is being resumed).
bool fast_get_shape(std::string_view line, std::string_view& key, bool& cas) {
  if (line.size() < 5 || line[0] != 'g' || line[1] != 'e' || line[2] != 't') return false;
  std::size_t p = 3;
  cas = line[3] == 's';
  if (cas) ++p;
  if (line[p] != ' ') return false;
  key = line.substr(p + 1);
  return !key.empty() && key.size() <= kMaxKeyLength &&
         key.find_first_of(std::string_view(" \0", 2)) == std::string_view::npos;
}

// The longest line fast_get_shape() accepts, with its "\r\n".
constexpr std::size_t kFastGetMaxLine = 5 + kMaxKeyLength + 2;

}  // namespace

handle_result handler::handle_text(connection& c, std::span<const std::byte> input,
                                   output_sink& out) {
  handle_result res;
  const std::size_t sink_start = out.size;
  const std::string_view in = as_text(input);
  const std::size_t n = in.size();
  std::size_t pos = 0;
  text_ctx x{_engine,   _session, _cfg, _counters,
             _prefixes, _hook,    out,  _engine.config().time->now()};

  while (true) {
    if (c._closing) {
      res.close_after_flush = true;
      break;
    }
    if (c._skip > 0) {  // the rest of a refused data block
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(c._skip, n - pos));
      pos += k;
      c._skip -= k;
      if (c._skip > 0) {
        res.need_more = true;
        res.need_bytes = 1;
        break;
      }
    }
    if (pos == n) {
      res.need_more = true;
      res.need_bytes = 1;
      break;
    }
    const std::string_view rest = in.substr(pos);
    const std::size_t nl = rest.find('\n');
    const std::size_t line_len = nl == std::string_view::npos ? rest.size() : nl;
    if (line_len > kTextMaxLine) {
      if (!is_get_line(rest.substr(0, std::min(rest.size(), std::size_t{128})))) {
        _counters.protocol_errors.add();  // memcached closes without a word
        c._closing = true;
        continue;
      }
      if (line_len > _cfg.max_get_line) {
        if (out.room() < kTextSmallResponseMax) {
          res.sink_full = true;
          break;
        }
        _counters.protocol_errors.add();
        text::put_line(out, "CLIENT_ERROR line too long");
        c._closing = true;
        continue;
      }
    }
    if (nl == std::string_view::npos) {
      res.need_more = true;
      res.need_bytes = rest.size() + 1;
      break;
    }
    if (out.room() < kTextSmallResponseMax) {
      res.sink_full = true;
      break;
    }
    std::size_t end = nl;
    if (end > 1 && rest[end - 1] == '\r') --end;
    bool cas = false;
    // The client gate, sampled once for this line (or this run of get lines).
    x.gate = gate_bits();
    if (c._text_resume == 0 &&
        gate_refusal(x.gate, access::read, _cfg.replica_reads) == refusal::none &&
        fast_get_shape(rest.substr(0, end), _batch_keys[0], cas)) {
      // memtier's GET, without tokenizing; a run of them (pipelined) is looked up
      // together, as binary's are.
      _text_batch_cas[0] = cas;
      _text_batch_len[0] = static_cast<std::uint16_t>(nl + 1);
      const std::size_t count = _cfg.batch_gets ? collect_text_gets(in, pos + nl + 1) : 1;
      if (count == 1) {
        _batch_items[0] = _session.get(_batch_keys[0]);
      } else {
        _session.get_batch({_batch_keys.data(), count}, {_batch_items.data(), count});
      }
      std::size_t i = 0;
      for (; i < count; ++i) {
        if (out.room() < kTextSmallResponseMax ||
            text_emit_get(_batch_keys[i], _text_batch_cas[i], _batch_items[i], out) ==
                outcome::sink_full) {
          break;
        }
        pos += _text_batch_len[i];
      }
      if (i < count) {        // stopped for room: the rest is looked up again next call
        if (out.size == 0) {  // cannot fit even in an empty sink: give up on the peer
          _counters.protocol_errors.add();
          c._closing = true;
          continue;
        }
        res.sink_full = true;
        break;
      }
      continue;
    }
    const std::string_view line = rest.substr(0, end), after = rest.substr(nl + 1);
    std::size_t data_used = 0, need = 0;
    x.close = false;
    x.swallow = 0;
    outcome o = text_fast_set(x, line, after, data_used, need);
    if (o == outcome::close) {
      text_line l(line);
      o = text_dispatch(c, x, l, after, data_used, need);
    }
    if (need != 0) {
      res.need_more = true;
      res.need_bytes = nl + 1 + need;
      break;
    }
    if (o == outcome::sink_full) {
      if (out.size == 0) {  // cannot fit even in an empty sink: give up on the peer
        _counters.protocol_errors.add();
        c._closing = true;
        continue;
      }
      res.sink_full = true;
      break;
    }
    pos += nl + 1 + data_used;
    c._skip = x.swallow;
    if (o == outcome::close || x.close) c._closing = true;
  }
  if (res.sink_full) _counters.backpressure_stops.add();
  res.consumed = pos;
  _counters.bytes_read.add(pos);
  _counters.bytes_written.add(out.size - sink_start);
  return res;
}

// One single-key get's reply ("VALUE ...\r\n<data>\r\n" if found, then "END\r\n") and
// its counters; sink_full (nothing written, nothing counted) if it does not fit.
handler::outcome handler::text_emit_get(std::string_view key, bool cas, const cache::item_view& it,
                                        output_sink& out) {
  if (it.found) {
    if (out.room() < text::value_size(key, it.flags, it.value, cas, it.cas) + 5)
      return outcome::sink_full;
    text::put_value(out, key, it.flags, it.value, cas, it.cas);
    _counters.get_hits.add();
  } else {
    if (out.room() < 5) return outcome::sink_full;
    _counters.get_misses.add();
  }
  text::put(out, "END\r\n");
  _counters.cmd_get.add();
  if (_prefixes.enabled()) _prefixes.record_get(key, it.found);
  return outcome::done;
}

// Extends a run of single-key get lines (its first already in the batch arrays) with
// the complete ones starting at `pos`, up to kGetBatch (memtier pipelines them), as
// collect_gets() does for binary: keys in _batch_keys, lengths with the "\n" and
// gets-ness in _text_batch_len / _text_batch_cas. Anything else ends the run.
std::size_t handler::collect_text_gets(std::string_view input, std::size_t pos) {
  std::size_t count = 1;
  while (count < kGetBatch && pos < input.size()) {
    const std::string_view rest = input.substr(pos);
    const void* nlp = std::memchr(rest.data(), '\n', std::min(rest.size(), kFastGetMaxLine));
    if (nlp == nullptr) break;
    const std::size_t nl = static_cast<std::size_t>(static_cast<const char*>(nlp) - rest.data());
    std::size_t end = nl;
    if (end > 1 && rest[end - 1] == '\r') --end;
    bool cas = false;
    if (!fast_get_shape(rest.substr(0, end), _batch_keys[count], cas)) break;
    _text_batch_cas[count] = cas;
    _text_batch_len[count] = static_cast<std::uint16_t>(nl + 1);
    pos += nl + 1;
    ++count;
  }
  return count;
}

// The hot path, memtier's memcache_text SET: "set <key> <flags> <exptime> <bytes>" with
// single spaces, a key of 1..250 bytes without NUL, and plain numbers of at most 9
// digits, i.e. exactly the lines whose tokens text_line would give the same way and
// whose numbers every memcached reading takes as they are. Anything else (noreply, cas,
// signs, long numbers, extra spaces or tokens, a '\r' inside the line) takes the general
// path, so the replies are those text_store gives. outcome::close means "not this shape".
handler::outcome handler::text_fast_set(text_ctx& x, std::string_view line, std::string_view after,
                                        std::size_t& data_used, std::size_t& need) {
  const std::size_t n = line.size();
  if (n < 11 || line[0] != 's' || line[1] != 'e' || line[2] != 't' || line[3] != ' ')
    return outcome::close;
  std::size_t p = 4;
  while (p < n && line[p] != ' ' && line[p] != '\0') ++p;
  const std::size_t key_len = p - 4;
  if (p == n || line[p] != ' ' || key_len == 0 || key_len > kMaxKeyLength) return outcome::close;
  text_store_args a;
  a.key = line.substr(4, key_len);
  a.opcode = op::set;
  const std::int32_t flags = text::plain_number(line, ++p);
  if (flags < 0 || p == n || line[p] != ' ') return outcome::close;
  const std::int32_t exptime = text::plain_number(line, ++p);
  if (exptime < 0 || p == n || line[p] != ' ') return outcome::close;
  const std::int32_t bytes = text::plain_number(line, ++p);
  if (bytes < 0 || p != n) return outcome::close;
  a.flags = static_cast<std::uint32_t>(flags);
  a.exptime = exptime;
  a.value_len = static_cast<std::size_t>(bytes);
  return text_store_run(x, a, after, data_used, need);
}

// process_command_ascii(): the first byte picks the family, then exact names and
// memcached's token counts (ntokens includes the terminal token).
handler::outcome handler::text_dispatch(connection& c, text_ctx& x, text_line& l,
                                        std::string_view after, std::size_t& data_used,
                                        std::size_t& need) {
  auto error = [&] {
    _counters.unknown_commands.add();
    text::put_line(x.out, "ERROR");
    return outcome::done;
  };
  auto tokens_in = [&](std::size_t a, std::size_t b) { return l.ntokens == a || l.ntokens == b; };
  if (l.ntokens < 2 || l.tok[0].size() < 2) return error();
  const std::string_view cmd = l.tok[0];
  const char first = cmd[0];
  if (first == 'm' && cmd.size() == 2) {
    if (!is_meta_command(cmd)) return error();
    const meta_result r = execute_meta(x, l.line, after);
    if (r.status == meta_status::sink_full) return outcome::sink_full;
    if (r.status == meta_status::need_more) {
      need = std::max<std::size_t>(r.need_bytes, 1);
      return outcome::done;
    }
    data_used = r.data_consumed;
    return outcome::done;
  }
  if (first == 'g') {
    if (l.ntokens < 3) return error();
    if (cmd == "get") return text_get(c, x, l, false, false);
    if (cmd == "gets") return text_get(c, x, l, true, false);
    if (cmd == "gat") return text_get(c, x, l, false, true);
    if (cmd == "gats") return text_get(c, x, l, true, true);
    return error();
  }
  if (cmd == "set" || cmd == "add" || cmd == "append" || cmd == "replace" || cmd == "prepend") {
    if (!tokens_in(6, 7)) return error();
    return text_store(x, l, after, data_used, need);
  }
  if (cmd == "cas") {
    if (!tokens_in(7, 8)) return error();
    return text_store(x, l, after, data_used, need);
  }
  if (cmd == "stats") return text_stats(x, l);
  if (cmd == "incr" || cmd == "decr") {
    if (!tokens_in(4, 5)) return error();
    return text_arith(x, l, cmd == "incr");
  }
  if (cmd == "delete") {
    if (l.ntokens < 3 || l.ntokens > 5) return error();
    return text_delete(x, l);
  }
  if (cmd == "touch") {
    if (!tokens_in(4, 5)) return error();
    return text_touch(x, l);
  }
  if (cmd == "bget") {  // memcached keeps this ancient alias of get
    if (l.ntokens < 3) return error();
    return text_get(c, x, l, false, false);
  }
  if (cmd == "flush_all") {
    if (l.ntokens < 2 || l.ntokens > 4) return error();
    return text_flush(x, l);
  }
  if (cmd == "version") {
    text::put(x.out, "VERSION ");
    text::put_line(x.out, _cfg.version.substr(0, 64));
    return outcome::done;
  }
  if (cmd == "quit") return outcome::close;
  if (cmd == "verbosity") {
    if (!tokens_in(3, 4)) return error();
    return text_verbosity(x, l);
  }
  if (cmd == "shutdown") {  // memcached without -A
    text::put_line(x.out, "ERROR: shutdown not enabled");
    return outcome::done;
  }
  // Other names in memcached's first-byte families are unknown there (or machinery Anvil
  // lacks: slabs, cache_memlimit); past them memcached closes on an HTTP request line.
  if (std::string_view("sacidt").find(first) != std::string_view::npos) return error();
  if (l.tok[l.ntokens - 2].starts_with("HTTP/")) {  // memcached closes on an HTTP request
    _counters.protocol_errors.add();
    return outcome::close;
  }
  return error();
}

}  // namespace anvil::proto
