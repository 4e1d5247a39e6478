#include "control/config.h"

#include "control/cluster/cluster_schema.h"

#include <arpa/inet.h>

#include <toml++/toml.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace anvil::control {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

template <class T>
std::optional<T> parse_uint(const std::string& s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::uint16_t port_number(const std::string& field, const std::string& v) {
  auto n = parse_uint<unsigned>(v);
  if (!n || *n > 65535) throw config_error(field, "'" + v + "' is not a port number (0..65535)");
  return static_cast<std::uint16_t>(*n);
}

unsigned positive(const std::string& field, const std::string& v, unsigned max) {
  auto n = parse_uint<unsigned>(v);
  if (!n || *n == 0 || *n > max)
    throw config_error(field, "'" + v + "' must be a whole number 1.." + std::to_string(max));
  return *n;
}

}  // namespace

std::vector<std::string> with_af_packet_framecnt(std::vector<std::string> eal_args,
                                                 unsigned frames) {
  auto patch = [frames](std::string& spec) {
    if (spec.rfind("net_af_packet", 0) != 0 && spec.rfind("eth_af_packet", 0) != 0) return;
    if (spec.find("framecnt=") != std::string::npos) return;  // the operator chose
    spec += ",framecnt=" + std::to_string(frames);
  };
  for (std::size_t i = 0; i < eal_args.size(); ++i) {
    std::string& a = eal_args[i];
    if (a == "--vdev" && i + 1 < eal_args.size()) {
      patch(eal_args[++i]);
    } else if (a.rfind("--vdev=", 0) == 0) {
      std::string spec = a.substr(7);
      patch(spec);
      a = "--vdev=" + spec;
    }
  }
  return eal_args;
}

