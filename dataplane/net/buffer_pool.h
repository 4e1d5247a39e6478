// Per-core buffer memory for TCP connections. `buffer_pool` hands out fixed-size
// chunks carved from one allocation made at start-up (never on the packet path);
// `byte_buffer` is a compacting linear buffer over one chunk: the bytes in use are
// always contiguous ([head, tail)), which is what the protocol parser wants to see
// and what lets a segment's payload be one span. Owned by one lcore; not thread-safe.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace anvil::net {

class buffer_pool {
 public:
  buffer_pool(std::size_t count, std::size_t chunk_size)
      : _chunk(chunk_size), _mem(new std::byte[count * chunk_size]) {
    _free.reserve(count);
    for (std::size_t i = count; i-- > 0;) _free.push_back(_mem.get() + i * chunk_size);
  }
  std::byte* acquire() {
    if (_free.empty()) return nullptr;
    std::byte* p = _free.back();
    _free.pop_back();
    return p;
  }
  void release(std::byte* p) {
    if (p) _free.push_back(p);  // capacity reserved up front: never reallocates
  }
  std::size_t chunk_size() const { return _chunk; }
  std::size_t available() const { return _free.size(); }

 private:
  std::size_t _chunk;
  std::unique_ptr<std::byte[]> _mem;
  std::vector<std::byte*> _free;
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
