// anvil_faultfs: a small in-memory FUSE filesystem whose behaviour is switched at run
// time, for the storage fault tests.
//
//   anvil_faultfs MOUNTPOINT CONTROL_FILE
//
// CONTROL_FILE (outside the mount) holds one word, re-read on every write/fsync:
//   normal        a plain in-memory filesystem
//   eio_write     write() fails with EIO
//   eio_fsync     fsync() fails with EIO (writes succeed)
//   enospc_write  write() fails with ENOSPC
//   stall_write   write() blocks until the word changes (a hung disk or daemon)
//   stall_all     write() and readdir() block until the word changes
// Runs in the foreground, multi-threaded (a stalled write does not block other calls),
// with auto_unmount so the mount goes away when this process dies.
#define FUSE_USE_VERSION 31
#include <fuse.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace {

std::string g_control;
std::mutex g_m;
std::map<std::string, std::string> g_files;
std::set<std::string> g_dirs{"/"};

std::string mode() {
  std::ifstream f(g_control);
  std::string w;
  f >> w;
  return w.empty() ? "normal" : w;
}

std::string parent(const std::string& p) {
  const auto i = p.rfind('/');
  return i == 0 ? "/" : p.substr(0, i);
}

int fs_getattr(const char* path, struct stat* st, fuse_file_info*) {
  std::lock_guard lk(g_m);
  std::memset(st, 0, sizeof *st);
  if (g_dirs.count(path)) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  auto it = g_files.find(path);
  if (it == g_files.end()) return -ENOENT;
  st->st_mode = S_IFREG | 0644;
  st->st_nlink = 1;
  st->st_size = static_cast<off_t>(it->second.size());
  st->st_blocks = (st->st_size + 511) / 512;
  return 0;
}

int fs_readdir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*,
               fuse_readdir_flags) {
  while (mode() == "stall_all") std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::lock_guard lk(g_m);
  if (!g_dirs.count(path)) return -ENOENT;
  fill(buf, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buf, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  const std::string dir = path;
  auto child = [&](const std::string& p) -> const char* {
    if (p == "/" || parent(p) != dir) return nullptr;
    return p.c_str() + (dir == "/" ? 1 : dir.size() + 1);
  };
  for (const auto& d : g_dirs)
    if (const char* n = child(d)) fill(buf, n, nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  for (const auto& [f, _] : g_files)
    if (const char* n = child(f)) fill(buf, n, nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  return 0;
}

int fs_mkdir(const char* path, mode_t) {
  std::lock_guard lk(g_m);
  if (g_dirs.count(path) || g_files.count(path)) return -EEXIST;
  if (!g_dirs.count(parent(path))) return -ENOENT;
  g_dirs.insert(path);
  return 0;
}

int fs_rmdir(const char* path) {
  std::lock_guard lk(g_m);
  if (!g_dirs.count(path)) return -ENOENT;
  g_dirs.erase(path);
  return 0;
}

int fs_unlink(const char* path) {
  std::lock_guard lk(g_m);
  return g_files.erase(path) ? 0 : -ENOENT;
}

int fs_rename(const char* from, const char* to, unsigned int) {
  std::lock_guard lk(g_m);
  auto it = g_files.find(from);
  if (it == g_files.end()) return -ENOENT;
  std::string data = std::move(it->second);
  g_files.erase(it);
  g_files[to] = std::move(data);
  return 0;
}

int fs_create(const char* path, mode_t, fuse_file_info*) {
  std::lock_guard lk(g_m);
  if (!g_dirs.count(parent(path))) return -ENOENT;
  g_files[path];  // O_EXCL is checked by the kernel through getattr
  return 0;
}

int fs_open(const char* path, fuse_file_info* fi) {
  std::lock_guard lk(g_m);
  auto it = g_files.find(path);
  if (it == g_files.end()) return -ENOENT;
  if (fi->flags & O_TRUNC) it->second.clear();
  return 0;
}

int fs_truncate(const char* path, off_t size, fuse_file_info*) {
  std::lock_guard lk(g_m);
  auto it = g_files.find(path);
  if (it == g_files.end()) return -ENOENT;
  it->second.resize(static_cast<std::size_t>(size));
  return 0;
}

int fs_read(const char* path, char* buf, size_t size, off_t off, fuse_file_info*) {
  std::lock_guard lk(g_m);
  auto it = g_files.find(path);
  if (it == g_files.end()) return -ENOENT;
  const auto& d = it->second;
  if (static_cast<std::size_t>(off) >= d.size()) return 0;
  const std::size_t n = std::min(size, d.size() - static_cast<std::size_t>(off));
  std::copy_n(d.data() + off, n, buf);  // file bytes, not a C string
  return static_cast<int>(n);
}

int fs_write(const char* path, const char* buf, size_t size, off_t off, fuse_file_info*) {
  for (std::string m = mode(); m != "normal"; m = mode()) {
    if (m == "eio_write") return -EIO;
    if (m == "enospc_write") return -ENOSPC;
    if (m != "stall_write" && m != "stall_all") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::lock_guard lk(g_m);
  auto it = g_files.find(path);
  if (it == g_files.end()) return -ENOENT;
  auto& d = it->second;
  if (d.size() < static_cast<std::size_t>(off) + size)
    d.resize(static_cast<std::size_t>(off) + size);
  std::memcpy(d.data() + off, buf, size);
  return static_cast<int>(size);
}

int fs_fsync(const char*, int, fuse_file_info*) { return mode() == "eio_fsync" ? -EIO : 0; }
int fs_fsyncdir(const char*, int, fuse_file_info*) { return mode() == "eio_fsync" ? -EIO : 0; }
int fs_flush(const char*, fuse_file_info*) { return 0; }
int fs_release(const char*, fuse_file_info*) { return 0; }
int fs_utimens(const char*, const struct timespec*, fuse_file_info*) { return 0; }

int fs_statfs(const char*, struct statvfs* st) {
  std::memset(st, 0, sizeof *st);
  st->f_bsize = st->f_frsize = 4096;
  st->f_blocks = st->f_bfree = st->f_bavail = 1 << 20;
  st->f_namemax = 255;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MOUNTPOINT CONTROL_FILE\n", argv[0]);
    return 2;
  }
  g_control = argv[2];
  fuse_operations ops{};
  ops.getattr = fs_getattr;
  ops.readdir = fs_readdir;
  ops.mkdir = fs_mkdir;
  ops.rmdir = fs_rmdir;
  ops.unlink = fs_unlink;
  ops.rename = fs_rename;
  ops.create = fs_create;
  ops.open = fs_open;
  ops.truncate = fs_truncate;
  ops.read = fs_read;
  ops.write = fs_write;
  ops.fsync = fs_fsync;
  ops.fsyncdir = fs_fsyncdir;
  ops.flush = fs_flush;
  ops.release = fs_release;
  ops.utimens = fs_utimens;
  ops.statfs = fs_statfs;
  char a0[] = "anvil_faultfs", f[] = "-f", o[] = "-o";
  char opts[] = "fsname=anvil_faultfs,auto_unmount";
  char* args[] = {a0, f, o, opts, argv[1], nullptr};
  return fuse_main(5, args, &ops, nullptr);
}
