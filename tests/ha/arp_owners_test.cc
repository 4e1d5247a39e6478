// The capture analysis behind "never two VIP owners": synthetic captures written with
// libpcap itself, every link type we read, and every malformed input path.
#include "tests/ha/arp_owners.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "tests/ha/arp_probe.h"

namespace anvil::ha {
namespace {

constexpr std::uint32_t kVip = 0xc6120064;     // 198.18.0.100
constexpr std::uint32_t kClient = 0xc6120002;  // 198.18.0.2
const mac kA{0x02, 0, 0, 0, 0, 0xa};
const mac kB{0x02, 0, 0, 0, 0, 0xb};
const mac kC{0x02, 0, 0, 0, 0, 0xc};

std::string arp(std::uint16_t op, const mac& sha, std::uint32_t spa, const mac& tha,
                std::uint32_t tpa) {
  std::string f(14, '\0');
  f[12] = 0x08, f[13] = 0x06;
  auto p16 = [&](std::uint16_t v) { f += char(v >> 8), f += char(v); };
  auto p32 = [&](std::uint32_t v) { p16(std::uint16_t(v >> 16)), p16(std::uint16_t(v)); };
  p16(1), p16(0x0800), f += char(6), f += char(4), p16(op);
  f.append(reinterpret_cast<const char*>(sha.data()), 6), p32(spa);
  f.append(reinterpret_cast<const char*>(tha.data()), 6), p32(tpa);
  return f;
}
std::string reply(const mac& who) { return arp(2, who, kVip, mac{}, kClient); }
std::string garp(const mac& who) { return arp(1, who, kVip, mac{}, kVip); }
std::string probe(std::uint64_t seq) { return probe_frame(kC, kClient, kVip, seq); }

// Writes frames (optionally with a given capture length) to a temporary pcap.
class capture {
 public:
  explicit capture(int linktype = DLT_EN10MB) : _path(tmp()) {
    _dead = pcap_open_dead(linktype, 65535);
    _dump = pcap_dump_open(_dead, _path.c_str());
  }
  ~capture() {
    close();
    std::remove(_path.c_str());
  }
  capture& add(const std::string& frame, int caplen = -1) {
    pcap_pkthdr h{};
    h.ts.tv_sec = 1000 + _n / 1000, h.ts.tv_usec = static_cast<suseconds_t>(_n % 1000) * 1000;
    ++_n;
    h.caplen = caplen < 0 ? static_cast<bpf_u_int32>(frame.size()) : bpf_u_int32(caplen);
    h.len = static_cast<bpf_u_int32>(frame.size());
    pcap_dump(reinterpret_cast<u_char*>(_dump), &h, reinterpret_cast<const u_char*>(frame.data()));
    return *this;
  }
  const std::string& close() {
    if (_dump != nullptr) pcap_dump_close(_dump), _dump = nullptr;
    if (_dead != nullptr) pcap_close(_dead), _dead = nullptr;
    return _path;
  }
  arp_owner_report analyze() { return analyze_arp_owners(close(), "198.18.0.100"); }

