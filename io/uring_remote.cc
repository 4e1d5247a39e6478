#include "io/uring_remote.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>

#include "io/iod_protocol.h"

extern char** environ;

namespace anvil::io {
namespace {

constexpr std::size_t kArenaBytes = std::size_t{4} << 30;  // sparse: pages exist once touched

bool executable(const std::string& p) { return !p.empty() && ::access(p.c_str(), X_OK) == 0; }

std::string find_helper() {
  if (const char* env = std::getenv("ANVIL_IOD"); env != nullptr && *env != '\0') {
    if (std::strcmp(env, "inprocess") == 0) return "";
    return executable(env) ? env : "";
  }
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<std::size_t>(n));
    dir.erase(dir.find_last_of('/') + 1);
    if (executable(dir + "anvil-iod")) return dir + "anvil-iod";
  }
#ifdef ANVIL_IOD_BUILD_PATH
  if (executable(ANVIL_IOD_BUILD_PATH)) return ANVIL_IOD_BUILD_PATH;
#endif
  return "";
}

std::mutex g_reap_mutex;
std::vector<pid_t> g_to_reap;

[[noreturn]] void throw_errno(int err, const char* what) {
  throw std::system_error(err, std::generic_category(), what);
}

}  // namespace

const std::string& remote_ring::helper_path() {
  static const std::string path = find_helper();
  return path;
}

void remote_ring::reap_children() {
  std::lock_guard lk(g_reap_mutex);
  std::erase_if(g_to_reap, [](pid_t p) { return ::waitpid(p, nullptr, WNOHANG) != 0; });
}

std::size_t remote_ring::children_pending() {
  std::lock_guard lk(g_reap_mutex);
  std::erase_if(g_to_reap, [](pid_t p) { return ::waitpid(p, nullptr, WNOHANG) != 0; });
  return g_to_reap.size();
}

std::optional<int> remote_ring::list_directory(const std::string& helper, const std::string& dir,
                                               std::vector<std::string>& names,
                                               std::chrono::milliseconds timeout) {
  reap_children();
  names.clear();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return -ENOEXEC;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::string prog = helper, flag = "--list", path = dir;
  char* argv[] = {prog.data(), flag.data(), path.data(), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, helper.c_str(), &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return -ENOEXEC;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string out;
  bool eof = false;
  while (!eof) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    pollfd pf{fds[0], POLLIN, 0};
    if (left <= 0 || ::poll(&pf, 1, static_cast<int>(left)) == 0) break;
    char buf[4096];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0)
      out.append(buf, static_cast<std::size_t>(n));
    else if (n == 0 || errno != EINTR)
      eof = true;
  }
  ::close(fds[0]);
  int status = 0;
  pid_t w = 0;
  for (int i = 0; eof && i < 1000 && (w = ::waitpid(pid, &status, WNOHANG)) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (w != pid) {  // hung (or not done): never wait for it
    ::kill(pid, SIGKILL);
    std::lock_guard lk(g_reap_mutex);
    g_to_reap.push_back(pid);
    return std::nullopt;
  }
  if (!WIFEXITED(status)) return -ENOEXEC;
  if (WEXITSTATUS(status) == 3) return -std::atoi(out.c_str());
  if (WEXITSTATUS(status) != 0) return -ENOEXEC;
  for (std::size_t at = 0; at < out.size();) {
    const std::size_t nl = out.find('\n', at);
    if (nl == std::string::npos) break;
    names.push_back(out.substr(at, nl - at));
    at = nl + 1;
  }
  return 0;
}

