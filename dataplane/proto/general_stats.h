// memcached's general `stats`, written through any writer with add(name, uint64_t),
// add(name, string_view) and add_seconds(name, double): the binary protocol's Stat
// reply (commands_admin.cc) and the admin API's GET /v1/stats (control/admin) print the
// same figures from the same counters, in the same order.
#pragma once

#include <bit>
#include <cstdint>
#include <string_view>

#include "cache/bucket.h"
#include "cache/engine.h"
#include "dataplane/proto/server_facts.h"

namespace anvil::proto {

// memcached 1.6's general stats, in its order, where Anvil has the figure or the
// machinery is absent in a way a constant states truthfully (never disables listening,
// never allocates after start, never yields a connection); keys of machinery Anvil
// lacks (slab mover, LRU crawler and maintainer, logger, per-item fetched bit) are left
// out. docs/protocol.md has the table and the reasons.
template <class W>
void write_general_stats(W& w, const cache::engine& engine, std::string_view version,
                         const server_facts& f) {
  const counter_totals& t = f.totals;
  const cache::partition_stats ps = engine.total_stats();
  const std::uint32_t now = engine.config().time->now();
  const std::uint64_t buckets = ps.index_bytes / sizeof(cache::bucket);
  w.add("pid", f.pid);
  w.add("uptime", now > f.started_at && f.started_at != 0 ? now - f.started_at : 0);
  w.add("time", now);
  w.add("version", version);
  w.add("pointer_size", sizeof(void*) * 8);
  w.add_seconds("rusage_user", f.rusage_user);
  w.add_seconds("rusage_system", f.rusage_system);
  w.add("max_connections", f.max_connections);
  w.add("curr_connections", f.curr_connections);
  w.add("total_connections", f.total_connections);
  w.add("rejected_connections", f.rejected_connections);
  w.add("connection_structures", f.connection_structures);
  w.add("cmd_get", t.cmd_get);
  w.add("cmd_set", t.cmd_set);
  w.add("cmd_flush", t.cmd_flush);
  w.add("cmd_touch", t.cmd_touch);
  w.add("cmd_meta", t.cmd_meta);
  w.add("get_hits", t.get_hits);
  w.add("get_misses", t.get_misses);
  w.add("get_expired", t.get_expired);
  w.add("get_flushed", t.get_flushed);
  w.add("delete_misses", t.delete_misses);
  w.add("delete_hits", t.delete_hits);
  w.add("incr_misses", t.incr_misses);
  w.add("incr_hits", t.incr_hits);
  w.add("decr_misses", t.decr_misses);
  w.add("decr_hits", t.decr_hits);
  w.add("cas_misses", t.cas_misses);
  w.add("cas_hits", t.cas_hits);
  w.add("cas_badval", t.cas_badval);
  w.add("touch_hits", t.touch_hits);
  w.add("touch_misses", t.touch_misses);
  w.add("store_too_large", t.store_too_large);
  w.add("store_no_memory", t.store_no_memory);
  w.add("auth_cmds", t.auth_cmds);
  w.add("auth_errors", t.auth_errors);
  w.add("bytes_read", t.bytes_read);
  w.add("bytes_written", t.bytes_written);
  w.add("limit_maxbytes", ps.bytes_limit);
  w.add("accepting_conns", std::uint64_t{1});             // a full table refuses SYNs, counted
  w.add("listen_disabled_num", std::uint64_t{0});         // in rejected_connections; never
  w.add("time_in_listen_disabled_us", std::uint64_t{0});  // stops listening
  w.add("threads", f.threads);
  w.add("conn_yields", std::uint64_t{0});  // no per-event request cap to yield at
  w.add("hash_power_level", buckets == 0 ? 0 : std::bit_width(buckets) - 1);
  w.add("hash_bytes", ps.index_bytes);
  w.add("hash_is_expanding", std::uint64_t{0});  // the index is sized once, at start
  w.add("malloc_fails", std::uint64_t{0});       // all memory is allocated at start
  w.add("bytes", ps.bytes_used);
  w.add("curr_items", ps.items);
  w.add("total_items", t.total_items);
  w.add("evictions", ps.evictions);
  w.add("reclaimed", ps.expired_reclaimed);
  // The index is fixed-size (cache.expected_item_bytes; hash_bytes above): how full it
  // is. Past ~80% an insert whose two buckets are full drops a resident item.
  w.add("anvil_index_slots", ps.index_slots);
  w.add("anvil_index_fill_pct", ps.index_slots ? ps.items * 100 / ps.index_slots : 0);
  // Anvil's own (not in memcached): errors that memcached does not count, and the
  // SASL cost bounds.
  w.add("anvil_protocol_errors", t.protocol_errors);
  w.add("anvil_unknown_commands", t.unknown_commands);
  w.add("anvil_too_large", t.too_large);
  w.add("anvil_backpressure_stops", t.backpressure_stops);
  // The client gate (client_gate.h): key commands refused because this node is not the
  // shard's primary, and writes refused by a planned switchover's write fence.
  w.add("anvil_refused_not_primary_reads", t.refused_not_primary_reads);
  w.add("anvil_refused_not_primary_writes", t.refused_not_primary_writes);
  w.add("anvil_refused_fenced_writes", t.refused_fenced_writes);
  w.add("anvil_auth_failure_closes", t.auth_failure_closes);
  w.add("anvil_sasl_derivations", t.sasl_derivations);
  w.add("anvil_sasl_cache_hits", t.sasl_cache_hits);
}

}  // namespace anvil::proto
