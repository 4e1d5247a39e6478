// The meta commands (mg ms md ma mn me) over the cache engine: execute_meta() of
// meta_seam.h. The line is parsed by meta_parser.h; each command then runs against the
// session and answers as memcached 1.6.18's process_m*_command does (docs/protocol.md
// lists the flags and the few differences). Responses are built in a line_builder and
// copied whole; an mg whose value does not fit the sink stops before any effect.
#include <algorithm>

#include "cache/semantics.h"
#include "dataplane/proto/handler.h"
#include "dataplane/proto/meta_line.h"
#include "dataplane/proto/meta_parser.h"
#include "dataplane/proto/meta_seam.h"

namespace anvil::proto {

namespace {

using meta::command;
using meta::line_builder;

// memcached's realtime(EXPTIME_TO_POSITIVE_TIME(v)) in the engine's terms: a negative
// TTL becomes an absolute time long past (expired at once), the rest is memcached's
// wire expiry, which the engine understands.
cache::exptime_t wire_exptime(std::int32_t v) {
  return v < 0 ? cache::kMaxRelativeExptime + 1 : static_cast<cache::exptime_t>(v);
}

void put_line(output_sink& out, std::string_view s) {  // room guaranteed by the caller
  std::memcpy(out.data + out.size, s.data(), s.size());
  std::memcpy(out.data + out.size + s.size(), "\r\n", 2);
  out.size += s.size() + 2;
}

// The request's O tokens and k (the key as sent, base64 again for b), in order: what
// memcached echoes on EN/NF/EX/NS and on md/ma answers.
void echo_tokens(line_builder& l, const meta::request& r) {
  for (std::size_t i = 0; i < r.ntok; ++i) {
    const std::string_view t = r.tok[i];
    if (t[0] == 'O') {
      l.put(' ');
      l.put(t);
    } else if (t[0] == 'k') {
      l.put_key(r.key, r.f.key_binary);
    }
  }
}

// " t<remaining>" as memcached prints it: -1 for never, else exptime - now (unsigned,
// so a time already past wraps as it does there).
void put_ttl(line_builder& l, std::uint32_t exp, std::uint32_t now) {
  l.put(" t");
  if (exp == 0)
    l.put("-1");
  else
    l.put_u64(static_cast<std::uint32_t>(exp - now));
}

std::uint32_t abs_exp(std::int32_t v, std::uint32_t now) {
  return cache::absolute_expiry(wire_exptime(v), now);
}

class meta_exec {
 public:
  meta_exec(text_ctx& ctx, const meta::request& r, std::uint32_t now) : _c(ctx), _r(r), _now(now) {}

  meta_result mg();
  meta_result ms(std::string_view after_line);
  meta_result md();
  meta_result ma();
  meta_result me();

 private:
  std::size_t max_value() const {
    return _c.cfg.max_value != 0 ? _c.cfg.max_value : _c.engine.config().max_item_size;
  }
  void answer(const line_builder& l) {
    if (!write_line(_c.out, l)) put_line(_c.out, "SERVER_ERROR out of memory writing response");
  }
  void error(std::string_view msg) {
    put_line(_c.out, msg);
    _c.counters.protocol_errors.add();
  }
  // A CAS of 0 compares unequal to every item (memcached); the engine reads 0 as "no
  // CAS", so this case is answered from a lookup.
  bool item_exists() { return _c.session.peek(_r.key).found; }

