// Public API of the Anvil cache engine: memcached semantics over hash partitions
// (seqlock reads that take no lock, spinlocked writes) with log-structured segments.
//
// Ownership and threads (the contract every caller relies on):
// - One `engine` per process. Any thread that touches items opens its own `session`
//   (one per lcore, one for the snapshot thread, ...). A session is single-threaded:
//   it is movable, never shared, and its methods may only be called by its owner.
// - Reads take no lock and never write, but they are not lock-free: a reader spins while
//   a writer holds its bucket (seqlock). Writers take per-bucket spinlocks and, to
//   reserve space (and evict), their partition's allocation spinlock; waiters spin with
//   a pause, they do not sleep. No OS mutex, no global lock.
// - Views returned by a session (item_view::key/value) point into item memory and stay
//   valid until that session's next `quiescent()` call. Memory is reclaimed only after
//   every open session has passed a quiescent point (QSBR), so a session that stops
//   calling quiescent() stalls reclamation (never correctness); close idle sessions.
//   Between operations a session that holds no views is offline and blocks nothing. The
//   engine evicts a little ahead of need, but a session that keeps views across more
//   stores than that headroom can see no_memory: call quiescent() once per loop/burst.
// - Sessions must be destroyed before their engine.
// - Time comes from the injected `clock` (unix seconds); the engine never reads the
//   system clock itself. The server drives it monotonically (control/engine_clock.h).
// - Keys and values are arbitrary bytes carried in std::string_view.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace anvil::cache {

using cas_t = std::uint64_t;
// memcached wire expiry: 0 = never; <= 30 days (2,592,000 s) = relative seconds;
// larger = absolute unix time (already in the past = expired at once).
using exptime_t = std::uint32_t;

inline constexpr std::size_t kMaxKeyLength = 250;
inline constexpr exptime_t kMaxRelativeExptime = 2'592'000;

// The injected clock: whoever owns it (the control thread, a test) advances it.
class clock {
 public:
  explicit clock(std::uint32_t unix_now = 0) : _now(unix_now) {}
  std::uint32_t now() const { return _now.load(std::memory_order_relaxed); }
  void set(std::uint32_t unix_now) { _now.store(unix_now, std::memory_order_relaxed); }
  void advance(std::uint32_t seconds) { _now.fetch_add(seconds, std::memory_order_relaxed); }

 private:
  std::atomic<std::uint32_t> _now;
};

struct engine_config {
  std::size_t memory_limit_bytes = 64u << 20;  // hard cap on item memory (-m)
  std::size_t max_item_size = 1u << 20;        // largest key+value+header (-I)
  std::size_t partitions = 0;                  // power of two; 0 = chosen from cores
  bool numa_bind = true;                       // bind partition memory with hwloc
  const clock* time = nullptr;                 // required
  // Additions (after the original fields, so existing initializers keep compiling):
  std::size_t segment_size = 0;    // item arena segment; 0 = 1 MiB (raised to max_item_size;
                                   // the server passes cache::auto_segment_size instead)
  std::size_t expected_items = 0;  // sizes the hash index; 0 = memory_limit_bytes / 128
  // OS cpu ids of the threads that will serve (the lcores). With partitions == 0 their
  // count sets the partition count (next power of two, halved while memory is short);
  // empty = every PU of the machine. cache/sizing.h has the rules.
  std::vector<unsigned> cpus;
};

enum class status : std::uint8_t {
  ok,
  not_found,    // missing key; replace/cas/delete/touch/incr on a missing key
  exists,       // add on a present key; CAS mismatch
  not_stored,   // append/prepend on a missing key
  too_large,    // key+value over max_item_size (the old value is removed)
  non_numeric,  // incr/decr on a value that is not an ASCII decimal uint64
  no_memory,    // nothing evictable could make room (e.g. limit below one segment)
  bad_key,      // empty or longer than kMaxKeyLength
};

enum class store_mode : std::uint8_t { set, add, replace, append, prepend };

// A found item. `found == false` means a miss and the other fields are empty.
struct item_view {
  bool found = false;
  std::string_view key;
  std::string_view value;
  std::uint32_t flags = 0;
  cas_t cas = 0;
  // Additions for the meta commands (issue 16). The item state as it was *before* this
  // request touched it (memcached's h/l answer "hit before?" and "last access"):
  std::uint32_t expires_at = 0;   // absolute unix time, 0 = never
  std::uint32_t last_access = 0;  // unix time of the last hit, or of the store
  bool fetched = false;           // read since it was stored
  bool win_sent = false;          // a client already holds the recache token (Z)
  bool stale = false;             // invalidated: serve with X, recache (meta delete I)
  bool key_binary = false;        // stored with a base64 key (meta b)
};