 private:
  static std::string tmp() {
    static int n = 0;
    return "/tmp/anvil-arp-owners-" + std::to_string(::getpid()) + "-" + std::to_string(n++) +
           ".pcap";
  }
  std::string _path;
  pcap_t* _dead = nullptr;
  pcap_dumper_t* _dump = nullptr;
  int _n = 0;
};

TEST(ArpOwners, AnEmptyCaptureHasNoOwner) {
  capture c;
  const auto r = c.analyze();
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.frames, 0u);
  EXPECT_EQ(r.max_owners, 0u);
  EXPECT_TRUE(r.dual.empty());
  EXPECT_EQ(r.last_owner, "");
}

TEST(ArpOwners, OneOwnerAnsweringEveryProbe) {
  capture c;
  for (std::uint64_t s = 1; s <= 5; ++s) c.add(probe(s)).add(reply(kA));
  const auto r = c.analyze();
  EXPECT_EQ(r.probes, 5u);
  EXPECT_EQ(r.answers, 5u);
  EXPECT_EQ(r.windows_answered, 5u);
  EXPECT_EQ(r.max_owners, 1u);
  EXPECT_TRUE(r.dual.empty());
  ASSERT_EQ(r.owners_in_order.size(), 1u);
  EXPECT_EQ(r.owners_in_order[0], kA);
}

TEST(ArpOwners, TwoMacsAnsweringOneProbeAreTwoOwners) {
  capture c;
  c.add(probe(1)).add(reply(kA)).add(probe(2)).add(reply(kA)).add(reply(kB)).add(probe(3)).add(
      reply(kB));
  const auto r = c.analyze();
  EXPECT_EQ(r.max_owners, 2u);
  ASSERT_EQ(r.dual.size(), 1u);
  EXPECT_EQ(r.dual[0].owners, (std::vector<mac>{kA, kB}));
  EXPECT_NEAR(r.dual[0].start_s, 0.002, 1e-6);  // the third frame, 1 ms apart
}

TEST(ArpOwners, AHandoverBetweenProbesIsNotADualOwner) {
  capture c;
  for (std::uint64_t s = 1; s <= 3; ++s) c.add(probe(s)).add(reply(kA));
  c.add(probe(4)).add(probe(5)).add(garp(kB)).add(reply(kB));
  for (std::uint64_t s = 6; s <= 8; ++s) c.add(probe(s)).add(reply(kB));
  const auto r = c.analyze();
  EXPECT_EQ(r.max_owners, 1u);
  EXPECT_TRUE(r.dual.empty());
  EXPECT_EQ(r.owner_changes, 1u);
  EXPECT_EQ(r.owners_in_order, (std::vector<mac>{kA, kB}));
  EXPECT_EQ(r.last_owner, "02:00:00:00:00:0b");
}

// The capture ends before A is seen silent after B's announcement: two owners.
TEST(ArpOwners, AGratuitousArpInsideAnotherOwnersWindowIsADualOwner) {
  capture c;
  c.add(probe(1)).add(reply(kA)).add(garp(kB));
  EXPECT_EQ(c.analyze().max_owners, 2u);
  capture d;  // a gratuitous reply (op 2, target = VIP) counts the same
  d.add(probe(1)).add(reply(kA)).add(arp(2, kB, kVip, mac{}, kVip));
  EXPECT_EQ(d.analyze().max_owners, 2u);
}

// A voluntary move (step-down, switchover) can announce the new owner within one probe
// interval of the old owner's last answer: A answers probe 4, B takes the VIP and
// announces it, and from probe 5 on only B answers. One owner at a time.
TEST(ArpOwners, AMoveInsideOneProbeWindowIsNotADualOwner) {
  for (const bool gratuitous_reply : {false, true}) {
    capture c;
    for (std::uint64_t s = 1; s <= 3; ++s) c.add(probe(s)).add(reply(kA));
    c.add(probe(4)).add(reply(kA)).add(gratuitous_reply ? arp(2, kB, kVip, mac{}, kVip) : garp(kB));
    for (std::uint64_t s = 5; s <= 7; ++s) c.add(probe(s)).add(reply(kB));
    const auto r = c.analyze();
    EXPECT_EQ(r.max_owners, 1u) << gratuitous_reply;
    EXPECT_TRUE(r.dual.empty());
    EXPECT_EQ(r.moves_within_window, 1u);
    EXPECT_EQ(r.windows_answered, 7u);
    EXPECT_EQ(r.owner_changes, 1u);
    EXPECT_EQ(r.owners_in_order, (std::vector<mac>{kA, kB}));
    EXPECT_EQ(r.last_owner, "02:00:00:00:00:0b");
  }
  capture d;  // decided by the next *answered* window: an unanswered probe in between
  d.add(probe(1)).add(reply(kA)).add(garp(kB)).add(probe(2)).add(probe(3)).add(reply(kB));
  const auto r = d.analyze();
  EXPECT_EQ(r.max_owners, 1u);
  EXPECT_EQ(r.moves_within_window, 1u);
  capture e;  // two moves in a row, each confirmed by the next window
  e.add(probe(1)).add(reply(kA)).add(garp(kB)).add(probe(2)).add(reply(kB)).add(garp(kC));
  e.add(probe(3)).add(reply(kC));
  const auto re = e.analyze();
  EXPECT_EQ(re.max_owners, 1u);
  EXPECT_EQ(re.moves_within_window, 2u);
}

// The same start, but A still answers afterwards: A still owned the VIP when B announced.
TEST(ArpOwners, TheOldOwnerAnsweringAfterTheNewOnesAnnouncementIsADualOwner) {
  capture c;  // both answer the next probe
  c.add(probe(4)).add(reply(kA)).add(garp(kB)).add(probe(5)).add(reply(kA)).add(reply(kB));
  auto r = c.analyze();
  EXPECT_EQ(r.max_owners, 2u);
  ASSERT_EQ(r.dual.size(), 2u);
  EXPECT_NEAR(r.dual[0].start_s, 0.0, 1e-6);  // counted in the window of the announcement
  EXPECT_EQ(r.dual[0].owners, (std::vector<mac>{kA, kB}));
  EXPECT_EQ(r.moves_within_window, 0u);
  capture d;  // only A answers the next probe (B went quiet again)
  d.add(probe(4)).add(reply(kA)).add(garp(kB)).add(probe(5)).add(reply(kA));
  r = d.analyze();
  EXPECT_EQ(r.max_owners, 2u);
  EXPECT_EQ(r.dual.size(), 1u);
  capture e;  // A answers after an unanswered probe
  e.add(probe(4)).add(reply(kA)).add(garp(kB)).add(probe(5)).add(probe(6)).add(reply(kA));
  EXPECT_EQ(e.analyze().max_owners, 2u);
}

// Two MACs in one window that are not "A, then B's announcement" stay two owners.
TEST(ArpOwners, AnythingButAnAnnouncedMoveInOneWindowIsADualOwner) {
  capture c;  // A speaks again after B announced
  c.add(probe(1)).add(reply(kA)).add(garp(kB)).add(reply(kA)).add(probe(2)).add(reply(kB));
  EXPECT_EQ(c.analyze().max_owners, 2u);
  capture d;  // B replies to the probe before announcing anything
  d.add(probe(1)).add(reply(kA)).add(reply(kB)).add(garp(kB)).add(probe(2)).add(reply(kB));
  EXPECT_EQ(d.analyze().max_owners, 2u);
  capture e;  // B announces first, then A answers the probe
  e.add(probe(1)).add(garp(kB)).add(reply(kA)).add(probe(2)).add(reply(kB));
  EXPECT_EQ(e.analyze().max_owners, 2u);
  capture f;  // three MACs
  f.add(probe(1)).add(reply(kA)).add(garp(kB)).add(garp(kC)).add(probe(2)).add(reply(kC));
  const auto r = f.analyze();
  EXPECT_EQ(r.max_owners, 3u);
  EXPECT_EQ(r.moves_within_window, 0u);
}

TEST(ArpOwners, TheSameProbeSeenOnSeveralPortsOpensOneWindow) {
  // tcpdump -i any records a broadcast once per bridge port: a repeat is not a new instant.
  capture c;
  c.add(probe(7)).add(reply(kA)).add(probe(7)).add(probe(7)).add(reply(kB));
  const auto r = c.analyze();
  EXPECT_EQ(r.probes, 1u);
  EXPECT_EQ(r.max_owners, 2u);
  capture d;  // and an older probe seen late does not open one either
  d.add(probe(8)).add(reply(kA)).add(probe(7)).add(reply(kB));
  EXPECT_EQ(d.analyze().max_owners, 2u);
}

TEST(ArpOwners, OtherRequestsForTheVipDoNotOpenWindows) {
  capture c;
  c.add(probe(1)).add(reply(kA));
  c.add(arp(1, kC, kClient, mac{}, kVip));  // the client kernel's broadcast request
  c.add(arp(1, kC, kClient, kA, kVip));     // its unicast re-probe: tha is a station MAC
  c.add(reply(kB));
  const auto r = c.analyze();
  EXPECT_EQ(r.probes, 1u);
  EXPECT_EQ(r.max_owners, 2u);
}

TEST(ArpOwners, ArpForOtherAddressesAndOtherOpcodesIsIgnored) {
  capture c;
  c.add(probe(1)).add(reply(kA));
  c.add(arp(2, kB, 0xc612000b, mac{}, kClient));  // B answering for its own address
  c.add(arp(3, kB, kVip, mac{}, kClient));        // RARP request opcode
  c.add(arp(0, kB, kVip, mac{}, kClient));
  const auto r = c.analyze();
  EXPECT_EQ(r.answers, 1u);
  EXPECT_EQ(r.max_owners, 1u);
}

TEST(ArpOwners, AnswersBeforeTheFirstProbeFormTheirOwnWindow) {
  capture c;
  c.add(garp(kA)).add(garp(kB)).add(probe(1)).add(reply(kB));
  const auto r = c.analyze();
  EXPECT_EQ(r.windows_answered, 2u);
  EXPECT_EQ(r.moves_within_window, 1u);  // one window held A then B's announcement
  EXPECT_EQ(r.max_owners, 1u);
  capture d;  // and A answering the first probe makes that window two owners
  d.add(garp(kA)).add(garp(kB)).add(probe(1)).add(reply(kA)).add(reply(kB));
  EXPECT_EQ(d.analyze().max_owners, 2u);
}

TEST(ArpOwners, CookedCapturesV1AndV2AreRead) {
  const std::string eth = reply(kA);
  const std::string body = eth.substr(14);
  std::string sll(16, '\0');  // pkttype, hatype, halen, addr[8], protocol
  sll[14] = 0x08, sll[15] = 0x06;
  std::string sll2(20, '\0');  // protocol first
  sll2[0] = 0x08, sll2[1] = 0x06;
  for (auto [lt, hdr] : {std::pair{DLT_LINUX_SLL, sll}, std::pair{DLT_LINUX_SLL2, sll2}}) {
    std::string p = probe(1);
    capture c(lt);
    c.add(hdr + p.substr(14)).add(hdr + body).add(hdr + garp(kB).substr(14));
    const auto r = c.analyze();
    EXPECT_EQ(r.error, "") << lt;
    EXPECT_EQ(r.probes, 1u) << lt;
    EXPECT_EQ(r.max_owners, 2u) << lt;
  }
}

TEST(ArpOwners, AVlanTaggedFrameIsRead) {
  std::string f = reply(kA);
  f.insert(12, std::string("\x81\x00\x00\x05", 4));
  capture c;
  c.add(probe(1)).add(f).add(garp(kB));
  EXPECT_EQ(c.analyze().max_owners, 2u);
}

TEST(ArpOwners, MalformedAndForeignFramesAreCountedNotTrusted) {
  capture c;
  c.add(probe(1)).add(reply(kA));
  c.add(reply(kB), 14 + 27);  // cut one byte short of the ARP body
  c.add(reply(kB), 14 + 7);   // cut inside the fixed header
  std::string hlen8 = reply(kB);
  hlen8[14 + 4] = 8;
  c.add(hlen8);
  std::string ipv4 = reply(kB);
  ipv4[12] = 0x08, ipv4[13] = 0x00;
  c.add(ipv4);
  std::string other_proto = reply(kB);
  other_proto[14 + 2] = 0x86, other_proto[14 + 3] = char(0xdd);
  c.add(other_proto);
  c.add(std::string(5, '\xff'));  // shorter than an Ethernet header
  const auto r = c.analyze();
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.frames, 8u);
  EXPECT_EQ(r.malformed, 3u);
  EXPECT_EQ(r.skipped, 3u);
  EXPECT_EQ(r.max_owners, 1u);
}

