// Per-lcore neighbour (ARP) cache: IPv4 address -> MAC for every frame a connection
// sends. Connections hold an entry index (reference counted), never a copied MAC, so
// when a peer's MAC changes (gratuitous ARP after a VRRP failover, a NIC swap) every
// connection to it follows at its next segment.
//
// Where entries come from:
//   ARP    requests addressed to us (created), replies and gratuitous ARP (update an
//          existing entry only, like Linux with arp_accept=0). `from_arp` entries are
//          re-validated with ARP like Linux's STALE -> PROBE: once not confirmed for
//          reachable_time, the next transmit sends a request (unicast to the cached
//          MAC, then broadcast), and the cached MAC stays in use until an answer comes.
//   IP     the frame that opened a connection (its Ethernet source). The peer may be
//          behind a router, so these are never ARPed for; newer accepted traffic from
//          another MAC replaces it ("last hop"), and when an ARP-learned entry with the
//          same MAC (the router, `via`) changes MAC, they follow it.
// Confirmation: every segment a connection accepts from the entry's MAC.
// Aging: at most once a second, unreferenced entries not confirmed for gc_stale_time
// are freed. Full table: a new entry takes the oldest unreferenced one; when every
// entry is referenced, nothing is learned and a new connection is refused (counted).
//
// Memory is fixed at construction; lookups by address scan a compact array of
// addresses (4 KiB at 1024 entries) and run per ARP frame and per new connection only;
// transmit is an index. Single-threaded: the owning lcore.
#pragma once

#include <cstdint>
#include <vector>

#include "dataplane/net/counters.h"
#include "dataplane/net/wire.h"

namespace anvil::net {

struct neigh_config {
  // 0: the stack's connection limit + 16 (every connection may have its own peer,
  // plus routers and peers known only from ARP), so the table never refuses a
  // connection the connection table would take.
  std::uint32_t entries = 0;
  nanos reachable_time = 30 * kNsPerSec;  // Linux base_reachable_time
  nanos retrans_time = 1 * kNsPerSec;     // between probes
  std::uint8_t ucast_probes = 3;          // to the cached MAC first
  std::uint8_t mcast_probes = 3;          // then broadcast; then `failed` until the next round
  nanos gc_stale_time = 60 * kNsPerSec;   // unreferenced and unconfirmed this long: freed
};

enum class neigh_state : std::uint8_t {
  free,
  reachable,  // confirmed within reachable_time
  stale,      // older (reported only: becomes probe at the next transmit)
  probe,      // ARP requests outstanding; the cached MAC is still used
  failed,     // no answer to a round of probes; still used; retried a round later
};

class neighbour_table {
 public:
  static constexpr std::uint32_t kNone = 0xffffffffu;

  // An ARP request the owner should send now (resolve()), then report with probe_sent.
  struct probe {
    bool send = false;
    mac_addr dst;  // the cached MAC (unicast probe) or broadcast
    ip4_addr ip;
  };

  neighbour_table(const neigh_config& cfg, net_counters& ctr)
      : _cfg(cfg), _ctr(ctr), _ips(cfg.entries, 0), _e(cfg.entries) {
    _free.reserve(cfg.entries);
    for (std::uint32_t i = cfg.entries; i-- > 0;) _free.push_back(i);
  }

  std::uint32_t find(ip4_addr ip) const {
    for (std::uint32_t i = 0; i < _ips.size(); ++i)
      if (_ips[i] == ip.v && _e[i].state != neigh_state::free) return i;
    return kNone;
  }

  // ---- connections ---------------------------------------------------------------
  // The entry a new connection to `ip` sends through (a reference is taken), created
  // from the opening frame's source MAC when there is none. kNone: table full.
  std::uint32_t acquire(ip4_addr ip, const mac_addr& seen, nanos now) {
    std::uint32_t i = find(ip);
    if (i == kNone) {
      i = allocate(ip, now);
      if (i == kNone) return kNone;
      entry& e = _e[i];
      e.mac = seen;
      e.from_arp = false;
      e.state = neigh_state::reachable;
      e.confirmed = now;
      link_via(i);
      bump(_ctr.neigh_learned);
    } else if (_e[i].mac != seen) {
      observed_elsewhere(i, seen, now);  // the SYN came another way: see confirm()
    }
    ++_e[i].refs;
    return i;
  }
  void release(std::uint32_t i) {
    if (i == kNone || _e[i].refs == 0) return;
    --_e[i].refs;
  }