// Extra store behaviour for the meta commands; the defaults are a plain store.
struct store_options {
  bool key_binary = false;  // remember that the key came base64-encoded
  // With expected_cas != 0 (set/replace): a CAS *older* than the item's still stores,
  // but the new item is stale, keeps the old expiry and recache-token state (ms I).
  bool invalidate = false;
  cas_t new_cas = 0;  // the CAS to give the new item (meta E); 0 = the next one
};

// Meta get (mg): one lookup that may also touch, vivify and hand out the recache token.
struct meta_get_args {
  bool bump = true;    // mark fetched + last access (false: memcached's u flag)
  bool touch = false;  // T: new expiry on a hit
  exptime_t touch_exptime = 0;
  bool vivify = false;  // N: on a miss, create an empty item with this expiry
  exptime_t vivify_exptime = 0;
  bool key_binary = false;  // the vivified item's key came base64-encoded
  bool recache = false;     // R: win when the remaining TTL is below recache_seconds
  exptime_t recache_exptime = 0;
  bool recache_after_touch = false;  // compare with the expiry after T (T came before R)
};

struct meta_get_result {
  item_view item;                    // the item after the request (touched copy), state before it
  bool created = false;              // vivified by this request
  bool won = false;                  // this request holds the recache token (W)
  std::uint32_t expires_before = 0;  // the expiry before T (absolute, 0 = never)
  bool no_memory = false;  // a touch or vivify could not get memory (the lookup still answers)
};

struct store_result {
  status st = status::ok;
  cas_t cas = 0;  // the new CAS on success
};

struct arith_result {
  status st = status::ok;
  std::uint64_t value = 0;  // the new value on success
  cas_t cas = 0;
  bool created = false;              // the key was missing and was created with `initial`
  std::uint32_t expires_at = 0;      // the item's expiry after the operation (0 = never)
  std::uint32_t expires_before = 0;  // ... and before it (an existing item; 0 = never)
};

// Extra incr/decr behaviour for meta arithmetic (ma); the defaults change nothing.
struct arith_options {
  bool set_exptime = false;  // T: give the item this expiry on success
  exptime_t exptime = 0;
  cas_t new_cas = 0;  // E: the CAS to give the result; 0 = the next one
};

// One live item as seen by iteration (snapshots) and fed back by restore.
struct item_record {
  std::string_view key;
  std::string_view value;
  std::uint32_t flags = 0;
  std::uint32_t expires_at = 0;  // absolute unix time, 0 = never
  cas_t cas = 0;
};

struct partition_stats {
  std::uint64_t items = 0;
  std::uint64_t bytes_used = 0;
  std::uint64_t bytes_limit = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t sets = 0;
  std::uint64_t evictions = 0;          // items dropped to make room
  std::uint64_t expired_reclaimed = 0;  // expired items reclaimed
  std::uint64_t cas_mismatches = 0;
  int numa_node = -1;  // where its memory is bound, -1 = unbound
  // Additions: memory held by segments in use (<= bytes_limit) and by the hash index
  // (a fixed overhead outside the limit, sized from expected_items).
  std::uint64_t segment_bytes = 0;
  std::uint64_t index_bytes = 0;
  // Index capacity in slots (7 per bucket): items / index_slots is its fullness. Past
  // ~80% an insert whose two buckets are full drops a resident item.
  std::uint64_t index_slots = 0;
  // Eviction work (never reset): items examined, and read items copied forward instead
  // of dropped (the CLOCK's second chance; cache/README.md, "Eviction").
  std::uint64_t evict_visited = 0;
  std::uint64_t evict_kept = 0;
};

class engine;

class session {
 public:
  session(session&&) noexcept;
  session& operator=(session&&) noexcept;
  session(const session&) = delete;
  session& operator=(const session&) = delete;
  ~session();

  item_view get(std::string_view key);
  // Batched lookup for a burst: out[i] answers keys[i]. Prefetches the next group's
  // buckets and items while probing the current group.
  void get_batch(std::span<const std::string_view> keys, std::span<item_view> out);

