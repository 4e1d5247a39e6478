#include "io/snapshot_writer.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <thread>
#include <vector>

#include "io/crc32c.h"
#include "io/format.h"
#include "io/snapshot_files.h"
#include "io/uring.h"

namespace anvil::io {

namespace {

std::size_t round_up(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }

class writer {
 public:
  writer(item_source& src, const writer_config& cfg, std::uint64_t id, std::uint64_t created,
         const std::atomic<bool>* cancel, std::vector<abandoned_io>* abandoned)
      : _src(src), _cfg(cfg), _cancel(cancel), _abandoned(abandoned) {
    _res.snapshot_id = id;
    _info.node_id = cfg.node_id;
    _info.snapshot_id = id;
    _info.created_unix = created;
    _data_path = cfg.dir + "/" + data_name(id);
    _tmp_path = cfg.dir + "/" + manifest_tmp_name(id);
    _manifest_path = cfg.dir + "/" + manifest_name(id);
  }

  snapshot_result run() {
    const auto t0 = steady::now();
    try {
      _ring = std::make_unique<ring>(std::max(64u, _cfg.queue_depth * 2));
    } catch (const std::exception& e) {
      return fail_now(std::string("io_uring unavailable: ") + e.what(), ENOSYS);
    }
    if (open_data()) {
      const auto b0 = steady::now();
      const bool blocks = write_blocks();
      const auto b1 = steady::now();
      _res.blocks_seconds = std::chrono::duration<double>(b1 - b0).count();
      if (blocks && write_header() && sync_close_data() && write_manifest()) _res.ok = true;
      _res.finish_seconds = std::chrono::duration<double>(steady::now() - b1).count();
    }
    if (!_res.ok) cleanup();
    _res.seconds = std::chrono::duration<double>(steady::now() - t0).count();
    finish_ring();
    return _res;
  }

 private:
  struct slot {
    std::byte* buf = nullptr;
    bool busy = false;
    std::uint64_t off = 0;
    std::size_t len = 0;  // bytes still to write from buf + done
    std::size_t done = 0;
    int fixed = -1;  // registered buffer index, -1: plain write
  };

  snapshot_result fail_now(std::string reason, int err) {
    _res.ok = false;
    _res.reason = std::move(reason);
    _res.error = err;
    return _res;
  }

  // Records the first failure only: later ones are consequences.
  bool fail(const std::string& what, int negative_errno) {
    if (_failed) return false;
    _failed = true;
    _res.error = -negative_errno;
    if (negative_errno == -ETIME) {
      _res.stalled = true;
      _res.reason = what + ": I/O did not complete within " +
                    std::to_string(_cfg.io_timeout.count()) + " ms (filesystem stalled)";
    } else if (negative_errno == -ECANCELED) {
      _res.reason = what + ": cancelled (shutdown)";
    } else {
      _res.reason = what + ": " + errno_text(negative_errno);
      if (negative_errno == -ENOENT) _res.reason += " (snapshot directory missing?)";
    }
    return false;
  }

  bool cancelled() const { return _cancel != nullptr && _cancel->load(std::memory_order_relaxed); }

  int run_op(auto&& prep) { return _ring->run(_cfg.io_timeout, prep); }

  bool open_data() {
    const char* path = _ring->pin(_data_path);
    const int base = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
    int fd = -EINVAL;
    if (_cfg.direct_io) {
      fd = run_op(
          [&](io_uring_sqe* s) { io_uring_prep_openat(s, AT_FDCWD, path, base | O_DIRECT, 0644); });
      if (fd == -EINVAL)
        spdlog::info("snapshot: O_DIRECT refused by {} ; using buffered writes", _cfg.dir);
    }
    if (fd == -EINVAL) {
      fd = run_op([&](io_uring_sqe* s) { io_uring_prep_openat(s, AT_FDCWD, path, base, 0644); });
    } else if (fd >= 0) {
      _direct = true;
    }
    if (fd < 0) return fail("create " + _data_path, fd);
    _fd = fd;
    _created = true;
    if (_direct) check_dio_alignment();
    _res.direct = _direct;
    return true;
  }

