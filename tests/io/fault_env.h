// Real filesystems that fail, for the storage fault tests (root): a loop-mounted small
// ext4 image and the anvil_faultfs FUSE filesystem. Each lives in a temp dir named
// /tmp/anvil-iofault-<owner pid>-XXXXXX and is always unmounted, detached and removed by
// its destructor; reap_stale() removes leftovers of runs whose owner died (like
// tools/netns/testnet.sh reap does for namespaces).
#pragma once

#include <signal.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace anvil::io::test {

inline int sh(const std::string& cmd) {
  const int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

inline std::string make_fault_dir() {
  std::string t = "/tmp/anvil-iofault-" + std::to_string(getpid()) + "-XXXXXX";
  if (mkdtemp(t.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return t;
}

inline bool mounted(const std::string& path) {
  std::ifstream m("/proc/mounts");
  std::string dev, mp, rest;
  while (m >> dev >> mp && std::getline(m, rest)) {
    if (mp == path) return true;
  }
  return false;
}

// Unmounts whatever is mounted under dir, detaches loop devices backed by files in it,
// stops a faultfs daemon whose pid it recorded, and removes it.
inline void teardown_dir(const std::string& dir) {
  const std::string mnt = dir + "/mnt";
  for (int i = 0; i < 50 && mounted(mnt); ++i) {
    if (sh("umount " + mnt) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (mounted(mnt)) sh("umount -l " + mnt);
  std::ifstream pidf(dir + "/faultfs.pid");
  pid_t pid = 0;
  if (pidf >> pid && pid > 0) {  // a daemon a test run started; make sure it still is one
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    if (comm >> name && name.rfind("anvil_faultfs", 0) == 0) kill(pid, SIGKILL);
  }
  sh("for d in $(losetup -j " + dir + "/ext4.img -O NAME -n); do losetup -d $d; done");
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

inline void reap_stale() {
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator("/tmp", ec)) {
    const std::string name = e.path().filename();
    if (name.rfind("anvil-iofault-", 0) != 0) continue;
    const pid_t owner = static_cast<pid_t>(std::atoi(name.c_str() + 14));
    if (owner > 0 && (kill(owner, 0) == 0 || errno != ESRCH)) continue;  // still running
    teardown_dir(e.path());
  }
}

// A small ext4 image on a loop device: real ENOSPC (and EROFS after remount ro).
class loop_ext4 {
 public:
  explicit loop_ext4(std::size_t mib) : _dir(make_fault_dir()) {
    const std::string img = _dir + "/ext4.img";
    std::filesystem::create_directory(mnt());
    if (sh("truncate -s " + std::to_string(mib) + "M " + img) != 0 ||
        sh("mkfs.ext4 -q -F -m 0 " + img) != 0 || sh("mount -o loop " + img + " " + mnt()) != 0) {
      teardown_dir(_dir);
      throw std::runtime_error("cannot create the loop-mounted ext4 (root, loop module?)");
    }
  }
  ~loop_ext4() { teardown_dir(_dir); }
  std::string mnt() const { return _dir + "/mnt"; }
  bool remount(bool read_only) {
    return sh(std::string("mount -o remount,") + (read_only ? "ro " : "rw ") + mnt()) == 0;
  }
  std::uint64_t free_bytes() const {
    struct statvfs s {};
    statvfs(mnt().c_str(), &s);
    return static_cast<std::uint64_t>(s.f_bavail) * s.f_frsize;
  }

 private:
  std::string _dir;
};

// anvil_faultfs mounted at <dir>/mnt; behaviour switched through <dir>/control.
class fuse_fault_fs {
 public:
  explicit fuse_fault_fs(const std::string& binary) : _dir(make_fault_dir()) {
    std::filesystem::create_directory(mnt());
    set_mode("normal");
    _pid = fork();
    if (_pid == 0) {
      execl(binary.c_str(), binary.c_str(), mnt().c_str(), control().c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    std::ofstream(_dir + "/faultfs.pid") << _pid;
    for (int i = 0; i < 200 && !mounted(mnt()); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    if (!mounted(mnt())) {
      stop();
      throw std::runtime_error("anvil_faultfs did not mount");
    }
  }
  ~fuse_fault_fs() { stop(); }
  std::string mnt() const { return _dir + "/mnt"; }
  void set_mode(const std::string& m) {
    const std::string tmp = control() + ".tmp";
    std::ofstream(tmp) << m << "\n";
    std::filesystem::rename(tmp, control());
  }

 private:
  std::string control() const { return _dir + "/control"; }
  void stop() {
    if (_pid <= 0) return;
    set_mode("normal");  // releases stalled writes first, so nothing stays stuck
    sh("fusermount3 -u -z " + mnt());
    kill(_pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (waitpid(_pid, &status, WNOHANG) == _pid) {
        _pid = 0;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (_pid > 0) {
      kill(_pid, SIGKILL);
      waitpid(_pid, &status, 0);
      _pid = 0;
    }
    std::error_code ec;
    std::filesystem::remove(_dir + "/faultfs.pid", ec);  // reaped: the pid may be reused
    teardown_dir(_dir);
  }
  std::string _dir;
  pid_t _pid = 0;
};

}  // namespace anvil::io::test
