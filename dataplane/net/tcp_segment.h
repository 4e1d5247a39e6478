// Parsed TCP segments and their wire form. `tcp_segment` is what the connection state
// machine consumes and produces; parse_tcp_header / write_tcp_header convert between
// it and bytes (the checksum is the caller's, it needs the IP pseudo-header).
#pragma once

#include <array>
#include <cstdint>

#include "dataplane/net/seq.h"
#include "dataplane/net/wire.h"

namespace anvil::net {

namespace tcp_flag {
constexpr std::uint8_t fin = 0x01;
constexpr std::uint8_t syn = 0x02;
constexpr std::uint8_t rst = 0x04;
constexpr std::uint8_t psh = 0x08;
constexpr std::uint8_t ack = 0x10;
constexpr std::uint8_t urg = 0x20;
}  // namespace tcp_flag

// RFC 2018 SACK block: the peer holds [begin, end).
struct sack_block {
  seq_t begin = 0, end = 0;
};

// At most 4 SACK blocks fit the 40 option bytes (3 beside timestamps).
constexpr std::size_t kMaxSackBlocks = 4;

struct tcp_options {
  std::uint16_t mss = 0;    // 0: absent
  std::int8_t wscale = -1;  // -1: absent
  bool sack_permitted = false;
  bool has_ts = false;
  // A SACK option whose length is not 2 + 8n (n = 1..4) was present; its blocks are
  // ignored (sack_n stays 0). Only the first SACK option of a segment is read.
  bool sack_malformed = false;
  std::uint8_t sack_n = 0;  // blocks in `sack` (received, or to send)
  std::uint32_t ts_val = 0;
  std::uint32_t ts_ecr = 0;
  std::array<sack_block, kMaxSackBlocks> sack{};
};

// Option bytes n SACK blocks take on the wire (NOP NOP kind len, 8 per block).
constexpr std::size_t sack_option_len(std::size_t n) { return n ? 4 + 8 * n : 0; }

struct tcp_segment {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  seq_t seq = 0;
  seq_t ack = 0;
  std::uint8_t flags = 0;
  std::uint16_t window = 0;  // raw header field (unscaled)
  tcp_options opt;
  bytes payload;

  bool has(std::uint8_t f) const { return (flags & f) != 0; }
  // Sequence space the segment occupies: payload plus one for each of SYN and FIN.
  std::uint32_t seg_len() const {
    return static_cast<std::uint32_t>(payload.size()) + (has(tcp_flag::syn) ? 1u : 0u) +
           (has(tcp_flag::fin) ? 1u : 0u);
  }
};

enum class tcp_parse_error { none, too_short, bad_offset };

// Parses a TCP header + options from `l4` (exactly the TCP bytes of the IP payload).
// Malformed options end option parsing silently (RFC 9293 §3.1: be liberal), they
// never make the segment invalid.
tcp_parse_error parse_tcp(bytes l4, tcp_segment& out);

// Header length (with options, padded to 4) write_tcp_header will produce.
std::size_t tcp_header_len(const tcp_options& opt);

// Writes the header for `seg` at `p` (checksum field zeroed); returns its length.
std::size_t write_tcp_header(std::byte* p, const tcp_segment& seg);

}  // namespace anvil::net
