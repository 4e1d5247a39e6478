// Hand-built Ethernet/IPv4/TCP/UDP frames sent from the client namespace through an
// AF_PACKET socket: spoofed SYNs and deliberately malformed packets for the abuse
// tests. Checksums are computed here (RFC 1071), independently of dataplane/net.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace anvil::e2e {

using mac = std::array<std::uint8_t, 6>;
using frame = std::vector<std::uint8_t>;

mac parse_mac(const std::string& text);
std::uint32_t parse_ip(const std::string& dotted);  // host order

struct tcp_spec {
  mac src_mac{}, dst_mac{};
  std::uint32_t src_ip = 0, dst_ip = 0;  // host order
  std::uint16_t sport = 0, dport = 0;
  std::uint32_t seq = 0, ack = 0;
  std::uint8_t flags = 0x02;  // SYN
  std::string payload;
  bool mss_option = true;
  std::uint16_t mss = 1460;  // the MSS option's value (when mss_option)
  bool timestamps = false;   // NOP NOP TS(ts_val, ts_ecr)
  std::uint32_t ts_val = 0, ts_ecr = 0;
  std::uint16_t window = 64240;
};

// A TCP segment seen on the wire (IPv4, no IP options), for the raw-frame client.
struct tcp_seen {
  std::uint32_t src_ip = 0, dst_ip = 0;  // host order
  std::uint16_t sport = 0, dport = 0;
  std::uint32_t seq = 0, ack = 0;
  std::uint8_t flags = 0;
  std::uint16_t window = 0;
  bool has_ts = false;
  std::uint32_t ts_val = 0;
  std::string payload;
};
// nullopt for anything that is not a well-formed IPv4/TCP frame.
std::optional<tcp_seen> parse_tcp(const frame& f);

constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

frame tcp_frame(const tcp_spec& s);  // valid checksums
frame udp_frame(const mac& src_mac, const mac& dst_mac, std::uint32_t src_ip, std::uint32_t dst_ip,
                std::uint16_t sport, std::uint16_t dport, const std::string& payload);

// Recomputes the IPv4 header checksum of a frame (after a test edited the header).
void fix_ip_checksum(frame& f);

// An AF_PACKET socket on an interface of a namespace, for sending raw frames.
class raw_sender {
 public:
  raw_sender(const std::string& ns, const std::string& ifname);
  ~raw_sender();
  raw_sender(const raw_sender&) = delete;
  raw_sender& operator=(const raw_sender&) = delete;
  bool send(const frame& f);  // false when the kernel refused it (e.g. EMSGSIZE)
  // The next frame that arrived on the interface (not one this host sent), or nullopt
  // after `timeout`.
  std::optional<frame> receive(std::chrono::milliseconds timeout);

 private:
  int _fd = -1;
};

}  // namespace anvil::e2e
