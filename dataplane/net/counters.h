// Per-lcore stack counters: every drop and every notable event is counted here.
// One writer (the lcore that owns the stack); readers (the control plane) load with
// relaxed atomics. The block is cache-line aligned so two lcores never share a line.
// ANVIL_NET_COUNTERS is the table the control plane iterates to export them.
#pragma once

#include <atomic>
#include <cstdint>

namespace anvil::net {

#define ANVIL_NET_COUNTERS(X)                                                        \
  X(rx_frames, "frames received")                                                    \
  X(tx_frames, "frames sent")                                                        \
  X(tx_no_buffer, "outputs deferred because the sink had no buffer")                 \
  X(drop_eth_short, "frames shorter than an Ethernet header")                        \
  X(drop_eth_not_for_us, "frames for another MAC")                                   \
  X(drop_eth_type, "unhandled EtherType")                                            \
  X(drop_arp_malformed, "malformed ARP")                                             \
  X(drop_arp_not_for_us, "ARP for an address we do not own")                         \
  X(arp_replies, "ARP replies sent")                                                 \
  X(arp_gratuitous, "gratuitous ARPs sent")                                          \
  X(arp_replies_received, "ARP replies received (solicited or gratuitous)")          \
  X(drop_arp_our_address, "ARP from another host claiming one of our addresses")     \
  X(drop_vip_not_held, "frames (ARP, IP) for the gated VIP while not owning it")     \
  X(vip_taken, "VIP ownership taken, as seen by this lcore")                         \
  X(vip_lost, "VIP ownership lapsed or released, as seen by this lcore")             \
  X(vip_conns_reset, "connections on the VIP reset when its ownership ended")        \
  X(neigh_learned, "neighbour entries created (from ARP or a new peer)")             \
  X(neigh_mac_changed, "neighbour entries whose MAC changed (connections follow)")   \
  X(neigh_probes_sent, "ARP requests sent to re-validate a neighbour in use")        \
  X(neigh_unreachable, "neighbours that answered no round of probes")                \
  X(neigh_aged, "unreferenced neighbour entries freed by age")                       \
  X(neigh_evicted, "neighbour entries replaced because the table was full")          \
  X(neigh_table_full, "neighbours not learned: every entry in use (SYN refused)")    \
  X(drop_ip_short, "IPv4 frames too short for the header")                           \
  X(drop_ip_version, "IP version not 4")                                             \
  X(drop_ip_bad_ihl, "IPv4 header length < 20 or beyond the frame")                  \
  X(drop_ip_options, "IPv4 with options (not handled)")                              \
  X(drop_ip_truncated, "IPv4 total length beyond the bytes received")                \
  X(drop_ip_bad_len, "IPv4 total length smaller than the header")                    \
  X(drop_ip_checksum, "IPv4 header checksum wrong")                                  \
  X(drop_ip_fragment, "IPv4 fragments")                                              \
  X(drop_ip_not_for_us, "IPv4 for an address we do not own")                         \
  X(drop_ip_proto, "unhandled IP protocol")                                          \
  X(drop_icmp_malformed, "malformed or bad-checksum ICMP")                           \
  X(drop_icmp_type, "ICMP other than echo request")                                  \
  X(icmp_echo_replies, "ICMP echo replies sent")                                     \
  X(icmp_pmtu_lowered, "ICMP frag-needed accepted: a connection's MSS lowered")      \
  X(icmp_pmtu_ignored, "valid ICMP frag-needed whose MTU lowered nothing")           \
  X(drop_icmp_pmtu_malformed, "ICMP frag-needed: quoted header truncated/invalid")   \
  X(drop_icmp_pmtu_no_conn, "ICMP frag-needed for no connection of ours")            \
  X(drop_icmp_pmtu_out_of_window, "ICMP frag-needed quoting a seq not in flight")    \
  X(drop_udp_malformed, "malformed or bad-checksum UDP")                             \
  X(drop_udp_port, "UDP to a closed port or UDP disabled")                           \
  X(drop_udp_frame_header, "memcached UDP frame header invalid")                     \
  X(udp_requests, "memcached UDP requests")                                          \
  X(udp_tx_datagrams, "UDP datagrams sent")                                          \
  X(drop_tcp_malformed, "TCP header too short or bad data offset")                   \
  X(drop_tcp_checksum, "TCP checksum wrong")                                         \
  X(drop_tcp_no_listener, "TCP to a closed port (answered by RST)")                  \
  X(drop_tcp_bad_flags, "TCP segment without a valid flag combination")              \
  X(drop_tcp_out_of_window, "segments outside the receive window")                   \
  X(drop_tcp_paws, "segments rejected by PAWS (old timestamp)")                      \
  X(drop_tcp_bad_ack, "ACKs for data never sent or too old")                         \
  X(drop_tcp_ooo_full, "out-of-order segments dropped: queue full")                  \
  X(drop_tcp_rst_ignored, "RSTs ignored (outside the window)")                       \
  X(tcp_challenge_acks, "RFC 5961 challenge ACKs sent")                              \
  X(tcp_rst_sent, "RSTs sent")                                                       \
  X(tcp_rst_received, "connections reset by the peer")                               \
  X(tcp_accepts, "connections established (passive)")                                \
  X(tcp_connects, "connections established (active)")                                \
  X(tcp_closes, "connections released")                                              \
  X(tcp_conn_limit, "SYNs refused: connection table full")                           \
  X(tcp_pool_empty, "SYNs refused: buffer pool empty")                               \
  X(tcp_syn_cookies_sent, "SYN-ACKs sent as SYN cookies (backlog full)")             \
  X(tcp_syn_cookies_ok, "connections established from a valid SYN cookie")           \
  X(drop_tcp_bad_cookie, "ACKs with an invalid SYN cookie")                          \
  X(tcp_synrecv_dropped, "SYN-RECEIVED entries dropped: too many wrong ACKs")        \
  X(tcp_retransmits, "segments retransmitted (all causes)")                          \
  X(tcp_rto_expired, "retransmission timeouts")                                      \
  X(tcp_fast_retransmits, "fast retransmits (3 duplicate ACKs)")                     \
  X(tcp_zero_window_probes, "zero-window probes sent")                               \
  X(tcp_sack_retransmits, "SACK holes retransmitted (RFC 6675)")                     \
  X(tcp_tlp_probes, "tail loss probes sent (RFC 8985)")                              \
  X(tcp_rack_marked_lost, "RACK timer expiries that marked holes lost")              \
  X(drop_tcp_sack_invalid, "SACK blocks ignored: outside the flight")                \
  X(drop_tcp_sack_malformed, "SACK options ignored: bad length")                     \
  X(tcp_tx_oversize_aborts, "connections aborted: a segment larger than a frame")    \
  X(tcp_idle_timeouts, "connections aborted by the idle timeout")                    \
  X(tcp_retry_timeouts, "connections aborted after too many retransmissions")        \
  X(tcp_fin_wait_2_timeouts, "connections aborted: FIN_WAIT_2 timed out")            \
  X(tcp_keepalive_probes, "keepalive probes sent")                                   \
  X(tcp_keepalive_timeouts, "connections aborted: keepalive probes unanswered")      \
  X(tcp_time_wait_reuse, "TIME_WAIT connections reused by a new SYN")                \
  X(tcp_time_wait_recycled, "TIME_WAIT entries given up because the table was full") \
  X(tcp_rx_segments, "TCP segments received for a connection")                       \
  X(tcp_tx_segments, "TCP segments sent")

struct alignas(64) net_counters {
#define ANVIL_NET_COUNTER_FIELD(name, help) std::atomic<std::uint64_t> name{0};
  ANVIL_NET_COUNTERS(ANVIL_NET_COUNTER_FIELD)
#undef ANVIL_NET_COUNTER_FIELD
};

// Single-writer increment: a relaxed load+store, not a locked read-modify-write.
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace anvil::net