TEST(ArpOwners, UnreadableInputIsAnError) {
  EXPECT_NE(analyze_arp_owners("/nonexistent/x.pcap", "198.18.0.100").error, "");
  const std::string junk = "/tmp/anvil-arp-owners-junk-" + std::to_string(::getpid());
  std::ofstream(junk) << "this is not a capture";
  EXPECT_NE(analyze_arp_owners(junk, "198.18.0.100").error, "");
  std::remove(junk.c_str());
  capture raw(DLT_RAW);
  raw.add(reply(kA));
  EXPECT_NE(raw.analyze().error.find("unsupported link type"), std::string::npos);
  capture ok;
  EXPECT_NE(analyze_arp_owners(ok.close(), "198.18.0.300").error, "");
  EXPECT_NE(analyze_arp_owners(ok.close(), "").error, "");
}

TEST(ArpOwners, ACaptureCutMidRecordKeepsWhatCameBefore) {
  capture c;
  c.add(probe(1)).add(reply(kA)).add(garp(kB));
  const std::string path = c.close();
  ::truncate(path.c_str(), static_cast<off_t>(24 + 2 * 16 + 60 + 42 + 16 + 10));
  const auto r = analyze_arp_owners(path, "198.18.0.100");
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.frames, 2u);
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_EQ(r.max_owners, 1u);
}

