#include "io/uring.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace anvil::io {

void ring::free_aligned::operator()(std::byte* p) const { std::free(p); }

ring::ring(unsigned entries) {
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int rc = io_uring_queue_init_params(entries, &_ring, &p);
  if (rc == -EINVAL) {  // older kernel: plain ring
    p = io_uring_params{};
    rc = io_uring_queue_init_params(entries, &_ring, &p);
  } else if (rc == 0) {
    _single_issuer = true;
  }
  if (rc < 0) throw std::system_error(-rc, std::generic_category(), "io_uring_queue_init");
}

ring::~ring() {
  // Whatever is still in flight must finish before its memory goes; bounded by the
  // operations' deadlines, after which the ring counts as stuck.
  completion c;
  while (!_stuck && !_inflight.empty()) {
    if (wait(c) == wait_status::stalled) break;
  }
  if (_stuck) {
    // The kernel may still write into these: leak them, on purpose.
    for (auto& b : _buffers) (void)b.release();
    for (auto& s : _paths) (void)s.release();
  }
  // Closing the ring does not wait for stuck requests: the kernel tears it down in the
  // background once they finish.
  io_uring_queue_exit(&_ring);
}

int ring::submit() {
  for (;;) {
    const int rc = io_uring_submit(&_ring);
    if (rc >= 0) return 0;
    if (rc != -EINTR) return rc;
  }
}

ring::wait_status ring::wait(completion& out, steady::time_point until) {
  for (;;) {
    if (_inflight.empty() && until == steady::time_point::max()) return wait_status::timeout;
    const auto now = steady::now();
    steady::time_point limit = until;
    for (const op& o : _inflight)
      if (o.deadline < limit) limit = o.deadline;
    io_uring_cqe* cqe = nullptr;
    int rc;
    if (limit == steady::time_point::max()) {
      rc = io_uring_wait_cqe(&_ring, &cqe);
    } else {
      const auto left = limit > now ? limit - now : steady::duration::zero();
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      __kernel_timespec ts{};
      ts.tv_sec = ns / 1'000'000'000;
      ts.tv_nsec = ns % 1'000'000'000;
      rc = io_uring_wait_cqe_timeout(&_ring, &cqe, &ts);
    }
    if (rc == 0 && cqe != nullptr) {
      out.tag = io_uring_cqe_get_data64(cqe);
      out.res = cqe->res;
      io_uring_cqe_seen(&_ring, cqe);
      for (std::size_t i = 0; i < _inflight.size(); ++i) {
        if (_inflight[i].tag == out.tag) {
          _inflight[i] = _inflight.back();
          _inflight.pop_back();
          break;
        }
      }
      return wait_status::completed;
    }
    if (rc != -ETIME && rc != -EINTR && rc != -EAGAIN) {
      // The ring itself failed: treat like a stall, nothing more can be trusted.
      _stuck = true;
      return wait_status::stalled;
    }
    const auto after = steady::now();
    for (const op& o : _inflight) {
      if (o.deadline <= after) {
        _stuck = true;
        return wait_status::stalled;
      }
    }
    if (after >= until) return wait_status::timeout;
  }
}

bool ring::reap_abandoned() {
  for (;;) {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts{};  // zero: enter the kernel to run completions, do not wait
    if (io_uring_wait_cqe_timeout(&_ring, &cqe, &ts) != 0 || cqe == nullptr) break;
    const std::uint64_t tag = io_uring_cqe_get_data64(cqe);
    io_uring_cqe_seen(&_ring, cqe);
    for (std::size_t i = 0; i < _inflight.size(); ++i) {
      if (_inflight[i].tag == tag) {
        _inflight[i] = _inflight.back();
        _inflight.pop_back();
        break;
      }
    }
  }
  if (_inflight.empty()) _stuck = false;
  return _inflight.empty();
}

std::byte* ring::alloc_buffer(std::size_t bytes, std::size_t align) {
  if (align < alignof(std::max_align_t)) align = alignof(std::max_align_t);
  bytes = (bytes + align - 1) / align * align;
  void* p = std::aligned_alloc(align, bytes);
  if (p == nullptr) throw std::bad_alloc();
  _buffers.emplace_back(static_cast<std::byte*>(p));
  _pinned_bytes += bytes;
  return static_cast<std::byte*>(p);
}

const char* ring::pin(std::string s) {
  _pinned_bytes += s.size() + 1;
  _paths.push_back(std::make_unique<std::string>(std::move(s)));
  return _paths.back()->c_str();
}

std::string errno_text(int negative_errno) {
  const int e = negative_errno < 0 ? -negative_errno : negative_errno;
  return std::string(std::strerror(e));
}

}  // namespace anvil::io