  // A connection accepted a segment whose frame came from `seen`.
  void confirm(std::uint32_t i, const mac_addr& seen, nanos now) {
    if (i == kNone) return;
    entry& e = _e[i];
    if (e.mac == seen) {
      e.confirmed = now;
      if (e.state != neigh_state::reachable) e.state = neigh_state::reachable, e.probes = 0;
      return;
    }
    observed_elsewhere(i, seen, now);
  }

  // The MAC to send to; fills `p` when an ARP request should go out first.
  const mac_addr& resolve(std::uint32_t i, nanos now, probe& p) {
    entry& e = _e[i];
    p.send = false;
    if (!e.from_arp) return e.mac;
    if (e.state == neigh_state::reachable && now - e.confirmed > _cfg.reachable_time) {
      e.state = neigh_state::probe;  // stale and in use: re-validate
      e.probes = 0;
      e.next_probe = now;
    }
    if (e.state == neigh_state::failed && now >= e.next_probe) {
      e.state = neigh_state::probe;  // another round, broadcast
      e.probes = _cfg.ucast_probes;
    }
    if (e.state == neigh_state::probe && now >= e.next_probe) {
      if (e.probes < _cfg.ucast_probes + _cfg.mcast_probes) {
        p.send = true;
        p.dst = e.probes < _cfg.ucast_probes ? e.mac : kBroadcastMac;
        p.ip = ip4_addr{_ips[i]};
      } else {
        e.state = neigh_state::failed;
        e.next_probe = now + _cfg.reachable_time;
        bump(_ctr.neigh_unreachable);
      }
    }
    return e.mac;
  }
  void probe_sent(std::uint32_t i, nanos now) {
    ++_e[i].probes;
    _e[i].next_probe = now + _cfg.retrans_time;
    bump(_ctr.neigh_probes_sent);
  }

  // ---- ARP -------------------------------------------------------------------------
  // `ip` is at `mac` (sender of a request or reply). `create`: a request to us.
  void learn_arp(ip4_addr ip, const mac_addr& mac, nanos now, bool create) {
    std::uint32_t i = find(ip);
    if (i == kNone) {
      if (!create) return;
      i = allocate(ip, now);
      if (i == kNone) return;
      _e[i].mac = mac;
      bump(_ctr.neigh_learned);
    } else if (_e[i].mac != mac) {
      const mac_addr old = _e[i].mac;
      _e[i].mac = mac;
      bump(_ctr.neigh_mac_changed);
      // Peers reached through this neighbour (a router that failed over) follow it.
      for (std::uint32_t k = 0; k < _e.size(); ++k) {
        entry& f = _e[k];
        if (k == i || f.state == neigh_state::free || f.from_arp) continue;
        if (f.via == i || f.mac == old) {
          f.mac = mac;
          if (f.via == kNone) f.via = i, ++_e[i].refs;
          bump(_ctr.neigh_mac_changed);
        }
      }
    }
    entry& e = _e[i];
    if (!e.from_arp) unlink_via(i);
    e.from_arp = true;
    e.state = neigh_state::reachable;
    e.probes = 0;
    e.confirmed = now;
  }

  // Frees unreferenced entries not confirmed for gc_stale_time; runs at most once per
  // second whatever the call rate (the owner calls it per frame: one compare).
  void maybe_age(nanos now) {
    if (now < _next_age) return;
    _next_age = now + kNsPerSec;
    for (std::uint32_t i = 0; i < _e.size(); ++i) {
      const entry& e = _e[i];
      if (e.state != neigh_state::free && e.refs == 0 && now - e.confirmed > _cfg.gc_stale_time) {
        free_entry(i);
        bump(_ctr.neigh_aged);
      }
    }
  }

