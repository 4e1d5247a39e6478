#include "control/cluster/heartbeat.h"

#include <cstring>

namespace anvil::cluster {

namespace {

constexpr std::uint8_t kMagic[4] = {'A', 'N', 'H', 'B'};
constexpr std::uint8_t kVersion = 1;

void put64(std::vector<std::uint8_t>& o, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) o.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put32(std::vector<std::uint8_t>& o, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) o.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
std::uint64_t get64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
std::uint32_t get32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | p[i];
  return v;
}
bool put_text(std::vector<std::uint8_t>& o, const std::string& s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  o.push_back(static_cast<std::uint8_t>(s.size()));
  o.insert(o.end(), s.begin(), s.end());
  return true;
}
// Reads a u8-length string at `at`; false if it does not fit in `in` or in `max`.
bool get_text(std::span<const std::uint8_t> in, std::size_t& at, std::size_t max, std::string& s) {
  if (at >= in.size()) return false;
  const std::size_t len = in[at];
  if (len == 0 || len > max || len > in.size() - at - 1) return false;
  s.assign(reinterpret_cast<const char*>(in.data() + at + 1), len);
  at += 1 + len;
  return true;
}

}  // namespace

const char* to_string(decode_error e) {
  switch (e) {
    case decode_error::none:
      return "none";
    case decode_error::too_short:
      return "too_short";
    case decode_error::too_long:
      return "too_long";
    case decode_error::bad_magic:
      return "bad_magic";
    case decode_error::bad_version:
      return "bad_version";
    case decode_error::bad_role:
      return "bad_role";
    case decode_error::bad_health:
      return "bad_health";
    case decode_error::too_many_reasons:
      return "too_many_reasons";
    case decode_error::bad_name:
      return "bad_name";
    case decode_error::bad_reason:
      return "bad_reason";
    case decode_error::trailing_bytes:
      return "trailing_bytes";
  }
  return "?";
}

bool encode(const heartbeat& hb, std::vector<std::uint8_t>& out) {
  out.clear();
  if (hb.reasons.size() > kMaxReasons) return false;
  out.insert(out.end(), kMagic, kMagic + 4);
  out.push_back(kVersion);
  out.push_back(static_cast<std::uint8_t>(hb.node_role));
  out.push_back(static_cast<std::uint8_t>(hb.health));
  out.push_back(static_cast<std::uint8_t>(hb.reasons.size()));
  put64(out, hb.incarnation);
  put64(out, hb.seq);
  put64(out, hb.epoch);
  put64(out, hb.replication_position);
  put32(out, hb.canary_latency_us);
  if (!put_text(out, hb.node, kMaxName) || !put_text(out, hb.zone, kMaxName) ||
      !put_text(out, hb.shard, kMaxName))
    return false;
  for (const auto& r : hb.reasons)
    if (!put_text(out, r, kMaxReason)) return false;
  return out.size() <= kMaxPacket;
}

decode_error decode(std::span<const std::uint8_t> in, heartbeat& hb) {
  if (in.size() > kMaxPacket) return decode_error::too_long;
  if (in.size() < kHeartbeatFixed) return decode_error::too_short;
  if (std::memcmp(in.data(), kMagic, 4) != 0) return decode_error::bad_magic;
  if (in[4] != kVersion) return decode_error::bad_version;
  if (in[5] > static_cast<std::uint8_t>(role::fenced)) return decode_error::bad_role;
  if (in[6] > static_cast<std::uint8_t>(health_level::failing)) return decode_error::bad_health;
  if (in[7] > kMaxReasons) return decode_error::too_many_reasons;
  heartbeat out;
  out.node_role = static_cast<role>(in[5]);
  out.health = static_cast<health_level>(in[6]);
  out.incarnation = get64(in.data() + 8);
  out.seq = get64(in.data() + 16);
  out.epoch = get64(in.data() + 24);
  out.replication_position = get64(in.data() + 32);
  out.canary_latency_us = get32(in.data() + 40);
  std::size_t at = kHeartbeatFixed;
  if (!get_text(in, at, kMaxName, out.node) || !get_text(in, at, kMaxName, out.zone) ||
      !get_text(in, at, kMaxName, out.shard))
    return decode_error::bad_name;
  out.reasons.resize(in[7]);
  for (auto& r : out.reasons)
    if (!get_text(in, at, kMaxReason, r)) return decode_error::bad_reason;
  if (at != in.size()) return decode_error::trailing_bytes;
  hb = std::move(out);
  return decode_error::none;
}

}  // namespace anvil::cluster
