// The parent side of an io_uring that lives in an anvil-iod process (io/iod_protocol.h
// says why). Used by `ring` (io/uring.h) when the anvil-iod binary is found; `ring`
// keeps the deadlines and the bookkeeping, this class only moves SQEs, completions and
// memory between the two processes.
//
// Memory: one shared arena (memfd) reserved large and sparse; alloc() hands out aligned
// pieces of it, so every buffer and path an SQE names is visible to the child at the
// same offset. The arena lives as long as this object; a stuck child keeps its own
// mapping, so the parent may unmap freely: the child's in-flight I/O still has memory.
//
// Process lifetime: the child exits when the socket closes (once its I/O is done). A
// child that is still busy when this object goes (stuck I/O) is SIGKILLed and left to
// be reaped later (reap_children()); the parent never waits on it without a bound.
#pragma once

#include <liburing.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace anvil::io {

class remote_ring {
 public:
  // Where anvil-iod is: $ANVIL_IOD, else next to this executable, else the build tree's
  // copy. "" when none exists ($ANVIL_IOD=inprocess forces that): rings stay in-process.
  static const std::string& helper_path();

  // Starts the child. Throws std::system_error when it cannot.
  remote_ring(const std::string& helper, unsigned entries);
  ~remote_ring();
  remote_ring(const remote_ring&) = delete;
  remote_ring& operator=(const remote_ring&) = delete;

  std::byte* alloc(std::size_t bytes, std::size_t align);  // in the arena; bad_alloc when full
  bool in_arena(const void* p) const;

  // Queues an SQE whose pointer fields point into the arena; false when it names memory
  // outside it or an operation the channel does not carry (io/iod_protocol.h).
  bool queue(const io_uring_sqe& s);
  // Sends what is queued. 0 or -errno (-EPIPE: the child is gone).
  int flush();
  // Registers arena buffers as fixed buffers in the child's ring; 0 or -errno.
  int register_buffers(const std::vector<std::byte*>& bufs, std::size_t bytes_each,
                       std::chrono::milliseconds timeout);

  struct completion {
    std::uint64_t tag;
    int res;
  };
  // The next completion within `timeout_ms` (-1: no bound, 0: do not wait). 1: got one;
  // 0: none in time; -EPIPE: the child is gone (it died or closed its end).
  int next(completion& out, int timeout_ms);

  // Ends a child that still holds I/O: SIGKILL (it dies once the kernel lets go of the
  // I/O) and remembers it for reap_children().
  void abandon();
  static void reap_children();  // waitpid(WNOHANG) on children abandoned earlier
  // Children abandoned earlier that have not exited yet (reaps first): each is held by
  // I/O the kernel has not finished, i.e. a filesystem that is still stuck.
  static std::size_t children_pending();

  // The entry names of `dir`, read by a short-lived `anvil-iod --list` child: 0, or
  // -errno of opendir, or -ENOEXEC when the helper did not run; nullopt when it did not
  // finish within `timeout` (it is then SIGKILLed and left to reap_children()).
  static std::optional<int> list_directory(const std::string& helper, const std::string& dir,
                                           std::vector<std::string>& names,
                                           std::chrono::milliseconds timeout);

  pid_t pid() const { return _pid; }

 private:
  int receive(int timeout_ms);
  int _sock = -1;
  int _memfd = -1;
  pid_t _pid = -1;
  std::byte* _base = nullptr;
  std::size_t _size = 0, _used = 0;
  std::vector<io_uring_sqe> _queued;
  std::deque<completion> _ready;
  int _registered = 1;  // 1: no answer pending
  bool _gone = false;
};

}  // namespace anvil::io