TEST(ArpOwners, ProbeSequenceNumbersRoundTripAtTheirBounds) {
  for (std::uint64_t seq :
       {std::uint64_t{1}, std::uint64_t{255}, std::uint64_t{256}, (std::uint64_t{1} << 40) - 1}) {
    const std::string f = probe(seq);
    ASSERT_EQ(f.size(), 60u);
    arp_frame a;
    bool bad = true;
    ASSERT_TRUE(
        parse_arp(DLT_EN10MB, reinterpret_cast<const std::uint8_t*>(f.data()), f.size(), a, bad));
    EXPECT_FALSE(bad);
    EXPECT_EQ(probe_sequence(a), seq);
    EXPECT_EQ(a.tpa, kVip);
    EXPECT_EQ(a.spa, kClient);
    EXPECT_EQ(a.sha, kC);
  }
  // 2^40 does not fit the five bytes: it wraps to 0, which means "not a probe".
  const std::string f = probe(std::uint64_t{1} << 40);
  arp_frame a;
  bool bad = false;
  ASSERT_TRUE(
      parse_arp(DLT_EN10MB, reinterpret_cast<const std::uint8_t*>(f.data()), f.size(), a, bad));
  EXPECT_EQ(probe_sequence(a), 0u);
  a.op = 2;  // a reply is never a probe
  a.tha[5] = 1;
  EXPECT_EQ(probe_sequence(a), 0u);
}

}  // namespace
}  // namespace anvil::ha
