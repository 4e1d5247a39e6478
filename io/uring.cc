#include "io/uring.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <system_error>

namespace anvil::io {

void ring::free_aligned::operator()(std::byte* p) const { std::free(p); }

ring::ring(unsigned entries) {
  if (const std::string& helper = remote_ring::helper_path(); !helper.empty()) {
    try {
      _remote = std::make_unique<remote_ring>(helper, entries);
      _single_issuer = true;  // one thread (the child's) submits
      return;
    } catch (const std::system_error& e) {
      static std::once_flag once;  // an in-process ring still works: say so, once
      std::call_once(once, [&] {
        spdlog::warn("event=iod_unavailable helper={} reason=\"{}; rings run in-process\"",
                     helper, e.what());
      });
    }
  }
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
  if (_remote) {
    if (_stuck) _remote->abandon();  // the child keeps its I/O and its memory; not us
    _remote.reset();
    return;
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
  if (_remote) {
    // A child that died before we could hand it the SQEs fails the ring exactly as one
    // that dies with them in flight (wait() sees -EPIPE then): queued operations will
    // never complete, so the ring is stuck until reap_abandoned() clears it.
    const int rc = _remote->flush();
    if (rc < 0) _stuck = true;
    return rc;
  }
  for (;;) {
    const int rc = io_uring_submit(&_ring);
    if (rc >= 0) return 0;
    if (rc != -EINTR) return rc;
  }
}

ring::wait_status ring::wait(completion& out, steady::time_point until) {
  for (;;) {
    if (_inflight.empty() && until == steady::time_point::max()) return wait_status::timeout;
    steady::time_point limit = until;
    for (const op& o : _inflight)
      if (o.deadline < limit) limit = o.deadline;
    int rc = 0;
    if (next_completion(out, limit, rc)) {
      forget(out.tag);
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

// One completion before `limit` (true), else false with rc = -ETIME on time-out or the
// ring's failure (-EPIPE: the anvil-iod child is gone).
bool ring::next_completion(completion& out, steady::time_point limit, int& rc) {
  const auto now = steady::now();
  if (_remote) {
    int ms = -1;
    if (limit != steady::time_point::max()) {
      const auto left = limit > now ? limit - now : steady::duration::zero();
      ms = static_cast<int>(
          (std::chrono::duration_cast<std::chrono::microseconds>(left).count() + 999) / 1000);
    }
    remote_ring::completion c{};
    const int r = _remote->next(c, ms);
    if (r == 1) {
      out.tag = c.tag;
      out.res = c.res;
      return true;
    }
    rc = r == 0 ? -ETIME : r;
    return false;
  }
  io_uring_cqe* cqe = nullptr;
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
  if (rc != 0 || cqe == nullptr) return false;
  out.tag = io_uring_cqe_get_data64(cqe);
  out.res = cqe->res;
  io_uring_cqe_seen(&_ring, cqe);
  return true;
}

void ring::forget(std::uint64_t tag) {
  for (std::size_t i = 0; i < _inflight.size(); ++i) {
    if (_inflight[i].tag == tag) {
      _inflight[i] = _inflight.back();
      _inflight.pop_back();
      return;
    }
  }
}

bool ring::reap_abandoned() {
  if (_remote) {
    remote_ring::completion c{};
    int r;
    while ((r = _remote->next(c, 0)) == 1) forget(c.tag);
    if (r < 0) _inflight.clear();  // the child has exited: nothing of it is in flight
    if (_inflight.empty()) _stuck = false;
    return _inflight.empty();
  }
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
  if (_remote) {
    std::byte* p = _remote->alloc(bytes, align);
    _pinned_bytes += bytes;
    return p;
  }
  void* p = std::aligned_alloc(align, bytes);
  if (p == nullptr) throw std::bad_alloc();
  _buffers.emplace_back(static_cast<std::byte*>(p));
  _pinned_bytes += bytes;
  return static_cast<std::byte*>(p);
}

int ring::register_buffers(const std::vector<std::byte*>& bufs, std::size_t bytes_each) {
  if (_remote) return _remote->register_buffers(bufs, bytes_each, std::chrono::seconds(5));
  std::vector<iovec> iov(bufs.size());
  for (std::size_t i = 0; i < bufs.size(); ++i) iov[i] = {bufs[i], bytes_each};
  return io_uring_register_buffers(&_ring, iov.data(), static_cast<unsigned>(iov.size()));
}

const char* ring::pin(std::string s) {
  _pinned_bytes += s.size() + 1;
  if (_remote) {
    auto* p = reinterpret_cast<char*>(_remote->alloc(s.size() + 1, 1));
    std::memcpy(p, s.c_str(), s.size() + 1);
    return p;
  }
  _paths.push_back(std::make_unique<std::string>(std::move(s)));
  return _paths.back()->c_str();
}

std::string errno_text(int negative_errno) {
  const int e = negative_errno < 0 ? -negative_errno : negative_errno;
  return std::string(std::strerror(e));
}

}  // namespace anvil::io
