#include "dataplane/port/nic_offloads.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace anvil::port {
namespace {

// The ethtool commands take variable-length structs: they live in 8-byte aligned
// buffers of the right size.
class ethtool_dev {
 public:
  ethtool_dev(int fd, const std::string& name) : _fd(fd), _name(name) {}

  // 0 or an errno.
  int call(void* data) const {
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, _name.c_str(), std::min(_name.size(), sizeof ifr.ifr_name - 1));
    ifr.ifr_data = static_cast<char*>(data);
    return ::ioctl(_fd, SIOCETHTOOL, &ifr) == 0 ? 0 : errno;
  }

  int names(std::vector<std::string>& out) const {
    std::vector<std::uint64_t> ib(4);
    auto* info = reinterpret_cast<ethtool_sset_info*>(ib.data());
    info->cmd = ETHTOOL_GSSET_INFO;
    info->sset_mask = 1ull << ETH_SS_FEATURES;
    if (int e = call(info)) return e;
    if ((info->sset_mask & (1ull << ETH_SS_FEATURES)) == 0) return EOPNOTSUPP;
    std::uint32_t n = 0;
    std::memcpy(&n, reinterpret_cast<std::byte*>(info) + sizeof(ethtool_sset_info), sizeof n);
    std::vector<std::uint64_t> sb(
        (sizeof(ethtool_gstrings) + std::size_t{n} * ETH_GSTRING_LEN) / 8 + 1);
    auto* gs = reinterpret_cast<ethtool_gstrings*>(sb.data());
    gs->cmd = ETHTOOL_GSTRINGS;
    gs->string_set = ETH_SS_FEATURES;
    gs->len = n;
    if (int e = call(gs)) return e;
    const char* p = reinterpret_cast<const char*>(gs) + sizeof(ethtool_gstrings);
    out.clear();
    for (std::uint32_t i = 0; i < gs->len && i < n; ++i)
      out.emplace_back(p + std::size_t{i} * ETH_GSTRING_LEN,
                       ::strnlen(p + std::size_t{i} * ETH_GSTRING_LEN, ETH_GSTRING_LEN));
    return 0;
  }

  int get(std::size_t n, std::vector<ethtool_get_features_block>& blocks) const {
    const std::size_t nb = (n + 31) / 32;
    std::vector<std::uint64_t> b(
        (sizeof(ethtool_gfeatures) + nb * sizeof(ethtool_get_features_block)) / 8 + 1);
    auto* gf = reinterpret_cast<ethtool_gfeatures*>(b.data());
    gf->cmd = ETHTOOL_GFEATURES;
    gf->size = static_cast<std::uint32_t>(nb);
    if (int e = call(gf)) return e;
    blocks.resize(nb);
    std::memcpy(blocks.data(), reinterpret_cast<std::byte*>(gf) + sizeof(ethtool_gfeatures),
                nb * sizeof(ethtool_get_features_block));
    return 0;
  }

  // Requests features `idx` on or off in one call.
  int set(std::size_t n, const std::vector<std::size_t>& idx, bool on) const {
    const std::size_t nb = (n + 31) / 32;
    std::vector<std::uint64_t> b(
        (sizeof(ethtool_sfeatures) + nb * sizeof(ethtool_set_features_block)) / 8 + 1);
    auto* sf = reinterpret_cast<ethtool_sfeatures*>(b.data());
    sf->cmd = ETHTOOL_SFEATURES;
    sf->size = static_cast<std::uint32_t>(nb);
    auto* blk = reinterpret_cast<ethtool_set_features_block*>(reinterpret_cast<std::byte*>(sf) +
                                                              sizeof(ethtool_sfeatures));
    for (std::size_t i : idx) {
      blk[i / 32].valid |= 1u << (i % 32);
      if (on) blk[i / 32].requested |= 1u << (i % 32);
    }
    return call(sf);  // a positive return (ETHTOOL_F_WISH...) is checked by re-reading
  }

 private:
  int _fd;
  std::string _name;
};

