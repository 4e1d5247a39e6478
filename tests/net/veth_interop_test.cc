// Sanity check against real Linux TCP over a veth (tests/support/testnet.h): the
// stack on an AF_PACKET socket in the stack namespace, a kernel TCP client in the
// client namespace. ARP, the handshake with Linux's options, a 2 MiB echo both ways
// (byte-exact), small request/response latency, and close; and a client whose NIC
// changes MAC mid-connection (neighbour table: the connection follows it). Full interop
// with the server lives in the server's tests; this keeps the stack honest early.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "dataplane/net/stack.h"
#include "tests/net/net_test_util.h"
#include "tests/support/netns.h"
#include "tests/support/testnet.h"

namespace anvil::net::test {
namespace {

struct packet_sink {
  int fd;
  std::byte buf[kMaxFrame];
  std::size_t sent = 0;
  std::span<std::byte> begin_frame() { return {buf, kMaxFrame}; }
  void commit_frame(std::size_t len) {
    if (::send(fd, buf, len, 0) == static_cast<ssize_t>(len)) ++sent;
  }
};

struct echo_app {
  int accepts = 0, closes = 0;
  void on_accept(tcp_conn&) { ++accepts; }
  void on_data(tcp_conn& c) {
    auto v = c.recv_view();
    if (c.tuple().local_port == 11212) {
      // Quiet port: 'Q' is a request with no response (a GETKQ miss), 'E' answers 'e'.
      for (std::byte b : v) {
        if (b == std::byte{'E'}) {
          auto sp = c.send_space();
          if (!sp.empty()) sp[0] = std::byte{'e'}, c.commit_send(1);
        }
      }
      c.consume(v.size());
      if (c.peer_closed()) c.close();
      return;
    }
    auto sp = c.send_space();
    const std::size_t n = std::min(sp.size(), v.size());
    if (n) std::memcpy(sp.data(), v.data(), n);
    c.commit_send(n);
    c.consume(n);
    if (c.peer_closed() && c.recv_view().empty()) c.close();
  }
  void on_writable(tcp_conn& c) { on_data(c); }
  void on_close(tcp_conn&) { ++closes; }
};

mac_addr parse_mac(const std::string& s) {
  mac_addr m;
  unsigned v[6];
  std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
  for (int i = 0; i < 6; ++i) m.b[i] = static_cast<std::uint8_t>(v[i]);
  return m;
}

nanos mono() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

TEST(veth_interop, linux_client_echo) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for namespaces";
  anvil::test::testnet tn;
  const int fd = anvil::test::socket_in_netns(tn.stack_ns(), AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  ASSERT_GE(fd, 0);
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = static_cast<int>(anvil::test::ifindex_in_netns(tn.stack_ns(), tn.stack_if()));
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll), 0);
  int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);

  in_addr a{};
  inet_pton(AF_INET, tn.stack_ip().c_str(), &a);
  stack_config cfg;
  cfg.mac = parse_mac(tn.stack_mac());
  cfg.addresses = {ip4_addr{ntohl(a.s_addr)}};
  cfg.tcp_ports = {11211, 11212};
  cfg.max_connections = 8;
  echo_app app;
  stack<echo_app> st(cfg, app);
  packet_sink sink{fd, {}, 0};

  std::atomic<bool> done{false};
  std::string error;
  double small_rtt_us = 0, quiet_pair_us = 0;
  std::thread client([&] {
    const int s = anvil::test::socket_in_netns(tn.client_ns(), AF_INET, SOCK_STREAM, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(11211);
    sin.sin_addr = a;
    timeval tv{10, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(s, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
      error = "connect failed";
      done = true;
      return;
    }
    // Small request/response round trips (TCP_NODELAY like a memcached client).
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char b[64];
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 200; ++i) {
      if (send(s, "ping-req", 8, 0) != 8 || recv(s, b, 8, MSG_WAITALL) != 8) {
        error = "small echo failed";
        break;
      }
    }
    small_rtt_us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
        200;
    // Bulk: 2 MiB out, echoed back, compared.
    const std::size_t total = 2 << 20;
    std::vector<unsigned char> out(total), in(total);
    for (std::size_t i = 0; i < total; ++i)
      out[i] = static_cast<unsigned char>((i * 131 + i / 977) & 0xff);
    std::size_t sent = 0, got = 0;
    fcntl(s, F_SETFL, O_NONBLOCK);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (got < total && error.empty() && std::chrono::steady_clock::now() < deadline) {
      pollfd p{s, static_cast<short>(POLLIN | (sent < total ? POLLOUT : 0)), 0};
      poll(&p, 1, 100);
      if (sent < total && (p.revents & POLLOUT)) {
        const ssize_t n = send(s, out.data() + sent, total - sent, 0);
        if (n > 0) sent += static_cast<std::size_t>(n);
      }
      if (p.revents & POLLIN) {
        const ssize_t n = recv(s, in.data() + got, total - got, 0);
        if (n > 0) got += static_cast<std::size_t>(n);
        if (n == 0) error = "early EOF";
      }
    }
    if (error.empty() && (got != total || in != out))
      error = "bulk echo mismatch: got " + std::to_string(got);
    shutdown(s, SHUT_WR);
    fcntl(s, F_SETFL, 0);
    if (error.empty() && recv(s, b, 1, 0) != 0) error = "no EOF after shutdown";
    close(s);
    // Quiet misses: with Nagle on (the client default), the answered request after a
    // quiet one waits for the quiet one's ACK. A server that delays that ACK costs the
    // client ~40 ms per pair; an immediate ACK costs one round trip.
    const int q = anvil::test::socket_in_netns(tn.client_ns(), AF_INET, SOCK_STREAM, 0);
    sin.sin_port = htons(11212);
    setsockopt(q, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (error.empty() && connect(q, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0)
      error = "connect 2 failed";
    const auto q0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20 && error.empty(); ++i) {
      if (send(q, "Q", 1, 0) != 1 || send(q, "E", 1, 0) != 1 || recv(q, b, 1, MSG_WAITALL) != 1)
        error = "quiet pair failed";
    }
    quiet_pair_us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - q0).count() /
        20;
    shutdown(q, SHUT_WR);
    if (error.empty() && recv(q, b, 1, 0) != 0) error = "no EOF on the quiet connection";
    close(q);
    done = true;
  });

  std::byte frame[2048];
  const auto stop_at = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (std::chrono::steady_clock::now() < stop_at) {
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, 1);
    for (int k = 0; k < 64; ++k) {
      const ssize_t n = recv(fd, frame, sizeof frame, MSG_DONTWAIT);
      if (n <= 0) break;
      st.input(bytes{frame, static_cast<std::size_t>(n)}, mono(), sink, rx_meta{});
    }
    st.flush(mono(), sink);
    st.poll_timers(mono(), sink);
    if (done && app.closes > 1) break;
  }
  client.join();
  close(fd);
  EXPECT_EQ(error, "");
  EXPECT_EQ(app.accepts, 2);
  EXPECT_EQ(app.closes, 2);
  EXPECT_LT(quiet_pair_us, 10000.0) << "the ACK for a request without a response was delayed";
  EXPECT_EQ(st.counters().drop_tcp_checksum.load(), 0u);
  EXPECT_EQ(st.counters().drop_ip_checksum.load(), 0u);
  EXPECT_LT(small_rtt_us, 20000.0) << "no 40 ms delayed-ACK stalls";
  std::printf(
      "small request/response RTT %.1f us; quiet+answered pair %.1f us; retransmits %llu; frames "
      "out %zu\n",
      small_rtt_us, quiet_pair_us, (unsigned long long)st.counters().tcp_retransmits.load(),
      sink.sent);
}

