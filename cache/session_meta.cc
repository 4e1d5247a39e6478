// Session operations behind memcached's meta commands (issue 16): meta get with touch,
// vivify-on-miss and the recache token (N/R/T, W/X/Z), invalidation (meta delete I)
// and a side-effect-free peek (me). Same write pattern as session.cc: read lock-free ->
// reserve -> write the whole new item -> lock the key's buckets -> re-check -> link.
// The recache token is handed out under the key's bucket locks with an atomic
// fetch_or on the item's state word, so of concurrent clients exactly one sees W.
#include <cstring>

#include "cache/engine_impl.h"
#include "cache/semantics.h"

namespace anvil::cache {

namespace {
bool bad_key(std::string_view key) { return key.empty() || key.size() > kMaxKeyLength; }
}  // namespace

item_view session::peek(std::string_view key) {
  impl& s = *_impl;
  if (bad_key(key)) return {};
  impl::scope scope(s);
  const std::uint32_t now = s.e->now();
  impl::located l = s.locate(key);
  s.check_flush(l.p, now);
  const std::uint64_t slot = l.part->find(l.k, key);
  if (slot == 0) return {};
  const std::byte* p = l.part->at(slot_offset(slot));
  const item_fields f = read_item(p);
  if (!l.part->live(slot_offset(slot), f, now)) return {};
  s.note_view(l.p, slot_offset(slot));
  return s.view_of(p, f);
}

// Links an empty item for `key` that carries the recache token (mg N). Returns its slot,
// or the slot of a live item that another writer linked first (*created false), or 0
// without memory.
std::uint64_t session::impl::vivify(located& l, std::string_view key, exptime_t exptime,
                                    bool key_binary, std::uint32_t now, bool* created) {
  op_ctx c = ctx(l.p, now);
  *created = false;
  const std::uint32_t exp = absolute_expiry(exptime, now);
  const std::uint64_t cas = next_cas();
  const reservation r = l.part->reserve(item_size(key, 0, cas, 0, exp), exp, c);
  if (!r.ok()) return 0;
  write_head(r, key, 0, cas, 0, exp,
             fresh_state(item_state::kWinSent | (key_binary ? item_state::kKeyBinary : 0), now));
  std::uint64_t result = 0;
  {
    pair_lock lk(*l.part, l.k);
    auto* cur = l.part->find_locked(l.k, key);
    if (cur) {
      const std::uint64_t sv = cur->load(std::memory_order_relaxed);
      const item_fields f = read_item(l.part->at(slot_offset(sv)));
      if (l.part->live(slot_offset(sv), f, now)) {
        result = sv;  // lost the race to a store: answer with that item
      } else {
        l.part->unlink_locked(cur, c, l.part->dead_reason(f, now));
        cur = nullptr;
      }
    }
    if (result == 0) {
      result = make_slot(l.k.tag, r.off);
      l.part->insert_locked(l.k, result, c);
      *created = true;
    }
  }
  l.part->commit(r);
  return result;
}

meta_get_result session::meta_get(std::string_view key, const meta_get_args& a) {
  impl& s = *_impl;
  meta_get_result res;
  if (bad_key(key)) return res;
  impl::scope scope(s);
  const std::uint32_t now = s.e->now();
  impl::located l = s.locate(key);
  s.check_flush(l.p, now);
  part_counters& c = s.ctr[l.p];
  std::uint64_t slot = l.part->find(l.k, key);
  if (slot != 0 && !l.part->live(slot_offset(slot), read_item(l.part->at(slot_offset(slot))), now))
    slot = 0;
  if (slot == 0 && a.vivify) {
    slot = s.vivify(l, key, a.vivify_exptime, a.key_binary, now, &res.created);
    if (slot == 0) res.no_memory = true;
  }
  if (slot == 0) {
    bump(c.misses);
    return res;
  }
  const std::byte* p = l.part->at(slot_offset(slot));
  item_fields f = read_item(p);
  res.item = s.view_of(p, f);  // the state before this request
  res.expires_before = f.expires_at;
  if (a.touch && !res.created) {
    bool no_memory = false;
    item_fields nf;
    const std::uint64_t ns = s.touch_item(l, key, a.touch_exptime, now, &nf, &no_memory);
    if (ns != 0) {
      slot = ns;
      p = l.part->at(slot_offset(slot));
      f = nf;
      res.item.expires_at = f.expires_at;
      res.item.value = item_value(p, f);
      res.item.key = item_key(p, f);
    } else if (no_memory) {
      res.no_memory = true;
    } else {
      // Deleted between the lookup and the touch: a miss after all.
      res = meta_get_result{};
      bump(c.misses);
      return res;
    }
  }
  if (res.created) {
    res.won = true;  // the vivified item was written with the token
  } else {
    const item_view& pre = res.item;
    const std::uint32_t exp_r = a.recache_after_touch ? f.expires_at : res.expires_before;
    const std::uint32_t recache_at = absolute_expiry(a.recache_exptime, now);
    const bool want =
        !pre.win_sent && ((a.recache && exp_r != 0 && exp_r < recache_at) || pre.stale);
    if (want) {
      pair_lock lk(*l.part, l.k);
      auto* cur = l.part->find_locked(l.k, key);
      if (cur && cur->load(std::memory_order_relaxed) == slot) {
        const std::uint32_t old =
            item_state::word(p).fetch_or(item_state::kWinSent, std::memory_order_relaxed);
        res.won = (old & item_state::kWinSent) == 0;
        if (!res.won) res.item.win_sent = true;  // another client won meanwhile: Z
      }
    }
  }
  bump(res.created ? c.misses : c.hits);
  s.note_view(l.p, slot_offset(slot));
  if (a.bump) {
    l.part->note_access(slot_offset(slot));
    s.mark_fetched(p, now);
  }
  return res;
}

store_result session::invalidate(std::string_view key, cas_t expected_cas, bool set_exptime,
                                 exptime_t exptime, cas_t new_cas) {
  impl& s = *_impl;
  if (bad_key(key)) return {status::bad_key, 0};
  impl::scope scope(s);
  const std::uint32_t now = s.e->now();
  impl::located l = s.locate(key);
  s.check_flush(l.p, now);
  op_ctx ctx = s.ctx(l.p, now);
  for (;;) {
    const std::uint64_t sl = l.part->find(l.k, key);
    if (sl == 0) return {status::not_found, 0};
    const item_fields f = read_item(l.part->at(slot_offset(sl)));
    if (!l.part->live(slot_offset(sl), f, now)) return {status::not_found, 0};
    if (expected_cas != 0 && f.cas != expected_cas) {
      bump(ctx.ctr->cas_mismatches);
      return {status::exists, 0};
    }
    const std::uint32_t exp = set_exptime ? absolute_expiry(exptime, now) : f.expires_at;
    const std::uint64_t cas = new_cas != 0 ? new_cas : s.next_cas();
    const reservation r = l.part->reserve(item_size(key, f.value_len, cas, f.flags, exp), exp, ctx);
    if (!r.ok()) return {status::no_memory, 0};
    std::byte* vp = write_head(r, key, f.value_len, cas, f.flags, exp, 0);
    bool done = false;
    {
      pair_lock lk(*l.part, l.k);
      auto* cur = l.part->find_locked(l.k, key);
      if (cur && cur->load(std::memory_order_relaxed) == sl) {
        const std::byte* op = l.part->at(slot_offset(sl));
        const item_fields cf = read_item(op);
        if (cf.cas == f.cas) {
          const std::string_view v = item_value(op, cf);
          if (!v.empty()) std::memcpy(vp, v.data(), v.size());
          // Stale, and the token is free again: the next reader wins the recache.
          const std::uint32_t w = item_state::load(op);
          item_state::store(r.p, (w | item_state::kStale) & ~item_state::kWinSent);
          l.part->replace_locked(cur, make_slot(l.k.tag, r.off), ctx);
          done = true;
        }
      }
    }
    l.part->commit(r);
    if (done) return {status::ok, cas};
  }
}

}  // namespace anvil::cache
