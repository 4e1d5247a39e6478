// A seeded simulation of several role_machines against a model of etcd (leases that
// expire on etcd's 500 ms scan, lease promotion when quorum returns, the claim
// transaction), with random request latencies, lost replies, etcd losing quorum, nodes
// that stall (a paused process: no steps, replies delivered late) and health that
// flaps. Like smoltcp's netsim: a failing seed replays exactly.
//
// Planned switchovers (begin_handover, the handover key on its own lease, the target's
// claim consuming it) are started at random during the faults.
//
// Checked: (safety) the VIP ownership intervals of different nodes never overlap, and a
// node only ever takes the VIP at an epoch etcd committed for it; (liveness) once the
// faults stop, exactly one node owns the VIP within a few TTLs.
#include <gtest/gtest.h>

#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <queue>
#include <random>

#include "control/cluster/role_machine.h"

namespace anvil::cluster {
namespace {

constexpr time_ms kTtl = 1000, kMargin = 300, kTimeout = 200, kStep = 10, kRead = 20;
constexpr time_ms kFaultsUntil = 40'000, kEnd = 50'000;

struct sim_etcd {
  struct lease {
    time_ms expiry;
  };
  std::map<std::int64_t, lease> leases;
  std::int64_t next_lease = 1, revision = 1;
  std::int64_t epoch = 0, epoch_mod = 0;
  std::optional<std::pair<std::string, std::int64_t>> primary;  // node, epoch
  std::int64_t primary_lease = 0;
  std::string handover_to;  // empty: no handover key
  std::int64_t handover_rev = 0, handover_lease = 0;
  bool available = true;

  void drop_lease(std::int64_t id) {
    leases.erase(id);
    if (!handover_to.empty() && handover_lease == id) {
      handover_to.clear();
      ++revision;
    }
    if (primary && primary_lease == id) {
      primary.reset();
      ++revision;
    }
  }
  void scan(time_ms now) {  // etcd's leader revokes expired leases every 500 ms
    if (!available) return;
    std::vector<std::int64_t> dead;
    for (auto& [id, l] : leases)
      if (l.expiry <= now) dead.push_back(id);
    for (auto id : dead) drop_lease(id);
  }
  void promote(time_ms now) {  // a new leader extends every lease by an election timeout
    for (auto& [id, l] : leases) l.expiry = std::max(l.expiry, now + kTtl + 500);
  }
  shard_view view() const {
    shard_view v{.epoch = epoch, .epoch_mod_revision = epoch_mod};
    if (primary) {
      v.has_primary = true;
      v.primary = primary->first;
      v.primary_epoch = primary->second;
      v.primary_lease = primary_lease;
    }
    if (!handover_to.empty()) {
      v.handover_to = handover_to;
      v.handover_mod_revision = handover_rev;
    }
    return v;
  }
};

struct interval {
  time_ms from, until;
  std::int64_t epoch;
};

struct sim_node {
  std::string name;
  role_machine machine;
  std::vector<interval> owned{};
  std::deque<action> pending{};
  bool busy = false;
  time_ms paused_until = 0;
  time_ms next_read = 0;
  bool degraded = false;
};

struct event {
  time_ms at = 0;
  std::uint64_t order = 0;
  int node = 0;
  enum class kind { step, process, reply, scan } what = kind::step;
  action act{};
  // filled when processed
  bool ok = false;
  std::int64_t lease = 0, ttl = 0, epoch = 0;
  bool won = false, gone = false;
  shard_view view{};
  time_ms sent = 0;
  bool is_read = false;
  bool operator>(const event& o) const { return at != o.at ? at > o.at : order > o.order; }
};

class sim {
 public:
  sim(std::uint64_t seed, int nodes) : _rng(seed) {
    for (int i = 0; i < nodes; ++i) {
      std::string n(1, static_cast<char>('a' + i));
      _nodes.push_back(
          {n, role_machine({.node = n, .lease_ttl_ms = kTtl, .fence_margin_ms = kMargin})});
      push({.at = static_cast<time_ms>(_rng() % 50), .node = i, .what = event::kind::step});
    }
    push({.at = 500, .node = -1, .what = event::kind::scan});
  }

