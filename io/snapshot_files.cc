#include "io/snapshot_files.h"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>

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

}  // namespace anvil::io
