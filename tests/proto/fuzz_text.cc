// libFuzzer target over the text protocol (and the first-byte choice of -B auto): the
// input is a request stream fed in pieces whose size comes from the first byte, through
// a handler on a tiny cache (eviction on nearly every store), a small item size (so
// "too large" and swallowed data blocks are common), a short get-line limit and,
// optionally, the smallest sink the handler accepts (so multi-gets stop and resume), and
// the client gate (client_gate.h) open, fenced or "not primary", replica_reads either way.
// Checks the handler's contract on every call and that the output is well-formed text
// (every line a known reply, every VALUE followed by exactly its data) or, for a
// connection that chose binary, well-formed packets; ASan/UBSan catch the rest.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "cache/engine.h"
#include "dataplane/proto/handler.h"

namespace {

using namespace anvil;

void require(bool ok) {
  if (!ok) std::abort();
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// The reply lines the text protocol may produce (everything but VALUE).
bool known_line(std::string_view l) {
  for (std::string_view p :
       {"END", "STORED", "NOT_STORED", "EXISTS", "NOT_FOUND", "DELETED", "TOUCHED", "OK", "RESET",
        "ERROR", "CLIENT_ERROR ", "SERVER_ERROR ", "VERSION ", "STAT ", "PREFIX ",
        // meta replies (VA is checked with its data block below)
        "HD", "EN", "NS", "EX", "NF", "MN", "ME "}) {
    if (l.starts_with(p)) return true;
  }
  return all_digits(l);
}

// A run of whole text replies: `n` bytes at `p`.
void check_text(const char* p, std::size_t n) {
  std::string_view s(p, n);
  while (!s.empty()) {
    const std::size_t eol = s.find("\r\n");
    require(eol != std::string_view::npos);
    const std::string_view line = s.substr(0, eol);
    s.remove_prefix(eol + 2);
    if (line.starts_with("VA ")) {  // meta: VA <bytes> <flags>*, then the data block
      const std::string_view n = line.substr(3, line.find(' ', 3) - 3);
      require(all_digits(n));
      const std::size_t bytes = std::strtoull(std::string(n).c_str(), nullptr, 10);
      require(s.size() >= bytes + 2 && s.substr(bytes, 2) == "\r\n");
      s.remove_prefix(bytes + 2);
      continue;
    }
    if (!line.starts_with("VALUE ")) {
      require(known_line(line));
      continue;
    }
    // VALUE <key> <flags> <bytes> [<cas>]: the key has no spaces, so count from the right.
    std::string_view rest = line.substr(6);
    std::vector<std::string_view> t;
    while (!rest.empty()) {
      const std::size_t sp = rest.find(' ');
      t.push_back(rest.substr(0, sp));
      rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
    }
    require(t.size() == 3 || t.size() == 4);
    for (std::size_t i = 1; i < t.size(); ++i) require(all_digits(t[i]));
    const std::size_t bytes = std::strtoull(std::string(t[2]).c_str(), nullptr, 10);
    require(s.size() >= bytes + 2 && s.substr(bytes, 2) == "\r\n");
    s.remove_prefix(bytes + 2);
  }
}

void check_binary(const std::byte* p, std::size_t n) {
  while (n > 0) {
    require(n >= proto::kHeaderSize);
    require(std::to_integer<int>(p[0]) == proto::kResponseMagic);
    const std::uint32_t bodylen = proto::load_be32(p + 8);
    require(proto::kHeaderSize + bodylen <= n);
    p += proto::kHeaderSize + bodylen;
    n -= proto::kHeaderSize + bodylen;
  }
}

struct world {
  world()
      : clk(1'700'000'000),
        eng(cache::engine_config{.memory_limit_bytes = 1u << 20,
                                 .max_item_size = 16u << 10,
                                 .partitions = 1,
                                 .numa_bind = false,
                                 .time = &clk,
                                 .segment_size = 64u << 10}),
        ses(eng.open_session()),
        h(eng, ses, config(false), counters),
        h_rr(eng, ses, config(true), counters) {}
  proto::handler_config config(bool replica_reads) {
    proto::handler_config c;
    c.max_get_line = 8192;
    c.gate = &gate;
    c.replica_reads = replica_reads;
    return c;
  }
  cache::clock clk;
  cache::engine eng;
  cache::session ses;
  proto::lcore_counters counters;
  // The client gate's bits (client_gate.h), chosen per input.
  std::atomic<std::uint8_t> gate{proto::gate::kOpen};
  proto::handler h;
  proto::handler h_rr;  // replica_reads = true
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static world w;  // one cache for the whole run: state carries across inputs
  if (size < 2) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  const bool small_sink = (data[1] & 1) != 0;
  w.clk.advance(data[1] >> 4);
  // Bits 2-3: the client gate (open, write fence, not primary, both); bit 1: replica_reads.
  w.gate = static_cast<std::uint8_t>((data[1] >> 2) & 3);
  proto::handler& h = (data[1] & 2) != 0 ? w.h_rr : w.h;
  data += 2;
  size -= 2;

  proto::connection conn;
  std::vector<std::byte> rx;
  static std::vector<std::byte> sink_mem(1u << 20);
  const std::size_t cap = small_sink ? h.min_sink_capacity() : sink_mem.size();
  require(cap <= sink_mem.size());
  proto::output_sink sink{sink_mem.data(), cap, 0};
  std::size_t fed = 0;
  while (fed < size) {
    const std::size_t k = std::min(piece, size - fed);
    const auto* p = reinterpret_cast<const std::byte*>(data + fed);
    rx.insert(rx.end(), p, p + k);
    fed += k;
    for (int rounds = 0;; ++rounds) {
      require(rounds < 1'000'000);
      const auto r = h.handle(conn, rx, sink);
      require(r.consumed <= rx.size());
      if (conn.speaks() == proto::connection::protocol::text)
        check_text(reinterpret_cast<const char*>(sink.data), sink.size);
      else
        check_binary(sink.data, sink.size);
      sink.size = 0;
      rx.erase(rx.begin(), rx.begin() + static_cast<std::ptrdiff_t>(r.consumed));
      w.ses.quiescent();
      if (r.close_after_flush) return 0;
      if (r.sink_full) continue;
      require(r.need_more && r.need_bytes > rx.size());
      break;
    }
  }
  return 0;
}
