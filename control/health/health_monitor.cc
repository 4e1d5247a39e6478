#include "control/health/health_monitor.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "cache/engine.h"
#include "dataplane/server/cycles.h"

namespace anvil::health {
namespace {

// A value for a logfmt line: quoted, with quotes and newlines escaped.
std::string q(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out + "\"";
}

const char* status_name(std::uint8_t st) {
  switch (static_cast<cache::status>(st)) {
    case cache::status::ok:
      return "ok";
    case cache::status::not_found:
      return "not_found";
    case cache::status::exists:
      return "exists";
    case cache::status::not_stored:
      return "not_stored";
    case cache::status::too_large:
      return "too_large";
    case cache::status::non_numeric:
      return "non_numeric";
    case cache::status::no_memory:
      return "no_memory";
    case cache::status::bad_key:
      return "bad_key";
  }
  return "unknown";
}

std::uint64_t ns_of(double s) { return static_cast<std::uint64_t>(s * 1e9); }

}  // namespace

double health_monitor::calibrate_tsc() {
#if defined(__x86_64__)
  const auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t c0 = server::cycles_now();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::uint64_t c1 = server::cycles_now();
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  return ns > 0 && c1 > c0 ? static_cast<double>(c1 - c0) / static_cast<double>(ns) : 1.0;
#else
  return 1.0;
#endif
}

health_monitor::health_monitor(monitor_config cfg, std::vector<server::lcore_health*> lcores,
                               monitor_inputs inputs, double tsc_per_ns, std::int64_t start_unix_ms)
    : _cfg(cfg),
      _lcores(std::move(lcores)),
      _in(std::move(inputs)),
      _tsc_per_ns(tsc_per_ns > 0 ? tsc_per_ns : 1.0),
      _model(cfg.thresholds, start_unix_ms),
      _window(static_cast<std::int64_t>(cfg.canary_window_s * 1000),
              std::min<std::size_t>(
                  65536, static_cast<std::size_t>(2 * (cfg.canary_window_s / cfg.interval_s + 1) *
                                                  static_cast<double>(_lcores.size() + 1)))),
      _track(_lcores.size()) {
  for (auto* l : _lcores)
    l->stall_cycles = static_cast<std::uint64_t>(cfg.loop_stall_s * 1e9 * _tsc_per_ns);
  _snap.report = _model.report();
  _snap.lcores.resize(_lcores.size());
  publish_text();
}

bool health_monitor::tick(std::uint64_t now_ns, std::int64_t now_ms) {
  if (!_first && now_ns < _next_ns) return false;
  evaluate(now_ns, now_ms);
  _next_ns = now_ns + ns_of(_cfg.interval_s);
  return true;
}

void health_monitor::evaluate(std::uint64_t now_ns, std::int64_t now_ms) {
  health_observation o;
  o.interval_s = _first ? _cfg.interval_s : static_cast<double>(now_ns - _last_ns) / 1e9;
  o.lcores.resize(_lcores.size());
  double oldest_outstanding = -1;
  std::uint64_t failures = 0;
  for (std::size_t i = 0; i < _lcores.size(); ++i) {
    server::lcore_health& h = *_lcores[i];
    lcore_track& t = _track[i];
    lcore_observation& lo = o.lcores[i];
    if (t.outstanding && h.done_seq.load(std::memory_order_acquire) == t.seq) {
      t.outstanding = false;
      const double lat = static_cast<double>(h.latency_ns.load(std::memory_order_relaxed)) / 1e9;
      _window.add(lat, now_ms);
      _hist.add(lat);
      ++t.view.rounds;
      t.view.last_latency_s = lat;
      if (!h.ok.load(std::memory_order_relaxed)) {
        ++t.view.failures;
        ++failures;
        static constexpr const char* kStep[] = {"", "set", "get", "get"};
        const auto step = std::min<std::uint8_t>(h.failed_step.load(std::memory_order_relaxed), 3);
        lo.canary_wrong = true;
        lo.canary_error =
            step == 3 ? fmt::format("canary get on partition {} returned another value",
                                    h.failed_partition.load(std::memory_order_relaxed))
                      : fmt::format("canary {} on partition {} failed: {}", kStep[step],
                                    h.failed_partition.load(std::memory_order_relaxed),
                                    status_name(h.failed_status.load(std::memory_order_relaxed)));
      }
    }
    t.view.outstanding_s = 0;
    if (t.outstanding) {
      lo.canary_outstanding_s = static_cast<double>(now_ns - t.posted_ns) / 1e9;
      t.view.outstanding_s = lo.canary_outstanding_s;
      oldest_outstanding = std::max(oldest_outstanding, lo.canary_outstanding_s);
    }
    const std::uint64_t stalls = h.stalls.load(std::memory_order_relaxed);
    lo.stalls = stalls - t.stalls_seen;
    t.stalls_seen = stalls;
    t.view.stalls = stalls;
    lo.last_stall_s = static_cast<double>(h.last_stall_cycles.load(std::memory_order_relaxed)) /
                      _tsc_per_ns / 1e9;
    t.view.delay_us = h.delay_us.load(std::memory_order_relaxed);
  }
  _window.expire(now_ms);
  // An outstanding round counts at its age only once it is older than what the window
  // already holds: a stuck lcore reads as slow at once, long before it times out.
  o.canary_samples = _window.size() + (oldest_outstanding >= 0 ? 1 : 0);
  o.canary_p99_s = _window.quantile(0.99, oldest_outstanding);
  if (_in.storage) std::tie(o.storage_degraded, o.storage_reason) = _in.storage();
  auto delta = [&](const std::function<std::uint64_t()>& f, std::uint64_t& seen) {
    if (!f) return std::uint64_t{0};
    const std::uint64_t v = f();
    const std::uint64_t d = _first || v < seen ? 0 : v - seen;  // a reset counts as none
    seen = v;
    return d;
  };
  o.evictions = delta(_in.evictions, _evictions_seen);
  o.port_errors = delta(_in.port_errors, _port_errors_seen);
  if (_in.connections) std::tie(o.connections, o.max_connections) = _in.connections();
  if (_in.replication) o.replication = _in.replication();

  const auto changes = _model.evaluate(o, now_ms);
  log_changes(changes);
  {
    std::lock_guard lk(_m);
    _snap.report = _model.report();
    _snap.canary_samples = o.canary_samples;
    _snap.canary_p50_s = _window.quantile(0.5, oldest_outstanding);
    _snap.canary_p99_s = o.canary_p99_s;
    _snap.canary_max_s = _window.quantile(1.0, oldest_outstanding);
    _snap.canary_failures += failures;
    _snap.canary_rounds = 0;
    _snap.loop_stalls = 0;
    for (std::size_t i = 0; i < _track.size(); ++i) {
      _snap.lcores[i] = _track[i].view;
      _snap.canary_rounds += _track[i].view.rounds;
      _snap.loop_stalls += _track[i].view.stalls;
    }
    _snap.histogram = _hist;
  }
  publish_text();

  // Post the next round to every lcore that answered the last one.
  for (std::size_t i = 0; i < _lcores.size(); ++i) {
    lcore_track& t = _track[i];
    if (t.outstanding) continue;
    t.posted_ns = server::monotonic_ns();
    _lcores[i]->posted_ns.store(t.posted_ns, std::memory_order_relaxed);
    _lcores[i]->request_seq.store(++t.seq, std::memory_order_release);
    t.outstanding = true;
  }
  _last_ns = now_ns;
  _first = false;
}

void health_monitor::log_changes(const std::vector<health_change>& changes) {
  const health_report& r = _model.report();
  for (const auto& c : changes) {
    switch (c.what) {
      case health_change::kind::raised:
        spdlog::warn("event=health_reason_raised code={} severity={} reason={}", to_string(c.code),
                     to_string(severity(c.code)), q(c.detail));
        break;
      case health_change::kind::cleared:
        spdlog::info(
            "event=health_reason_cleared code={} reason={}", to_string(c.code),
            q("below threshold for " + std::to_string(_cfg.thresholds.recover_evaluations) +
              " evaluations; last: " + c.detail));
        break;
      case health_change::kind::state: {
        std::string codes, why;
        for (const auto& x : r.reasons) {
          codes += (codes.empty() ? "" : ",") + std::string(to_string(x.code));
          why += (why.empty() ? "" : "; ") + std::string(to_string(x.code)) + ": " + x.detail;
        }
        const auto level = c.to == health_state::ok ? spdlog::level::info : spdlog::level::warn;
        spdlog::log(level, "event=health_state state={} previous={} codes={} reason={}",
                    to_string(c.to), to_string(c.from), q(codes),
                    q(why.empty() ? "no reason left" : why));
        break;
      }
    }
  }
}

void health_monitor::set_lcore_delay(unsigned lcore, std::uint32_t us) {
  if (lcore >= _lcores.size()) return;
  _lcores[lcore]->delay_us.store(us, std::memory_order_relaxed);
  spdlog::warn(
      "event=fault_knob knob=lcore_delay_us lcore={} value={} reason={}", lcore, us,
      q(us ? "test fault: the lcore sleeps this long in every iteration" : "test fault lifted"));
}

std::uint32_t health_monitor::lcore_delay(unsigned lcore) const {
  return lcore < _lcores.size() ? _lcores[lcore]->delay_us.load(std::memory_order_relaxed) : 0;
}

health_snapshot health_monitor::snapshot() const {
  std::lock_guard lk(_m);
  return _snap;
}

void health_monitor::publish_text() {
  std::string t;
  auto line = [&](std::string_view k, const std::string& v) {
    t.append(k);
    t += '\t';
    for (char c : v) t += c == '\n' || c == '\t' ? ' ' : c;
    t += '\n';
  };
  {
    std::lock_guard lk(_m);
    const health_report& r = _snap.report;
    std::string codes;
    for (const auto& x : r.reasons)
      codes += (codes.empty() ? "" : ",") + std::string(to_string(x.code));
    line("state", to_string(r.state));
    line("state_since_ms", std::to_string(r.state_since_ms));
    line("reasons", codes);
    for (const auto& x : r.reasons) {
      line(std::string("reason:") + to_string(x.code), x.detail);
      line(std::string("since_ms:") + to_string(x.code), std::to_string(x.since_ms));
    }
    line("evaluations", std::to_string(r.evaluations));
    line("canary_samples", std::to_string(_snap.canary_samples));
    line("canary_p50_us", std::to_string(static_cast<std::uint64_t>(_snap.canary_p50_s * 1e6)));
    line("canary_p99_us", std::to_string(static_cast<std::uint64_t>(_snap.canary_p99_s * 1e6)));
    line("canary_max_us", std::to_string(static_cast<std::uint64_t>(_snap.canary_max_s * 1e6)));
    line("canary_rounds", std::to_string(_snap.canary_rounds));
    line("canary_failures", std::to_string(_snap.canary_failures));
    line("loop_stalls", std::to_string(_snap.loop_stalls));
  }
  // Cut at a line boundary if it does not fit (the reasons' details are the long part).
  const std::size_t cap = kTextWords * 8;
  if (t.size() > cap) t.resize(t.rfind('\n', cap - 1) + 1);
  std::array<std::uint64_t, kTextWords> w{};
  std::memcpy(w.data(), t.data(), t.size());
  const std::uint64_t s = _text_seq.load(std::memory_order_relaxed);
  _text_seq.store(s + 1, std::memory_order_relaxed);  // odd: a write in progress
  std::atomic_thread_fence(std::memory_order_release);
  _text_len.store(t.size(), std::memory_order_relaxed);
  for (std::size_t i = 0; i < (t.size() + 7) / 8; ++i)
    _text[i].store(w[i], std::memory_order_relaxed);
  _text_seq.store(s + 2, std::memory_order_release);
}

bool health_monitor::for_each_stat(
    const std::function<void(std::string_view, std::string_view)>& fn) const {
  std::array<std::uint64_t, kTextWords> w;
  std::size_t len = 0;
  bool got = false;
  for (int attempt = 0; attempt < 1000 && !got; ++attempt) {
    const std::uint64_t s1 = _text_seq.load(std::memory_order_acquire);
    if (s1 & 1) continue;
    len = std::min<std::size_t>(_text_len.load(std::memory_order_relaxed), kTextWords * 8);
    for (std::size_t i = 0; i < (len + 7) / 8; ++i) w[i] = _text[i].load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    got = _text_seq.load(std::memory_order_relaxed) == s1;
  }
  if (!got) return false;
  const std::string_view t(reinterpret_cast<const char*>(w.data()), len);
  std::size_t pos = 0;
  while (pos < t.size()) {
    const std::size_t nl = t.find('\n', pos);
    const std::string_view ln = t.substr(pos, nl - pos);
    const std::size_t tab = ln.find('\t');
    if (tab != std::string_view::npos) fn(ln.substr(0, tab), ln.substr(tab + 1));
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return true;
}

}  // namespace anvil::health