  // O_DIRECT only when the filesystem states alignments we meet (statx DIOALIGN).
  void check_dio_alignment() {
    auto* stx = reinterpret_cast<struct statx*>(_ring->alloc_buffer(sizeof(struct statx), 64));
    const char* empty = _ring->pin("");
    const int rc = run_op([&](io_uring_sqe* s) {
      io_uring_prep_statx(s, _fd, empty, AT_EMPTY_PATH, STATX_DIOALIGN, stx);
    });
    bool ok = rc == 0 && (stx->stx_mask & STATX_DIOALIGN) != 0 && stx->stx_dio_mem_align != 0 &&
              stx->stx_dio_offset_align != 0 && stx->stx_dio_mem_align <= kHeaderSize &&
              stx->stx_dio_offset_align <= kHeaderSize;
    if (!ok) {
      spdlog::info(
          "snapshot: no usable direct I/O alignment on {} (statx rc={}); using buffered writes",
          _cfg.dir, rc);
      const int flags = fcntl(_fd, F_GETFL);
      if (flags < 0 || fcntl(_fd, F_SETFL, flags & ~O_DIRECT) < 0) {
        // Keep O_DIRECT with 4 KiB alignment, which every block device accepts.
        return;
      }
      _direct = false;
    }
  }

  // Token bucket on bytes written, so a snapshot leaves memory bandwidth to serving.
  void throttle(std::size_t bytes) {
    if (_cfg.rate_limit_bytes_per_sec == 0) return;
    const auto now = steady::now();
    if (_next_send < now) _next_send = now;
    while (steady::now() < _next_send && !cancelled()) {
      if (_pausable) _src.pause();
      std::this_thread::sleep_for(
          std::min<steady::duration>(_next_send - steady::now(), std::chrono::milliseconds(50)));
    }
    _next_send += std::chrono::nanoseconds(static_cast<std::int64_t>(
        static_cast<double>(bytes) * 1e9 / static_cast<double>(_cfg.rate_limit_bytes_per_sec)));
  }

  bool submit_write(slot& s) {
    const int fd = _fd;
    std::byte* p = s.buf + s.done;
    const auto len = static_cast<unsigned>(s.len);
    const std::uint64_t off = s.off + s.done;
    const std::uint64_t tag = static_cast<std::uint64_t>(&s - _slots.data());
    const int fixed = s.fixed;
    if (!_ring->push(tag, steady::now() + _cfg.io_timeout, [&](io_uring_sqe* q) {
          if (fixed >= 0) {
            io_uring_prep_write_fixed(q, fd, p, len, off, fixed);
          } else {
            io_uring_prep_write(q, fd, p, len, off);
          }
        })) {
      return fail("queue write", -EBUSY);
    }
    if (int rc = _ring->submit(); rc < 0) return fail("submit write", rc);
    s.busy = true;
    return true;
  }

  // Reaps one completion (bounded by the I/O deadlines; polls cancel).
  bool reap_one() {
    ring::completion c;
    const auto t0 = steady::now();
    struct add_wait {
      snapshot_result& r;
      steady::time_point t0;
      ~add_wait() {
        r.io_wait_seconds += std::chrono::duration<double>(steady::now() - t0).count();
      }
    } accounting{_res, t0};
    for (;;) {
      if (cancelled()) return fail("write " + _data_path, -ECANCELED);
      if (_pausable) _src.pause();
      const auto st = _ring->wait(c, steady::now() + std::chrono::milliseconds(100));
      if (st == ring::wait_status::stalled) return fail("write " + _data_path, -ETIME);
      if (st == ring::wait_status::completed) break;
    }
    if (c.tag >= _slots.size()) return true;
    slot& s = _slots[c.tag];
    s.busy = false;
    if (c.res < 0) return fail("write " + _data_path, c.res);
    if (c.res == 0) return fail("write " + _data_path, -ENOSPC);
    s.done += static_cast<std::size_t>(c.res);
    s.len -= static_cast<std::size_t>(c.res);
    if (s.len > 0) return submit_write(s);  // short write: the rest, or the real error
    return true;
  }

  bool drain() {
    for (;;) {
      bool any = false;
      for (auto& s : _slots) any |= s.busy;
      if (!any) return true;
      if (!reap_one()) return false;
    }
  }

  slot* free_slot() {
    for (;;) {
      for (auto& s : _slots)
        if (!s.busy) return &s;
      if (!reap_one()) return nullptr;
    }
  }

  bool start_block(std::uint32_t partition) {
    _cur = free_slot();
    if (_cur == nullptr) return false;
    _builder.reset({_cur->buf, _block_size}, _info.snapshot_id,
                   static_cast<std::uint32_t>(_info.block_count), partition);
    return true;
  }

