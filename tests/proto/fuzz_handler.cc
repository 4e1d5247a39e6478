// libFuzzer target over the framing loop and every command: the input is a request
// stream, fed in pieces whose cut points come from the input's first bytes, through
// a handler on a tiny cache (eviction on nearly every store) and a small sink (so
// backpressure is exercised), with SASL on or off, and the client gate (client_gate.h)
// open, fenced or "not primary". Checks the handler's contract on every call and
// that every emitted response is well formed; ASan/UBSan catch the rest.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cache/engine.h"
#include "dataplane/proto/handler.h"

namespace {

using namespace anvil;

void require(bool ok) {
  if (!ok) std::abort();
}

// Every response is 0x81-magic and its bodylen covers extras and key.
void check_responses(const std::byte* p, std::size_t n) {
  while (n > 0) {
    require(n >= proto::kHeaderSize);
    require(std::to_integer<int>(p[0]) == proto::kResponseMagic);
    const std::uint16_t keylen = proto::load_be16(p + 2);
    const std::uint8_t extlen = std::to_integer<std::uint8_t>(p[4]);
    const std::uint32_t bodylen = proto::load_be32(p + 8);
    require(std::size_t{keylen} + extlen <= bodylen);
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
        creds(*proto::credentials::parse(proto::credentials::make_line("u", "p", "saltsalt", 1),
                                         nullptr)),
        h(eng, ses,
          proto::handler_config{.sasl = nullptr,
                                .protocols = proto::binding::binary,
                                .gate = &gate,
                                .replica_reads = true},
          counters),
        h_sasl(eng, ses, proto::handler_config{.sasl = &creds, .batch_gets = false, .gate = &gate},
               counters) {}
  cache::clock clk;
  cache::engine eng;
  cache::session ses;
  proto::credentials creds;  // user "u", password "p"
  proto::lcore_counters counters;
  // The client gate's bits (client_gate.h), chosen per input; `h` has replica_reads.
  std::atomic<std::uint8_t> gate{proto::gate::kOpen};
  proto::handler h;
  proto::handler h_sasl;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static world w;  // one cache for the whole run: state carries across inputs
  if (size < 2) return 0;
  const std::size_t piece = 1 + data[0] % 64;  // segment size
  const bool small_sink = (data[1] & 1) != 0;
  proto::handler& h = (data[1] & 2) != 0 ? w.h_sasl : w.h;  // SASL on, batching off
  w.clk.advance(data[1] >> 4);                              // time moves, so items expire
  w.gate = static_cast<std::uint8_t>((data[1] >> 2) & 3);   // open, fence, not primary, both
  data += 2;
  size -= 2;

  proto::connection conn;
  std::vector<std::byte> rx;
  static std::vector<std::byte> sink_mem(1u << 20);
  const std::size_t cap = small_sink ? h.min_sink_capacity() : sink_mem.size();
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
      check_responses(sink.data, sink.size);
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