  void run() {
    while (!_q.empty() && _q.top().at <= kEnd) {
      event e = _q.top();
      _q.pop();
      _now = e.at;
      faults();
      switch (e.what) {
        case event::kind::scan:
          _etcd.scan(_now);
          push({.at = _now + 500, .node = -1, .what = event::kind::scan});
          break;
        case event::kind::step:
          step(e.node);
          break;
        case event::kind::process:
          process(e);
          break;
        case event::kind::reply:
          reply(e);
          break;
      }
    }
  }

  void check_safety() const {
    for (std::size_t i = 0; i < _nodes.size(); ++i)
      for (std::size_t j = i + 1; j < _nodes.size(); ++j)
        for (const auto& x : _nodes[i].owned)
          for (const auto& y : _nodes[j].owned) {
            const bool overlap = x.from < y.until && y.from < x.until;
            ASSERT_FALSE(overlap) << _nodes[i].name << " [" << x.from << "," << x.until << ") e"
                                  << x.epoch << " and " << _nodes[j].name << " [" << y.from << ","
                                  << y.until << ") e" << y.epoch;
          }
    ASSERT_TRUE(_bad_take.empty()) << _bad_take;
  }

  int owners_at_end() const {
    int n = 0;
    for (const auto& x : _nodes)
      if (!x.owned.empty() && x.owned.back().until > kEnd) ++n;
    return n;
  }
  std::uint64_t takes() const { return _takes; }
  std::string describe() const {
    std::string out = "etcd epoch " + std::to_string(_etcd.epoch) +
                      (_etcd.primary ? " primary " + _etcd.primary->first : " no primary") + ";";
    for (const auto& n : _nodes) {
      out += " " + n.name + "=" + to_string(n.machine.current()) + "(" + n.machine.reason() + ")";
      if (!n.owned.empty())
        out += " last owned [" + std::to_string(n.owned.back().from) + "," +
               std::to_string(n.owned.back().until) + ")";
    }
    return out;
  }
  std::int64_t epoch() const { return _etcd.epoch; }
  std::uint64_t handovers_started() const { return _handovers_started; }
  std::uint64_t handovers_committed() const { return _handovers_committed; }
  std::uint64_t handovers_claimed() const { return _handovers_claimed; }

 private:
  void push(event e) {
    e.order = _order++;
    _q.push(e);
  }
  bool chance(unsigned pct) { return _rng() % 1000 < pct; }

  void faults() {
    if (_now >= kFaultsUntil) {
      if (!_etcd.available) {
        _etcd.available = true;
        _etcd.promote(_now);
      }
      for (auto& n : _nodes) n.degraded = false;
      return;
    }
    if (_now < _next_fault) return;
    _next_fault = _now + 100;
    if (_etcd.available && chance(15)) {
      _etcd.available = false;  // quorum lost
    } else if (!_etcd.available && chance(150)) {
      _etcd.available = true;
      _etcd.promote(_now);
    }
    for (auto& n : _nodes) {
      if (chance(10)) n.paused_until = _now + 200 + static_cast<time_ms>(_rng() % 2500);
      if (chance(20)) n.degraded = !n.degraded;
    }
    // An operator starts a switchover on the primary now and then.
    if (chance(60)) {
      for (std::size_t i = 0; i < _nodes.size(); ++i) {
        auto& n = _nodes[i];
        if (n.machine.current() != role::primary || n.machine.handing_over()) continue;
        const std::size_t t = (i + 1 + _rng() % (_nodes.size() - 1)) % _nodes.size();
        std::vector<action> out;
        if (n.machine.begin_handover(_now, _nodes[t].name,
                                     _now + 100 + static_cast<time_ms>(_rng() % 1500), false, out))
          ++_handovers_started;
        // Queued: run at the node's next step (never from inside another event).
        n.pending.insert(n.pending.end(), out.begin(), out.end());
      }
    }
  }

  local_inputs inputs(int i) const {
    local_inputs in;
    in.health = _nodes[i].degraded ? health_level::degraded : health_level::ok;
    for (std::size_t j = 0; j < _nodes.size(); ++j)
      if (static_cast<int>(j) != i && !_nodes[j].degraded && _nodes[j].paused_until <= _now &&
          _nodes[j].machine.current() == role::replica) {
        in.healthy_peer_ready = true;
        if (_nodes[j].name == _nodes[i].machine.handover_target()) in.handover_target_ready = true;
      }
    return in;
  }

