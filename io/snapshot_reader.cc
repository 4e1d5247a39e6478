#include "io/snapshot_reader.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "io/crc32c.h"
#include "io/format.h"
#include "io/snapshot_files.h"
#include "io/uring.h"

namespace anvil::io {

namespace {

// Buffers handed from the reading thread to the inserting threads and back.
struct handoff {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::deque<std::size_t>> queues;  // per inserter: buffer indexes to insert
  std::vector<std::size_t> free;                // buffers ready for the next read
  bool closing = false;
};

class reader {
 public:
  reader(const restore_config& cfg, std::uint64_t id) : _cfg(cfg), _id(id) {
    _manifest_path = cfg.dir + "/" + manifest_name(id);
    _data_path = cfg.dir + "/" + data_name(id);
  }
  ~reader() { close_data(); }

  bool stalled() const { return _stalled; }
  const std::string& reason() const { return _reason; }
  const manifest& info() const { return _m; }
  std::uint64_t bytes_read() const { return _bytes_read; }

  bool open() {
    try {
      _ring.emplace(std::max(64u, _cfg.queue_depth * 2));
    } catch (const std::exception& e) {
      return fail(std::string("io_uring unavailable: ") + e.what());
    }
    return read_manifest() && open_data() && read_header();
  }

  // Pass 1: every block's checksum and records, the chain of block CRCs.
  bool verify() { return scan(nullptr); }

  struct load_stats {
    std::uint64_t restored = 0, expired = 0, not_stored = 0, stale = 0;
    cache::cas_t max_cas = 0;
  };
  // Pass 2: the same reads, blocks handed to inserting threads.
  bool load(item_sink& sink, unsigned threads, load_stats& st) {
    handoff h;
    h.queues.resize(threads);
    std::vector<load_stats> per(threads);
    std::vector<std::thread> workers;
    _handoff = &h;
    for (unsigned t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] { insert_loop(sink, h, t, per[t]); });
    }
    const bool ok = scan(&h);
    {
      std::lock_guard lk(h.m);
      h.closing = true;
    }
    h.cv.notify_all();
    for (auto& w : workers) w.join();
    _handoff = nullptr;
    for (auto& p : per) {
      st.restored += p.restored;
      st.expired += p.expired;
      st.not_stored += p.not_stored;
      st.stale += p.stale;
      st.max_cas = std::max(st.max_cas, p.max_cas);
    }
    return ok;
  }

 private:
  bool fail(std::string why) {
    if (_reason.empty()) _reason = std::move(why);
    return false;
  }
  bool fail_io(const std::string& what, int rc) {
    if (rc == -ETIME) {
      _stalled = true;
      return fail(what + ": I/O did not complete within " +
                  std::to_string(_cfg.io_timeout.count()) + " ms (filesystem stalled)");
    }
    return fail(what + ": " + errno_text(rc));
  }
  int run_op(auto&& prep) { return _ring->run(_cfg.io_timeout, prep); }

  bool read_manifest() {
    const char* path = _ring->pin(_manifest_path);
    const int fd = run_op(
        [&](io_uring_sqe* s) { io_uring_prep_openat(s, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0); });
    if (fd == -ENOENT) return fail("no manifest (incomplete or interrupted snapshot)");
    if (fd < 0) return fail_io("open " + _manifest_path, fd);
    std::byte* buf = _ring->alloc_buffer(kManifestSize + 1, 64);
    const int n =
        run_op([&](io_uring_sqe* s) { io_uring_prep_read(s, fd, buf, kManifestSize + 1, 0); });
    run_op([&](io_uring_sqe* s) { io_uring_prep_close(s, fd); });
    if (n < 0) return fail_io("read " + _manifest_path, n);
    _bytes_read += static_cast<std::uint64_t>(n);
    format_error err;
    if (!decode_manifest({buf, static_cast<std::size_t>(n)}, _m, err)) return fail(err.reason);
    if (_m.info.node_id != _cfg.node_id) {
      return fail("foreign node id " + std::to_string(_m.info.node_id) + " (this node is " +
                  std::to_string(_cfg.node_id) + ")");
    }
    if (_m.info.snapshot_id != _id) return fail("manifest names another snapshot id");
    return true;
  }