namespace {

// DPDK ring descriptors: the driver rounds to what it supports; below 32 a single
// burst would not fit, above 32768 no NIC has it (and nb_desc is 16 bits).
std::uint16_t ring_size(const std::string& field, const std::string& v) {
  const unsigned n = positive(field, v, 32768);
  if (n < 32) throw config_error(field, "'" + v + "' is below 32 descriptors");
  return static_cast<std::uint16_t>(n);
}

std::uint64_t memory_mb(const std::string& field, const std::string& v) {
  // memcached: plain megabytes; newer versions also take a unit ("4g").
  std::optional<std::uint64_t> mb = parse_uint<std::uint64_t>(v);
  if (!mb) {
    auto bytes = parse_size(v);
    if (bytes && *bytes % (1024ull * 1024) == 0) mb = *bytes / (1024ull * 1024);
  }
  if (!mb || *mb == 0 || *mb > (std::uint64_t{1} << 24))
    throw config_error(field, "'" + v + "' is not a memory size in megabytes (e.g. 64, 4g)");
  return *mb;
}

std::uint64_t item_size(const std::string& field, const std::string& v) {
  auto n = parse_size(v);
  if (!n) throw config_error(field, "'" + v + "' is not a size (e.g. 1m, 512k, 2097152)");
  if (*n < 1024) throw config_error(field, "item max size cannot be less than 1024 bytes");
  if (*n > 1024ull * 1024 * 1024)
    throw config_error(field, "item max size cannot be larger than 1 GB");
  return *n;
}

bool boolean(const std::string& field, const std::string& v) {
  auto l = lower(v);
  if (l == "true") return true;
  if (l == "false") return false;
  throw config_error(field, "expected true or false, got '" + v + "'");
}

// One TOML value as text, so the file and the flags share one validator per field.
// Integers, strings and booleans only; arrays are handled per field.
std::string scalar(const std::string& field, const toml::node& n) {
  if (auto i = n.as_integer()) {
    if (i->get() < 0) throw config_error(field, "must not be negative");
    return std::to_string(i->get());
  }
  if (auto s = n.as_string()) return s->get();
  if (auto b = n.as_boolean()) return b->get() ? "true" : "false";
  if (auto f = n.as_floating_point()) {
    std::ostringstream o;
    o << f->get();
    return o.str();
  }
  throw config_error(field, "expected a number, string or boolean");
}

// A decimal number in [min, max], or a config_error saying what was expected.
double number_in(const std::string& field, const std::string& v, double min, double max,
                 const std::string& what) {
  try {
    std::size_t used = 0;
    double d = std::stod(v, &used);
    if (used == v.size() && d >= min && d <= max) return d;
  } catch (const std::exception&) {
  }
  auto text = [](double d) {
    std::string t = std::to_string(d);
    t.erase(t.find_last_not_of('0') + 1);
    if (t.back() == '.') t.pop_back();
    return t;
  };
  throw config_error(field, "'" + v + "' must be " + what + " " + text(min) + ".." + text(max));
}

// A whole number in [min, max].
unsigned whole_in(const std::string& field, const std::string& v, double min, double max,
                  const std::string& what) {
  const double d = number_in(field, v, min, max, what);
  if (d != static_cast<double>(static_cast<unsigned>(d)))
    throw config_error(field, "'" + v + "' must be a whole number");
  return static_cast<unsigned>(d);
}

double seconds(const std::string& field, const std::string& v, double max) {
  return number_in(field, v, 0, max, "a number of seconds");
}

// memcached's idle_timeout: whole seconds, 0 = off.
unsigned idle_timeout(const std::string& field, const std::string& v) {
  auto n = parse_uint<unsigned>(v);
  if (!n || *n > 86400 * 365)
    throw config_error(field, "'" + v + "' must be a whole number of seconds 0..31536000");
  return *n;
}

// memcached's -o: comma-separated key=value (or bare key) options. Only the ones that
// mean the same here are accepted; any other is an error naming the ones that are.
void apply_extended(server_config& c, const std::vector<std::string>& opts) {
  for (const auto& group : opts) {
    std::stringstream in(group);
    std::string item;
    while (std::getline(in, item, ',')) {
      const auto eq = item.find('=');
      const std::string key = item.substr(0, eq);
      const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
      if (key == "idle_timeout")
        c.idle_timeout_s = idle_timeout("-o idle_timeout", value);
      else
        throw config_error("-o", "unknown extended option '" + key + "' (supported: idle_timeout)");
    }
  }
}

// memcached's -B values.
std::string protocol_binding(const std::string& field, const std::string& v) {
  if (v == "auto" || v == "binary" || v == "ascii") return v;
  throw config_error(field, "'" + v + "' is not a protocol (auto | binary | ascii)");
}

using setter = std::function<void(const std::string& field, const toml::node&)>;
using schema_map = std::map<std::string, std::map<std::string, setter>>;

// Every [section] key of the config file with its validator, writing into `c`. The one
// list of settings: apply_file() uses it, known_settings() lists it (docs/anvil.md is
// checked against it).
schema_map make_schema(server_config& c) {
  auto text = [](auto fn) {
    return [fn](const std::string& f, const toml::node& n) { fn(f, scalar(f, n)); };
  };
  return {
      {"memcached",
       {
           {"port", text([&](auto f, auto v) { c.tcp_port = port_number(f, v); })},
           {"udp_port", text([&](auto f, auto v) { c.udp_port = port_number(f, v); })},
           {"memory_mb", text([&](auto f, auto v) { c.memory_mb = memory_mb(f, v); })},
           {"threads", text([&](auto f, auto v) { c.lcores = positive(f, v, 1024); })},
           {"max_connections",
            text([&](auto f, auto v) { c.max_connections = positive(f, v, 10'000'000); })},
           {"max_item_size", text([&](auto f, auto v) { c.max_item_size = item_size(f, v); })},
           {"sasl", text([&](auto f, auto v) { c.sasl = boolean(f, v); })},
           {"protocol", text([&](auto f, auto v) { c.protocol = protocol_binding(f, v); })},
           {"sasl_credentials", text([&](auto, auto v) { c.sasl_credentials = v; })},
       }},
      {"cache",
       {
           {"segment_size", text([&](auto f, auto v) {
              auto n = parse_size(v);
              if (!n || *n < 65536 || *n > 1024ull * 1024 * 1024 || *n % 4096 != 0)
                throw config_error(f, "'" + v +
                                          "' is not a segment size (a multiple of 4k, "
                                          "64k..1g, e.g. 8m)");
              c.segment_size = *n;
            })},
           {"expected_item_bytes", text([&](auto f, auto v) {
              auto n = parse_size(v);
              if (!n || *n < 16 || *n > 1024ull * 1024 * 1024)
                throw config_error(f, "'" + v + "' is not an item size in bytes (16..1g)");
              c.expected_item_bytes = *n;
            })},
       }},
      {"network",
       {
           {"port_type", text([&](auto f, auto v) {
              if (v == "afpacket")
                c.port = port_kind::afpacket;
              else if (v == "dpdk")
                c.port = port_kind::dpdk;
              else
                throw config_error(f, "'" + v + "' is not a port type (afpacket | dpdk)");
            })},
           {"interface", text([&](auto f, auto v) {
              if (v.empty() || v.size() >= 16 || v.find_first_of("/ \t") != std::string::npos)
                throw config_error(f, "'" + v + "' is not an interface name");
              c.interface = v;
            })},
           {"ip", text([&](auto f, auto v) {
              if (!is_ipv4(v)) throw config_error(f, "'" + v + "' is not an IPv4 address");
              c.ip = v;
            })},
           {"mac", text([&](auto f, auto v) {
              auto m = parse_mac(v);
              if (!m) throw config_error(f, "'" + v + "' is not a MAC address (aa:bb:cc:dd:ee:ff)");
              if ((*m)[0] & 1) throw config_error(f, "'" + v + "' is a multicast address");
              c.mac = m;
            })},
       }},
      {"lcores",
       {
           {"cores",
            [&](const std::string& f, const toml::node& n) {
              std::vector<unsigned> cores;
              if (auto a = n.as_array()) {
                for (const auto& e : *a) {
                  auto i = e.as_integer();
                  if (i == nullptr || i->get() < 0 || i->get() > 4095)
                    throw config_error(f, "expected cpu numbers 0..4095");
                  cores.push_back(static_cast<unsigned>(i->get()));
                }
                std::sort(cores.begin(), cores.end());
                if (std::adjacent_find(cores.begin(), cores.end()) != cores.end())
                  throw config_error(f, "a cpu is listed twice");
              } else {
                auto v = scalar(f, n);
                auto l = parse_cpu_list(v);
                if (!l) throw config_error(f, "'" + v + "' is not a cpu list (e.g. \"0-3,6\")");
                cores = *l;
              }
              if (cores.empty()) throw config_error(f, "must list at least one cpu");
              c.cores = cores;
            }},
           {"idle", text([&](auto f, auto v) {
              if (v == "busy-poll")
                c.idle.mode = server::idle_policy::kind::busy_poll;
              else if (v == "backoff")
                c.idle.mode = server::idle_policy::kind::backoff;
              else
                throw config_error(f, "'" + v + "' is not an idle policy (busy-poll | backoff)");
            })},
           {"idle_sleep_us",
            text([&](auto f, auto v) { c.idle.sleep_us = positive(f, v, 1'000'000); })},
           {"start_timeout_s", text([&](auto f, auto v) {
              c.lcore_start_timeout_s = seconds(f, v, 600);
              if (c.lcore_start_timeout_s <= 0) throw config_error(f, "must be above 0");
            })},
           {"idle_spin", text([&](auto f, auto v) {
              auto n = parse_uint<std::uint32_t>(v);
              if (!n) throw config_error(f, "'" + v + "' must be a whole number");
              c.idle.spin_iterations = *n;
            })},
       }},
      {"afpacket",
       {
           {"rx", text([&](auto f, auto v) {
              if (v == "ring")
                c.afpacket_rx = port::afpacket_rx_mode::ring;
              else if (v == "mmsg")
                c.afpacket_rx = port::afpacket_rx_mode::mmsg;
              else
                throw config_error(f, "'" + v + "' is not an RX mode (ring | mmsg)");
            })},
           {"ring_frames", text([&](auto f, auto v) {
              unsigned n = positive(f, v, 1 << 20);
              if (n % 32 != 0) throw config_error(f, "must be a multiple of 32");
              c.ring_frames = n;
            })},
           {"offloads", text([&](auto f, auto v) {
              if (v == "off")
                c.nic_offloads_off = true;
              else if (v == "keep")
                c.nic_offloads_off = false;
              else
                throw config_error(f, "'" + v + "' is not an offload policy (off | keep)");
            })},
           {"checksum_partial", text([&](auto f, auto v) {
              if (v == "accept")
                c.csum_partial = port::csum_partial_policy::accept;
              else if (v == "drop")
                c.csum_partial = port::csum_partial_policy::drop;
              else
                throw config_error(f, "'" + v + "' is not a policy (accept | drop)");
            })},
       }},
      {"dpdk",
       {
           {"eal_args",
            [&](const std::string& f, const toml::node& n) {
              auto a = n.as_array();
              if (a == nullptr) throw config_error(f, "expected an array of strings");
              c.eal_args.clear();
              for (const auto& e : *a) {
                auto s = e.as_string();
                if (s == nullptr) throw config_error(f, "expected an array of strings");
                c.eal_args.push_back(s->get());
              }
            }},
           {"device", text([&](auto, auto v) { c.dpdk_device = v; })},
           {"rx_ring_size", text([&](auto f, auto v) { c.dpdk_rx_ring = ring_size(f, v); })},
           {"tx_ring_size", text([&](auto f, auto v) { c.dpdk_tx_ring = ring_size(f, v); })},
       }},
      {"server",
       {
           {"shutdown_timeout_s",
            text([&](auto f, auto v) { c.shutdown_timeout_s = seconds(f, v, 600); })},
           {"stats_interval_s",
            text([&](auto f, auto v) { c.stats_interval_s = seconds(f, v, 86400); })},
           {"idle_timeout_s", text([&](auto f, auto v) { c.idle_timeout_s = idle_timeout(f, v); })},
           {"fin_wait_2_timeout_s",
            text([&](auto f, auto v) { c.fin_wait_2_timeout_s = seconds(f, v, 86400); })},
           {"tcp_keepalive_s",
            text([&](auto f, auto v) { c.tcp_keepalive_s = seconds(f, v, 7 * 86400); })},
           {"tcp_keepalive_interval_s", text([&](auto f, auto v) {
              c.tcp_keepalive_interval_s = number_in(f, v, 1, 86400, "a number of seconds");
            })},
           {"tcp_keepalive_probes",
            text([&](auto f, auto v) { c.tcp_keepalive_probes = positive(f, v, 1000); })},
       }},
      {"snapshot",
       {
           {"dir", text([&](auto, auto v) { c.snapshot_dir = v; })},
           {"interval_s",
            text([&](auto f, auto v) { c.snapshot_interval_s = seconds(f, v, 7 * 86400); })},
           {"keep", text([&](auto f, auto v) { c.snapshot_keep = positive(f, v, 100); })},
           {"node_id", text([&](auto f, auto v) { c.node_id = positive(f, v, 1u << 30); })},
           {"at_shutdown", text([&](auto f, auto v) { c.snapshot_at_shutdown = boolean(f, v); })},
           {"require", text([&](auto f, auto v) { c.snapshot_require = boolean(f, v); })},
           {"io_timeout_s", text([&](auto f, auto v) {
              c.snapshot_io_timeout_s = number_in(f, v, 0.01, 3600, "a number of seconds");
            })},
           {"nice", text([&](auto f, auto v) {
              c.snapshot_nice = static_cast<int>(number_in(f, v, -20, 19, "a nice value"));
              if (c.snapshot_nice != std::stod(v))
                throw config_error(f, "'" + v + "' must be a whole number -20..19");
            })},
           {"rate_limit_mb_s", text([&](auto f, auto v) {
              c.snapshot_rate_limit_mb_s = number_in(f, v, 0, 1e6, "MB/s (0: unlimited)");
            })},
       }},
      {"cluster", cluster::cluster_schema(c.cluster)},
      {"health",
       {
           {"interval_s", text([&](auto f, auto v) {
              c.health_interval_s = number_in(f, v, 0.01, 3600, "a number of seconds");
            })},
           {"canary_p99_ms", text([&](auto f, auto v) {
              c.health_canary_p99_ms = number_in(f, v, 0.001, 1e6, "milliseconds");
            })},
           {"canary_timeout_s", text([&](auto f, auto v) {
              c.health_canary_timeout_s = number_in(f, v, 0.01, 3600, "a number of seconds");
            })},
           {"canary_window_s", text([&](auto f, auto v) {
              c.health_canary_window_s = number_in(f, v, 0.01, 86400, "a number of seconds");
            })},
           {"loop_stall_ms", text([&](auto f, auto v) {
              c.health_loop_stall_ms = number_in(f, v, 0.001, 1e6, "milliseconds");
            })},
           {"evictions_per_s", text([&](auto f, auto v) {
              c.health_evictions_per_s = number_in(f, v, 0, 1e12, "a rate per second");
            })},
           {"port_errors_per_s", text([&](auto f, auto v) {
              c.health_port_errors_per_s = number_in(f, v, 0, 1e12, "a rate per second");
            })},
           {"connections_near_pct", text([&](auto f, auto v) {
              c.health_connections_pct = number_in(f, v, 1, 100, "a percentage 1..100");
            })},
           {"recover_intervals",
            text([&](auto f, auto v) { c.health_recover_intervals = positive(f, v, 1000); })},
       }},
      {"debug",
       {
           {"enable_fault_knobs",
            text([&](auto f, auto v) { c.debug_fault_knobs = boolean(f, v); })},
           {"lcore_delay_us", text([&](auto f, auto v) {
              c.debug_lcore_delay_us = whole_in(f, v, 0, 10'000'000, "microseconds");
            })},
           {"lcore_delay_lcore", text([&](auto f, auto v) {
              c.debug_lcore_delay_lcore = whole_in(f, v, 0, 1023, "an lcore index");
            })},
       }},
      {"admin",
       {
           {"enabled", text([&](auto f, auto v) { c.admin.enabled = boolean(f, v); })},
           {"listen", text([&](auto f, auto v) {
              const auto colon = v.rfind(':');
              if (colon == std::string::npos || !is_ipv4(v.substr(0, colon)))
                throw config_error(f, "'" + v + "' is not IPv4:port (e.g. 127.0.0.1:11311)");
              c.admin.address = v.substr(0, colon);
              c.admin.port = port_number(f, v.substr(colon + 1));
            })},
           {"token_file", text([&](auto, auto v) { c.admin.token_file = v; })},
           {"max_connections",
            text([&](auto f, auto v) { c.admin.max_connections = positive(f, v, 4096); })},
           {"threads", text([&](auto f, auto v) { c.admin.threads = positive(f, v, 64); })},
           {"read_timeout_s", text([&](auto f, auto v) {
              c.admin.read_timeout_s = number_in(f, v, 0.1, 3600, "a number of seconds");
            })},
           {"write_timeout_s", text([&](auto f, auto v) {
              c.admin.write_timeout_s = number_in(f, v, 0.1, 3600, "a number of seconds");
            })},
           {"max_body_bytes", text([&](auto f, auto v) {
              auto n = parse_size(v);
              if (!n || *n < 1 || *n > 64ull * 1024 * 1024)
                throw config_error(f, "'" + v + "' is not a size in bytes (1..64m)");
              c.admin.max_body_bytes = *n;
            })},
       }},
  };
}

void apply_file(server_config& c, const std::string& path) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << "line " << e.source().begin.line << ": " << e.description();
    throw config_error("--config " + path, where.str());
  }
  const schema_map schema = make_schema(c);
  for (const auto& [section, node] : root) {
    const std::string sec(section.str());
    auto it = schema.find(sec);
    if (it == schema.end()) {
      std::string known;
      for (const auto& [name, keys] : schema) known += (known.empty() ? "" : ", ") + name;
      throw config_error(sec, "unknown section (known: " + known + ")");
    }
    auto tbl = node.as_table();
    if (tbl == nullptr) throw config_error(sec, "expected a [" + sec + "] table");
    for (const auto& [key, value] : *tbl) {
      const std::string field = sec + "." + std::string(key.str());
      auto k = it->second.find(std::string(key.str()));
      if (k == it->second.end()) throw config_error(field, "unknown setting");
      k->second(field, value);
    }
  }
}

}  // namespace

