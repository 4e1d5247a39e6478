// What a packet port hands to the stack and takes back: Ethernet frames as byte spans.
// Received frames stay valid until the port's next rx_burst(); a frame being built for
// transmission lives in a buffer the port owns from begin_frame() to the next flush.
// No type here knows whether the bytes came from a socket ring or an mbuf.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace anvil::port {

// Largest frame a port carries: 1500-byte MTU + 14-byte Ethernet header (no FCS, no VLAN).
inline constexpr std::size_t kMaxFrame = 1514;
inline constexpr std::size_t kMinFrame = 14;
// Frames per rx_burst / per flush; DPDK's customary burst.
inline constexpr std::size_t kBurst = 32;

// What the device told us about the frame's checksums. The stack must verify in
// software unless told `verified`; `partial` means the sender is on this host and left
// the L4 checksum for an offload that never ran (TP_STATUS_CSUMNOTREADY /
// VIRTIO_NET_HDR_F_NEEDS_CSUM): the bytes are intact (they never crossed a wire) but
// the checksum field is not a checksum. Never "verify" such a frame in software.
enum class csum_state : std::uint8_t {
  unknown,   // verify in software
  verified,  // the device checked IP and L4 checksums and they are good
  partial,   // local sender, L4 checksum not filled in; bytes intact
};

struct rx_frame {
  std::span<const std::byte> bytes;  // starts at the Ethernet header
  csum_state csum = csum_state::unknown;
};

using mac_address = std::array<std::uint8_t, 6>;

}  // namespace anvil::port
