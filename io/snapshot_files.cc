#include "io/snapshot_files.h"

#include <dirent.h>
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>

#include "io/uring.h"
#include "io/uring_remote.h"

namespace anvil::io {

namespace {
std::string name(std::uint64_t id, const char* suffix) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "snap-%016" PRIx64 "%s", id, suffix);
  return buf;
}
}  // namespace

std::string data_name(std::uint64_t id) { return name(id, ".data"); }
std::string manifest_name(std::uint64_t id) { return name(id, ".manifest"); }
std::string manifest_tmp_name(std::uint64_t id) { return name(id, ".manifest.tmp"); }

std::vector<snapshot_entry> parse_snapshot_names(const std::vector<std::string>& names) {
  std::map<std::uint64_t, snapshot_entry> by_id;
  for (const std::string& n : names) {
    if (n.size() < 5 + 16 || n.compare(0, 5, "snap-") != 0) continue;
    std::uint64_t id = 0;
    bool hex = true;
    for (std::size_t i = 5; i < 21; ++i) {
      const char c = n[i];
      int v;
      if (c >= '0' && c <= '9')
        v = c - '0';
      else if (c >= 'a' && c <= 'f')
        v = c - 'a' + 10;
      else {
        hex = false;
        break;
      }
      id = id * 16 + static_cast<std::uint64_t>(v);
    }
    if (!hex) continue;
    const std::string suffix = n.substr(21);
    snapshot_entry* entry = nullptr;
    auto slot = [&]() -> snapshot_entry& {
      if (entry == nullptr) {
        entry = &by_id[id];
        entry->id = id;
      }
      return *entry;
    };
    if (suffix == ".data")
      slot().data = true;
    else if (suffix == ".manifest")
      slot().manifest = true;
    else if (suffix == ".manifest.tmp")
      slot().manifest_tmp = true;
  }
  std::vector<snapshot_entry> out;
  for (auto& [id, e] : by_id) out.push_back(e);
  return out;
}

bool list_snapshots(const std::string& dir, std::vector<snapshot_entry>& out, int& err) {
  out.clear();
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    err = errno;
    return false;
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) names.emplace_back(e->d_name);
  closedir(d);
  out = parse_snapshot_names(names);
  err = 0;
  return true;
}

std::optional<snapshot_listing> list_snapshots_within(const std::string& dir,
                                                      std::chrono::milliseconds timeout,
                                                      storage_health* health) {
  if (const std::string& helper = remote_ring::helper_path(); !helper.empty()) {
    std::vector<std::string> names;
    const auto rc = remote_ring::list_directory(helper, dir, names, timeout);
    if (!rc) {
      if (health != nullptr) health->add(storage_health::io_stalls);
      return std::nullopt;
    }
    if (*rc != -ENOEXEC) {  // ENOEXEC: the helper could not run; use a thread instead
      snapshot_listing l;
      l.ok = *rc == 0;
      l.err = -*rc;
      if (l.ok) l.entries = parse_snapshot_names(names);
      return l;
    }
  }
  return call_with_deadline<snapshot_listing>(
      [dir] {
        snapshot_listing out;
        out.ok = list_snapshots(dir, out.entries, out.err);
        return out;
      },
      timeout, health);
}

std::string make_directories(const std::string& dir, std::chrono::milliseconds timeout,
                             storage_health* health) {
  if (dir.empty()) return "empty snapshot directory name";
  std::optional<ring> r;
  try {
    r.emplace(8);
  } catch (const std::exception& e) {
    return std::string("io_uring unavailable: ") + e.what();
  }
  auto stalled = [&](const std::string& what) {
    if (health != nullptr) {
      health->add(storage_health::io_stalls);
      health->add(storage_health::rings_abandoned);
    }
    return what + ": I/O did not complete within " + std::to_string(timeout.count()) +
           " ms (filesystem stalled)";
  };
  // Prefixes ending at each '/' after a component, then the whole path: "/a/b" gives
  // "/a", "/a/b"; "a//b/" gives "a", "a//b".
  std::vector<std::string> prefixes;
  for (std::size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || (dir[i] == '/' && dir[i - 1] != '/')) {
      std::string p = dir.substr(0, i);
      while (p.size() > 1 && p.back() == '/') p.pop_back();
      if (p != "/" && (prefixes.empty() || prefixes.back() != p)) prefixes.push_back(p);
    }
  }
  for (const std::string& p : prefixes) {
    const char* cp = r->pin(p);
    const int rc =
        r->run(timeout, [&](io_uring_sqe* s) { io_uring_prep_mkdirat(s, AT_FDCWD, cp, 0755); });
    if (rc == -ETIME) return stalled("create " + p);
    if (rc == -EEXIST) continue;  // a directory, or a file that the next step trips on
    if (rc < 0) return "cannot create " + p + ": " + errno_text(rc);
    // Created: durable only once its parent directory is.
    const auto slash = p.find_last_of('/');
    const std::string parent =
        slash == std::string::npos ? "." : (slash == 0 ? "/" : p.substr(0, slash));
    const char* pp = r->pin(parent);
    const int fd = r->run(timeout, [&](io_uring_sqe* s) {
      io_uring_prep_openat(s, AT_FDCWD, pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    });
    if (fd == -ETIME) return stalled("open " + parent);
    if (fd < 0) return "cannot open " + parent + " to sync it: " + errno_text(fd);
    const int src = r->run(timeout, [&](io_uring_sqe* s) { io_uring_prep_fsync(s, fd, 0); });
    if (src == -ETIME) return stalled("fsync " + parent);
    const int crc = r->run(timeout, [&](io_uring_sqe* s) { io_uring_prep_close(s, fd); });
    if (crc == -ETIME) return stalled("close " + parent);
    if (src < 0) return "cannot sync " + parent + ": " + errno_text(src);
  }
  return "";
}

}  // namespace anvil::io