  bool open_data() {
    const char* path = _ring->pin(_data_path);
    int fd = -EINVAL;
    if (_cfg.direct_io) {
      fd = run_op([&](io_uring_sqe* s) {
        io_uring_prep_openat(s, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_DIRECT, 0);
      });
    }
    if (fd == -EINVAL) {
      fd = run_op([&](io_uring_sqe* s) {
        io_uring_prep_openat(s, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
      });
    }
    if (fd == -ENOENT) return fail("data file missing");
    if (fd < 0) return fail_io("open " + _data_path, fd);
    _fd = fd;
    auto* stx = reinterpret_cast<struct statx*>(_ring->alloc_buffer(sizeof(struct statx), 64));
    const char* empty = _ring->pin("");
    const int rc = run_op([&](io_uring_sqe* s) {
      io_uring_prep_statx(s, fd, empty, AT_EMPTY_PATH, STATX_SIZE | STATX_DIOALIGN, stx);
    });
    if (rc < 0) return fail_io("statx " + _data_path, rc);
    const bool dio_ok = (stx->stx_mask & STATX_DIOALIGN) != 0 && stx->stx_dio_mem_align != 0 &&
                        stx->stx_dio_offset_align != 0 && stx->stx_dio_mem_align <= kHeaderSize &&
                        stx->stx_dio_offset_align <= kHeaderSize;
    if (!dio_ok) {
      const int fl = fcntl(fd, F_GETFL);
      if (fl >= 0 && (fl & O_DIRECT) != 0) (void)fcntl(fd, F_SETFL, fl & ~O_DIRECT);
    }
    if (stx->stx_size != _m.data_size) {
      return fail("data file truncated or resized: " + std::to_string(stx->stx_size) +
                  " bytes, manifest says " + std::to_string(_m.data_size));
    }
    return true;
  }

  void close_data() {
    if (_fd >= 0 && _ring && !_ring->stuck()) {
      const int fd = _fd;
      run_op([&](io_uring_sqe* s) { io_uring_prep_close(s, fd); });
    }
    _fd = -1;
  }

  bool read_header() {
    std::byte* page = _ring->alloc_buffer(kHeaderSize, kHeaderSize);
    const int fd = _fd;
    const int n = run_op([&](io_uring_sqe* s) { io_uring_prep_read(s, fd, page, kHeaderSize, 0); });
    if (n < 0) return fail_io("read header " + _data_path, n);
    _bytes_read += static_cast<std::uint64_t>(n);
    if (n != static_cast<int>(kHeaderSize)) return fail("header: short read (truncated)");
    snapshot_info h;
    std::uint32_t crc = 0;
    format_error err;
    if (!decode_header({page, kHeaderSize}, h, crc, err)) return fail(err.reason);
    const auto& m = _m.info;
    if (crc != _m.header_crc || h.node_id != m.node_id || h.snapshot_id != m.snapshot_id ||
        h.cas_counter != m.cas_counter || h.item_count != m.item_count ||
        h.block_count != m.block_count || h.block_size != m.block_size) {
      return fail("header does not match the manifest");
    }
    return true;
  }

  // Reads every block in order of submission with queue_depth reads in flight; checks
  // each; with a handoff, deals checked blocks out to the inserting threads.
  bool scan(handoff* h) {
    const std::size_t bs = _m.info.block_size;
    const std::uint64_t count = _m.info.block_count;
    const unsigned qd = std::max(1u, _cfg.queue_depth);
    const std::size_t nbuf = qd + (h ? 2 * h->queues.size() : 0);
    if (_bufs.size() < nbuf) {
      while (_bufs.size() < nbuf) _bufs.push_back(_ring->alloc_buffer(bs, kHeaderSize));
    }
    std::vector<std::uint32_t> crcs(count);
    std::vector<std::uint32_t> counts(count);  // records (item blocks) or 0
    std::vector<char> stale_block(count, 0);
    if (!h) _stale.assign((_m.info.item_count + 63) / 64, 0);
    std::vector<std::uint64_t> block_of(nbuf);
    std::vector<std::size_t> local_free;
    if (h) {
      std::lock_guard lk(h->m);
      h->free.clear();
      for (std::size_t i = 0; i < nbuf; ++i) h->free.push_back(i);
    } else {
      for (std::size_t i = 0; i < nbuf; ++i) local_free.push_back(i);
    }
    std::uint64_t next = 0, done = 0;
    unsigned outstanding = 0;
    std::uint64_t items = 0;
    auto take_free = [&](bool block_wait) -> std::optional<std::size_t> {
      if (!h) {
        if (local_free.empty()) return std::nullopt;
        const std::size_t b = local_free.back();
        local_free.pop_back();
        return b;
      }
      std::unique_lock lk(h->m);
      if (block_wait)
        h->cv.wait_for(lk, std::chrono::milliseconds(20), [&] { return !h->free.empty(); });
      if (h->free.empty()) return std::nullopt;
      const std::size_t b = h->free.back();
      h->free.pop_back();
      return b;
    };
    while (done < count) {
      while (next < count && outstanding < qd) {
        auto b = take_free(outstanding == 0);
        if (!b) break;
        std::byte* buf = _bufs[*b];
        const std::uint64_t off = kHeaderSize + next * bs;
        const int fd = _fd;
        block_of[*b] = next;
        _ring->push(*b, steady::now() + _cfg.io_timeout, [&](io_uring_sqe* s) {
          io_uring_prep_read(s, fd, buf, static_cast<unsigned>(bs), off);
        });
        ++next;
        ++outstanding;
      }
      if (outstanding == 0) continue;  // every buffer is with the inserters
      if (int rc = _ring->submit(); rc < 0) return fail_io("submit read", rc);
      ring::completion c;
      const auto st = _ring->wait(c);
      if (st == ring::wait_status::stalled) return fail_io("read " + _data_path, -ETIME);
      if (st != ring::wait_status::completed) continue;
      --outstanding;
      const std::size_t b = c.tag;
      const std::uint64_t idx = block_of[b];
      if (c.res < 0) return fail_io("read block " + std::to_string(idx), c.res);
      _bytes_read += static_cast<std::uint64_t>(c.res);
      if (static_cast<std::size_t>(c.res) != bs) {
        return fail("block " + std::to_string(idx) + ": short read (truncated)");
      }
      block_view v;
      format_error err;
      if (!check_block({_bufs[b], bs}, _id, static_cast<std::uint32_t>(idx), v, err))
        return fail(err.reason);
      crcs[idx] = v.crc;
      if (v.stale) {
        stale_block[idx] = 1;
        if (h) {  // pass 2: nothing to insert; the ordinals were taken in pass 1
          std::lock_guard lk(h->m);
          h->free.push_back(b);
          h->cv.notify_all();
        } else {
          for (std::uint32_t i = 0; i < v.item_count; ++i) {
            const std::uint64_t o = get_u64(v.payload.data() + 8 * std::size_t{i});
            if (o >= _m.info.item_count)
              return fail("block " + std::to_string(idx) + ": stale ordinal " + std::to_string(o) +
                          " past the " + std::to_string(_m.info.item_count) + " items");
            _stale[o / 64] |= std::uint64_t{1} << (o % 64);
          }
          local_free.push_back(b);
        }
        ++done;
        continue;
      }
      counts[idx] = v.item_count;
      items += v.item_count;
      if (h) {
        std::lock_guard lk(h->m);
        h->queues[v.partition % h->queues.size()].push_back(b);
        h->cv.notify_all();
      } else {
        if (!for_each_record(
                v, [](const cache::item_record&) {}, err))
          return fail(err.reason);
        local_free.push_back(b);
      }
      ++done;
    }
    std::uint32_t chain = 0;
    for (const std::uint32_t c : crcs) {
      std::byte le[4];
      put_u32(le, c);
      chain = crc32c(le, 4, chain);
    }
    if (chain != _m.blocks_crc) return fail("block checksums do not match the manifest");
    if (items != _m.info.item_count) return fail("item count does not match the manifest");
    if (!h) {
      // Item blocks first, then stale blocks; the ordinal of a block's first record.
      _first.assign(count, 0);
      std::uint64_t ordinal = 0;
      for (std::uint64_t i = 0; i < count; ++i) {
        if (i > 0 && stale_block[i - 1] && !stale_block[i])
          return fail("block " + std::to_string(i) + ": item block after a stale block");
        _first[i] = ordinal;
        ordinal += counts[i];
      }
    }
    return true;
  }

  void insert_loop(item_sink& sink, handoff& h, unsigned me, load_stats& st) {
    auto ins = sink.open_inserter();
    const std::size_t bs = _m.info.block_size;
    for (;;) {
      std::size_t b;
      {
        std::unique_lock lk(h.m);
        h.cv.wait(lk, [&] { return h.closing || !h.queues[me].empty(); });
        if (h.queues[me].empty()) return;
        b = h.queues[me].front();
        h.queues[me].pop_front();
      }
      block_view v;
      format_error err;
      const std::span<const std::byte> blk{_bufs[b], bs};
      // Checked already by the reader; parse the view again on this thread.
      if (check_block(blk, _id, get_u32(blk.data() + 16), v, err) && !v.stale &&
          v.index < _first.size())
        try {
          std::uint64_t ordinal = _first[v.index];
          for_each_record(
              v,
              [&](const cache::item_record& r) {
                st.max_cas = std::max(st.max_cas, r.cas);
                const std::uint64_t o = ordinal++;
                if ((_stale[o / 64] >> (o % 64)) & 1) {
                  ++st.stale;  // deleted, flushed or rewritten during the walk
                } else if (r.expires_at != 0 && r.expires_at <= _cfg.now_unix) {
                  ++st.expired;
                } else if (ins->insert(r)) {
                  ++st.restored;
                } else {
                  ++st.not_stored;
                }
              },
              err);
        } catch (const std::exception& e) {  // the sink failed: count, keep going
          ++st.not_stored;
          spdlog::warn("restore: inserting a block failed: {}", e.what());
        }
      {
        std::lock_guard lk(h.m);
        h.free.push_back(b);
      }
      h.cv.notify_all();
    }
  }

  const restore_config& _cfg;
  std::uint64_t _id;
  std::string _manifest_path, _data_path;
  std::optional<ring> _ring;
  int _fd = -1;
  manifest _m;
  std::string _reason;
  bool _stalled = false;
  std::uint64_t _bytes_read = 0;
  std::vector<std::byte*> _bufs;
  handoff* _handoff = nullptr;
  std::vector<std::uint64_t> _stale;  // bit per item record: stale (pass 1 fills it)
  std::vector<std::uint64_t> _first;  // per block: ordinal of its first record
};

}  // namespace