remote_ring::remote_ring(const std::string& helper, unsigned entries) {
  reap_children();
  _memfd = ::memfd_create("anvil-iod-arena", MFD_CLOEXEC);
  if (_memfd < 0) throw_errno(errno, "memfd_create");
  _size = kArenaBytes;
  if (::ftruncate(_memfd, static_cast<off_t>(_size)) != 0) {
    const int e = errno;
    ::close(_memfd);
    throw_errno(e, "ftruncate arena");
  }
  void* p = ::mmap(nullptr, _size, PROT_READ | PROT_WRITE, MAP_SHARED, _memfd, 0);
  if (p == MAP_FAILED) {
    const int e = errno;
    ::close(_memfd);
    throw_errno(e, "mmap arena");
  }
  _base = static_cast<std::byte*>(p);

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    const int e = errno;
    ::munmap(_base, _size);
    ::close(_memfd);
    throw_errno(e, "socketpair");
  }
  _sock = sv[0];
  // The child's fds 3 and 4 come from copies above them, so the dup2s cannot clobber
  // each other whatever numbers socketpair and memfd_create returned.
  const int child_sock = ::fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
  const int child_arena = ::fcntl(_memfd, F_DUPFD_CLOEXEC, 10);
  ::close(sv[1]);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, child_sock, iod::kSocketFd);
  posix_spawn_file_actions_adddup2(&fa, child_arena, iod::kArenaFd);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // no terminal Ctrl-C
  posix_spawnattr_setpgroup(&attr, 0);
  std::string arena_arg = std::to_string(_size), entries_arg = std::to_string(entries);
  std::string prog = helper;
  char* argv[] = {prog.data(), arena_arg.data(), entries_arg.data(), nullptr};
  const int rc = ::posix_spawn(&_pid, helper.c_str(), &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(child_sock);
  ::close(child_arena);
  if (rc != 0) {
    ::close(_sock);
    ::munmap(_base, _size);
    ::close(_memfd);
    throw_errno(rc, "posix_spawn anvil-iod");
  }
}

remote_ring::~remote_ring() {
  ::close(_sock);  // the child exits once its I/O (if any) is done
  bool exited = false;
  for (int i = 0; i < 500 && !exited; ++i) {
    const pid_t r = ::waitpid(_pid, nullptr, WNOHANG);
    exited = r == _pid || (r < 0 && errno == ECHILD);
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!exited) abandon();
  ::munmap(_base, _size);  // the child keeps its own mapping for any I/O it still holds
  ::close(_memfd);
}

void remote_ring::abandon() {
  if (_pid <= 0) return;
  ::kill(_pid, SIGKILL);
  std::lock_guard lk(g_reap_mutex);
  g_to_reap.push_back(_pid);
  _pid = -1;
}

std::byte* remote_ring::alloc(std::size_t bytes, std::size_t align) {
  const std::size_t at = (_used + align - 1) / align * align;
  if (at > _size || bytes > _size - at) throw std::bad_alloc();
  _used = at + bytes;
  return _base + at;
}

bool remote_ring::in_arena(const void* p) const {
  const auto* b = static_cast<const std::byte*>(p);
  return b >= _base && b < _base + _size;
}

bool remote_ring::queue(const io_uring_sqe& s) {
  io_uring_sqe c = s;
  const bool ok = iod::map_pointers(c, [&](__u64& field) {
    const auto* p = reinterpret_cast<const std::byte*>(static_cast<std::uintptr_t>(field));
    if (!in_arena(p)) return false;
    field = static_cast<__u64>(p - _base);
    return true;
  });
  if (!ok) {  // a pointer the child cannot see, or an operation it does not carry
    _ready.push_back({s.user_data, -EOPNOTSUPP});
    return false;
  }
  _queued.push_back(c);
  return true;
}

