#include "io/snapshot_files.h"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>

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

bool list_snapshots(const std::string& dir, std::vector<snapshot_entry>& out, int& err) {
  out.clear();
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    err = errno;
    return false;
  }
  std::map<std::uint64_t, snapshot_entry> by_id;
  while (dirent* e = readdir(d)) {
    const char* n = e->d_name;
    if (std::strncmp(n, "snap-", 5) != 0 || std::strlen(n) < 5 + 16) continue;
    std::uint64_t id = 0;
    bool hex = true;
    for (int i = 5; i < 21; ++i) {
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
    const std::string suffix = n + 21;
    auto& entry = by_id[id];
    entry.id = id;
    if (suffix == ".data")
      entry.data = true;
    else if (suffix == ".manifest")
      entry.manifest = true;
    else if (suffix == ".manifest.tmp")
      entry.manifest_tmp = true;
  }
  closedir(d);
  for (auto& [id, e] : by_id) {
    if (e.data || e.manifest || e.manifest_tmp) out.push_back(e);
  }
  err = 0;
  return true;
}

}  // namespace anvil::io
