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
// - A planned switchover (begin_handover) pauses writes, waits (bounded) until the target
//   is caught up, then releases the VIP *before* the handover transaction deletes its
//   primary key; a handover key names the target, so other replicas do not stand while it
//   exists and only the target's claim may consume it. On timeout writes resume and the
//   node stays primary.
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
  // A planned switchover in progress (shards/<shard>/handover, on its own short lease):
  // only `handover_to` may stand while it exists.
  std::string handover_to{};
  std::int64_t handover_mod_revision = 0;  // 0: no handover key
  bool handover_force = false;             // the target stands even if not eligible
};

// Local facts the driver refreshes before each event.
struct local_inputs {
  health_level health = health_level::ok;
  bool caught_up = true;            // this node's replication lag is within bounds
  bool in_shard_zone = true;        // this node is in the VIP's L2 segment (zone)
  bool healthy_peer_ready = false;  // a healthy, caught-up replica of the shard exists
  // Handing over: the target is alive, a replica, and at this node's replication position
  // (or the operator forced it).
  bool handover_target_ready = false;
};

// How the last switchover ended.
enum class handover_end : std::uint8_t { none, handed_over, timed_out, abandoned };

// The handover transaction's outcome (cluster_store::hand_over).
enum class handover_outcome : std::uint8_t {
  done,     // the handover key is written and our primary key deleted
  refused,  // etcd no longer shows us primary at our epoch: nothing was written
  unknown,  // etcd unreachable: it may or may not have committed
};

struct action {
  enum class kind {
    grant_lease,    // ask etcd for a lease of params.lease_ttl_ms
    claim,          // txn: epoch key at `mod_revision` and no primary -> epoch+1, primary=me
    renew_lease,    // keepalive `lease`
    revoke_lease,   // revoke `lease` (best effort)
    take_vip,       // start answering for the VIP until `until`
    extend_vip,     // keep answering until `until`
    release_vip,    // stop answering for the VIP now
    pause_writes,   // refuse writes (a retryable error) while keeping reads and the VIP
    resume_writes,  // accept writes again (release_vip and take_vip also reopen them)
    hand_over,      // txn: still primary at `epoch` with `lease` -> handover key naming
                    // `node` (forced: `force`), delete our primary key
  };
  kind what{};
  std::int64_t lease = 0;
  std::int64_t epoch = 0;              // claim: the epoch seen; take_vip: the epoch won
  std::int64_t mod_revision = 0;       // claim: the epoch key's mod revision seen
  time_ms until = 0;                   // take_vip / extend_vip
  std::int64_t handover_revision = 0;  // claim: the handover key naming us (0: expect none)
  std::string node{};                  // hand_over: the target
  bool force = false;                  // hand_over: the target may stand though not eligible
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
  // Deadlines (fencing, keepalives, a switchover's bound) and health-driven step-down;
  // a switchover hands over once in.handover_target_ready.
  std::vector<action> tick(time_ms now, const local_inputs& in);

  // Operator actions (docs/cluster.md, "Planned switchover").
  // A primary starts handing the shard to `target` (not itself), giving up at `until`:
  // pauses writes now. Refused (no action, false) unless primary and not already handing
  // over.
  bool begin_handover(time_ms now, const std::string& target, time_ms until, bool force,
                      std::vector<action>& out);
  std::vector<action> on_handover_result(time_ms now, handover_outcome r);
  // promote of this node while the shard has no primary: stand at the next read that shows
  // none even if not eligible (unhealthy, behind, other zone), until `until`.
  void force_candidacy(time_ms until) { _force_stand_until = until; }

  role current() const { return _role; }
  std::int64_t epoch() const { return _epoch; }  // the epoch held (primary/fenced), else 0
  std::int64_t lease() const { return _lease; }
  time_ms fence_deadline() const { return _lease_sent_at + _ttl_ms - _p.fence_margin_ms; }
  // Why the last transition happened, e.g. "lease not renewed for 1500 ms".
  const std::string& reason() const { return _reason; }
  std::uint64_t transitions() const { return _transitions; }
  bool handing_over() const { return !_handover_to.empty(); }
  const std::string& handover_target() const { return _handover_to; }
  // How and why the last switchover ended (none/empty while one runs or if none ran).
  handover_end handover_ending() const { return _handover_ending; }
  const std::string& handover_end_reason() const { return _handover_end; }

 private:
  void become(role r, std::string reason);
  void drop_lease(std::vector<action>& out);  // revoke it if we have one
  bool lease_fresh(time_ms now) const { return _lease != 0 && now < fence_deadline(); }
  void end_handover(handover_end how, std::string why);

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
  std::int64_t _seen_handover_revision = 0;
  time_ms _force_stand_until = 0;
  // Handing over (primary only): the target, the bound, whether the txn went out.
  std::string _handover_to{};
  time_ms _handover_until = 0;
  bool _handover_force = false;
  bool _handover_sent = false;
  std::string _handover_end{};
  handover_end _handover_ending = handover_end::none;
  std::string _reason = "started";
  std::uint64_t _transitions = 0;
};

}  // namespace anvil::cluster
