// Per-core buffer memory for TCP connections. `buffer_pool` hands out fixed-size
// chunks carved from one page-aligned mapping made at start-up (never on the packet
// path); `byte_buffer` is a compacting linear buffer over one chunk: the bytes in use are
// always contiguous ([head, tail)), which is what the protocol parser wants to see
// and what lets a segment's payload be one span. Owned by one lcore; not thread-safe.
// Memory: pages are faulted in only as far as a connection's data reaches (chunks are
// sized for the largest item, ~1 MiB). A released chunk larger than kKeepResident is
// queued for trimming: trim(), called by the lcore when it is idle (never per request),
// returns its pages past kKeepResident to the OS (MADV_DONTNEED), unless the chunk was
// acquired again first. So one burst of large requests does not pin its pages for the
// life of the process.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

namespace anvil::net {

class buffer_pool {
 public:
  static constexpr std::size_t kKeepResident = 64 * 1024;  // a page-multiple

  buffer_pool(std::size_t count, std::size_t chunk_size)
      : _chunk(chunk_size),
        _bytes(count * chunk_size),
        _trimmable(chunk_size > kKeepResident &&
                   chunk_size % static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) == 0),
        _queued(count, kIdle) {
    if (_bytes) {
      void* m = ::mmap(nullptr, _bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (m == MAP_FAILED) throw std::bad_alloc();
      _mem = static_cast<std::byte*>(m);
    }
    _free.reserve(count);
    _trim.reserve(count);
    for (std::size_t i = count; i-- > 0;) _free.push_back(_mem + i * chunk_size);
  }
  ~buffer_pool() {
    if (_mem) ::munmap(_mem, _bytes);
  }
  buffer_pool(const buffer_pool&) = delete;
  buffer_pool& operator=(const buffer_pool&) = delete;

  std::byte* acquire() {
    if (_free.empty()) return nullptr;
    std::byte* p = _free.back();
    _free.pop_back();
    std::uint8_t& q = _queued[index(p)];
    if (q == kQueued) q = kStale;  // in use again: its pages are wanted, skip its entry
    return p;
  }
  void release(std::byte* p) {
    if (!p) return;
    _free.push_back(p);  // capacity reserved up front: never reallocates
    if (!_trimmable) return;
    const std::size_t i = index(p);
    if (_queued[i] == kIdle)  // each chunk is in _trim at most once: capacity suffices
      _trim.push_back(static_cast<std::uint32_t>(i));
    _queued[i] = kQueued;
  }
  // Returns the pages past kKeepResident of up to `max` released chunks that are still
  // free; the number trimmed. A syscall each: call it when idle.
  std::size_t trim(std::size_t max) {
    std::size_t done = 0;
    while (done < max && !_trim.empty()) {
      const std::uint32_t i = _trim.back();
      _trim.pop_back();
      const bool wanted = _queued[i] == kQueued;
      _queued[i] = kIdle;
      if (!wanted) continue;  // acquired again since
      ::madvise(_mem + std::size_t{i} * _chunk + kKeepResident, _chunk - kKeepResident,
                MADV_DONTNEED);
      ++done;
    }
    return done;
  }
  std::size_t trim_pending() const { return _trim.size(); }
  std::size_t chunk_size() const { return _chunk; }
  std::size_t available() const { return _free.size(); }

 private:
  std::size_t index(const std::byte* p) const {
    return static_cast<std::size_t>(p - _mem) / _chunk;
  }

  static constexpr std::uint8_t kIdle = 0, kQueued = 1, kStale = 2;

  std::size_t _chunk;
  std::size_t _bytes;
  bool _trimmable;
  std::byte* _mem = nullptr;
  std::vector<std::byte*> _free;
  // Per chunk: kIdle (not in _trim), kQueued (in _trim, free), kStale (in _trim, in use).
  std::vector<std::uint8_t> _queued;
  std::vector<std::uint32_t> _trim;
};

struct byte_buffer {
  std::byte* data = nullptr;
  std::uint32_t cap = 0;
  std::uint32_t head = 0;  // first byte in use
  std::uint32_t tail = 0;  // one past the last byte in use

  std::uint32_t size() const { return tail - head; }
  std::uint32_t free_space() const { return cap - size(); }
  // Moves [head, head + extent) to the start; extent >= size() covers bytes parked
  // beyond tail (the out-of-order area of a receive buffer).
  void compact(std::uint32_t extent) {
    if (head == 0) return;
    if (extent) std::memmove(data, data + head, extent);
    tail -= head;
    head = 0;
  }
  void consume(std::uint32_t n) {
    assert(n <= size());
    head += n;
    if (head == tail) head = tail = 0;
  }
};

}  // namespace anvil::net
