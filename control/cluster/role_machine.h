// A node's role for one shard: replica, candidate, primary or fenced. A pure state
// machine in the style of dataplane/net/tcp_conn.h: no clock, no socket, no etcd. A
// driver (agent.h) feeds it events with the time, performs the actions it returns in
// order (etcd calls, VIP changes) and feeds back their results.
//
// Safety rules it enforces (docs/cluster.md has the argument):
// - A primary serves the VIP only until fence_deadline = (when the last successful
//   grant/keepalive was *sent*) + TTL - fence margin. etcd cannot expire the lease before
//   send + TTL, so the old primary stops answering at least `margin` before anyone else
//   can win the shard. take_vip/extend_vip carry that deadline (vip_lease.h enforces it
//   even if the driver is stuck).
// - A candidate wins only through an etcd transaction (the shard's epoch unchanged and
//   no primary key, i.e. the old lease expired or was revoked), so one node wins.
// - release_vip always comes before revoke_lease (stop answering, then give up the claim).
// - A primary that is degraded/failing steps down only when a healthy, caught-up replica
//   exists; nothing fails back automatically (a returning node stays a replica while the
//   shard has a primary).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "control/cluster/health_input.h"

namespace anvil::cluster {

using time_ms = std::int64_t;  // a steady clock in milliseconds, passed in

enum class role : std::uint8_t { replica, candidate, primary, fenced };
const char* to_string(role r);

struct machine_params {
  std::string node{};             // this node's id
  time_ms lease_ttl_ms = 2000;    // the TTL asked of etcd (whole seconds)
  time_ms fence_margin_ms = 500;  // 0 < margin < TTL
  // Keepalives go out every (TTL - margin) / 3: three tries before fencing.
  time_ms renew_interval_ms() const;
};

// One consistent read of the shard's keys in etcd (cluster_store::read_shard).
struct shard_view {
  std::int64_t epoch = 0;               // the shard's epoch (0: never had a primary)
  std::int64_t epoch_mod_revision = 0;  // of the epoch key; 0 = absent
  bool has_primary = false;             // the primary key exists (its lease holds)
  std::string primary{};                // its node
  std::int64_t primary_epoch = 0;
  std::int64_t primary_lease = 0;
};

// Local facts the driver refreshes before each event.
struct local_inputs {
  health_level health = health_level::ok;
  bool caught_up = true;            // this node's replication lag is within bounds
  bool in_shard_zone = true;        // this node is in the VIP's L2 segment (zone)
  bool healthy_peer_ready = false;  // a healthy, caught-up replica of the shard exists
};

struct action {
  enum class kind {
    grant_lease,   // ask etcd for a lease of params.lease_ttl_ms
    claim,         // txn: epoch key at `mod_revision` and no primary -> epoch+1, primary=me
    renew_lease,   // keepalive `lease`
    revoke_lease,  // revoke `lease` (best effort)
    take_vip,      // start answering for the VIP until `until`
    extend_vip,    // keep answering until `until`
    release_vip,   // stop answering for the VIP now
  };
  kind what{};
  std::int64_t lease = 0;
  std::int64_t epoch = 0;         // claim: the epoch seen; take_vip: the epoch won
  std::int64_t mod_revision = 0;  // claim: the epoch key's mod revision seen
  time_ms until = 0;              // take_vip / extend_vip
  bool operator==(const action&) const = default;
};
const char* to_string(action::kind k);

class role_machine {
 public:
  explicit role_machine(machine_params p);

  // A fresh read of the shard from etcd.
  std::vector<action> on_view(time_ms now, const shard_view& v, const local_inputs& in);
  // A read or a call failed because etcd could not be reached (or has no quorum).
  std::vector<action> on_etcd_unreachable(time_ms now);
  std::vector<action> on_lease_granted(time_ms now, time_ms sent_at, std::int64_t lease,
                                       time_ms ttl_ms);
  std::vector<action> on_lease_grant_failed(time_ms now);
  // The claim transaction's outcome; `epoch` is the epoch it set when it won.
  std::vector<action> on_claim_result(time_ms now, bool won, std::int64_t epoch);
  std::vector<action> on_renewed(time_ms now, time_ms sent_at, time_ms ttl_ms);
  std::vector<action> on_renew_failed(time_ms now);  // etcd unreachable: the lease may hold
  std::vector<action> on_lease_gone(time_ms now);    // etcd says the lease no longer exists
  // A heartbeat from `node` saying it is primary of this shard at `epoch`.
  std::vector<action> on_peer_primary(time_ms now, const std::string& node, std::int64_t epoch);
  // Deadlines (fencing, keepalives) and health-driven step-down.
  std::vector<action> tick(time_ms now, const local_inputs& in);

  role current() const { return _role; }
  std::int64_t epoch() const { return _epoch; }  // the epoch held (primary/fenced), else 0
  std::int64_t lease() const { return _lease; }
  time_ms fence_deadline() const { return _lease_sent_at + _ttl_ms - _p.fence_margin_ms; }
  // Why the last transition happened, e.g. "lease not renewed for 1500 ms".
  const std::string& reason() const { return _reason; }
  std::uint64_t transitions() const { return _transitions; }

 private:
  void become(role r, std::string reason);
  void drop_lease(std::vector<action>& out);  // revoke it if we have one
  bool lease_fresh(time_ms now) const { return _lease != 0 && now < fence_deadline(); }

  machine_params _p;
  role _role = role::replica;
  std::int64_t _lease = 0;
  time_ms _lease_sent_at = 0;
  time_ms _ttl_ms = 0;
  bool _renew_pending = false;
  bool _confirm_needed = false;  // fenced, lease renewed: resume only once etcd shows us primary
  std::int64_t _epoch = 0;
  std::int64_t _seen_epoch = 0;  // candidate: what the claim compares against
  std::int64_t _seen_mod_revision = 0;
  std::string _reason = "started";
  std::uint64_t _transitions = 0;
};

}  // namespace anvil::cluster