std::string verify_snapshot(const restore_config& cfg, std::uint64_t id) {
  reader r(cfg, id);
  if (r.open() && r.verify()) return "";
  return r.reason();
}

restore_result restore_latest(item_sink& sink, const restore_config& cfg, storage_health* health) {
  restore_result res;
  const auto t0 = steady::now();
  const std::string dir = cfg.dir;
  auto l = list_snapshots_within(dir, cfg.io_timeout, health);
  if (!l) {
    res.cold_start_reason = "listing " + cfg.dir + " did not complete within " +
                            std::to_string(cfg.io_timeout.count()) + " ms (filesystem stalled)";
    if (health) health->set_degraded("restore: " + res.cold_start_reason);
  } else if (!l->ok) {
    res.cold_start_reason = "cannot list " + cfg.dir + ": " + errno_text(l->err);
  } else {
    const unsigned threads =
        cfg.threads != 0 ? cfg.threads : std::max(1u, std::thread::hardware_concurrency());
    for (auto it = l->entries.rbegin(); it != l->entries.rend() && !res.restored; ++it) {
      const std::uint64_t id = it->id;
      if (!it->manifest) {
        res.rejected.push_back({id, "no manifest (incomplete or interrupted snapshot)"});
        spdlog::warn(
            "restore: snapshot {} rejected: no manifest (incomplete or interrupted snapshot)", id);
        continue;
      }
      reader r(cfg, id);
      const auto tv = steady::now();
      bool verified = false;
      try {
        verified = r.open() && r.verify();
      } catch (const std::exception& e) {  // e.g. no memory for buffers: never a crash loop
        res.rejected.push_back({id, std::string("cannot read: ") + e.what()});
        spdlog::warn("restore: snapshot {} rejected: {}", id, res.rejected.back().reason);
        continue;
      }
      if (verified) {
        res.verify_seconds = std::chrono::duration<double>(steady::now() - tv).count();
        reader::load_stats st;
        if (r.load(sink, threads, st)) {
          const cache::cas_t cas = std::max<cache::cas_t>(r.info().info.cas_counter, st.max_cas);
          sink.raise_cas_counter(cas);
          res.restored = true;
          res.snapshot_id = id;
          res.items_in_snapshot = r.info().info.item_count;
          res.items_restored = st.restored;
          res.items_expired = st.expired;
          res.items_not_stored = st.not_stored;
          res.items_stale = st.stale;
          res.cas_counter = cas;
          res.data_bytes = r.info().data_size;
          res.bytes_read = r.bytes_read();
          break;
        }
        // Changed between the passes: some items may be in; the reason says so.
        res.rejected.push_back({id, r.reason() + " (during load; items of it may be present)"});
      } else {
        res.rejected.push_back({id, r.reason()});
      }
      spdlog::warn("restore: snapshot {} rejected: {}", id, res.rejected.back().reason);
      if (r.stalled()) {
        res.cold_start_reason = "filesystem stalled while reading snapshot " + std::to_string(id);
        if (health) {
          health->add(storage_health::io_stalls);
          health->set_degraded("restore: " + res.rejected.back().reason);
        }
        break;
      }
    }
    if (!res.restored && res.cold_start_reason.empty()) {
      res.cold_start_reason =
          res.rejected.empty() ? "no snapshot in " + cfg.dir : "no valid snapshot in " + cfg.dir;
    }
  }
  res.seconds = std::chrono::duration<double>(steady::now() - t0).count();
  if (res.restored) {
    spdlog::info(
        "restore: snapshot {} restored: {} items ({} expired, {} stale skipped), CAS counter {}, "
        "{:.3f} s",
        res.snapshot_id, res.items_restored, res.items_expired, res.items_stale, res.cas_counter,
        res.seconds);
    if (health) {
      health->put(storage_health::restored_items, res.items_restored);
      health->put(storage_health::restored_snapshot_id, res.snapshot_id);
    }
  } else {
    spdlog::warn("restore: cold start: {}", res.cold_start_reason);
  }
  return res;
}

}  // namespace anvil::io