  text_ctx& _c;
  const meta::request& _r;
  std::uint32_t _now;
};

meta_result meta_exec::mg() {
  const meta::flags& f = _r.f;
  // Backpressure: stop before any effect when the value might not fit. A lock-free peek
  // gives the size only when the sink is short of the largest response.
  if (f.value && _c.out.room() < meta::max_response(max_value())) {
    const cache::item_view p = _c.session.peek(_r.key);
    if (p.found && _c.out.room() < meta::kLineMax + p.value.size() + 2)
      return {meta_status::sink_full, 0, 0};
  }
  cache::meta_get_args a;
  a.bump = !f.no_update;
  a.touch = f.new_ttl;
  a.touch_exptime = wire_exptime(f.exptime);
  a.vivify = f.vivify;
  a.vivify_exptime = wire_exptime(_r.t_after_n ? f.exptime : f.autoviv_exptime);
  // memcached does not mark a vivified item's key binary (its k answers the raw key).
  a.key_binary = false;
  a.recache = f.recache;
  a.recache_exptime = wire_exptime(f.recache_time);
  a.recache_after_touch = _r.t_before_r;
  const cache::meta_get_result res = _c.session.meta_get(_r.key, a);
  const cache::item_view& it = res.item;
  if (!it.found) {
    _c.counters.get_misses.add();
    _c.counters.cmd_get.add();
    if (f.no_reply) return {};
    line_builder l;
    l.put("EN");
    echo_tokens(l, _r);
    l.end();
    answer(l);
    return {};
  }
  if (res.no_memory) {
    error("SERVER_ERROR out of memory");
    return {};
  }
  line_builder l;
  if (f.value) {
    l.put("VA ");
    l.put_u64(it.value.size());
  } else {
    l.put("HD");
  }
  std::uint32_t exp = res.created ? 0 : res.expires_before;  // as memcached's loop sees it
  for (std::size_t i = 0; i < _r.ntok; ++i) {
    const std::string_view t = _r.tok[i];
    switch (t[0]) {
      case 'T':
        exp = abs_exp(f.exptime, _now);
        break;
      case 'N':
        if (res.created) exp = abs_exp(f.autoviv_exptime, _now);
        break;
      case 's':
        l.put(" s");
        l.put_u64(it.value.size());
        break;
      case 't':
        put_ttl(l, exp, _now);
        break;
      case 'c':
        l.put(" c");
        l.put_u64(it.cas);
        break;
      case 'f':
        l.put(" f");
        l.put_u64(it.flags);
        break;
      case 'l':
        l.put(" l");
        l.put_u64(static_cast<std::uint32_t>(_now - it.last_access));
        break;
      case 'h':
        l.put(it.fetched ? " h1" : " h0");
        break;
      case 'O':
        l.put(' ');
        l.put(t);
        break;
      case 'k':
        l.put_key(it.key, it.key_binary);
        break;
      default:
        break;
    }
  }
  // memcached appends these after the requested flags, in this order (never W with Z).
  if (it.win_sent && !res.created) l.put(" Z");
  if (it.stale) l.put(" X");
  if (res.won) l.put(" W");
  l.end();
  if (!write_line(_c.out, l, it.value, f.value)) {
    // Only when a concurrent store grew the value after the peek above.
    put_line(_c.out, "SERVER_ERROR out of memory writing get response");
  }
  if (f.new_ttl) {
    _c.counters.cmd_touch.add();
    _c.counters.touch_hits.add();
  } else {
    _c.counters.cmd_get.add();
    _c.counters.get_hits.add();
  }
  if (f.new_ttl && !res.created)
    _c.hook(mutation{op::touch, it.key, {}, 0, a.touch_exptime, it.cas, 0});
  if (res.created) _c.hook(mutation{op::add, it.key, {}, 0, a.vivify_exptime, it.cas, 0});
  return {};
}

meta_result meta_exec::ms(std::string_view after_line) {
  const meta::flags& f = _r.f;
  const std::size_t need = static_cast<std::size_t>(_r.datalen) + 2;
  if (static_cast<std::size_t>(_r.datalen) > max_value()) {
    // Refused from the line (memcached's item_alloc fails): the old value goes too.
    error("SERVER_ERROR object too large for cache");
    _c.counters.store_too_large.add();
    _c.session.remove(_r.key);
    _c.swallow = need;
    return {};
  }
  if (after_line.size() < need) return {meta_status::need_more, 0, need};
  _c.counters.cmd_set.add();
  const std::string_view data = after_line.substr(0, _r.datalen);
  if (after_line.substr(_r.datalen, 2) != "\r\n") {
    error("CLIENT_ERROR bad data chunk");
    return {meta_status::done, need, 0};
  }
  cache::store_mode mode = cache::store_mode::set;
  switch (f.mode) {
    case 'E':
      mode = cache::store_mode::add;
      break;
    case 'A':
      mode = cache::store_mode::append;
      break;
    case 'P':
      mode = cache::store_mode::prepend;
      break;
    case 'R':
      mode = cache::store_mode::replace;
      break;
    default:
      break;
  }
  const bool cas_mode =
      f.has_cas && (mode == cache::store_mode::set || mode == cache::store_mode::replace);
  const bool concat = mode == cache::store_mode::append || mode == cache::store_mode::prepend;
  const cache::exptime_t exptime = f.new_ttl ? wire_exptime(f.exptime) : 0;
  cache::store_result res;
  if (f.has_cas && f.req_cas == 0 && cas_mode) {
    res.st = item_exists() ? cache::status::exists : cache::status::not_found;
  } else {
    cache::store_options opt;
    opt.key_binary = f.key_binary;
    opt.invalidate = f.set_stale && cas_mode;
    opt.new_cas = f.has_new_cas ? f.new_cas : 0;
    const cache::cas_t expected = (cas_mode || concat) && f.has_cas ? f.req_cas : 0;
    res = _c.session.store(mode, _r.key, data, f.client_flags, exptime, expected, opt);
  }
  std::string_view code;
  switch (res.st) {
    case cache::status::ok:
      code = "HD";
      break;
    case cache::status::exists:
      code = mode == cache::store_mode::add ? "NS" : "EX";
      break;
    case cache::status::not_found:
      code = cas_mode ? "NF" : "NS";  // replace or append/prepend of a missing key
      break;
    case cache::status::not_stored:
      code = "NS";
      break;
    case cache::status::too_large:
      _c.counters.store_too_large.add();
      error("SERVER_ERROR object too large for cache");
      return {meta_status::done, need, 0};
    default:
      _c.counters.store_no_memory.add();
      error("SERVER_ERROR out of memory storing object");
      return {meta_status::done, need, 0};
  }
  if (cas_mode) {
    if (res.st == cache::status::ok)
      _c.counters.cas_hits.add();
    else if (res.st == cache::status::exists)
      _c.counters.cas_badval.add();
    else if (res.st == cache::status::not_found)
      _c.counters.cas_misses.add();
  }
  if (res.st == cache::status::ok) {
    _c.counters.total_items.add();
    static constexpr std::uint8_t kOps[] = {op::set, op::add, op::replace, op::append, op::prepend};
    _c.hook(
        mutation{kOps[static_cast<int>(mode)], _r.key, data, f.client_flags, exptime, res.cas, 0});
    if (f.no_reply) return {meta_status::done, need, 0};
  }
  line_builder l;
  l.put(code);
  for (std::size_t i = 0; i < _r.ntok; ++i) {
    const std::string_view t = _r.tok[i];
    if (t[0] == 'O') {
      l.put(' ');
      l.put(t);
    } else if (t[0] == 'k') {
      l.put_key(_r.key, f.key_binary);
    } else if (t[0] == 'c') {
      l.put(" c");
      l.put_u64(res.st == cache::status::ok ? res.cas : 0);
    }
  }
  l.end();
  answer(l);
  return {meta_status::done, need, 0};
}

meta_result meta_exec::md() {
  const meta::flags& f = _r.f;
  std::string_view code;
  if (f.has_cas && f.req_cas == 0) {
    code = item_exists() ? "EX" : "NF";
    _c.counters.delete_misses.add();
  } else if (f.set_stale) {
    const cache::store_result res = _c.session.invalidate(
        _r.key, f.req_cas, f.new_ttl, wire_exptime(f.exptime), f.has_new_cas ? f.new_cas : 0);
    switch (res.st) {
      case cache::status::ok:
        code = "HD";
        break;
      case cache::status::exists:
        code = "EX";
        _c.counters.delete_misses.add();
        break;
      case cache::status::not_found:
        code = "NF";
        _c.counters.delete_misses.add();
        break;
      default:
        error("SERVER_ERROR out of memory");
        return {};
    }
  } else {
    const cache::status st = _c.session.remove(_r.key, f.req_cas);
    if (st == cache::status::ok) {
      code = "HD";
      _c.counters.delete_hits.add();
      _c.hook(mutation{op::del, _r.key, {}, 0, 0, 0, 0});
    } else {
      code = st == cache::status::exists ? "EX" : "NF";
      _c.counters.delete_misses.add();
    }
  }
  if (code == "HD" && f.no_reply) return {};
  line_builder l;
  l.put(code);
  echo_tokens(l, _r);
  l.end();
  answer(l);
  return {};
}

meta_result meta_exec::ma() {
  const meta::flags& f = _r.f;
  const bool incr = f.mode != 'D' && f.mode != '-';
  cache::arith_options opt;
  opt.set_exptime = f.new_ttl;
  opt.exptime = wire_exptime(f.exptime);
  opt.new_cas = f.has_new_cas ? f.new_cas : 0;
  const cache::exptime_t create =
      f.vivify ? wire_exptime(_r.t_after_n ? f.exptime : f.autoviv_exptime) : 0xffffffffu;
  const cache::arith_result res =
      _c.session.incr_decr(_r.key, incr, f.delta, f.initial, create, f.req_cas, opt);
  line_builder l;
  switch (res.st) {
    case cache::status::ok:
      break;
    case cache::status::not_found:
      (incr ? _c.counters.incr_misses : _c.counters.decr_misses).add();
      l.put("NF");
      echo_tokens(l, _r);
      l.end();
      answer(l);
      return {};
    case cache::status::exists:
      l.put("EX");
      echo_tokens(l, _r);
      l.end();
      answer(l);
      return {};
    case cache::status::non_numeric:
      error("CLIENT_ERROR cannot increment or decrement non-numeric value");
      return {};
    default:
      error("SERVER_ERROR out of memory");
      return {};
  }
  if (res.created)
    _c.counters.total_items.add();
  else
    (incr ? _c.counters.incr_hits : _c.counters.decr_hits).add();
  _c.hook(mutation{incr ? op::incr : op::decr, _r.key, {}, 0, create, res.cas, res.value});
  // memcached skips the answer of a quiet incr/decr, not of a created counter.
  if (f.no_reply && !res.created) return {};
  char num[24];
  const std::size_t nlen = cache::format_counter(res.value, num);
  if (f.value) {
    l.put("VA ");
    l.put_u64(nlen);
  } else {
    l.put("HD");
  }
  std::uint32_t exp = res.created ? 0 : res.expires_before;
  for (std::size_t i = 0; i < _r.ntok; ++i) {
    const std::string_view t = _r.tok[i];
    switch (t[0]) {
      case 'c':
        l.put(" c");
        l.put_u64(res.cas);
        break;
      case 't':
        put_ttl(l, exp, _now);
        break;
      case 'T':
        exp = abs_exp(f.exptime, _now);
        break;
      case 'N':
        if (res.created) exp = abs_exp(f.autoviv_exptime, _now);
        break;
      case 'O':
        l.put(' ');
        l.put(t);
        break;
      case 'k':
        l.put_key(_r.key, f.key_binary);
        break;
      default:
        break;
    }
  }
  if (f.value) {
    l.end();
    l.put(std::string_view(num, nlen));
  }
  l.end();
  answer(l);
  return {};
}

meta_result meta_exec::me() {
  _c.counters.cmd_meta.add();  // memcached 1.6.18 counts only me in cmd_meta
  const cache::item_view it = _c.session.peek(_r.key);
  if (!it.found) {
    put_line(_c.out, "EN");
    return {};
  }
  line_builder l;
  l.put("ME ");
  if (it.key_binary) {
    char b64[meta::base64_encoded_size(meta::kMaxKey)];
    l.put(std::string_view(b64, meta::base64_encode(it.key, b64, sizeof b64)));
  } else {
    l.put(it.key);
  }
  // memcached prints exp as now - exptime (negative while the item lives), la as the
  // seconds since its last access; cls (slab class) has no meaning here: 0; size is
  // key + value bytes (memcached: its slab item size).
  l.put(" exp=");
  l.put_i64(it.expires_at == 0 ? -1 : static_cast<std::int32_t>(_now - it.expires_at));
  l.put(" la=");
  l.put_u64(static_cast<std::uint32_t>(_now - it.last_access));
  l.put(" cas=");
  l.put_u64(it.cas);
  l.put(it.fetched ? " fetch=yes" : " fetch=no");
  l.put(" cls=0 size=");
  l.put_u64(it.key.size() + it.value.size());
  l.end();
  answer(l);
  return {};
}

}  // namespace

meta_result execute_meta(text_ctx& ctx, std::string_view line, std::string_view after_line) {
  meta::request r;
  char key_buf[meta::kKeyBuffer];
  const meta::parse_result p = meta::parse(line, r, key_buf);
  if (!p.ok) {
    put_line(ctx.out, p.error);
    if (p.error == "ERROR")
      ctx.counters.unknown_commands.add();
    else
      ctx.counters.protocol_errors.add();
    if (p.swallow) ctx.swallow = p.swallow_bytes;
    return {};
  }
  // The client gate (client_gate.h): every meta command that changes the cache (ms, md,
  // ma, and mg with T or N) is a write; mg without them and me are reads; mn touches no
  // key. A refused command runs not at all (an ms data block is skipped); the refusal is
  // an error, so it is answered even in quiet mode.
  const bool mutates = r.cmd == command::ms || r.cmd == command::md || r.cmd == command::ma ||
                       (r.cmd == command::mg && (r.f.new_ttl || r.f.vivify));
  const access a = r.cmd == command::mn ? access::admin : mutates ? access::write : access::read;
  if (const refusal why = gate_refusal(ctx.gate, a, ctx.cfg.replica_reads); why != refusal::none)
      [[unlikely]] {
    count_refusal(ctx.counters, why);
    put_line(ctx.out, refusal_line(why));
    if (r.cmd == command::ms) ctx.swallow = static_cast<std::size_t>(r.datalen) + 2;
    return {};
  }
  const std::uint32_t now = ctx.engine.config().time->now();
  meta_exec x(ctx, r, now);
  switch (r.cmd) {
    case command::mg:
      return x.mg();
    case command::ms:
      return x.ms(after_line);
    case command::md:
      return x.md();
    case command::ma:
      return x.ma();
    case command::me:
      return x.me();
    case command::mn:
      put_line(ctx.out, "MN");
      return {};
  }
  return {};
}

}  // namespace anvil::proto
