// Receive coalescing and segmentation offloads off on an interface for as long as an
// object lives, through the kernel's ethtool ioctl (SIOCETHTOOL: ETHTOOL_GSSET_INFO +
// ETHTOOL_GSTRINGS for the feature names, ETHTOOL_GFEATURES / ETHTOOL_SFEATURES).
//
// Why: with GRO/LRO on, a real NIC (or the kernel) merges a peer's segments into
// frames over 1514 bytes, which the AF_PACKET port must drop as oversize; a
// multi-segment request then advances only through retransmissions. GSO/TSO are the
// transmit side of the same machinery and go off with them.
//
// Invariants: only features that are on and changeable are touched, and exactly those
// are turned back on by the destructor (features that were off stay off); the ioctl
// socket is opened at construction, so the restore reaches the interface's network
// namespace whatever thread runs it. Nothing throws: what could not be done is listed
// in warnings() with the reason, for the owner to log loudly. A process killed by
// SIGKILL cannot restore: `ethtool -K IF gro on` by hand.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace anvil::port {

class nic_offloads {
 public:
  // The features turned off (when on and changeable), in this order.
  static const std::vector<std::string>& features();

  explicit nic_offloads(const std::string& interface);
  ~nic_offloads();
  nic_offloads(const nic_offloads&) = delete;
  nic_offloads& operator=(const nic_offloads&) = delete;

  const std::string& interface() const { return _if; }
  const std::vector<std::string>& turned_off() const { return _off; }  // restored later
  const std::vector<std::string>& warnings() const { return _warnings; }

  // One feature's active state on `interface` in the calling thread's namespace;
  // nullopt when the interface or the feature does not exist (tests, diagnostics).
  static std::optional<bool> active(const std::string& interface, const std::string& feature);

 private:
  std::string _if;
  int _fd = -1;
  std::vector<std::string> _off;
  std::vector<std::string> _warnings;
};

}  // namespace anvil::port
