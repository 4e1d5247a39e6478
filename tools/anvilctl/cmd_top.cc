// `top`: a refreshing per-lcore view (ops/s, hit ratio, p50/p99 over the last interval,
// connections, loop busy), from two GET /v1/stats a second apart. Plain output that
// works over ssh: on a terminal it clears the screen with one ANSI sequence per frame,
// elsewhere it prints frames one after the other (--json: one JSON object per line).
// Quits on q, Ctrl-C (SIGINT) or after --iterations frames.
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <sstream>

#include "tools/anvilctl/commands.h"
#include "tools/anvilctl/output.h"
#include "tools/anvilctl/stats_model.h"

namespace anvil::ctl {

using nlohmann::json;

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

// Keys without Enter and without echo while top runs; Ctrl-C still signals (ISIG kept).
class raw_keys {
 public:
  raw_keys() {
    if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &_saved) != 0) return;
    termios t = _saved;
    t.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    _active = ::tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
  }
  ~raw_keys() {
    if (_active) ::tcsetattr(STDIN_FILENO, TCSANOW, &_saved);
  }
  raw_keys(const raw_keys&) = delete;
  raw_keys& operator=(const raw_keys&) = delete;
  bool active() const { return _active; }

 private:
  termios _saved{};
  bool _active = false;
};

// SIGINT/SIGTERM set g_stop (no SA_RESTART, so a wait in poll() returns at once).
class stop_signals {
 public:
  stop_signals() {
    g_stop.store(false);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &_old_int);
    ::sigaction(SIGTERM, &sa, &_old_term);
  }
  ~stop_signals() {
    ::sigaction(SIGINT, &_old_int, nullptr);
    ::sigaction(SIGTERM, &_old_term, nullptr);
  }
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;

 private:
  struct sigaction _old_int {
  }, _old_term{};
};

// Waits up to `seconds` for a key; true when the user asked to quit (q, Ctrl-C).
bool wait_or_quit(double seconds, bool keys) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!g_stop.load()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{STDIN_FILENO, POLLIN, 0};
    const int n = ::poll(keys ? &p : nullptr, keys ? 1 : 0, static_cast<int>(left.count()));
    if (n > 0 && (p.revents & POLLIN)) {
      char c = 0;
      if (::read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q')) return true;
    }
  }
  return true;
}

json rates_json(const lcore_rates& r) {
  auto n = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  json j{{"ops_per_second", n(r.ops_per_s)},
         {"hit_ratio", n(r.hit_ratio)},
         {"p50_seconds", n(r.p50_s)},
         {"p99_seconds", n(r.p99_s)},
         {"connections", r.connections},
         {"busy_ratio", r.busy_ratio},
         {"longest_iteration_seconds", r.longest_iteration_s}};
  if (r.lcore >= 0) {
    j["lcore"] = r.lcore;
    j["cpu"] = r.cpu;
  }
  return j;
}

std::vector<std::string> row(const lcore_rates& r, const std::string& name) {
  return {name,
          r.cpu >= 0 ? std::to_string(r.cpu) : "-",
          human_count(r.ops_per_s),
          percent(r.hit_ratio),
          latency_cell(r.p50_s, r.top_bound_s),
          latency_cell(r.p99_s, r.top_bound_s),
          human_count(r.connections),
          percent(r.busy_ratio),
          human_latency(r.longest_iteration_s)};
}

const lcore_sample* find_lcore(const stats_sample& s, long lcore) {
  for (const auto& l : s.lcores)
    if (l.lcore == lcore) return &l;
  return nullptr;
}

// `seconds`: measured between the two samples (the rates use it); `every`: --interval.
void render(cli_context& ctx, const std::string& where, const stats_sample& prev,
            const stats_sample& cur, double seconds, double every, bool clear) {
  std::vector<lcore_rates> rates;
  for (const auto& l : cur.lcores) {
    const lcore_sample* p = find_lcore(prev, l.lcore);
    rates.push_back(rates_between(p ? *p : l, l, p ? seconds : 0));
  }
  const lcore_rates total = rates_between(prev.total, cur.total, seconds);
  if (ctx.json) {
    json j{{"time_unix", unix_now()}, {"interval_seconds", seconds}, {"total", rates_json(total)}};
    j["lcores"] = json::array();
    for (const auto& r : rates) j["lcores"].push_back(rates_json(r));
    ctx.o() << j.dump() << '\n' << std::flush;
    return;
  }
  std::string out = clear ? "\x1b[H\x1b[2J" : "";
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%H:%M:%S UTC", &tm);
  out += "anvil top  " + where + "  " + when + "  every " + human_latency(every) +
         "  (q or Ctrl-C quits)\n\n";
  table t{{"LCORE", "CPU", "OPS/S", "HIT%", "P50", "P99", "CONNS", "BUSY%", "LONGEST"}, {}};
  for (const auto& r : rates) t.rows.push_back(row(r, std::to_string(r.lcore)));
  t.rows.push_back(row(total, "total"));
  std::ostringstream s;
  t.print(s);
  ctx.o() << out << s.str() << (clear ? "" : "\n") << std::flush;
}

void run_top(cli_context& ctx, double interval, long iterations) {
  const admin_client c = ctx.client();
  const bool tty_out = ctx.out == &std::cout && ::isatty(STDOUT_FILENO) && !ctx.json;
  raw_keys keys;
  stop_signals signals;
  auto sample = [&c] {
    return std::make_pair(sample_of(c.get("/v1/stats")), std::chrono::steady_clock::now());
  };
  auto [prev, prev_t] = sample();
  for (long frame = 0; iterations == 0 || frame < iterations; ++frame) {
    if (wait_or_quit(interval, keys.active())) break;
    auto [cur, cur_t] = sample();
    render(ctx, c.where(), prev, cur, std::chrono::duration<double>(cur_t - prev_t).count(),
           interval, tty_out);
    prev = std::move(cur);
    prev_t = cur_t;
  }
}

}  // namespace

void add_top_command(CLI::App& app, cli_context& ctx) {
  auto* top = app.add_subcommand(
      "top", "Per-lcore ops/s, hit ratio, p50/p99, connections, loop busy; refreshes until q");
  top->add_option("--interval", "seconds between frames")
      ->default_val(1.0)
      ->check(CLI::Range(0.1, 60.0));
  top->add_option("--iterations", "stop after this many frames (0: until q or Ctrl-C)")
      ->default_val(0)
      ->check(CLI::Range(0L, 1000000L));
  top->callback([&ctx, top] {
    run_top(ctx, top->get_option("--interval")->as<double>(),
            top->get_option("--iterations")->as<long>());
  });
}

}  // namespace anvil::ctl
