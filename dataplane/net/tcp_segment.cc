#include "dataplane/net/tcp_segment.h"

namespace anvil::net {

tcp_parse_error parse_tcp(bytes l4, tcp_segment& out) {
  if (l4.size() < kTcpHeader) return tcp_parse_error::too_short;
  const std::byte* p = l4.data();
  const std::size_t hlen = static_cast<std::size_t>(load8(p + 12) >> 4) * 4;
  if (hlen < kTcpHeader || hlen > l4.size()) return tcp_parse_error::bad_offset;
  out.src_port = load16(p);
  out.dst_port = load16(p + 2);
  out.seq = load32(p + 4);
  out.ack = load32(p + 8);
  out.flags = load8(p + 13) & 0x3f;
  out.window = load16(p + 14);
  out.opt = tcp_options{};
  out.payload = l4.subspan(hlen);
  std::size_t i = kTcpHeader;
  while (i < hlen) {
    const std::uint8_t kind = load8(p + i);
    if (kind == 0) break;  // end of option list
    if (kind == 1) {       // NOP
      ++i;
      continue;
    }
    if (i + 1 >= hlen) break;
    const std::size_t len = load8(p + i + 1);
    if (len < 2 || i + len > hlen) break;
    switch (kind) {
      case 2:
        if (len == 4) out.opt.mss = load16(p + i + 2);
        break;
      case 3:
        if (len == 3)
          out.opt.wscale = static_cast<std::int8_t>(load8(p + i + 2) > 14 ? 14 : load8(p + i + 2));
        break;
      case 4:
        if (len == 2) out.opt.sack_permitted = true;
        break;
      case 8:
        if (len == 10) {
          out.opt.has_ts = true;
          out.opt.ts_val = load32(p + i + 2);
          out.opt.ts_ecr = load32(p + i + 6);
        }
        break;
      case 5:  // RFC 2018 SACK: 2 + 8n bytes, n = 1..4 (what 40 option bytes can hold)
        if (out.opt.sack_n || out.opt.sack_malformed) break;  // only the first one
        if (len >= 10 && (len - 2) % 8 == 0 && (len - 2) / 8 <= kMaxSackBlocks) {
          const std::size_t n = (len - 2) / 8;
          for (std::size_t b = 0; b < n; ++b) {
            out.opt.sack[b].begin = load32(p + i + 2 + 8 * b);
            out.opt.sack[b].end = load32(p + i + 6 + 8 * b);
          }
          out.opt.sack_n = static_cast<std::uint8_t>(n);
        } else {
          out.opt.sack_malformed = true;
        }
        break;
      default:
        break;  // anything else: ignored
    }
    i += len;
  }
  return tcp_parse_error::none;
}

std::size_t tcp_header_len(const tcp_options& opt) {
  std::size_t n = kTcpHeader;
  if (opt.mss) n += 4;
  if (opt.wscale >= 0) n += 4;     // NOP + WS
  if (opt.sack_permitted) n += 4;  // NOP NOP SACKOK (or folded with TS below)
  if (opt.has_ts) n += 12;         // NOP NOP TS
  n += sack_option_len(opt.sack_n);
  return n;
}

std::size_t write_tcp_header(std::byte* p, const tcp_segment& seg) {
  const std::size_t hlen = tcp_header_len(seg.opt);
  store16(p, seg.src_port);
  store16(p + 2, seg.dst_port);
  store32(p + 4, seg.seq);
  store32(p + 8, seg.ack);
  store8(p + 12, static_cast<std::uint8_t>((hlen / 4) << 4));
  store8(p + 13, seg.flags);
  store16(p + 14, seg.window);
  store32(p + 16, 0);  // checksum + urgent pointer
  std::byte* o = p + kTcpHeader;
  if (seg.opt.mss) {
    store8(o, 2), store8(o + 1, 4), store16(o + 2, seg.opt.mss);
    o += 4;
  }
  if (seg.opt.wscale >= 0) {
    store8(o, 1), store8(o + 1, 3), store8(o + 2, 3);
    store8(o + 3, static_cast<std::uint8_t>(seg.opt.wscale));
    o += 4;
  }
  if (seg.opt.sack_permitted) {
    store8(o, 1), store8(o + 1, 1), store8(o + 2, 4), store8(o + 3, 2);
    o += 4;
  }
  if (seg.opt.has_ts) {
    store8(o, 1), store8(o + 1, 1), store8(o + 2, 8), store8(o + 3, 10);
    store32(o + 4, seg.opt.ts_val);
    store32(o + 8, seg.opt.ts_ecr);
    o += 12;
  }
  if (seg.opt.sack_n) {
    store8(o, 1), store8(o + 1, 1), store8(o + 2, 5);
    store8(o + 3, static_cast<std::uint8_t>(2 + 8 * seg.opt.sack_n));
    o += 4;
    for (std::size_t b = 0; b < seg.opt.sack_n; ++b, o += 8) {
      store32(o, seg.opt.sack[b].begin);
      store32(o + 4, seg.opt.sack[b].end);
    }
  }
  return hlen;
}

}  // namespace anvil::net