  // expected_cas != 0 turns any mode into compare-and-swap on that CAS (memcached
  // binary semantics: a missing key then gives not_found, a different CAS exists).
  // append/prepend keep the old flags and expiry and ignore `flags`/`exptime`.
  // Size limit: header (counted at its widest, 22 bytes) + key + value <= max_item_size.
  // An oversized set/add/replace/cas removes the old value; an append/prepend whose
  // result would be oversized returns too_large and keeps it.
  store_result store(store_mode mode, std::string_view key, std::string_view value,
                     std::uint32_t flags, exptime_t exptime, cas_t expected_cas = 0);
  store_result store(store_mode mode, std::string_view key, std::string_view value,
                     std::uint32_t flags, exptime_t exptime, cas_t expected_cas,
                     const store_options& opt);
  status remove(std::string_view key, cas_t expected_cas = 0);
  // Meta delete I: instead of removing, give the item a new CAS (opt.new_cas or the
  // next), mark it stale, clear its recache token, and with set_exptime a new expiry.
  // not_found / exists (CAS mismatch) / no_memory as for remove and store.
  store_result invalidate(std::string_view key, cas_t expected_cas, bool set_exptime,
                          exptime_t exptime, cas_t new_cas = 0);
  // incr wraps at 2^64, decr floors at 0. A missing key is created with `initial`
  // (flags 0) unless exptime == 0xffffffff, which gives not_found.
  arith_result incr_decr(std::string_view key, bool incr, std::uint64_t delta,
                         std::uint64_t initial, exptime_t exptime, cas_t expected_cas = 0);
  arith_result incr_decr(std::string_view key, bool incr, std::uint64_t delta,
                         std::uint64_t initial, exptime_t exptime, cas_t expected_cas,
                         const arith_options& opt);
  // Meta get: see meta_get_args. Counts a hit or a miss like get().
  meta_get_result meta_get(std::string_view key, const meta_get_args& args);
  // The item as it is, changing nothing (no hit/miss counted, not marked fetched): me.
  item_view peek(std::string_view key);
  store_result touch(std::string_view key, exptime_t exptime);
  item_view get_and_touch(std::string_view key, exptime_t exptime);
  // Invalidate every item stored before now + delay_seconds (0 = now). One pending
  // deadline: a later flush replaces an earlier pending one.
  void flush(std::uint32_t delay_seconds = 0);
  // The generation of the last flush applied to the partition that holds `key` (0: none
  // yet). A flush is applied to each partition once (at flush() for an immediate one, at
  // the partition's first access after the deadline for a delayed one), so a caller that
  // reads a different value after a store and a get than before knows a flush came in
  // between: a miss then is the flush's doing, not a lost item (the health canary).
  std::uint32_t applied_flush_generation(std::string_view key) const;

  // Iterate the live items of one partition concurrently with writers, taking no lock.
  // The session stays offline: it copies a chunk of a segment (at most 64 KiB, or one
  // larger item) into its own buffer under a hazard on that one segment, and the callback
  // runs on the copy, so a walk that waits (a slow disk) or is descheduled anywhere holds
  // back at most one segment's reuse (cache/walk.cc, qsbr.h). Each record's views are
  // valid during the callback only. Views handed out before end here; the callback must
  // not keep views of this session.
  void for_each_item(std::size_t partition, const std::function<void(const item_record&)>& fn);
  // Kept for callers written against the earlier walk (which was online in its
  // callback): a no-op now, as for_each_item's and for_each_stale's callbacks always run
  // offline.
  void walk_pause();
  // Snapshot consistency (issue 11): with record_walk(true), for_each_item remembers
  // where each record it reports lives (16 bytes per record, per partition, until
  // for_each_stale of that partition). for_each_stale then calls fn(i) for every i-th
  // reported record (0-based, in report order) that is no longer its key's live record:
  // deleted, flushed, expired or replaced since it was reported. Called after the walk
  // of every partition, the records it leaves out are exactly the snapshot's state at
  // that point: a delete or flush made during the walk is not undone by a restore, and
  // of a key reported more than once at most one record (the live one) remains.
  // With `refresh`: a key whose reported record was replaced (stored again, touched,
  // moved by eviction) and whose live record the walk did not report gets that live
  // record passed to refresh(), once per key, so the keys written most often during the
  // walk (the hottest) are in the snapshot with the value they have at the check. Views
  // are valid during the call (they point into a copy: the callback runs offline).
  void record_walk(bool on);
  void for_each_stale(std::size_t partition, const std::function<void(std::uint64_t)>& fn,
                      const std::function<void(const item_record&)>& refresh = {});

  // Insert an item exactly as recorded (snapshot restore): keeps its CAS and expiry.
  // Expired records are skipped and reported as not_found. A key that is already live
  // (stored since the restore began, so newer) is kept and the record reported as exists.
  status restore(const item_record& rec);

  // A quiescent point: views handed out before are invalid from here on.
  void quiescent();

 private:
  friend class engine;
  struct impl;
  explicit session(std::unique_ptr<impl> p);
  std::unique_ptr<impl> _impl;
};

class engine {
 public:
  explicit engine(const engine_config& cfg);
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // Throws std::runtime_error past 256 open sessions (closed sessions free their slot).
  session open_session();

  std::size_t partition_count() const;
  partition_stats stats(std::size_t partition) const;  // safe while writers run
  partition_stats total_stats() const;
  void reset_stats();  // hits/misses/sets/... back to 0 (items and bytes stay)

  // The CAS counter: snapshots save it, restore raises it so CAS values never repeat.
  cas_t cas_counter() const;
  void raise_cas_counter(cas_t at_least);

  const engine_config& config() const;

 private:
  friend class session;
  struct impl;
  std::unique_ptr<impl> _impl;
};

}  // namespace anvil::cache
