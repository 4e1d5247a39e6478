#include "tests/ha/arp_owners.h"

#include <arpa/inet.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <cstdio>
#include <memory>

namespace anvil::ha {
namespace {

constexpr std::uint16_t kEtherArp = 0x0806;
constexpr std::uint16_t kEtherVlan = 0x8100;
constexpr std::size_t kArpSize = 28;  // Ethernet/IPv4 ARP body

std::uint16_t be16(const std::uint8_t* p) { return std::uint16_t(p[0] << 8 | p[1]); }
std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

// Offset of the ethertype field and of the payload for each supported link type.
bool link_layout(int linktype, std::size_t& type_off, std::size_t& payload_off) {
  switch (linktype) {
    case DLT_EN10MB:
      type_off = 12, payload_off = 14;
      return true;
    case DLT_LINUX_SLL:  // pkttype, hatype, halen, addr[8], protocol
      type_off = 14, payload_off = 16;
      return true;
    case DLT_LINUX_SLL2:  // protocol, reserved, ifindex, hatype, pkttype, halen, addr[8]
      type_off = 0, payload_off = 20;
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string mac_string(const mac& m) {
  char b[18];
  std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

bool parse_arp(int linktype, const std::uint8_t* p, std::size_t caplen, arp_frame& out,
               bool& malformed) {
  malformed = false;
  std::size_t type_off = 0, off = 0;
  if (!link_layout(linktype, type_off, off) || caplen < off) return false;
  std::uint16_t type = be16(p + type_off);
  if (linktype == DLT_EN10MB && type == kEtherVlan) {  // one 802.1Q tag
    if (caplen < off + 4) return false;
    type = be16(p + off + 2);
    off += 4;
  }
  if (type != kEtherArp) return false;
  if (caplen < off + 8) {
    malformed = true;
    return false;
  }
  const std::uint8_t* a = p + off;
  const std::uint16_t htype = be16(a), ptype = be16(a + 2);
  const std::uint8_t hlen = a[4], plen = a[5];
  if (htype != 1 || ptype != 0x0800) return false;  // ARP for something else: not ours
  if (hlen != 6 || plen != 4 || caplen < off + kArpSize) {
    malformed = true;
    return false;
  }
  out.op = be16(a + 6);
  std::copy(a + 8, a + 14, out.sha.begin());
  out.spa = be32(a + 14);
  std::copy(a + 18, a + 24, out.tha.begin());
  out.tpa = be32(a + 24);
  return true;
}

std::uint64_t probe_sequence(const arp_frame& f) {
  // 0xa7 has the group bit set: no station's MAC starts with it, so a kernel's unicast
  // probe (whose tha is the target's MAC) can never look like ours.
  if (f.op != 1 || f.tha[0] != 0xa7) return 0;
  std::uint64_t seq = 0;
  for (int i = 1; i < 6; ++i) seq = seq << 8 | f.tha[i];
  return seq;
}

arp_owner_report analyze_arp_owners(const std::string& pcap_path, const std::string& vip) {
  arp_owner_report r;
  in_addr vip_addr{};
  if (::inet_pton(AF_INET, vip.c_str(), &vip_addr) != 1) {
    r.error = "not an IPv4 address: '" + vip + "'";
    return r;
  }
  const std::uint32_t vip_ip = ntohl(vip_addr.s_addr);
  char err[PCAP_ERRBUF_SIZE] = {};
  std::unique_ptr<pcap_t, void (*)(pcap_t*)> pc(pcap_open_offline(pcap_path.c_str(), err),
                                                pcap_close);
  if (!pc) {
    r.error = err;
    return r;
  }
  const int linktype = pcap_datalink(pc.get());
  std::size_t t = 0, o = 0;
  if (!link_layout(linktype, t, o)) {
    r.error = "unsupported link type " + std::to_string(linktype);
    return r;
  }
  std::uint64_t current_seq = 0;
  double window_start = 0, first_ts = -1;
  // The current window: its owners in order of first frame, whether an owner spoke again
  // after another one (A B A), and whether the second owner's first frame was an
  // announcement (gratuitous ARP: its take of the VIP).
  std::vector<mac> window;
  bool interleaved = false, second_announced = false;
  // A window that looked like a move (A ... then B's announcement ...) waits for the next
  // answered window: A silent there confirms the move, A answering makes it a dual owner.
  bool pending = false;
  dual_window pending_window;
  bool have_last = false;
  mac last{};
  auto record_dual = [&](const dual_window& d) {
    r.max_owners = std::max(r.max_owners, d.owners.size());
    r.dual.push_back(d);
  };
  auto close_window = [&] {
    if (window.empty()) return;
    ++r.windows_answered;
    r.max_owners = std::max<std::size_t>(r.max_owners, 1);
    if (pending) {
      pending = false;
      if (std::find(window.begin(), window.end(), pending_window.owners[0]) != window.end())
        record_dual(pending_window);
      else
        ++r.moves_within_window;
    }
    if (window.size() == 2 && !interleaved && second_announced) {
      pending = true;
      pending_window = {window_start, window};
    } else if (window.size() > 1) {
      record_dual({window_start, window});
    }
    window.clear();
    interleaved = second_announced = false;
  };
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  int rc;
  while ((rc = pcap_next_ex(pc.get(), &h, &data)) == 1) {
    ++r.frames;
    const double ts = double(h->ts.tv_sec) + double(h->ts.tv_usec) / 1e6;
    if (first_ts < 0) first_ts = ts;
    arp_frame f;
    bool bad = false;
    if (!parse_arp(linktype, data, h->caplen, f, bad)) {
      ++(bad ? r.malformed : r.skipped);
      continue;
    }
    const std::uint64_t seq = probe_sequence(f);
    if (seq != 0 && f.tpa == vip_ip && f.spa != vip_ip) {
      // The same probe appears once per port it crosses; only a newer one opens a window.
      if (seq > current_seq) {
        close_window();
        current_seq = seq;
        window_start = ts - first_ts;
        ++r.probes;
      }
      continue;
    }
    if (f.spa != vip_ip || (f.op != 1 && f.op != 2)) continue;
    ++r.answers;
    const auto in_window = std::find(window.begin(), window.end(), f.sha);
    if (in_window == window.end()) {
      window.push_back(f.sha);
      if (window.size() == 2) second_announced = f.tpa == vip_ip;  // gratuitous, not a reply
    } else if (window.size() > 1 && in_window + 1 != window.end()) {
      interleaved = true;  // an owner speaks again after a later one has spoken
    }
    if (std::find(r.owners_in_order.begin(), r.owners_in_order.end(), f.sha) ==
        r.owners_in_order.end())
      r.owners_in_order.push_back(f.sha);
    if (have_last && last != f.sha) ++r.owner_changes;
    last = f.sha;
    have_last = true;
  }
  if (rc == PCAP_ERROR) {
    // A capture whose writer was killed may end mid-record: what came before still
    // counts, the cut record is malformed. Anything else is an unreadable file.
    const std::string e = pcap_geterr(pc.get());
    if (e.find("truncated") != std::string::npos)
      ++r.malformed;
    else
      r.error = e;
  }
  close_window();
  if (pending) record_dual(pending_window);  // the capture ended before the move was confirmed
  if (have_last) r.last_owner = mac_string(last);
  return r;
}

}  // namespace anvil::ha
