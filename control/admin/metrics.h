// Prometheus text exposition format 0.0.4, written straight from the counters, and the
// list of collectors a scrape runs. A collector is a function that appends whole
// families (HELP, TYPE, samples) to an `exposition`; each subsystem has its own
// (node_metrics.cc for the server's counters; the health model adds one), reads its
// source when called, and names its metrics with units (`_total`, `_seconds`,
// `_bytes`). Runs on admin threads only: nothing here touches an lcore.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace anvil::control::admin {

struct label {
  std::string_view name;
  std::string_view value;
};

class exposition {
 public:
  // Starts a family: `# HELP` and `# TYPE` (counter, gauge, histogram, untyped).
  void family(std::string_view name, std::string_view type, std::string_view help);
  // One sample line; `name` is the family name or, for histograms, name + _bucket /
  // _sum / _count. Label values are escaped.
  void sample(std::string_view name, std::initializer_list<label> labels, double value);
  void sample(std::string_view name, std::initializer_list<label> labels, std::uint64_t value);
  void sample(std::string_view name, const std::vector<label>& labels, std::uint64_t value);
  // A whole histogram family: per-bucket (not cumulative) counts for each finite bound,
  // then the +Inf bucket; cumulative buckets, _sum and _count (= +Inf) are written here.
  void histogram(std::string_view name, std::string_view help, const std::vector<double>& bounds,
                 const std::vector<std::uint64_t>& counts, double sum);

  const std::string& text() const { return _out; }
  static std::string escape_label(std::string_view v);
  static std::string format_double(double v);

 private:
  void labels(const label* b, const label* e);
  std::string _out;
};

using collector = std::function<void(exposition&)>;

// The collectors a scrape runs, in registration order. Registration and scrapes may
// come from different threads.
class collector_list {
 public:
  void add(std::string name, collector c);
  void collect(exposition& out) const;
  std::vector<std::string> names() const;

 private:
  mutable std::mutex _mu;
  std::vector<std::pair<std::string, collector>> _list;
};

}  // namespace anvil::control::admin
