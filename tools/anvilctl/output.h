// Output for people and for scripts, kept apart from the commands: aligned tables and
// "key  value" lists for a terminal, the server's JSON (or a command's own) for --json,
// and the small formatters (durations, bytes, ratios) the tables use. Nothing here
// talks to the server.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace anvil::ctl {

// Columns sized to their widest cell; cells that look like numbers are right-aligned.
struct table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  void print(std::ostream& out) const;
};

using pairs = std::vector<std::pair<std::string, std::string>>;
// "key   value" lines, keys padded to the longest.
void print_pairs(std::ostream& out, const pairs& p);
// Pretty JSON (two-space indent) and a newline.
void print_json(std::ostream& out, const nlohmann::json& j);

// A JSON scalar as a person reads it: strings bare, numbers as written, null as "-",
// arrays comma-joined, objects compact.
std::string text(const nlohmann::json& j);
// j[key] as text, "-" when absent.
std::string field(const nlohmann::json& j, const std::string& key);
// 93784 -> "1d 2h 3m 4s"; below a minute "4.2s"; negative or NaN -> "-".
std::string human_duration(double seconds);
// 1536 -> "1.5 KiB"; below 1 KiB "N B".
std::string human_bytes(double bytes);
// 0.9734 -> "97.3%"; NaN (no data) -> "-".
std::string percent(double ratio);
// A rate or count with at most one decimal: 1234567 -> "1.2M", 999 -> "999".
std::string human_count(double v);
// A unix time as "2026-12-05 21:40:00 UTC (3m 2s ago)", relative to `now`; 0 -> "never".
std::string human_since(double unix_seconds, double now);
// The current unix time.
double unix_now();
// Seconds as a latency: 0.000042 -> "42us", 0.0031 -> "3.1ms"; NaN -> "-".
std::string human_latency(double seconds);

}  // namespace anvil::ctl