  bool flush_block() {
    const std::uint32_t crc = _builder.seal();
    std::byte le[4];
    put_u32(le, crc);
    _blocks_crc = crc32c_chain(le);
    _info.item_count += _builder.item_count();
    _cur->off = kHeaderSize + _info.block_count * _block_size;
    _cur->len = _block_size;
    _cur->done = 0;
    ++_info.block_count;
    throttle(_block_size);
    slot* s = _cur;
    _cur = nullptr;
    return submit_write(*s);
  }

  std::uint32_t crc32c_chain(const std::byte* le);

  bool write_blocks() {
    _block_size =
        round_up(std::max(_cfg.block_size, kBlockHeaderSize + kRecordHeaderSize +
                                               cache::kMaxKeyLength + _src.max_item_size()),
                 kHeaderSize);
    _info.block_size = static_cast<std::uint32_t>(_block_size);
    _info.partition_count = static_cast<std::uint32_t>(_src.partition_count());
    _slots.resize(std::max(1u, _cfg.queue_depth));
    for (auto& s : _slots) s.buf = _ring->alloc_buffer(_block_size, kHeaderSize);
    // Fixed buffers: the kernel pins the block buffers once instead of on every write
    // (get_user_pages of 256 pages per 1 MiB write was ~12% of a snapshot's CPU).
    if (_cfg.fixed_buffers) {
      std::vector<std::byte*> bufs;
      for (auto& s : _slots) bufs.push_back(s.buf);
      if (const int rc = _ring->register_buffers(bufs, _block_size); rc == 0) {
        for (std::size_t i = 0; i < _slots.size(); ++i) _slots[i].fixed = static_cast<int>(i);
      } else {
        spdlog::info("snapshot: cannot register {} buffers ({}); plain writes", bufs.size(),
                     errno_text(rc));
      }
    }
    _header = _ring->alloc_buffer(kHeaderSize, kHeaderSize);
    for (std::size_t p = 0; p < _info.partition_count && !_failed; ++p) {
      _src.for_each_item(p, [&](const cache::item_record& rec) { add_record(rec, p); });
      _walked.push_back(_ordinal);  // records 0 .. _walked[p]-1 come from partitions <= p
    }
    if (_failed) return false;
    // After the whole walk: the records that stopped being their key's live record
    // during it (deleted, flushed, rewritten) are named in stale blocks, so a restore
    // does not bring them back; a key rewritten after its record was reported gets its
    // live record added (refreshed), so the keys written most often keep their newest
    // value instead of dropping out. Item blocks first, stale blocks last.
    std::vector<std::uint64_t> stale;
    for (std::size_t p = 0; p < _walked.size() && !_failed; ++p) {
      const std::uint64_t base = p == 0 ? 0 : _walked[p - 1];
      const std::uint64_t count = _walked[p] - base;
      _src.for_each_stale(
          p,
          [&](std::uint64_t i) {
            if (i < count) stale.push_back(base + i);
          },
          [&](const cache::item_record& rec) {
            ++_res.refreshed;
            add_record(rec, p);
          });
    }
    if (_failed) return false;
    if (_cur != nullptr && !_builder.empty() && !flush_block()) return false;
    return write_stale_blocks(stale) && drain();
  }

  // One record into the current block; a full block is written first. Called from the
  // source's callbacks, whose record views are valid during the call only.
  void add_record(const cache::item_record& rec, std::size_t p) {
    if (_failed) return;  // the iteration cannot be stopped early; it is cheap to finish
    if (cancelled()) {
      fail("write " + _data_path, -ECANCELED);
      return;
    }
    if (_cur != nullptr && _builder.fits(rec)) {
      _builder.add(rec);
      ++_ordinal;
      return;
    }
    // Getting a block may wait for the disk (or the rate limit). Keep a private copy
    // of the record and let the walk go offline meanwhile: a slow or hung disk must
    // never hold back the memory reclamation that serving depends on.
    _spill_key.assign(rec.key);
    _spill_value.assign(rec.value);
    cache::item_record copy = rec;
    copy.key = _spill_key;
    copy.value = _spill_value;
    _pausable = true;
    const bool ok = (_cur == nullptr || (!_builder.empty() && flush_block())) &&
                    start_block(static_cast<std::uint32_t>(p));
    _pausable = false;
    if (!ok) return;
    if (!_builder.fits(copy)) {  // cannot happen: blocks are sized for the largest item
      // A skipped record would shift every later ordinal the stale list names.
      fail("write " + _data_path + ": an item larger than a block", -EFBIG);
      return;
    }
    _builder.add(copy);
    ++_ordinal;
  }

