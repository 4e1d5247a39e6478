#include "tests/ha/arp_probe.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace anvil::ha {
namespace {

void put16(std::string& s, std::uint16_t v) {
  s += char(v >> 8);
  s += char(v & 0xff);
}
void put32(std::string& s, std::uint32_t v) {
  put16(s, std::uint16_t(v >> 16));
  put16(s, std::uint16_t(v & 0xffff));
}
std::uint32_t parse_ip(const std::string& ip) {
  in_addr a{};
  if (::inet_pton(AF_INET, ip.c_str(), &a) != 1)
    throw std::invalid_argument("not an IPv4 address: '" + ip + "'");
  return ntohl(a.s_addr);
}

}  // namespace

std::string probe_frame(const mac& src, std::uint32_t src_ip, std::uint32_t vip,
                        std::uint64_t seq) {
  std::string f;
  f.append(6, char(0xff));
  f.append(reinterpret_cast<const char*>(src.data()), 6);
  put16(f, 0x0806);
  put16(f, 1);       // Ethernet
  put16(f, 0x0800);  // IPv4
  f += char(6);
  f += char(4);
  put16(f, 1);  // request
  f.append(reinterpret_cast<const char*>(src.data()), 6);
  put32(f, src_ip);
  f += char(0xa7);  // the probe marker (group bit: never a station's MAC)
  for (int i = 4; i >= 0; --i) f += char((seq >> (8 * i)) & 0xff);
  put32(f, vip);
  f.resize(60, '\0');
  return f;
}

int arp_probe::open_socket(const std::string& ifname, unsigned& ifindex, mac& addr) {
  const int fd = ::socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ARP));
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "AF_PACKET socket");
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname.c_str());
  if (::ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) {
    const int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "SIOCGIFHWADDR " + ifname);
  }
  std::memcpy(addr.data(), ifr.ifr_hwaddr.sa_data, 6);
  ifindex = ::if_nametoindex(ifname.c_str());
  if (ifindex == 0) {
    const int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "if_nametoindex " + ifname);
  }
  return fd;
}

arp_probe::arp_probe(int fd, unsigned ifindex, const mac& src, const std::string& src_ip,
                     const std::string& vip, std::chrono::milliseconds interval)
    : _fd(fd), _ifindex(ifindex), _src(src), _interval(interval) {
  _src_ip = parse_ip(src_ip);
  _vip = parse_ip(vip);
  if (interval.count() <= 0) throw std::invalid_argument("probe interval must be > 0 ms");
}

arp_probe::~arp_probe() {
  stop();
  ::close(_fd);
}

void arp_probe::start() {
  _thread = std::thread([this] {
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(_ifindex);
    to.sll_halen = 6;
    std::memset(to.sll_addr, 0xff, 6);
    std::uint64_t seq = 0;
    auto next = std::chrono::steady_clock::now();
    while (!_stop.load()) {
      const std::string f = probe_frame(_src, _src_ip, _vip, ++seq);
      if (::sendto(_fd, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
          static_cast<ssize_t>(f.size()))
        _sent.fetch_add(1);
      else
        _errors.fetch_add(1);
      // A descheduled prober resumes at its pace instead of sending a burst.
      next = std::max(next + _interval, std::chrono::steady_clock::now());
      std::this_thread::sleep_until(next);
    }
  });
}

void arp_probe::stop() {
  _stop = true;
  if (_thread.joinable()) _thread.join();
}

}  // namespace anvil::ha
