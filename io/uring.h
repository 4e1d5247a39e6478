// A small io_uring wrapper for the io thread: one ring, owned and used by one thread
// (it is created SINGLE_ISSUER|DEFER_TASKRUN when the kernel allows it), where every
// operation carries a deadline.
//
// Why deadlines live here: a filesystem can stop answering (a hung FUSE daemon, a dying
// disk). The kernel cannot always cancel such an I/O, so the only safe reaction is to
// stop waiting: the ring is then "stuck", every buffer and path it was given is leaked
// on purpose (the kernel may still read or write it), and the owner abandons the ring
// and builds a fresh one for the next attempt. Nothing here ever waits without a bound.
//
// Where the ring lives: in an anvil-iod process (io/uring_remote.h) when that binary is
// found, so a stuck I/O strands that process and never this one (a process cannot exit
// while one of its threads waits on a hung filesystem); in this process otherwise. The
// interface is the same: buffers and paths come from alloc_buffer()/pin(), and SQEs
// may point only at those.
#pragma once

#include <liburing.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/uring_remote.h"

namespace anvil::io {

using steady = std::chrono::steady_clock;

class ring {
 public:
  // Throws std::system_error when io_uring cannot be set up.
  explicit ring(unsigned entries = 64);
  ~ring();
  ring(const ring&) = delete;
  ring& operator=(const ring&) = delete;

  // Queues one SQE (filled by `prep`) tagged `tag`, to complete before `deadline`.
  // Returns false when the submission queue is full: submit and reap first.
  template <class Prep>
  bool push(std::uint64_t tag, steady::time_point deadline, Prep&& prep) {
    if (_remote) {  // an SQE naming memory the child cannot see completes with an error
      io_uring_sqe sqe{};
      prep(&sqe);
      io_uring_sqe_set_data64(&sqe, tag);
      _remote->queue(sqe);
      _inflight.push_back({tag, deadline});
      return true;
    }
    io_uring_sqe* sqe = io_uring_get_sqe(&_ring);
    if (sqe == nullptr) return false;
    prep(sqe);
    io_uring_sqe_set_data64(sqe, tag);
    _inflight.push_back({tag, deadline});
    return true;
  }
  // Hands queued SQEs to the kernel; 0 or -errno.
  int submit();

  struct completion {
    std::uint64_t tag = 0;
    int res = 0;
  };
  enum class wait_status { completed, timeout, stalled };
  // Waits for one completion, until `until` (timeout) or until an in-flight operation
  // passes its deadline (stalled: the ring is stuck from then on).
  wait_status wait(completion& out, steady::time_point until = steady::time_point::max());

  // One operation, submitted and awaited on its own: its result (>= 0 or -errno), or
  // -ETIME when it missed its deadline (the ring is then stuck). Nothing else may be
  // in flight.
  template <class Prep>
  int run(std::chrono::milliseconds timeout, Prep&& prep) {
    if (_stuck) return -ETIME;
    if (!push(kRunTag, steady::now() + timeout, prep)) return -EBUSY;
    if (int rc = submit(); rc < 0) return rc;
    completion c;
    for (;;) {
      switch (wait(c)) {
        case wait_status::completed:
          if (c.tag == kRunTag) return c.res;
          break;
        case wait_status::timeout:
          break;
        case wait_status::stalled:
          return -ETIME;
      }
    }
  }

  // Memory the kernel may touch: owned by the ring, freed with it unless it is stuck.
  std::byte* alloc_buffer(std::size_t bytes, std::size_t align);
  // Registers buffers (from alloc_buffer) as fixed buffers 0..n-1, so that writes from
  // them (io_uring_prep_write_fixed) skip pinning the pages on every I/O. 0 or -errno
  // (e.g. -ENOMEM over RLIMIT_MEMLOCK): callers then use plain writes. Once: a second
  // call fails with -EBUSY. Unregistered when the ring is closed.
  int register_buffers(const std::vector<std::byte*>& bufs, std::size_t bytes_each);
  const char* pin(std::string s);

  // For a stuck ring kept by its owner: reaps, without waiting, what completed since;
  // true once nothing is in flight (the ring is then ordinary again and frees its memory
  // when destroyed). Call from the owning thread.
  bool reap_abandoned();

  bool stuck() const { return _stuck; }
  std::size_t inflight() const { return _inflight.size(); }
  std::size_t pinned_bytes() const { return _pinned_bytes; }
  bool single_issuer() const { return _single_issuer; }
  bool remote() const { return _remote != nullptr; }
  pid_t helper_pid() const { return _remote ? _remote->pid() : -1; }  // the anvil-iod child

 private:
  static constexpr std::uint64_t kRunTag = ~std::uint64_t{0};
  struct op {
    std::uint64_t tag;
    steady::time_point deadline;
  };
  struct free_aligned {
    void operator()(std::byte* p) const;
  };
  bool next_completion(completion& out, steady::time_point limit, int& rc);
  void forget(std::uint64_t tag);
  io_uring _ring{};
  std::unique_ptr<remote_ring> _remote;  // set: the ring lives in an anvil-iod process
  bool _single_issuer = false;
  bool _stuck = false;
  std::vector<op> _inflight;
  std::vector<std::unique_ptr<std::byte, free_aligned>> _buffers;
  std::vector<std::unique_ptr<std::string>> _paths;
  std::size_t _pinned_bytes = 0;
};

// "No such file or directory" style text for -errno results.
std::string errno_text(int negative_errno);

}  // namespace anvil::io