  bool write_stale_blocks(const std::vector<std::uint64_t>& stale) {
    _res.stale = stale.size();
    const std::size_t cap = stale_capacity(_block_size);
    for (std::size_t at = 0; at < stale.size(); at += cap) {
      slot* s = free_slot();
      if (s == nullptr) return false;
      const std::size_t n = std::min(cap, stale.size() - at);
      const std::uint32_t crc =
          encode_stale_block({s->buf, _block_size}, _info.snapshot_id,
                             static_cast<std::uint32_t>(_info.block_count), {&stale[at], n});
      std::byte le[4];
      put_u32(le, crc);
      _blocks_crc = crc32c_chain(le);
      s->off = kHeaderSize + _info.block_count * _block_size;
      s->len = _block_size;
      s->done = 0;
      ++_info.block_count;
      throttle(_block_size);
      if (!submit_write(*s)) return false;
    }
    return true;
  }

  bool write_header() {
    // Read after the iteration: at least the CAS of every item written above.
    _info.cas_counter = _src.cas_counter();
    _header_crc = encode_header(_info, {_header, kHeaderSize});
    _slots.push_back(slot{_header, false, 0, kHeaderSize, 0, -1});
    if (!submit_write(_slots.back())) return false;
    return drain();
  }

  bool sync_close_data() {
    const int fd = _fd;
    const auto t0 = steady::now();
    int rc = run_op([&](io_uring_sqe* s) { io_uring_prep_fsync(s, fd, 0); });
    _res.data_sync_seconds = std::chrono::duration<double>(steady::now() - t0).count();
    if (rc < 0) return fail("fsync " + _data_path, rc);
    rc = run_op([&](io_uring_sqe* s) { io_uring_prep_close(s, fd); });
    _fd = -1;
    if (rc < 0) return fail("close " + _data_path, rc);
    return true;
  }

