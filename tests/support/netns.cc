#include "tests/support/netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>
#include <thread>

namespace anvil::test {

void run_in_netns(const std::string& ns, const std::function<void()>& fn) {
  int err = 0;
  std::exception_ptr failure;
  std::thread t([&] {
    const std::string path = "/run/netns/" + ns;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      err = errno;
      return;
    }
    // unshare(CLONE_FS) is not needed: setns(CLONE_NEWNET) affects this thread only.
    if (::setns(fd, CLONE_NEWNET) != 0) {
      err = errno;
      ::close(fd);
      return;
    }
    ::close(fd);
    try {
      fn();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  t.join();
  if (err != 0) throw std::system_error(err, std::generic_category(), "enter netns " + ns);
  if (failure) std::rethrow_exception(failure);
}

int socket_in_netns(const std::string& ns, int domain, int type, int protocol) {
  int fd = -1;
  int err = 0;
  run_in_netns(ns, [&] {
    fd = ::socket(domain, type, protocol);
    if (fd < 0) err = errno;
  });
  if (fd < 0) throw std::system_error(err, std::generic_category(), "socket in netns " + ns);
  return fd;
}

unsigned ifindex_in_netns(const std::string& ns, const std::string& ifname) {
  unsigned idx = 0;
  run_in_netns(ns, [&] { idx = ::if_nametoindex(ifname.c_str()); });
  if (idx == 0) throw std::system_error(ENODEV, std::generic_category(), ifname + " in " + ns);
  return idx;
}

int run_command(const std::string& cmd, std::string* out) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    if (out != nullptr) out->append(buf, n);
  }
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace anvil::test