int remote_ring::flush() {
  if (_gone) return -EPIPE;
  std::vector<std::uint8_t> pkt;
  for (std::size_t i = 0; i < _queued.size(); i += iod::kMaxBatch) {
    const std::size_t n = std::min<std::size_t>(iod::kMaxBatch, _queued.size() - i);
    pkt.resize(sizeof(iod::msg_header) + n * sizeof(io_uring_sqe));
    const iod::msg_header h{iod::kSubmit, static_cast<std::uint32_t>(n)};
    std::memcpy(pkt.data(), &h, sizeof h);
    std::memcpy(pkt.data() + sizeof h, &_queued[i], n * sizeof(io_uring_sqe));
    ssize_t rc;
    do {
      rc = ::send(_sock, pkt.data(), pkt.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (rc < 0 && errno == EINTR);
    if (rc != static_cast<ssize_t>(pkt.size())) {
      _queued.clear();
      if (rc < 0 && errno == EAGAIN) return -EAGAIN;
      _gone = true;
      return -EPIPE;
    }
  }
  _queued.clear();
  return 0;
}

int remote_ring::receive(int timeout_ms) {
  if (_gone) return -EPIPE;
  pollfd pf{_sock, POLLIN, 0};
  int prc;
  do {
    prc = ::poll(&pf, 1, timeout_ms);
  } while (prc < 0 && errno == EINTR);
  if (prc <= 0) return 0;
  std::uint8_t buf[iod::kMaxPacket];
  const ssize_t n = ::recv(_sock, buf, sizeof buf, MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    _gone = true;
    return -EPIPE;
  }
  if (n < static_cast<ssize_t>(sizeof(iod::msg_header))) return 0;
  iod::msg_header h;
  std::memcpy(&h, buf, sizeof h);
  const std::size_t body = static_cast<std::size_t>(n) - sizeof h;
  if (h.type == iod::kCompleted && h.count * sizeof(iod::completion_record) == body) {
    for (std::uint32_t i = 0; i < h.count; ++i) {
      iod::completion_record r;
      std::memcpy(&r, buf + sizeof h + i * sizeof r, sizeof r);
      _ready.push_back({r.tag, r.res});
    }
  } else if (h.type == iod::kRegistered && body == sizeof(std::int32_t)) {
    std::int32_t v;
    std::memcpy(&v, buf + sizeof h, sizeof v);
    _registered = v;
  }
  return 1;
}

int remote_ring::next(completion& out, int timeout_ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (!_ready.empty()) {
      out = _ready.front();
      _ready.pop_front();
      return 1;
    }
    int left = timeout_ms;
    if (timeout_ms > 0) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          until - std::chrono::steady_clock::now())
                          .count();
      left = static_cast<int>(std::max<long long>(0, ms));
    }
    const int rc = receive(left);
    if (rc < 0) return rc;
    if (rc == 0 && _ready.empty()) {
      if (timeout_ms >= 0 && (timeout_ms == 0 || std::chrono::steady_clock::now() >= until))
        return 0;
    }
  }
}

int remote_ring::register_buffers(const std::vector<std::byte*>& bufs, std::size_t bytes_each,
                                  std::chrono::milliseconds timeout) {
  if (_gone) return -EPIPE;
  if (bufs.size() > iod::kMaxBatch * sizeof(io_uring_sqe) / sizeof(iod::buffer_range))
    return -EINVAL;
  std::vector<std::uint8_t> pkt(sizeof(iod::msg_header) + bufs.size() * sizeof(iod::buffer_range));
  const iod::msg_header h{iod::kRegister, static_cast<std::uint32_t>(bufs.size())};
  std::memcpy(pkt.data(), &h, sizeof h);
  for (std::size_t i = 0; i < bufs.size(); ++i) {
    if (!in_arena(bufs[i])) return -EFAULT;
    const iod::buffer_range r{static_cast<std::uint64_t>(bufs[i] - _base), bytes_each};
    std::memcpy(pkt.data() + sizeof h + i * sizeof r, &r, sizeof r);
  }
  if (::send(_sock, pkt.data(), pkt.size(), MSG_NOSIGNAL | MSG_DONTWAIT) !=
      static_cast<ssize_t>(pkt.size()))
    return -EPIPE;
  _registered = 1;
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (_registered == 1) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          until - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return -ETIME;
    if (const int rc = receive(static_cast<int>(left)); rc < 0) return rc;
  }
  const int rc = _registered;
  _registered = 1;
  return rc;
}

}  // namespace anvil::io
