#include "bench/e2e/switchover_log.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <set>
#include <string_view>

namespace anvil::bench {

namespace {

// The next space-separated field of `s` from `pos` as an unsigned number.
template <class T>
bool next_number(std::string_view s, std::size_t& pos, T& out) {
  if (pos >= s.size() || s[pos] != ' ') return false;
  ++pos;
  const char* b = s.data() + pos;
  auto [p, ec] = std::from_chars(b, s.data() + s.size(), out);
  if (ec != std::errc() || p == b) return false;
  pos += static_cast<std::size_t>(p - b);
  return true;
}

}  // namespace

std::optional<write_event> parse_event(const std::string& line, std::string& why) {
  std::string_view s(line);
  if (s.size() < 2) {
    why = "too short";
    return std::nullopt;
  }
  write_event e;
  switch (s[0]) {
    case 'C':
      e.what = write_event::kind::connected;
      break;
    case 'A':
      e.what = write_event::kind::acked;
      break;
    case 'F':
      e.what = write_event::kind::fenced;
      break;
    case 'S':
      e.what = write_event::kind::other_status;
      break;
    case 'E':
      e.what = write_event::kind::failed;
      break;
    default:
      why = "unknown event '" + std::string(1, s[0]) + "'";
      return std::nullopt;
  }
  std::size_t pos = 1;
  if (!next_number(s, pos, e.t_ns) || e.t_ns < 0) {
    why = "bad time";
    return std::nullopt;
  }
  if (!next_number(s, pos, e.value)) {
    why = "bad key or pid";
    return std::nullopt;
  }
  if (e.what == write_event::kind::other_status && !next_number(s, pos, e.status)) {
    why = "bad status";
    return std::nullopt;
  }
  if (pos != s.size()) {
    why = "trailing characters";
    return std::nullopt;
  }
  return e;
}

std::string format_event(const write_event& e) {
  static constexpr char kLetter[] = {'C', 'A', 'F', 'S', 'E'};
  std::string s(1, kLetter[static_cast<int>(e.what)]);
  s += ' ' + std::to_string(e.t_ns) + ' ' + std::to_string(e.value);
  if (e.what == write_event::kind::other_status) s += ' ' + std::to_string(e.status);
  return s;
}

std::vector<switchover_figures> analyze(const std::vector<write_event>& events,
                                        const std::vector<switchover>& rounds) {
  using kind = write_event::kind;
  std::vector<switchover_figures> out;
  out.reserve(rounds.size());
  for (std::size_t r = 0; r < rounds.size(); ++r) {
    const std::int64_t t0 = rounds[r].t_cmd_ns;
    const std::int64_t t1 =
        r + 1 < rounds.size() ? rounds[r + 1].t_cmd_ns : std::numeric_limits<std::int64_t>::max();
    const std::uint64_t target = rounds[r].target_pid;
    switchover_figures f;
    std::uint64_t pid = 0;
    std::optional<std::int64_t> prev_ack;  // last ack before t0, then the latest in the span
    bool fence_seen = false;
    std::int64_t first_fence = 0;
    std::set<std::uint64_t> retried;
    for (const write_event& e : events) {
      if (e.t_ns >= t1) break;
      if (e.what == kind::connected) {
        pid = e.value;
        continue;
      }
      if (e.t_ns < t0) {
        if (e.what == kind::acked) prev_ack = e.t_ns;
        continue;
      }
      if (e.what == kind::fenced) fence_seen = true;
      if (e.what == kind::acked) {
        if (fence_seen && pid != target) ++f.old_acks_after_fence;
        if (f.reached) continue;
        const std::int64_t from = prev_ack.value_or(t0);
        f.pause_ms = std::max(f.pause_ms, static_cast<double>(e.t_ns - from) / 1e6);
        prev_ack = e.t_ns;
        if (pid == target && target != 0) {
          f.reached = true;
          f.first_ack_ms = static_cast<double>(e.t_ns - t0) / 1e6;
        }
        continue;
      }
      if (f.reached) continue;
      retried.insert(e.value);
      if (e.what == kind::fenced) {
        if (f.fenced++ == 0) first_fence = e.t_ns;
        f.fence_ms = static_cast<double>(e.t_ns - first_fence) / 1e6;
      }
      if (e.what == kind::failed) ++f.failed;
      if (e.what == kind::other_status) ++f.other_status;
    }
    f.retried_keys = retried.size();
    out.push_back(f);
  }
  return out;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace anvil::bench
