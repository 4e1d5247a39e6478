// The health monitor: runs on the control thread, drives the canary through every
// lcore's mailbox (dataplane/server/lcore_health.h), reads the lcores' stall counters
// and the node's other inputs (storage, evictions, port errors, connections, replication),
// feeds the pure health_model once per interval, logs every transition and publishes
// the result.
//
// Threads: tick() and set_lcore_delay() only on the control thread. It never waits for
// an lcore: a round an lcore has not answered stays outstanding (and counts at its age)
// and no new one is posted to that lcore until it is answered. Readers: snapshot() from
// any thread off the data plane (a mutex, held for a copy); for_each_stat() from an
// lcore answering `stats health` (a seqlock over a fixed buffer: no lock, no wait on
// the writer beyond a bounded retry, no allocation by the writer side on the lcore).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/health/health_model.h"
#include "control/health/latency.h"
#include "dataplane/server/lcore_health.h"

namespace anvil::health {

struct monitor_config {
  health_thresholds thresholds;
  double interval_s = 1.0;        // evaluation and canary period
  double canary_window_s = 10.0;  // canary percentiles are over the rounds of this window
  double loop_stall_s = 0.05;     // an lcore iteration longer than this is a stall
};

// The node's inputs other than the lcores', read at every evaluation (control thread).
struct monitor_inputs {
  std::function<std::pair<bool, std::string>()> storage;  // degraded?, reason
  std::function<std::uint64_t()> evictions;               // live items evicted, cumulative
  std::function<std::uint64_t()> port_errors;             // cumulative
  std::function<std::pair<std::uint64_t, std::uint64_t>()> connections;  // open, limit
  std::function<replication_observation()> replication;  // a replica's standing ([cluster])
};

struct lcore_canary_view {
  std::uint64_t rounds = 0;    // answered
  std::uint64_t failures = 0;  // answered wrong
  std::uint64_t stalls = 0;    // cumulative
  double last_latency_s = 0;
  double outstanding_s = 0;    // age of the unanswered round (0: none)
  std::uint32_t delay_us = 0;  // the fault knob
};

// A consistent copy of everything the monitor knows.
struct health_snapshot {
  health_report report;
  std::uint64_t canary_samples = 0;  // in the window
  double canary_p50_s = 0, canary_p99_s = 0, canary_max_s = 0;
  std::uint64_t canary_rounds = 0, canary_failures = 0, loop_stalls = 0;
  latency_histogram histogram;
  std::vector<lcore_canary_view> lcores;
};

class health_monitor {
 public:
  // `lcores`: one mailbox per lcore (their canary_keys filled); `tsc_per_ns`: TSC
  // cycles per nanosecond (calibrate_tsc()).
  health_monitor(monitor_config cfg, std::vector<server::lcore_health*> lcores,
                 monitor_inputs inputs, double tsc_per_ns, std::int64_t start_unix_ms);

  // Control thread, as often as it likes: evaluates when an interval has passed since
  // the last evaluation. Returns true when it evaluated.
  bool tick(std::uint64_t now_mono_ns, std::int64_t now_unix_ms);
  // Monotonic ns when the next evaluation is due.
  std::uint64_t next_due_ns() const { return _next_ns; }

  // The test-only fault knob ([debug] lcore_delay_us): logged, takes effect on that
  // lcore's next iteration.
  void set_lcore_delay(unsigned lcore, std::uint32_t us);
  std::uint32_t lcore_delay(unsigned lcore) const;

  health_snapshot snapshot() const;
  // `stats health`: (name, value) pairs of the last evaluation, lock-free. False when a
  // consistent copy could not be taken in a bounded number of tries.
  bool for_each_stat(const std::function<void(std::string_view, std::string_view)>& fn) const;

  // Measures the TSC rate against steady_clock (~20 ms). 1.0 where cycles_now() is ns.
  static double calibrate_tsc();

 private:
  struct lcore_track {
    std::uint64_t seq = 0;        // the last round posted
    std::uint64_t posted_ns = 0;  // when
    bool outstanding = false;
    std::uint64_t stalls_seen = 0;
    lcore_canary_view view;
  };
  void evaluate(std::uint64_t now_ns, std::int64_t now_ms);
  void publish_text();
  void log_changes(const std::vector<health_change>& changes);

  monitor_config _cfg;
  std::vector<server::lcore_health*> _lcores;
  monitor_inputs _in;
  double _tsc_per_ns;
  health_model _model;
  latency_window _window;
  std::vector<lcore_track> _track;
  std::uint64_t _next_ns = 0;
  std::uint64_t _last_ns = 0;
  latency_histogram _hist;
  std::uint64_t _evictions_seen = 0, _port_errors_seen = 0;
  bool _first = true;

  mutable std::mutex _m;  // guards _snap
  health_snapshot _snap;

  // The `stats health` text ("name\tvalue\n" lines) in a seqlock of atomic words.
  static constexpr std::size_t kTextWords = 512;  // 4 KiB
  std::atomic<std::uint64_t> _text_seq{0};
  std::atomic<std::uint64_t> _text_len{0};
  std::array<std::atomic<std::uint64_t>, kTextWords> _text{};
};

}  // namespace anvil::health
