// hit_ratio: the same cache-aside trace against Anvil's engine (in process) and against a
// memcached server (binary protocol over TCP), in one run (issue 13, item 2).
//
//   hit_ratio --mem MiB [--value B] [--keys N] [--ops N] [--scan F] [--memcached HOST:PORT]
//
// Trace: keys drawn Zipf 0.99 (YCSB's scrambled generator, bench/cache/workload.h) over
// --keys; with --scan F, a fraction F of the requests instead walks a sequential range of
// keys read once and never again (a scan mixed into the hot traffic). Each request is a
// GET; a miss is followed by a SET of the key (cache-aside). Requests go in batches of 64
// GETs, then the SETs for that batch's misses, identically for both targets. The first
// third of the trace warms the cache and is not counted. memcached is started by the
// caller with the same -m (bench/e2e/hit_ratio.sh); it is expected to be empty.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "bench/cache/workload.h"
#include "cache/engine.h"

namespace {

using anvil::bench::kKeyLen;
using anvil::bench::make_key;
constexpr std::size_t kBatch = 64;

struct options {
  std::size_t mem_mib = 64;
  std::size_t value = 100;
  std::size_t keys = 2'000'000;
  std::size_t ops = 12'000'000;
  double scan = 0;
  std::string memcached;  // empty: engine only
};

// The request stream: key indices. Scan keys are numbered from `keys` up, never reused.
std::vector<std::uint64_t> make_trace(const options& o) {
  const std::vector<std::uint32_t>& z = anvil::bench::index_stream(o.keys, true);
  std::vector<std::uint64_t> t;
  t.reserve(o.ops);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  std::uint64_t scan_next = o.keys;
  std::size_t zi = 0;
  std::size_t scan_left = 0;
  while (t.size() < o.ops) {
    // A 1000-key scan starts with probability p per hot request: scans are then a
    // fraction 1000p / (1 + 1000p) = F of the requests.
    if (scan_left == 0 && o.scan > 0 && u(rng) < o.scan / (1000.0 * (1 - o.scan))) scan_left = 1000;
    if (scan_left > 0) {
      --scan_left;
      t.push_back(scan_next++);
    } else {
      t.push_back(z[zi++ % z.size()]);  // the stream (4M) repeats: same popularity
    }
  }
  return t;
}

struct result {
  std::uint64_t gets = 0, hits = 0;
  double ratio() const { return gets ? static_cast<double>(hits) / static_cast<double>(gets) : 0; }
};

result run_engine(const options& o, const std::vector<std::uint64_t>& trace) {
  anvil::cache::clock clk(1'700'000'000);
  anvil::cache::engine_config cfg;
  cfg.memory_limit_bytes = o.mem_mib << 20;
  cfg.partitions = 1;  // `anvil -t 1`
  cfg.time = &clk;
  anvil::cache::engine e(cfg);
  anvil::cache::session s = e.open_session();
  const std::string value(o.value, 'v');
  result r;
  char keys[kBatch][kKeyLen];
  bool hit[kBatch];
  const std::size_t warm = trace.size() / 3;
  for (std::size_t base = 0; base < trace.size(); base += kBatch) {
    const std::size_t n = std::min(kBatch, trace.size() - base);
    for (std::size_t i = 0; i < n; ++i) {
      make_key(trace[base + i], keys[i]);
      hit[i] = s.get({keys[i], kKeyLen}).found;
    }
    s.quiescent();
    for (std::size_t i = 0; i < n; ++i) {
      if (base + i >= warm) {
        ++r.gets;
        r.hits += hit[i];
      }
      if (!hit[i]) s.store(anvil::cache::store_mode::set, {keys[i], kKeyLen}, value, 0, 0);
    }
  }
  const anvil::cache::partition_stats t = e.total_stats();
  std::fprintf(stderr, "anvil: items %llu, evictions %llu, kept %llu\n",
               static_cast<unsigned long long>(t.items),
               static_cast<unsigned long long>(t.evictions),
               static_cast<unsigned long long>(t.evict_kept));
  return r;
}

// --- memcached binary protocol, just GET and SET ---------------------------------------
void put_header(std::string& out, std::uint8_t op, std::size_t klen, std::size_t elen,
                std::size_t blen, std::uint32_t opaque) {
  unsigned char h[24] = {};
  h[0] = 0x80;
  h[1] = op;
  h[2] = static_cast<unsigned char>(klen >> 8);
  h[3] = static_cast<unsigned char>(klen);
  h[4] = static_cast<unsigned char>(elen);
  const std::uint32_t b = htonl(static_cast<std::uint32_t>(blen));
  std::memcpy(h + 8, &b, 4);
  std::memcpy(h + 12, &opaque, 4);
  out.append(reinterpret_cast<const char*>(h), 24);
}

bool send_all(int fd, const std::string& b) {
  std::size_t o = 0;
  while (o < b.size()) {
    const ssize_t w = ::send(fd, b.data() + o, b.size() - o, 0);
    if (w <= 0) return false;
    o += static_cast<std::size_t>(w);
  }
  return true;
}

// Reads `count` responses; statuses in order of arrival (memcached answers in order).
bool read_responses(int fd, std::string& buf, std::size_t count, std::vector<std::uint16_t>& st) {
  st.clear();
  std::size_t off = 0;
  while (st.size() < count) {
    while (buf.size() - off >= 24) {
      const auto* h = reinterpret_cast<const unsigned char*>(buf.data() + off);
      if (h[0] != 0x81) {
        std::fprintf(stderr, "hit_ratio: bad response magic %02x\n", h[0]);
        return false;
      }
      std::uint32_t blen;
      std::memcpy(&blen, h + 8, 4);
      blen = ntohl(blen);
      if (buf.size() - off < 24 + blen) break;
      st.push_back(static_cast<std::uint16_t>(h[6] << 8 | h[7]));
      off += 24 + blen;
      if (st.size() == count) break;
    }
    if (st.size() == count) break;
    buf.erase(0, off);
    off = 0;
    char tmp[1 << 16];
    const ssize_t r = ::recv(fd, tmp, sizeof tmp, 0);
    if (r <= 0) return false;
    buf.append(tmp, static_cast<std::size_t>(r));
  }
  buf.erase(0, off);
  return true;
}

bool run_memcached(const options& o, const std::vector<std::uint64_t>& trace, result* r) {
  const auto colon = o.memcached.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "hit_ratio: --memcached wants HOST:PORT\n");
    return false;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(std::atoi(o.memcached.c_str() + colon + 1)));
  if (inet_pton(AF_INET, o.memcached.substr(0, colon).c_str(), &a.sin_addr) != 1) {
    std::fprintf(stderr, "hit_ratio: bad address %s\n", o.memcached.c_str());
    return false;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::fprintf(stderr, "hit_ratio: cannot connect to %s: %s\n", o.memcached.c_str(),
                 std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return false;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string value(o.value, 'v');
  std::string out, in;
  std::vector<std::uint16_t> st;
  char keys[kBatch][kKeyLen];
  const std::size_t warm = trace.size() / 3;
  bool ok = true;
  for (std::size_t base = 0; base < trace.size() && ok; base += kBatch) {
    const std::size_t n = std::min(kBatch, trace.size() - base);
    out.clear();
    for (std::size_t i = 0; i < n; ++i) {
      make_key(trace[base + i], keys[i]);
      put_header(out, 0x00, kKeyLen, 0, kKeyLen, static_cast<std::uint32_t>(i));
      out.append(keys[i], kKeyLen);
    }
    if (!send_all(fd, out) || !read_responses(fd, in, n, st)) {
      ok = false;
      break;
    }
    out.clear();
    std::size_t sets = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const bool hit = st[i] == 0;
      if (!hit && st[i] != 1) {
        std::fprintf(stderr, "hit_ratio: GET status %u\n", st[i]);
        ok = false;
        break;
      }
      if (base + i >= warm) {
        ++r->gets;
        r->hits += hit;
      }
      if (hit) continue;
      put_header(out, 0x01, kKeyLen, 8, 8 + kKeyLen + value.size(), 0);
      out.append(8, '\0');  // flags, exptime
      out.append(keys[i], kKeyLen);
      out.append(value);
      ++sets;
    }
    if (ok && sets && (!send_all(fd, out) || !read_responses(fd, in, sets, st))) ok = false;
    for (std::uint16_t x : st)
      if (sets && x != 0) {
        std::fprintf(stderr, "hit_ratio: SET status %u\n", x);
        ok = false;
        break;
      }
  }
  ::close(fd);
  if (!ok) std::fprintf(stderr, "hit_ratio: memcached run failed\n");
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "hit_ratio: %s needs a value\n", a.c_str());
      return 2;
    }
    const char* v = argv[++i];
    if (a == "--mem")
      o.mem_mib = std::strtoull(v, nullptr, 10);
    else if (a == "--value")
      o.value = std::strtoull(v, nullptr, 10);
    else if (a == "--keys")
      o.keys = std::strtoull(v, nullptr, 10);
    else if (a == "--ops")
      o.ops = std::strtoull(v, nullptr, 10);
    else if (a == "--scan")
      o.scan = std::strtod(v, nullptr);
    else if (a == "--memcached")
      o.memcached = v;
    else {
      std::fprintf(stderr,
                   "usage: hit_ratio --mem MiB [--value B] [--keys N] [--ops N] "
                   "[--scan F] [--memcached HOST:PORT]\n");
      return 2;
    }
  }
  if (o.mem_mib == 0 || o.keys == 0 || o.ops < 3 || o.scan < 0 || o.scan >= 1) {
    std::fprintf(stderr, "hit_ratio: --mem, --keys > 0, --ops >= 3, --scan in [0,1)\n");
    return 2;
  }
  const std::vector<std::uint64_t> trace = make_trace(o);
  const result av = run_engine(o, trace);
  std::printf(
      "trace: zipf 0.99 over %zu keys%s, %zu requests (first third warm-up), "
      "%zu-byte values, -m %zu\n",
      o.keys, o.scan > 0 ? (" + scans, fraction " + std::to_string(o.scan)).c_str() : "", o.ops,
      o.value, o.mem_mib);
  std::printf("anvil engine  hit ratio %.4f (%llu / %llu)\n", av.ratio(),
              static_cast<unsigned long long>(av.hits), static_cast<unsigned long long>(av.gets));
  if (!o.memcached.empty()) {
    result mc;
    if (!run_memcached(o, trace, &mc)) return 1;
    std::printf("memcached     hit ratio %.4f (%llu / %llu)\n", mc.ratio(),
                static_cast<unsigned long long>(mc.hits), static_cast<unsigned long long>(mc.gets));
  }
  return 0;
}