std::vector<std::string> known_settings() {
  server_config scratch;
  std::vector<std::string> out;
  for (const auto& [section, keys] : make_schema(scratch))
    for (const auto& [key, fn] : keys) out.push_back(section + "." + key);
  return out;
}

std::optional<std::uint64_t> parse_size(const std::string& s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t mult = 1;
  std::string digits = s;
  switch (std::tolower(static_cast<unsigned char>(s.back()))) {
    case 'k':
      mult = 1ull << 10;
      break;
    case 'm':
      mult = 1ull << 20;
      break;
    case 'g':
      mult = 1ull << 30;
      break;
    case 't':
      mult = 1ull << 40;
      break;
    default:
      break;
  }
  if (mult != 1) digits.pop_back();
  auto n = parse_uint<std::uint64_t>(digits);
  if (!n || *n > (~std::uint64_t{0}) / mult) return std::nullopt;
  return *n * mult;
}

std::optional<std::vector<unsigned>> parse_cpu_list(const std::string& s) {
  std::set<unsigned> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ',')) {
    auto dash = part.find('-');
    auto a = parse_uint<unsigned>(part.substr(0, dash));
    auto b = dash == std::string::npos ? a : parse_uint<unsigned>(part.substr(dash + 1));
    if (!a || !b || *a > *b || *b > 4095) return std::nullopt;
    for (unsigned i = *a; i <= *b; ++i) out.insert(i);
  }
  if (out.empty() || (!s.empty() && s.back() == ',')) return std::nullopt;
  return std::vector<unsigned>(out.begin(), out.end());
}

