// anvil-loadgen: a memcached binary-protocol load generator (see runner.h for the model).
// Exit status: 0 when the run saw no error, 1 when it counted any, 2 on bad usage.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>

#include "tools/loadgen/report.h"
#include "tools/loadgen/runner.h"

namespace {

int run_main(int argc, char** argv) {
  using anvil::loadgen::options;
  options o;
  CLI::App app{"anvil-loadgen: memcached binary- or text-protocol load (pipelined GET/SET)"};
  app.add_option("-s,--server", o.host, "server address")->capture_default_str();
  app.add_option("-p,--port", o.port, "server TCP port")->capture_default_str();
  app.add_option("-c,--connections", o.connections, "connections")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100000u));
  app.add_option("-t,--threads", o.threads, "client threads (epoll each)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  app.add_option("-P,--pipeline", o.pipeline, "requests outstanding per connection")
      ->capture_default_str()
      ->check(CLI::Range(1u, 4096u));
  std::string protocol = "memcache_binary";
  app.add_option("--protocol", protocol, "memcache_binary | memcache_text (memtier's names)")
      ->capture_default_str()
      ->check(CLI::IsMember({"memcache_binary", "memcache_text"}));
  app.add_option("-r,--get-ratio", o.get_ratio, "fraction of GETs (rest SET)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("-k,--keys", o.keys, "key space, chosen uniformly")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("-d,--value-size", o.value_len, "value bytes")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 20));
  app.add_option("-D,--duration", o.duration_s, "measured seconds (0: bound by --requests)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("-w,--warmup", o.warmup_s, "seconds of unrecorded load before measuring")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("-n,--requests", o.requests, "measured requests in total (0: bound by time)")
      ->capture_default_str();
  app.add_flag("!--no-prefill", o.prefill, "skip setting every key before measuring");
  app.add_flag("--prefill-only", o.prefill_only, "set every key, then stop");
  app.add_flag("-v,--verify", o.verify, "compare every GET hit with the value set");
  app.add_flag("--miss-is-error", o.miss_is_error, "count GET misses as errors");
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
  app.add_option("--connect-timeout", o.connect_timeout_s, "seconds")->capture_default_str();
  app.add_option("--drain-timeout", o.drain_timeout_s,
                 "seconds to wait for outstanding responses at the end")
      ->capture_default_str();
  app.add_option("--json", o.json_path, "write a JSON result to FILE ('-' = stdout)");
  app.add_flag("-q,--quiet", o.quiet, "no text report");
  CLI11_PARSE(app, argc, argv);
  if (o.prefill_only) o.prefill = true;
  o.text = protocol == "memcache_text";

  anvil::loadgen::run_result r;
  try {
    r = anvil::loadgen::run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "anvil-loadgen: %s\n", e.what());
    return 2;
  }
  if (!o.quiet) std::cout << anvil::loadgen::text_report(o, r) << std::flush;
  if (!o.json_path.empty()) {
    const auto j = anvil::loadgen::json_report(o, r);
    if (o.json_path == "-") {
      std::cout << j << '\n';
    } else {
      std::ofstream f(o.json_path);
      f << j << '\n';
      if (!f) {
        std::fprintf(stderr, "anvil-loadgen: cannot write %s\n", o.json_path.c_str());
        return 2;
      }
    }
  }
  return r.errors.total() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_main(argc, argv);
  } catch (const std::exception& e) {  // reporting failed (out of memory, bad stream)
    std::fprintf(stderr, "anvil-loadgen: %s\n", e.what());
    return 2;
  }
}
