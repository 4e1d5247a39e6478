// Who answered ARP for the VIP, from a capture of the data bridge (libpcap), and whether
// two stations ever did so at the same instant. The capture is the evidence the HA tests
// and bench/e2e/failover.sh trust, rather than any node's own logs.
//
// An "instant" is a probe window: the prober (arp_probe.h) broadcasts an ARP request for
// the VIP every few ms, each carrying a sequence number in its target hardware address
// (ignored by every ARP implementation in a request). A window runs from the first frame
// of probe k to the first frame of the next probe; its owners are the distinct sender
// MACs of every ARP frame that speaks for the VIP inside it: replies with sender IP = VIP
// and gratuitous ARP (request or reply with sender IP = VIP). Every owner answers every
// probe, so two owners at once show up as two MACs in one window. A move after a lease
// expiry leaves a gap of at least the fencing margin, many windows. A voluntary move (a
// step-down or a planned switchover releases the VIP, then the new primary wins and
// announces itself) may come within one probe interval of the old owner's last answer
// (seen: 9 ms): the window holds A's answers, then B's announcement (a take starts with
// gratuitous ARP). That is a move, not two owners, when A is silent from then on: such a
// window is decided by the next answered window (A answering there: two owners, counted
// in the earlier window; A silent: a move, `moves_within_window`), and counts as two
// owners if the capture ends first. Anything else with two MACs in a window (both replying
// to the probe, A speaking after B, B replying before announcing, three MACs) stays two
// owners: the check leans to reporting one too many.
//
// Frames: Ethernet (DLT_EN10MB), Linux cooked v1 and v2 (tcpdump -i any). A frame
// appears once per bridge port it crosses, which changes no count here. Frames that are
// not ARP over Ethernet/IPv4, or are cut short, are counted as `skipped`/`malformed`.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace anvil::ha {

using mac = std::array<std::uint8_t, 6>;

std::string mac_string(const mac& m);

struct dual_window {
  double start_s = 0;  // capture time of the window's probe (seconds since the capture began)
  std::vector<mac> owners;
};

struct arp_owner_report {
  std::uint64_t frames = 0;     // every frame in the capture
  std::uint64_t malformed = 0;  // ARP frames cut short or with impossible sizes
  std::uint64_t skipped = 0;    // not ARP, or ARP for something other than Ethernet/IPv4
  std::uint64_t probes = 0;     // distinct probe sequence numbers seen (= windows after the first)
  std::uint64_t answers = 0;    // ARP frames speaking for the VIP
  std::uint64_t windows_answered = 0;     // windows with at least one owner
  std::size_t max_owners = 0;             // the most owners at once (a confirmed move counts once)
  std::vector<dual_window> dual;          // every window with two or more owners
  std::uint64_t moves_within_window = 0;  // confirmed moves inside one probe window
  std::vector<mac> owners_in_order;       // each MAC when it first answered, in capture order
  std::uint64_t owner_changes = 0;        // answers whose MAC differs from the previous answer's
  std::string last_owner;                 // the MAC of the last answer ("" when none)
  std::string error;                      // set when the file cannot be read as a capture
};

// Reads a pcap file. `vip` is dotted IPv4. The report's error is set (and nothing else is
// meaningful) when the file is missing, is not a capture or has an unsupported link type.
arp_owner_report analyze_arp_owners(const std::string& pcap_path, const std::string& vip);

// One frame's ARP content, exposed for the unit tests; false when the frame is not ARP
// for Ethernet/IPv4 (`malformed` says whether it looked like ARP but was cut or inconsistent).
struct arp_frame {
  std::uint16_t op = 0;
  mac sha{}, tha{};
  std::uint32_t spa = 0, tpa = 0;  // host byte order
};
bool parse_arp(int linktype, const std::uint8_t* p, std::size_t caplen, arp_frame& out,
               bool& malformed);

// The probe sequence number carried in a probe's target hardware address, 0 if none.
std::uint64_t probe_sequence(const arp_frame& f);

}  // namespace anvil::ha