std::optional<port::mac_address> parse_mac(const std::string& s) {
  port::mac_address m{};
  if (s.size() != 17) return std::nullopt;
  for (std::size_t i = 0; i < 6; ++i) {
    if (i > 0 && s[i * 3 - 1] != ':') return std::nullopt;
    unsigned v = 0;
    const char* at = s.data() + i * 3;
    auto [p, ec] = std::from_chars(at, at + 2, v, 16);
    if (ec != std::errc() || p != at + 2) return std::nullopt;
    m[i] = static_cast<std::uint8_t>(v);
  }
  return m;
}

bool is_ipv4(const std::string& s) {
  in_addr a{};
  return ::inet_pton(AF_INET, s.c_str(), &a) == 1;
}

const char* to_string(port_kind k) { return k == port_kind::dpdk ? "dpdk" : "afpacket"; }

server_config load_config(const std::vector<std::string>& args) {
  CLI::App app{"anvil: a kernel-bypass memcached-binary cache appliance", "anvil"};
  app.set_version_flag("--version", "anvil 0.1.0");
  app.get_formatter()->column_width(34);
  std::string config, p, U, m, t, c, I, l, B;
  std::vector<std::string> o;
  bool S = false, require_snapshots = false;
  int v = 0;
  app.add_option("--config", config,
                 "TOML file with every other setting (docs/anvil.md lists them)");
  app.add_option("-p,--port", p, "TCP port (default 11211; 0 = off)");
  app.add_option("-U,--udp-port", U, "UDP port (default 0 = off)");
  app.add_option("-m,--memory-limit", m, "item memory in megabytes (default 64)");
  app.add_option("-t,--threads", t, "lcores: poll loops, one per core (default 1)");
  app.add_option("-c,--conn-limit", c, "max simultaneous connections (default 1024)");
  app.add_option("-I,--max-item-size", I, "max item size, e.g. 1m, 512k (default 1m)");
  app.add_option("-l,--listen", l, "the node's IPv4 address (network.ip)");
  app.add_option("-o,--extended", o,
                 "memcached extended options: idle_timeout=N (server.idle_timeout_s)");
  app.add_option("-B,--protocol", B, "auto | binary | ascii (default auto: per connection)");
  app.add_flag("-S,--enable-sasl", S, "require SASL authentication");
  app.add_flag("-v,--verbose", v, "more logging (-vv: even more)");
  app.add_flag("--require-snapshots", require_snapshots,
               "fail start-up when the snapshot directory cannot be prepared");

  std::vector<std::string> rev(args.rbegin(), args.rend());
  if (!rev.empty()) rev.pop_back();  // argv[0]
  try {
    app.parse(rev);
  } catch (const CLI::CallForHelp&) {
    throw early_exit{app.help()};
  } catch (const CLI::CallForVersion&) {
    throw early_exit{"anvil 0.1.0\n"};
  } catch (const CLI::ParseError& e) {
    throw config_error("command line", e.what());
  }

  server_config cfg;
  if (!config.empty()) {
    std::ifstream probe(config);
    if (!probe) throw config_error("--config", "cannot read '" + config + "'");
    cfg.config_path = config;
    apply_file(cfg, config);
  }
  if (app.count("-p")) cfg.tcp_port = port_number("-p/--port", p);
  if (app.count("-U")) cfg.udp_port = port_number("-U/--udp-port", U);
  if (app.count("-m")) cfg.memory_mb = memory_mb("-m/--memory-limit", m);
  if (app.count("-t")) cfg.lcores = positive("-t/--threads", t, 1024);
  if (app.count("-c")) cfg.max_connections = positive("-c/--conn-limit", c, 10'000'000);
  if (app.count("-I")) cfg.max_item_size = item_size("-I/--max-item-size", I);
  if (app.count("-l")) {
    if (!is_ipv4(l)) throw config_error("-l/--listen", "'" + l + "' is not an IPv4 address");
    cfg.ip = l;
  }
  apply_extended(cfg, o);
  if (app.count("-B")) cfg.protocol = protocol_binding("-B/--protocol", B);
  if (S) cfg.sasl = true;
  if (require_snapshots) cfg.snapshot_require = true;
  // A fault knob in a production config by mistake would make a node slow on purpose:
  // it needs the second, explicit key (docs/anvil.md, [debug]).
  if (cfg.debug_lcore_delay_us != 0 && !cfg.debug_fault_knobs)
    throw config_error("debug.lcore_delay_us",
                       "a test-only fault knob: refused unless [debug] enable_fault_knobs = true");
  if (cfg.debug_lcore_delay_lcore >= (cfg.cores.empty() ? cfg.lcores : cfg.cores.size()))
    throw config_error("debug.lcore_delay_lcore",
                       "lcore " + std::to_string(cfg.debug_lcore_delay_lcore) +
                           " does not exist (lcores are numbered from 0)");
  if (cfg.snapshot_require && cfg.snapshot_dir.empty())
    throw config_error(require_snapshots ? "--require-snapshots" : "snapshot.require",
                       "snapshots are required but no [snapshot] dir is set");
  cfg.verbosity = v;

  // Cross-field rules.
  if (!cfg.cores.empty()) {
    if (app.count("-t") && cfg.lcores != cfg.cores.size())
      throw config_error("-t/--threads", std::to_string(cfg.lcores) +
                                             " lcores but lcores.cores lists " +
                                             std::to_string(cfg.cores.size()) + " cpus");
    cfg.lcores = static_cast<unsigned>(cfg.cores.size());
  }
  if (cfg.max_item_size > cfg.memory_mb * 1024 * 1024 / 2)
    throw config_error(
        app.count("-I") ? "-I/--max-item-size" : "memcached.max_item_size",
        "cannot be higher than 1/2 of the memory limit (-m " + std::to_string(cfg.memory_mb) + ")");
  if (cfg.segment_size != 0 && cfg.segment_size < cfg.max_item_size)
    throw config_error("cache.segment_size",
                       "smaller than the max item size (" + std::to_string(cfg.max_item_size) +
                           " bytes, -I/--max-item-size): an item never spans segments");
  if (cfg.tcp_port == 0 && cfg.udp_port == 0)
    throw config_error("-p/--port", "TCP and UDP are both off: nothing to serve");
  // memcached: "You cannot allow the ASCII protocol while using SASL"; without -B, -S
  // selects binary.
  if (cfg.sasl && cfg.protocol != "binary") {
    if (app.count("-B") || cfg.protocol == "ascii")
      throw config_error(app.count("-B") ? "-B/--protocol" : "memcached.protocol",
                         "'" + cfg.protocol +
                             "' with SASL (-S): the text protocol has no authentication; "
                             "use binary");
    cfg.protocol = "binary";
  }
  if (cfg.sasl && cfg.sasl_credentials.empty())
    throw config_error("-S/--enable-sasl",
                       "needs memcached.sasl_credentials (a file of user:pbkdf2-sha256:... "
                       "lines, see dataplane/proto/sasl.h); refusing to start open");
  if (cfg.ip.empty()) throw config_error("network.ip", "required: the node's IPv4 address (or -l)");
  if (cfg.port == port_kind::afpacket && cfg.interface.empty())
    throw config_error("network.interface", "required for port_type = \"afpacket\"");
  if (const std::string e = cluster::finish(cfg.cluster); !e.empty()) {
    const auto colon = e.find(": ");
    throw config_error(e.substr(0, colon), e.substr(colon + 2));
  }
  if (cfg.cluster.enabled() && cfg.cluster.vip == cfg.ip)
    throw config_error("cluster.vip", "must differ from network.ip (" + cfg.ip +
                                          "): the VIP moves between nodes, the node's own "
                                          "address stays");
  return cfg;
}

}  // namespace anvil::control