  // ---- inspection (tests, the control plane) ---------------------------------------
  struct view {
    ip4_addr ip;
    mac_addr mac;
    neigh_state state = neigh_state::free;
    bool from_arp = false;
    std::uint32_t refs = 0;
  };
  view get(std::uint32_t i, nanos now) const {
    const entry& e = _e[i];
    view v{ip4_addr{_ips[i]}, e.mac, e.state, e.from_arp, e.refs};
    if (e.state == neigh_state::reachable && now - e.confirmed > _cfg.reachable_time)
      v.state = neigh_state::stale;
    return v;
  }
  std::uint32_t capacity() const { return static_cast<std::uint32_t>(_e.size()); }
  std::uint32_t size() const { return capacity() - static_cast<std::uint32_t>(_free.size()); }

 private:
  struct entry {
    mac_addr mac;
    neigh_state state = neigh_state::free;
    bool from_arp = false;
    std::uint8_t probes = 0;
    std::uint32_t refs = 0;  // connections, and IP-learned entries that go `via` this one
    std::uint32_t via = kNone;
    nanos confirmed = 0;
    nanos next_probe = 0;
  };

  // Traffic from the peer arrived from `seen`, not the entry's MAC.
  void observed_elsewhere(std::uint32_t i, const mac_addr& seen, nanos now) {
    entry& e = _e[i];
    if (!e.from_arp) {  // last hop: the path to this peer now comes through `seen`
      e.mac = seen;
      e.confirmed = now;
      unlink_via(i);
      link_via(i);
      bump(_ctr.neigh_mac_changed);
      return;
    }
    // ARP said otherwise: ask (broadcast) at the next transmit, keep the MAC until then.
    if (e.state == neigh_state::reachable || e.state == neigh_state::failed) {
      e.state = neigh_state::probe;
      e.probes = _cfg.ucast_probes;
      e.next_probe = now;
    }
  }

  std::uint32_t allocate(ip4_addr ip, nanos now) {
    std::uint32_t i = kNone;
    if (!_free.empty()) {
      i = _free.back();
      _free.pop_back();
    } else {
      // Evict the unreferenced entry confirmed longest ago.
      for (std::uint32_t k = 0; k < _e.size(); ++k)
        if (_e[k].refs == 0 && (i == kNone || _e[k].confirmed < _e[i].confirmed)) i = k;
      if (i == kNone) {
        bump(_ctr.neigh_table_full);
        return kNone;
      }
      free_entry(i);
      bump(_ctr.neigh_evicted);
      _free.pop_back();  // free_entry pushed it
    }
    _ips[i] = ip.v;
    _e[i] = entry{};
    _e[i].state = neigh_state::reachable;
    _e[i].confirmed = now;
    return i;
  }
  void free_entry(std::uint32_t i) {
    unlink_via(i);
    _e[i] = entry{};
    _ips[i] = 0;
    _free.push_back(i);
  }
  // An IP-learned entry whose MAC is an ARP-learned neighbour's is reached through it:
  // that neighbour is kept (referenced) and its MAC changes carry this entry along.
  void link_via(std::uint32_t i) {
    for (std::uint32_t k = 0; k < _e.size(); ++k) {
      if (k != i && _e[k].state != neigh_state::free && _e[k].from_arp && _e[k].mac == _e[i].mac) {
        _e[i].via = k;
        ++_e[k].refs;
        return;
      }
    }
  }
  void unlink_via(std::uint32_t i) {
    if (_e[i].via != kNone) {
      release(_e[i].via);
      _e[i].via = kNone;
    }
  }

  neigh_config _cfg;
  net_counters& _ctr;
  std::vector<std::uint32_t> _ips;  // scanned by find(): kept apart from the entries
  std::vector<entry> _e;
  std::vector<std::uint32_t> _free;
  nanos _next_age = 0;
};

}  // namespace anvil::net