// The client's NIC gets another MAC while a connection is open (a NIC swap, a VM
// migrated). With arp_notify Linux announces it by gratuitous ARP; without, the stack
// sees segments from an unexpected MAC and asks by broadcast ARP. Either way the
// connection's frames must follow: frames to the old MAC are dropped by the client's
// kernel (PACKET_OTHERHOST), so a frozen MAC stalls the connection for good.
enum class announce { gratuitous_arp, client_re_arps, nothing };
void client_changes_mac(announce how) {
  const bool arp_notify = how == announce::gratuitous_arp;
  if (geteuid() != 0) GTEST_SKIP() << "needs root for namespaces";
  anvil::test::testnet tn;
  const int fd = anvil::test::socket_in_netns(tn.stack_ns(), AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  ASSERT_GE(fd, 0);
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = static_cast<int>(anvil::test::ifindex_in_netns(tn.stack_ns(), tn.stack_if()));
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll), 0);
  int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  in_addr a{};
  inet_pton(AF_INET, tn.stack_ip().c_str(), &a);
  stack_config cfg;
  cfg.mac = parse_mac(tn.stack_mac());
  cfg.addresses = {ip4_addr{ntohl(a.s_addr)}};
  cfg.tcp_ports = {11211};
  cfg.max_connections = 8;
  echo_app app;
  stack<echo_app> st(cfg, app);
  packet_sink sink{fd, {}, 0};

  const std::string new_mac = "02:5a:5a:00:00:07";
  std::atomic<bool> done{false};
  std::string error;
  std::thread client([&] {
    const int s = anvil::test::socket_in_netns(tn.client_ns(), AF_INET, SOCK_STREAM, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(11211);
    sin.sin_addr = a;
    timeval tv{10, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto echo = [&](int rounds) {
      char b[8];
      for (int i = 0; i < rounds && error.empty(); ++i)
        if (send(s, "ping-req", 8, 0) != 8 || recv(s, b, 8, MSG_WAITALL) != 8)
          error = "echo failed at round " + std::to_string(i);
    };
    if (connect(s, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) error = "connect failed";
    echo(10);
    const std::string c = "ip netns exec " + tn.client_ns() + " ";
    if (error.empty() &&
        anvil::test::run_command(c + "sysctl -qw net.ipv4.conf." + tn.client_if() +
                                 ".arp_notify=" + (arp_notify ? "1" : "0") + " && " + c +
                                 "ip link set dev " + tn.client_if() + " address " + new_mac) != 0)
      error = "could not change the client's MAC";
    // A permanent neighbour entry, set after the change (which flushes the cache): the
    // client's kernel does not ARP for the stack again.
    if (error.empty() && how == announce::nothing &&
        anvil::test::run_command(c + "ip neigh replace " + tn.stack_ip() + " lladdr " +
                                 tn.stack_mac() + " dev " + tn.client_if() + " nud permanent") != 0)
      error = "could not pin the client's neighbour entry";
    echo(50);  // each round trip must reach the new MAC
    shutdown(s, SHUT_WR);
    close(s);
    done = true;
  });
  std::byte frame[2048];
  const auto stop_at = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done && std::chrono::steady_clock::now() < stop_at) {
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, 1);
    for (int k = 0; k < 64; ++k) {
      const ssize_t n = recv(fd, frame, sizeof frame, MSG_DONTWAIT);
      if (n <= 0) break;
      st.input(bytes{frame, static_cast<std::size_t>(n)}, mono(), sink, rx_meta{});
    }
    st.flush(mono(), sink);
    st.poll_timers(mono(), sink);
  }
  client.join();
  close(fd);
  EXPECT_EQ(error, "");
  EXPECT_EQ(app.accepts, 1);
  const auto& n = st.counters();
  EXPECT_GE(n.neigh_mac_changed.load(), 1u);
  if (how == announce::nothing) {
    EXPECT_GE(n.neigh_probes_sent.load(), 1u) << "found by asking";
  }
  in_addr ca{};
  inet_pton(AF_INET, tn.client_ip().c_str(), &ca);
  const std::uint32_t i = st.neighbours().find(ip4_addr{ntohl(ca.s_addr)});
  ASSERT_NE(i, neighbour_table::kNone);
  EXPECT_EQ(st.neighbours().get(i, mono()).mac, parse_mac(new_mac));
  std::printf("arp_replies %llu arp_in_replies %llu not_for_us %llu\n",
              (unsigned long long)n.arp_replies.load(),
              (unsigned long long)n.arp_replies_received.load(),
              (unsigned long long)n.drop_arp_not_for_us.load());
  std::printf("neigh_mac_changed %llu probes %llu retransmits %llu\n",
              (unsigned long long)n.neigh_mac_changed.load(),
              (unsigned long long)n.neigh_probes_sent.load(),
              (unsigned long long)n.tcp_retransmits.load());
}

// arp_notify=1: Linux announces the new MAC with a gratuitous ARP.
TEST(veth_interop, client_mac_change_announced_by_gratuitous_arp) {
  client_changes_mac(announce::gratuitous_arp);
}
// arp_notify=0: Linux flushes its neighbour cache and ARPs for the stack again from the
// new MAC; the request to us updates the entry.
TEST(veth_interop, client_mac_change_learned_from_its_next_arp_request) {
  client_changes_mac(announce::client_re_arps);
}
// Neither (a pinned neighbour entry on the client): segments arrive from a MAC ARP did
// not give, the stack asks by broadcast ARP and the client's answer moves the entry.
TEST(veth_interop, client_mac_change_found_by_asking) { client_changes_mac(announce::nothing); }

}  // namespace
}  // namespace anvil::net::test
