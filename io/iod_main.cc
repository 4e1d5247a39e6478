// anvil-iod: the process that owns an io thread's io_uring (see io/iod_protocol.h for
// why it is a process). It maps the parent's arena, submits the SQEs it receives with
// their arena offsets turned back into addresses, and sends every completion back.
// It never decides anything: deadlines, retries and cleanup are the parent's. It exits
// when the parent closes its end (after the kernel has finished its in-flight I/O) and
// ignores the signals a terminal sends a process group: only the parent ends it.
//
//   anvil-iod <arena bytes> <ring entries>     (fd 3: socket, fd 4: arena memfd)
//   anvil-iod --list <dir>                     (directory listing, see list_directory)
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "io/iod_protocol.h"

namespace {

using namespace anvil::io::iod;

int fail(const char* what, int err) {
  std::fprintf(stderr, "anvil-iod: %s: %s\n", what, std::strerror(err));
  return 1;
}

bool send_packet(const void* p, std::size_t n) {
  for (;;) {
    const ssize_t rc = ::send(kSocketFd, p, n, MSG_NOSIGNAL);
    if (rc == static_cast<ssize_t>(n)) return true;
    if (rc < 0 && errno == EINTR) continue;
    return false;
  }
}

}  // namespace

// `anvil-iod --list <dir>`: the entry names of dir, one per line, exit 0; or the errno
// of opendir on stdout, exit 3. A readdir that hangs hangs this process, not anvil.
int list_directory(const char* dir) {
  DIR* d = ::opendir(dir);
  if (d == nullptr) {
    std::printf("%d\n", errno);
    return 3;
  }
  while (dirent* e = ::readdir(d)) std::printf("%s\n", e->d_name);
  ::closedir(d);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--list") == 0) return list_directory(argv[2]);
  if (argc != 3) {
    std::fprintf(stderr, "usage: anvil-iod <arena bytes> <ring entries> (started by anvil)\n");
    return 2;
  }
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGUSR1, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a parent that dies cannot collect anything
  const std::uint64_t arena_bytes = std::strtoull(argv[1], nullptr, 10);
  const unsigned entries = static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10));
  if (arena_bytes == 0 || entries == 0) return fail("arguments", EINVAL);
  void* arena = ::mmap(nullptr, arena_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, kArenaFd, 0);
  if (arena == MAP_FAILED) return fail("mmap arena", errno);
  auto* base = static_cast<std::uint8_t*>(arena);

  io_uring ring{};
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE;
  params.cq_entries = entries * 4;
  if (int rc = io_uring_queue_init_params(entries, &ring, &params); rc < 0)
    return fail("io_uring_queue_init", -rc);

  std::vector<std::uint8_t> in(kMaxPacket);
  std::vector<completion_record> done;
  done.reserve(kMaxBatch);
  std::uint64_t inflight = 0;
  bool parent_gone = false;
  auto to_address = [&](__u64& field) {
    if (field >= arena_bytes) return false;
    field = reinterpret_cast<std::uintptr_t>(base + field);
    return true;
  };
  auto flush_completions = [&]() {
    if (done.empty()) return true;
    std::vector<std::uint8_t> out(sizeof(msg_header) + done.size() * sizeof(completion_record));
    const msg_header h{kCompleted, static_cast<std::uint32_t>(done.size())};
    std::memcpy(out.data(), &h, sizeof h);
    std::memcpy(out.data() + sizeof h, done.data(), done.size() * sizeof(completion_record));
    done.clear();
    return send_packet(out.data(), out.size());
  };

  for (;;) {
    // Completions first: they are what the parent waits for.
    io_uring_cqe* cqe = nullptr;
    while (io_uring_peek_cqe(&ring, &cqe) == 0 && cqe != nullptr) {
      done.push_back({io_uring_cqe_get_data64(cqe), cqe->res, 0});
      io_uring_cqe_seen(&ring, cqe);
      --inflight;
      if (done.size() == kMaxBatch && !flush_completions()) parent_gone = true;
    }
    if (!flush_completions()) parent_gone = true;
    if (parent_gone) {
      if (inflight == 0) break;
      // Nobody is listening any more; let the kernel finish what it holds, then exit.
      if (io_uring_wait_cqe(&ring, &cqe) == 0) continue;
      break;
    }

    pollfd fds[2] = {{kSocketFd, POLLIN, 0}, {ring.ring_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return fail("poll", errno);
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    const ssize_t n = ::recv(kSocketFd, in.data(), in.size(), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      parent_gone = true;
      continue;
    }
    if (n < static_cast<ssize_t>(sizeof(msg_header))) continue;
    msg_header h;
    std::memcpy(&h, in.data(), sizeof h);
    const std::uint8_t* body = in.data() + sizeof h;
    const std::size_t body_len = static_cast<std::size_t>(n) - sizeof h;
    if (h.type == kSubmit && h.count * sizeof(io_uring_sqe) == body_len) {
      for (std::uint32_t i = 0; i < h.count; ++i) {
        io_uring_sqe s;
        std::memcpy(&s, body + i * sizeof s, sizeof s);
        if (!map_pointers(s, to_address)) {  // refused: answer it, never submit it
          done.push_back({s.user_data, -EFAULT, 0});
          continue;
        }
        io_uring_sqe* q = io_uring_get_sqe(&ring);
        while (q == nullptr) {
          io_uring_submit(&ring);
          q = io_uring_get_sqe(&ring);
        }
        *q = s;
        ++inflight;
      }
      io_uring_submit(&ring);
    } else if (h.type == kRegister && h.count * sizeof(buffer_range) == body_len) {
      std::vector<iovec> iov(h.count);
      int rc = 0;
      for (std::uint32_t i = 0; i < h.count; ++i) {
        buffer_range r;
        std::memcpy(&r, body + i * sizeof r, sizeof r);
        if (r.offset >= arena_bytes || r.length > arena_bytes - r.offset) rc = -EFAULT;
        iov[i] = {base + r.offset, r.length};
      }
      if (rc == 0) rc = io_uring_register_buffers(&ring, iov.data(), h.count);
      std::uint8_t out[sizeof(msg_header) + sizeof(std::int32_t)];
      const msg_header rh{kRegistered, 1};
      const std::int32_t res = rc;
      std::memcpy(out, &rh, sizeof rh);
      std::memcpy(out + sizeof rh, &res, sizeof res);
      if (!send_packet(out, sizeof out)) parent_gone = true;
    }
  }
  io_uring_queue_exit(&ring);
  return 0;
}