  void step(int i) {
    auto& n = _nodes[i];
    const time_ms next = std::max(_now + kStep, n.paused_until);
    if (n.paused_until > _now || n.busy) {
      if (!n.busy) push({.at = next, .node = i, .what = event::kind::step});
      return;  // a busy node is woken by its reply
    }
    const auto in = inputs(i);
    for (std::size_t j = 0; j < _nodes.size(); ++j)
      if (static_cast<int>(j) != i && _nodes[j].machine.current() == role::primary)
        enqueue(i, n.machine.on_peer_primary(_now, _nodes[j].name, _nodes[j].machine.epoch()));
    enqueue(i, n.machine.tick(_now, in));
    if (!n.busy && _now >= n.next_read) {
      n.next_read = _now + kRead;
      request(i, {}, true);
    }
    if (!n.busy) push({.at = _now + kStep, .node = i, .what = event::kind::step});
  }

  void enqueue(int i, std::vector<action> a) {
    auto& n = _nodes[i];
    n.pending.insert(n.pending.end(), a.begin(), a.end());
    drain(i);
  }

  // Runs local actions at once; the first etcd action makes the node busy until its reply.
  void drain(int i) {
    auto& n = _nodes[i];
    while (!n.busy && !n.pending.empty()) {
      action a = n.pending.front();
      n.pending.pop_front();
      switch (a.what) {
        case action::kind::take_vip:
          if (!_etcd.primary || _etcd.primary->first != n.name || _etcd.primary->second != a.epoch)
            _bad_take = n.name + " took the VIP at epoch " + std::to_string(a.epoch) +
                        " which etcd does not give it";
          n.owned.push_back({_now, a.until, a.epoch});
          ++_takes;
          break;
        case action::kind::extend_vip:
          if (!n.owned.empty() && n.owned.back().until > _now)
            n.owned.back().until = std::max(n.owned.back().until, a.until);
          break;
        case action::kind::release_vip:
          if (!n.owned.empty()) n.owned.back().until = std::min(n.owned.back().until, _now);
          break;
        case action::kind::pause_writes:
        case action::kind::resume_writes:
          break;  // the data plane's business
        default:
          request(i, a, false);
          break;
      }
    }
  }

  void request(int i, const action& a, bool is_read) {
    _nodes[i].busy = true;
    event e{.at = _now + static_cast<time_ms>(_rng() % 40),
            .node = i,
            .what = event::kind::process,
            .act = a};
    e.sent = _now;
    e.is_read = is_read;
    push(e);
  }

  void process(event e) {
    if (!_etcd.available || chance(20)) {  // no quorum, or the request is lost
      e.ok = false;
      e.at = e.sent + kTimeout;
    } else {
      e.ok = true;
      if (e.is_read) {
        e.view = _etcd.view();
      } else {
        switch (e.act.what) {
          case action::kind::grant_lease:
            e.lease = _etcd.next_lease++;
            _etcd.leases[e.lease] = {_now + kTtl};
            e.ttl = kTtl;
            break;
          case action::kind::renew_lease:
            if (auto it = _etcd.leases.find(e.act.lease); it != _etcd.leases.end()) {
              it->second.expiry = _now + kTtl;
              e.ttl = kTtl;
            } else {
              e.gone = true;
            }
            break;
          case action::kind::revoke_lease:
            _etcd.drop_lease(e.act.lease);
            break;
          case action::kind::hand_over:
            // Grant the handover lease and commit in one step (the agent does two calls;
            // a lost reply here stands for either failing).
            if (_etcd.primary && _etcd.primary->first == _nodes[e.node].name &&
                _etcd.primary->second == e.act.epoch && _etcd.epoch == e.act.epoch) {
              const std::int64_t hl = _etcd.next_lease++;
              _etcd.leases[hl] = {_now + 2 * kTtl};
              _etcd.primary.reset();
              _etcd.handover_to = e.act.node;
              _etcd.handover_lease = hl;
              _etcd.handover_rev = ++_etcd.revision;
              e.won = true;
              ++_handovers_committed;
            }
            break;
          case action::kind::claim:
            if (_etcd.leases.count(e.act.lease) == 0) {
              e.ok = false;  // lease not found: an error reply
            } else if (_etcd.epoch_mod == e.act.mod_revision && !_etcd.primary &&
                       (e.act.handover_revision == 0
                            ? _etcd.handover_to.empty()
                            : (_etcd.handover_to == _nodes[e.node].name &&
                               _etcd.handover_rev == e.act.handover_revision))) {
              if (e.act.handover_revision != 0) {
                _etcd.handover_to.clear();
                ++_handovers_claimed;
              }
              ++_etcd.epoch;
              _etcd.epoch_mod = ++_etcd.revision;
              _etcd.primary = {{_nodes[e.node].name, _etcd.epoch}};
              _etcd.primary_lease = e.act.lease;
              e.won = true;
              e.epoch = _etcd.epoch;
            }
            break;
          default:
            break;
        }
      }
      if (chance(20)) {  // the reply is lost: the node sees a timeout
        e.ok = false;
        e.at = e.sent + kTimeout;
      } else {
        e.at = std::min(_now + static_cast<time_ms>(_rng() % 40), e.sent + kTimeout);
      }
    }
    e.what = event::kind::reply;
    push(e);
  }

