// The snapshot scheduler: one io thread that writes a snapshot every `interval`, on
// demand (the admin API calls request_snapshot), and once more at graceful shutdown,
// keeps the newest `keep` complete snapshots, and reports storage health.
//
// Isolation from serving: lcores never call into this class. The io thread reads the
// cache through its own session (opened per attempt, closed right after) and does
// every filesystem call through an io_uring with deadlines, so a failing or hung
// filesystem costs a failed attempt and a "degraded" health state, never a blocked
// lcore. stop() is bounded: it gives the final snapshot shutdown_timeout, then cancels
// it, and detaches (and counts) an io thread that still does not finish.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "io/health.h"
#include "io/item_stream.h"
#include "io/snapshot_reader.h"
#include "io/snapshot_writer.h"

namespace anvil::io {

struct service_config {
  writer_config writer;                   // directory, node id, block size, rate, deadlines
  std::chrono::milliseconds interval{0};  // 0: no periodic snapshots
  unsigned keep = 2;                      // complete snapshots kept (at least 1)
  bool snapshot_at_shutdown = true;
  std::chrono::milliseconds shutdown_timeout{10'000};
  // Where the io thread (and the anvil-iod processes it starts, which inherit both)
  // runs. A snapshot is background work: at nice 19 it takes only CPU that serving
  // leaves idle (measured: serving p99 through anvil +1351% at nice 0, +9% at nice 19 on
  // a 2-core host; bench/README.md). `cpus` empty: wherever the OS puts it; the server
  // passes the cpus no lcore polls on.
  int nice = 19;
  std::vector<unsigned> cpus;
};

class snapshot_service {
 public:
  // `make_source` is called on the io thread at the start of each attempt.
  using source_factory = std::function<std::unique_ptr<item_source>()>;
  snapshot_service(source_factory make_source, const cache::clock& clock, service_config cfg);
  // For the engine: snapshot_service(engine_source_factory(e), *e.config().time, cfg)
  // (engine_source_factory is in io/engine_stream.h).
  ~snapshot_service();  // stop()
  snapshot_service(const snapshot_service&) = delete;
  snapshot_service& operator=(const snapshot_service&) = delete;

  // At start-up, before start() and before the node reports ready: restores the newest
  // valid snapshot of this service's directory and node id into `sink` (for the engine:
  // engine_sink from io/engine_stream.h), dropping items expired at `now_unix`; the
  // outcome goes to this service's health. Never throws; a cold start is a result.
  restore_result restore(item_sink& sink, std::uint32_t now_unix, unsigned threads = 0);

  // Before start(), on the calling thread: creates the directory and every missing
  // parent (through the ring, with deadlines; each new component made durable by an
  // fsync of its parent), lists it and removes leftovers of interrupted attempts.
  // "" on success, else the reason (health is then degraded with it). For a caller that
  // must know at start-up (anvil --require-snapshots); start() does it otherwise.
  std::string prepare();
  // Prepares the directory unless prepare() did, and starts the io thread. Never fails:
  // a directory that cannot be prepared shows up as degraded health, attempts fail with
  // the reason and retry the preparation, so the node recovers once it is fixed. While
  // an earlier attempt's I/O is stuck (a hung filesystem), attempts are skipped, never
  // stacked: at most one stuck attempt (one anvil-iod child, one ring's buffers).
  void start();
  // Graceful stop, bounded (see above). Idempotent.
  void stop();

  // On demand: queues a snapshot (coalesced with one already queued) and returns a
  // ticket; wait() returns once an attempt that started after the request is over.
  std::uint64_t request_snapshot();
  bool wait(std::uint64_t ticket, std::chrono::milliseconds timeout,
            snapshot_result* out = nullptr) const;

  const storage_health& health() const;
  snapshot_result last_result() const;

 private:
  struct state;
  std::shared_ptr<state> _st;
};

}  // namespace anvil::io