  bool write_manifest() {
    manifest m;
    m.info = _info;
    m.header_crc = _header_crc;
    m.blocks_crc = _blocks_crc;
    m.data_size = data_file_size(_info);
    std::byte* buf = _ring->alloc_buffer(kManifestSize, 64);
    encode_manifest(m, {buf, kManifestSize});
    const char* tmp = _ring->pin(_tmp_path);
    const char* fin = _ring->pin(_manifest_path);
    const char* dir = _ring->pin(_cfg.dir);
    int fd = run_op([&](io_uring_sqe* s) {
      io_uring_prep_openat(s, AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    });
    if (fd < 0) return fail("create " + _tmp_path, fd);
    _tmp_created = true;
    int rc = run_op([&](io_uring_sqe* s) { io_uring_prep_write(s, fd, buf, kManifestSize, 0); });
    if (rc >= 0 && rc != static_cast<int>(kManifestSize)) rc = -ENOSPC;
    if (rc >= 0) rc = run_op([&](io_uring_sqe* s) { io_uring_prep_fsync(s, fd, 0); });
    const int crc = run_op([&](io_uring_sqe* s) { io_uring_prep_close(s, fd); });
    if (rc < 0) return fail("write " + _tmp_path, rc);
    if (crc < 0) return fail("close " + _tmp_path, crc);
    rc = run_op([&](io_uring_sqe* s) { io_uring_prep_rename(s, tmp, fin); });
    if (rc < 0) return fail("rename " + _tmp_path, rc);
    _tmp_created = false;
    _manifest_created = true;
    // The rename is durable only once the directory is.
    const int dfd = run_op([&](io_uring_sqe* s) {
      io_uring_prep_openat(s, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    });
    if (dfd < 0) return fail("open " + _cfg.dir, dfd);
    rc = run_op([&](io_uring_sqe* s) { io_uring_prep_fsync(s, dfd, 0); });
    run_op([&](io_uring_sqe* s) { io_uring_prep_close(s, dfd); });
    if (rc < 0) return fail("fsync " + _cfg.dir, rc);
    _res.items = _info.item_count;
    _res.blocks = _info.block_count;
    _res.bytes = data_file_size(_info);
    _res.cas_counter = _info.cas_counter;
    return true;
  }

  // Removes what this attempt created. After a stall the files stay: unlinking a file
  // whose write is still in flight waits for that write's inode lock while holding the
  // directory's, which would wedge the directory (listing, creating) for every later
  // attempt. They are removed at the next start instead.
  void cleanup() {
    if (_ring && _ring->stuck()) {
      // A remote ring's fd lives in its anvil-iod child and closes when that child goes;
      // another ring (another process) could not close it.
      if (_fd >= 0 && !_ring->remote()) {
        // close() runs the filesystem's flush, which waits for the stuck write too: hand
        // it to a fresh ring and do not wait for it beyond a short deadline.
        try {
          auto r = std::make_unique<ring>(8);
          const int fd = _fd;
          r->run(std::chrono::milliseconds(100),
                 [&](io_uring_sqe* s) { io_uring_prep_close(s, fd); });
          if (r->stuck()) give_up(std::move(r), {});
        } catch (const std::exception&) {
        }
        _fd = -1;
      }
      _res.cleaned_up = !_created;
      return;
    }
    ring* r = _ring.get();
    std::optional<ring> fresh;
    if (r != nullptr) {
      ring::completion c;  // let the in-flight writes finish (bounded by their deadlines)
      while (r->inflight() > 0 && r->wait(c) != ring::wait_status::stalled) {
      }
    }
    if (r == nullptr || r->stuck()) {
      try {
        fresh.emplace(16);
        r = &*fresh;
      } catch (const std::exception&) {
        _res.cleaned_up = !_created;
        return;
      }
    }
    bool ok = true;
    if (_fd >= 0) {
      const int fd = _fd;
      r->run(_cfg.io_timeout, [&](io_uring_sqe* s) { io_uring_prep_close(s, fd); });
      _fd = -1;
    }
    auto unlink = [&](const std::string& path) {
      const char* p = r->pin(path);
      const int rc =
          r->run(_cfg.io_timeout, [&](io_uring_sqe* s) { io_uring_prep_unlink(s, p, 0); });
      if (rc < 0 && rc != -ENOENT) ok = false;
    };
    if (_manifest_created) unlink(_manifest_path);
    if (_tmp_created) unlink(_tmp_path);
    if (_created) unlink(_data_path);
    _res.cleaned_up = ok;
    if (fresh && fresh->stuck()) {
      ++_res.rings_abandoned;
      _res.bytes_leaked += fresh->pinned_bytes();
    }
  }

  void finish_ring() {
    if (_ring && _ring->stuck()) {
      std::vector<std::string> files;
      if (_created) files.push_back(_data_path);
      if (_tmp_created) files.push_back(_tmp_path);
      give_up(std::move(_ring), std::move(files));
    }
    _ring.reset();
  }

  void give_up(std::unique_ptr<ring> r, std::vector<std::string> files) {
    ++_res.rings_abandoned;
    if (_abandoned != nullptr) {
      _abandoned->push_back({std::move(r), std::move(files)});
    } else {
      _res.bytes_leaked += r->pinned_bytes();  // r's destructor leaks what it pinned
    }
  }

  item_source& _src;
  const writer_config& _cfg;
  const std::atomic<bool>* _cancel;
  std::vector<abandoned_io>* _abandoned;
  snapshot_result _res;
  snapshot_info _info;
  std::string _data_path, _tmp_path, _manifest_path;
  std::unique_ptr<ring> _ring;
  bool _pausable = false;  // inside the walk, with the record copied: waits may pause it
  std::string _spill_key, _spill_value;
  int _fd = -1;
  bool _direct = false;
  bool _created = false, _tmp_created = false, _manifest_created = false;
  bool _failed = false;
  std::size_t _block_size = 0;
  std::vector<slot> _slots;
  slot* _cur = nullptr;
  std::byte* _header = nullptr;
  block_builder _builder;
  std::uint32_t _blocks_crc = 0;
  std::uint32_t _header_crc = 0;
  std::uint64_t _ordinal = 0;          // item records added so far (file order)
  std::vector<std::uint64_t> _walked;  // _ordinal after each partition's walk
  steady::time_point _next_send{};
};

std::uint32_t writer::crc32c_chain(const std::byte* le) { return crc32c(le, 4, _blocks_crc); }

}  // namespace

snapshot_result write_snapshot(item_source& src, const writer_config& cfg,
                               std::uint64_t snapshot_id, std::uint64_t created_unix,
                               const std::atomic<bool>* cancel,
                               std::vector<abandoned_io>* abandoned) {
  writer w(src, cfg, snapshot_id, created_unix, cancel, abandoned);
  return w.run();
}

}  // namespace anvil::io