  void reply(event e) {
    auto& n = _nodes[e.node];
    if (n.paused_until > _now) {  // a stalled process reads its reply late
      e.at = n.paused_until;
      push(e);
      return;
    }
    n.busy = false;
    auto& m = n.machine;
    std::vector<action> more;
    if (e.is_read) {
      more = e.ok ? m.on_view(_now, e.view, inputs(e.node)) : m.on_etcd_unreachable(_now);
    } else {
      switch (e.act.what) {
        case action::kind::grant_lease:
          more = e.ok ? m.on_lease_granted(_now, e.sent, e.lease, e.ttl)
                      : m.on_lease_grant_failed(_now);
          break;
        case action::kind::claim:
          more = m.on_claim_result(_now, e.ok && e.won, e.ok ? e.epoch : 0);
          break;
        case action::kind::renew_lease:
          more = !e.ok ? m.on_renew_failed(_now)
                       : (e.gone ? m.on_lease_gone(_now) : m.on_renewed(_now, e.sent, e.ttl));
          break;
        case action::kind::hand_over:
          more = m.on_handover_result(_now, !e.ok   ? handover_outcome::unknown
                                            : e.won ? handover_outcome::done
                                                    : handover_outcome::refused);
          break;
        default:
          break;
      }
    }
    enqueue(e.node, more);
    if (!n.busy) push({.at = _now + kStep, .node = e.node, .what = event::kind::step});
  }

  std::mt19937_64 _rng;
  std::vector<sim_node> _nodes;
  sim_etcd _etcd;
  std::priority_queue<event, std::vector<event>, std::greater<>> _q;
  std::uint64_t _order = 0;
  time_ms _now = 0, _next_fault = 0;
  std::uint64_t _takes = 0;
  std::uint64_t _handovers_started = 0, _handovers_committed = 0, _handovers_claimed = 0;
  std::string _bad_take;
};

TEST(RoleSim, NeverTwoVipOwnersAndOnePrimaryOnceFaultsStop) {
  std::uint64_t takes = 0, started = 0, committed = 0, claimed = 0;
  std::int64_t epochs = 0;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    sim s(seed, 3);
    s.run();
    s.check_safety();
    EXPECT_EQ(s.owners_at_end(), 1)
        << "faults stopped " << (kEnd - kFaultsUntil) << " ms before: " << s.describe();
    takes += s.takes();
    epochs += s.epoch();
    started += s.handovers_started();
    committed += s.handovers_committed();
    claimed += s.handovers_claimed();
    if (HasFatalFailure()) return;
  }
  // The faults must actually cause failovers, or the safety check proves nothing.
  EXPECT_GT(epochs, 200 * 5) << "primaries changed " << epochs << " times over 200 runs";
  EXPECT_GT(takes, 200u * 5);
  // Switchovers must run during the faults, and some must complete, for the check to
  // cover them.
  EXPECT_GT(started, 200u * 5);
  EXPECT_GT(committed, 200u);
  EXPECT_GT(claimed, 100u);
  std::printf(
      "200 runs: %llu VIP takes, %lld epochs, switchovers %llu started, %llu committed, "
      "%llu claimed by their target\n",
      static_cast<unsigned long long>(takes), static_cast<long long>(epochs),
      static_cast<unsigned long long>(started), static_cast<unsigned long long>(committed),
      static_cast<unsigned long long>(claimed));
}

}  // namespace
}  // namespace anvil::cluster