bool bit(const std::vector<ethtool_get_features_block>& b, std::size_t i,
         std::uint32_t ethtool_get_features_block::*f) {
  return (b[i / 32].*f >> (i % 32)) & 1u;
}

std::size_t index_of(const std::vector<std::string>& names, const std::string& f) {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == f) return i;
  return names.size();
}

std::string why(int err) { return std::strerror(err); }

}  // namespace

const std::vector<std::string>& nic_offloads::features() {
  static const std::vector<std::string> k{"rx-gro",
                                          "rx-lro",
                                          "rx-gro-hw",
                                          "rx-gro-list",
                                          "tx-generic-segmentation",
                                          "tx-tcp-segmentation",
                                          "tx-tcp-ecn-segmentation",
                                          "tx-tcp-mangleid-segmentation",
                                          "tx-tcp6-segmentation"};
  return k;
}

nic_offloads::nic_offloads(const std::string& interface) : _if(interface) {
  _fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (_fd < 0) {
    _warnings.push_back("socket for the ethtool ioctl: " + why(errno));
    return;
  }
  const ethtool_dev dev(_fd, _if);
  std::vector<std::string> names;
  if (int e = dev.names(names)) {
    _warnings.push_back("cannot list the interface's offload features (ETHTOOL_GSTRINGS): " +
                        why(e) + "; GRO/LRO stay as they are");
    return;
  }
  std::vector<ethtool_get_features_block> before;
  if (int e = dev.get(names.size(), before)) {
    _warnings.push_back("cannot read offload features (ETHTOOL_GFEATURES): " + why(e) +
                        "; GRO/LRO stay as they are");
    return;
  }
  std::vector<std::size_t> idx;
  for (const auto& f : features()) {
    const std::size_t i = index_of(names, f);
    if (i == names.size() || !bit(before, i, &ethtool_get_features_block::active)) continue;
    if (bit(before, i, &ethtool_get_features_block::never_changed) ||
        !bit(before, i, &ethtool_get_features_block::available)) {
      _warnings.push_back(f + " is on and fixed by the driver: cannot be turned off");
      continue;
    }
    idx.push_back(i);
  }
  if (idx.empty()) return;
  if (int e = dev.set(names.size(), idx, false)) {
    _warnings.push_back("cannot turn offloads off (ETHTOOL_SFEATURES): " + why(e) +
                        (e == EPERM ? " (needs CAP_NET_ADMIN)" : ""));
    return;
  }
  std::vector<ethtool_get_features_block> after;
  if (int e = dev.get(names.size(), after)) {
    _warnings.push_back("cannot re-read offload features: " + why(e));
    after = before;
  }
  for (std::size_t i : idx) {
    // Requested off is what we changed (and restore), even when the device keeps it on
    // for a dependency: the restore then asks for exactly the old request.
    _off.push_back(names[i]);
    if (bit(after, i, &ethtool_get_features_block::active))
      _warnings.push_back(names[i] +
                          " is still on after asking for off (a dependency or the "
                          "driver refused)");
  }
}

nic_offloads::~nic_offloads() {
  if (_fd < 0) return;
  if (!_off.empty()) {
    const ethtool_dev dev(_fd, _if);
    std::vector<std::string> names;
    if (dev.names(names) == 0) {
      std::vector<std::size_t> idx;
      for (const auto& f : _off)
        if (std::size_t i = index_of(names, f); i < names.size()) idx.push_back(i);
      (void)dev.set(names.size(), idx, true);  // the interface may be gone: nothing to do
    }
  }
  ::close(_fd);
}

std::optional<bool> nic_offloads::active(const std::string& interface, const std::string& feature) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  const ethtool_dev dev(fd, interface);
  std::vector<std::string> names;
  std::vector<ethtool_get_features_block> b;
  std::optional<bool> r;
  if (dev.names(names) == 0 && dev.get(names.size(), b) == 0) {
    const std::size_t i = index_of(names, feature);
    if (i < names.size()) r = bit(b, i, &ethtool_get_features_block::active);
  }
  ::close(fd);
  return r;
}

}  // namespace anvil::port
