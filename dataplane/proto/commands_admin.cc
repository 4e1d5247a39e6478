// Stat (general, settings, items, slabs, sizes, detail on|off|dump, reset, and the groups
// the server owns, e.g. storage) and SASL.
// A Stat reply is many packets ended by an empty one; it is written whole or rolled
// back (the sink's size restored) so backpressure never splits it.
#include <bit>
#include <charconv>
#include <string_view>

#include "cache/bucket.h"
#include "dataplane/proto/general_stats.h"
#include "dataplane/proto/handler.h"

namespace anvil::proto {
namespace {

// Appends "name value" stat packets; remembers whether any did not fit.
class stat_writer {
 public:
  stat_writer(output_sink& out, echo e) : _out(out), _e(e) {}
  void add(std::string_view name, std::string_view value) {
    _ok = _ok && write_response(_out, _e, status::success, 0, {}, name, value);
  }
  void add(std::string_view name, std::uint64_t value) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, value);
    add(name, std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
  }
  void add_seconds(std::string_view name, double seconds) {
    char buf[48];
    const auto r = std::to_chars(buf, buf + sizeof buf, seconds, std::chars_format::fixed, 6);
    add(name, std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
  }
  bool end() {
    add({}, std::string_view{});
    return _ok;
  }

 private:
  output_sink& _out;
  echo _e;
  bool _ok = true;
};

}  // namespace

// memcached 1.6's general stats (general_stats.h has the list and the reasons).
bool handler::write_general_stats(echo e, output_sink& out) {
  server_facts f;
  if (_facts.fill != nullptr) _facts.fill(_facts.ctx, f);
  if (!f.have_totals) {
    f.totals = {};
    f.totals.accumulate(_counters);
  }
  stat_writer w(out, e);
  proto::write_general_stats(w, _engine, _cfg.version, f);
  return w.end();
}

// memcached 1.6's `stats settings`, in its order. A key whose behaviour Anvil shares
// has memcached's value format; a switch for machinery Anvil lacks says it is off;
// tuning knobs of absent machinery (slab sizes and mover, LRU tuning, extstore, TLS
// details, logger buffers) are left out. docs/protocol.md gives the reason per key.
bool handler::write_settings_stats(echo e, output_sink& out) {
  const cache::engine_config& ec = _engine.config();
  const server_settings& s = _cfg.settings;
  stat_writer w(out, e);
  w.add("maxbytes", ec.memory_limit_bytes);
  w.add("maxconns", s.max_connections);
  w.add("tcpport", s.tcp_port);
  w.add("udpport", s.udp_port);
  w.add("inter", s.inter.empty() ? std::string_view("NULL") : s.inter);
  w.add("verbosity", s.verbosity);
  w.add("evictions", "on");
  w.add("domain_socket", "NULL");
  w.add("shutdown_command", "no");
  w.add("num_threads", s.threads);
  w.add("num_threads_per_udp", s.threads);
  w.add("stat_key_prefix", ":");
  w.add("detail_enabled", _prefixes.enabled() ? "yes" : "no");
  w.add("cas_enabled", "yes");
  w.add("tcp_backlog", s.tcp_backlog);
  w.add("binding_protocol", "binary");
  w.add("auth_enabled_sasl", _cfg.sasl != nullptr ? "yes" : "no");
  w.add("auth_enabled_ascii", "no");
  w.add("item_size_max", ec.max_item_size);
  w.add("maxconns_fast", "yes");
  w.add("slab_reassign", "no");
  w.add("slab_automove", std::uint64_t{0});
  w.add("lru_crawler", "no");
  w.add("flush_enabled", _cfg.flush_enabled ? "yes" : "no");
  w.add("dump_enabled", "no");
  w.add("hash_algorithm", "xxh3");
  w.add("lru_maintainer_thread", "no");
  w.add("lru_segmented", "no");
  w.add("temp_lru", "no");
  w.add("idle_timeout", s.idle_timeout_s);
  w.add("track_sizes", "no");
  w.add("ssl_enabled", "no");
  w.add("memory_file", "(null)");
  w.add("anvil_partitions", _engine.partition_count());
  w.add("anvil_sasl_max_failures", _cfg.sasl_max_failures);
  return w.end();
}

// memcached reports per slab class; Anvil has no slab classes, so the equivalent is
// per partition: "items:<partition>:<field>" and "<partition>:<field>" for slabs.
bool handler::write_items_stats(echo e, output_sink& out, bool slabs) {
  stat_writer w(out, e);
  char name[64];
  auto stat = [&](std::size_t p, std::string_view field, std::uint64_t v) {
    char* q = name;
    if (!slabs) q = std::copy_n("items:", 6, q);
    q = std::to_chars(q, name + 24, p).ptr;
    *q++ = ':';
    q = std::copy(field.begin(), field.end(), q);
    w.add(std::string_view(name, static_cast<std::size_t>(q - name)), v);
  };
  std::uint64_t total_bytes = 0;
  for (std::size_t p = 0; p < _engine.partition_count(); ++p) {
    const cache::partition_stats s = _engine.stats(p);
    if (slabs) {
      stat(p, "used_bytes", s.bytes_used);
      stat(p, "limit_bytes", s.bytes_limit);
      stat(p, "used_items", s.items);
      total_bytes += s.bytes_used;
    } else {
      stat(p, "number", s.items);
      stat(p, "evicted", s.evictions);
      stat(p, "reclaimed", s.expired_reclaimed);
    }
  }
  if (slabs) {
    w.add("active_slabs", _engine.partition_count());
    w.add("total_malloced", total_bytes);
  }
  return w.end();
}

handler::outcome handler::exec_stat(const request& r, output_sink& out) {
  const echo e{r.hdr.opcode, r.hdr.opaque};
  const std::string_view sub = r.key;
  const std::size_t mark = out.size;
  bool ok = true;
  // memcached matches these by prefix (strncmp), the others exactly.
  if (sub.empty()) {
    ok = write_general_stats(e, out);
  } else if (sub.starts_with("reset")) {
    if (_facts.reset != nullptr) {
      _facts.reset(_facts.ctx);
    } else {
#define ANVIL_PROTO_RESET(n) _counters.n.reset();
      ANVIL_PROTO_COUNTERS(ANVIL_PROTO_RESET)
#undef ANVIL_PROTO_RESET
    }
    _engine.reset_stats();
    ok = write_response(out, e, status::success, 0, {}, {}, {});
  } else if (sub.starts_with("settings")) {
    ok = write_settings_stats(e, out);
  } else if (sub.starts_with("detail")) {
    const std::string_view arg = sub.substr(6);
    if (arg.starts_with(" dump")) {
      const std::string_view text = _prefixes.dump(_dump_buf);
      ok = write_response(out, e, status::success, 0, {}, "detailed", text) &&
           write_response(out, e, status::success, 0, {}, {}, {});
    } else if (arg.starts_with(" on") || arg.starts_with(" off")) {
      _prefixes.set_enabled(arg.starts_with(" on"));
      ok = write_response(out, e, status::success, 0, {}, {}, {});
    } else {
      write_error(out, e, status::key_enoent);
    }
  } else if (sub == "items") {
    ok = write_items_stats(e, out, false);
  } else if (sub == "slabs") {
    ok = write_items_stats(e, out, true);
  } else if (sub == "sizes") {
    stat_writer w(out, e);
    w.add("sizes_status", "disabled");
    ok = w.end();
  } else if (_facts.group != nullptr) {
    stat_writer w(out, e);
    const auto emit = [](void* sink, std::string_view name, std::string_view value) {
      static_cast<stat_writer*>(sink)->add(name, value);
    };
    if (_facts.group(_facts.ctx, sub, emit, &w))
      ok = w.end();
    else
      write_error(out, e, status::key_enoent);
  } else {
    write_error(out, e, status::key_enoent);
  }
  if (!ok) {
    out.size = mark;  // roll back: the whole reply goes out after the flush
    return outcome::sink_full;
  }
  return outcome::done;
}

handler::outcome handler::exec_sasl(connection& c, const request& r, output_sink& out) {
  const echo e{r.hdr.opcode, r.hdr.opaque};
  if (r.hdr.opcode == op::sasl_list_mechs) {
    write_response(out, e, status::success, 0, {}, {}, kSaslMechs);
    return outcome::done;
  }
  _counters.auth_cmds.add();
  // PLAIN finishes in one step, so a step is never expected (memcached with cyrus
  // answers a step without a started exchange the same way).
  bool ok = false;
  if (r.hdr.opcode == op::sasl_auth && r.key == kSaslMechs) {
    if (const auto m = parse_plain(r.value)) {
      if (_sasl_cache.contains(*m)) {
        _counters.sasl_cache_hits.add();
        ok = true;
      } else {
        _counters.sasl_derivations.add();  // the PBKDF2 cost, paid on this lcore
        ok = _cfg.sasl->verify(m->authcid, m->passwd);
        if (ok) _sasl_cache.insert(*m);
      }
    }
  }
  if (ok) {
    c._authenticated = true;
    write_response(out, e, status::success, 0, {}, {}, "Authenticated");
    return outcome::done;
  }
  _counters.auth_errors.add();
  write_error(out, e, status::auth_error);
  if (++c._auth_failures >= _cfg.sasl_max_failures) {
    _counters.auth_failure_closes.add();
    return outcome::close;
  }
  return outcome::done;
}

}  // namespace anvil::proto
