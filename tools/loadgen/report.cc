#include "tools/loadgen/report.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace anvil::loadgen {

namespace {

double us(std::uint64_t ns) { return double(ns) / 1000.0; }

nlohmann::json latency(const histogram& h) {
  return {{"count", h.count()},
          {"mean", h.mean() / 1000.0},
          {"min", us(h.min())},
          {"p50", us(h.quantile(0.5))},
          {"p90", us(h.quantile(0.9))},
          {"p99", us(h.quantile(0.99))},
          {"p999", us(h.quantile(0.999))},
          {"max", us(h.max())}};
}

}  // namespace

std::string text_report(const options& o, const run_result& r) {
  std::string s = fmt::format(
      "target {}:{}  connections {}/{}  threads {}  pipeline {}  get ratio {:.2f}  keys {}  "
      "value {} B\n",
      o.host, o.port, r.connections_open, o.connections, o.threads, o.pipeline, o.get_ratio, o.keys,
      o.value_len);
  if (o.prefill) s += fmt::format("prefill    {} keys in {:.2f} s\n", r.prefilled, r.prefill_s);
  if (!o.prefill_only) {
    s += fmt::format(
        "measured   {} requests in {:.2f} s = {:.0f} req/s ({} get: {} hit, {} miss; {} set)\n",
        r.requests, r.elapsed_s, r.throughput(), r.gets, r.get_hits, r.get_misses, r.sets);
    for (const auto& [name, h] : {std::pair{"all", &r.all}, {"get", &r.get}, {"set", &r.set}})
      s += fmt::format(
          "latency {:<3} us  p50 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}  mean {:.1f}\n", name,
          us(h->quantile(0.5)), us(h->quantile(0.99)), us(h->quantile(0.999)), us(h->max()),
          h->mean() / 1000.0);
  }
  const auto& e = r.errors;
  s += fmt::format(
      "errors     {} (connect {}, disconnect {}, protocol {}, status {}, value {}, miss {}, "
      "timeout {})\n",
      e.total(), e.connect, e.disconnect, e.protocol, e.status, e.value, e.miss, e.timeout);
  if (!r.first_error.empty()) s += "first error: " + r.first_error + "\n";
  return s;
}

std::string json_report(const options& o, const run_result& r) {
  const auto& e = r.errors;
  nlohmann::json j = {
      {"target", fmt::format("{}:{}", o.host, o.port)},
      {"protocol", o.text ? "memcache_text" : "memcache_binary"},
      {"connections", o.connections},
      {"connections_open", r.connections_open},
      {"threads", o.threads},
      {"pipeline", o.pipeline},
      {"get_ratio", o.get_ratio},
      {"keys", o.keys},
      {"value_len", o.value_len},
      {"verify", o.verify},
      {"prefilled", r.prefilled},
      {"prefill_s", r.prefill_s},
      {"warmup_s", o.warmup_s},
      {"requests", r.requests},
      {"responses_total", r.responses_total},
      {"gets", r.gets},
      {"sets", r.sets},
      {"get_hits", r.get_hits},
      {"get_misses", r.get_misses},
      {"elapsed_s", r.elapsed_s},
      {"throughput_rps", r.throughput()},
      {"client_cpu_s", r.client_cpu_s},
      {"client_wall_s", r.client_wall_s},
      {"latency_us", {{"all", latency(r.all)}, {"get", latency(r.get)}, {"set", latency(r.set)}}},
      {"errors",
       {{"total", e.total()},
        {"connect", e.connect},
        {"disconnect", e.disconnect},
        {"protocol", e.protocol},
        {"status", e.status},
        {"value", e.value},
        {"miss", e.miss},
        {"timeout", e.timeout}}},
      {"first_error", r.first_error},
  };
  return j.dump();
}

}  // namespace anvil::loadgen
