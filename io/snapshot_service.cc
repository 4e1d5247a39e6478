#include "io/snapshot_service.h"

#include <fcntl.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "io/snapshot_files.h"
#include "io/uring.h"
#include "io/uring_remote.h"

namespace anvil::io {

struct snapshot_service::state {
  source_factory make_source;
  const cache::clock* clock = nullptr;
  service_config cfg;
  storage_health health;

  mutable std::mutex m;
  mutable std::condition_variable cv;
  std::uint64_t requested = 0;  // last ticket handed out
  std::uint64_t started = 0;    // ticket covered by the attempt in progress
  std::uint64_t served = 0;     // every ticket <= served has had its attempt
  bool stopping = false;
  bool finished = false;  // the io thread left its loop
  snapshot_result last;
  std::atomic<bool> cancel{false};

  // io thread only
  std::uint64_t next_id = 1;
  std::vector<std::uint64_t> complete;  // ids with a manifest, oldest first
  std::vector<abandoned_io> abandoned;  // rings with stuck I/O, polled until it ends
  bool stuck_at_exit = false;           // set before `finished`
  bool prepared = false;                // the directory exists and was listed
  std::string prepare_error;            // why it is not, for the attempt that fails on it
  std::thread thread;
  bool running = false;

  void loop();
  void attempt();
  bool skip_if_stuck();
  bool prepare_directory();
  void retain();
  void reap();
};

namespace {

// Unlinks a list of paths through a fresh ring with deadlines; false if any failed.
bool unlink_all(const std::vector<std::string>& paths, std::chrono::milliseconds timeout,
                storage_health& health) {
  if (paths.empty()) return true;
  std::optional<ring> r;
  try {
    r.emplace(16);
  } catch (const std::exception&) {
    return false;
  }
  bool ok = true;
  for (const auto& p : paths) {
    const char* cp = r->pin(p);
    const int rc = r->run(timeout, [&](io_uring_sqe* s) { io_uring_prep_unlink(s, cp, 0); });
    if (rc < 0 && rc != -ENOENT) {
      ok = false;
      spdlog::warn("snapshot: cannot remove {}: {}", p, errno_text(rc));
      if (rc == -ETIME) break;
    }
  }
  if (r->stuck()) {
    health.add(storage_health::rings_abandoned);
    health.add(storage_health::bytes_leaked, r->pinned_bytes());
    health.add(storage_health::io_stalls);
  }
  return ok;
}

}  // namespace

// Creates the directory (every missing component), lists it, removes leftovers of
// interrupted attempts. False (health degraded with the reason) when the directory
// cannot be made or read: attempts then fail with that reason and retry it, so the node
// recovers by itself once the operator fixes the directory.
bool snapshot_service::state::prepare_directory() {
  const auto& dir = cfg.writer.dir;
  prepared = false;
  if (std::string why = make_directories(dir, cfg.writer.io_timeout, &health); !why.empty()) {
    prepare_error = why;
    spdlog::warn("snapshot: {}", why);
    health.set_degraded("snapshot directory: " + why);
    return false;
  }
  auto l = list_snapshots_within(dir, cfg.writer.io_timeout, &health);
  if (!l || !l->ok) {
    // Ids from the wall clock still sort after anything an earlier run wrote.
    next_id = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
    const std::string why =
        !l ? "listing " + dir + " stalled" : "cannot list " + dir + ": " + errno_text(l->err);
    spdlog::warn("snapshot: {}", why);
    health.set_degraded(why);
    prepare_error = why;
    return false;
  }
  std::vector<std::string> leftovers;
  for (const auto& e : l->entries) {
    next_id = std::max(next_id, e.id + 1);
    if (e.manifest) {
      complete.push_back(e.id);
      if (e.manifest_tmp) leftovers.push_back(dir + "/" + manifest_tmp_name(e.id));
    } else {
      // An attempt that never finished (crash, kill): its files are garbage.
      if (e.data) leftovers.push_back(dir + "/" + data_name(e.id));
      if (e.manifest_tmp) leftovers.push_back(dir + "/" + manifest_tmp_name(e.id));
    }
  }
  if (!leftovers.empty()) {
    spdlog::info("snapshot: removing {} file(s) of interrupted attempts in {}", leftovers.size(),
                 dir);
    unlink_all(leftovers, cfg.writer.io_timeout, health);
  }
  prepared = true;
  prepare_error.clear();
  return true;
}

void snapshot_service::state::retain() {
  const unsigned keep = std::max(1u, cfg.keep);
  std::vector<std::string> old;
  while (complete.size() > keep) {
    const std::uint64_t id = complete.front();
    complete.erase(complete.begin());
    // Manifest first: a crash in between leaves a data file without one, i.e. garbage
    // that the next start removes, never a manifest pointing at nothing.
    old.push_back(cfg.writer.dir + "/" + manifest_name(id));
    old.push_back(cfg.writer.dir + "/" + data_name(id));
  }
  if (!unlink_all(old, cfg.writer.io_timeout, health)) health.add(storage_health::io_errors);
}

// Abandoned rings whose stuck I/O has finished by now are freed and their partial
// files removed; the rest stay (and keep their memory) until the next poll.
void snapshot_service::state::reap() {
  std::uint64_t held = 0;
  for (auto it = abandoned.begin(); it != abandoned.end();) {
    if (it->r->reap_abandoned()) {
      unlink_all(it->files, cfg.writer.io_timeout, health);
      health.add(storage_health::rings_reclaimed);
      spdlog::info("snapshot: stuck I/O finished; ring reclaimed, {} partial file(s) removed",
                   it->files.size());
      it = abandoned.erase(it);
    } else {
      held += it->r->pinned_bytes();
      ++it;
    }
  }
  health.put(storage_health::stuck_io_bytes, held);
  health.put(storage_health::stuck_helpers, abandoned.size() + remote_ring::children_pending());
}

// At most one attempt stuck at a time: while an earlier attempt's I/O is still held by
// the kernel (an abandoned ring, or an anvil-iod child that cannot exit), a new attempt
// would only strand another process and its buffers on the same dead filesystem. It is
// skipped instead (counted, health says why); the first attempt after the stuck I/O
// ends runs as usual.
bool snapshot_service::state::skip_if_stuck() {
  // Stuck I/O that is about to end (the filesystem just came back) is given up to one
  // I/O deadline to do so, polled without blocking, so an attempt right after recovery
  // is not skipped for want of a poll.
  const auto give_up = steady::now() + cfg.writer.io_timeout;
  for (;;) {
    reap();
    if (abandoned.empty() && remote_ring::children_pending() == 0) return false;
    if (steady::now() >= give_up || cancel.load(std::memory_order_relaxed)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::size_t rings = abandoned.size();
  const std::size_t children = remote_ring::children_pending();
  snapshot_result res;
  res.error = EBUSY;
  res.reason = "skipped: I/O of an earlier attempt is still stuck (" + std::to_string(rings) +
               " ring(s), " + std::to_string(children) + " helper process(es), " +
               std::to_string(health.get(storage_health::stuck_io_bytes)) + " bytes held)";
  health.add(storage_health::snapshots_skipped);
  health.set_degraded("snapshot " + res.reason + "; serving continues");
  spdlog::warn("event=snapshot_skipped storage=degraded reason=\"{}\"", res.reason);
  std::lock_guard lk(m);
  last = res;
  return true;
}

void snapshot_service::state::attempt() {
  if (skip_if_stuck()) return;
  if (!prepared && !prepare_directory()) {
    snapshot_result res;
    res.error = ENOENT;
    res.reason = prepare_error;
    health.add(storage_health::snapshots_failed);
    health.add(storage_health::io_errors);
    spdlog::error(
        "event=snapshot_failed storage=degraded reason=\"{}; serving continues; retried at the "
        "next attempt\"",
        res.reason);
    std::lock_guard lk(m);
    last = res;
    return;
  }
  const std::uint64_t id = next_id++;
  snapshot_result res;
  {
    auto src = make_source();
    res = write_snapshot(*src, cfg.writer, id, clock->now(), &cancel, &abandoned);
  }  // the session closes here, so an idle io thread never holds back reclamation
  health.add(storage_health::rings_abandoned, res.rings_abandoned);
  health.add(storage_health::bytes_leaked, res.bytes_leaked);
  reap();
  if (res.ok) {
    complete.push_back(id);
    retain();
    health.add(storage_health::snapshots_ok);
    health.put(storage_health::last_ok_unix, clock->now());
    health.put(storage_health::last_snapshot_id, id);
    health.put(storage_health::last_items, res.items);
    health.put(storage_health::last_bytes, res.bytes);
    health.put(storage_health::last_duration_us, static_cast<std::uint64_t>(res.seconds * 1e6));
    health.set_ok();
    spdlog::info(
        "event=snapshot_written snapshot_id={} items={} stale={} refreshed={} bytes={} "
        "direct={} seconds={:.3f} mb_per_s={:.1f} storage=ok",
        id, res.items, res.stale, res.refreshed, res.bytes, res.direct, res.seconds,
        res.seconds > 0 ? static_cast<double>(res.bytes) / res.seconds / 1e6 : 0.0);
  } else {
    health.add(storage_health::snapshots_failed);
    // The directory went away (or a parent did): prepare it again at the next attempt.
    if (res.error == ENOENT || res.error == ENOTDIR) prepared = false;
    if (res.stalled)
      health.add(storage_health::io_stalls);
    else if (res.error != ECANCELED)
      health.add(storage_health::io_errors);
    health.set_degraded("snapshot " + std::to_string(id) + " abandoned: " + res.reason);
    std::string why = res.reason;
    for (char& c : why)
      if (c == '"' || c == '\\' || c == '\n') c = '\'';
    spdlog::error(
        "event=snapshot_failed snapshot_id={} errno={} stalled={} cleaned_up={} storage=degraded "
        "reason=\"{}; serving continues{}\"",
        id, res.error, res.stalled, res.cleaned_up, why,
        res.cleaned_up ? "" : "; partial files are removed when the stuck I/O ends");
  }
  std::lock_guard lk(m);
  last = res;
}

void snapshot_service::state::loop() {
  constexpr auto kReapEvery = std::chrono::milliseconds(500);
  auto due = cfg.interval.count() > 0 ? steady::now() + cfg.interval : steady::time_point::max();
  for (;;) {
    reap();
    {
      std::unique_lock lk(m);
      auto ready = [&] { return stopping || requested > served; };
      // With stuck rings around, wake up now and then to reap them.
      const auto until = abandoned.empty() ? due : std::min(due, steady::now() + kReapEvery);
      if (until == steady::time_point::max()) {
        cv.wait(lk, ready);
      } else {
        cv.wait_until(lk, until, ready);
      }
      const bool periodic = cfg.interval.count() > 0 && steady::now() >= due;
      if (!(requested > served) && !periodic) {
        if (stopping) break;
        continue;
      }
      started = requested;
    }
    attempt();
    if (cfg.interval.count() > 0) due = steady::now() + cfg.interval;
    std::lock_guard lk(m);
    served = started;
    cv.notify_all();
  }
  reap();
  std::lock_guard lk(m);
  stuck_at_exit = !abandoned.empty();
  finished = true;
  cv.notify_all();
}

snapshot_service::snapshot_service(source_factory make_source, const cache::clock& clock,
                                   service_config cfg)
    : _st(std::make_shared<state>()) {
  _st->make_source = std::move(make_source);
  _st->clock = &clock;
  _st->cfg = std::move(cfg);
}

snapshot_service::~snapshot_service() { stop(); }

namespace {

// Applies service_config::nice and ::cpus to the calling thread; a failure is logged
// and the thread runs where it is (placement is a preference, never a reason to stop).
void place_io_thread(const service_config& cfg) {
  const auto tid = static_cast<id_t>(::gettid());
  if (::setpriority(PRIO_PROCESS, tid, cfg.nice) != 0)
    spdlog::warn("event=io_thread_nice_failed nice={} reason=\"{}\"", cfg.nice,
                 std::strerror(errno));
  if (!cfg.cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (unsigned c : cfg.cpus)
      if (c < CPU_SETSIZE) CPU_SET(c, &set);
    if (::sched_setaffinity(0, sizeof set, &set) != 0)
      spdlog::warn("event=io_thread_pin_failed reason=\"{}\"", std::strerror(errno));
  }
}

}  // namespace

void snapshot_service::start() {
  if (_st->running) return;
  _st->running = true;
  auto st = _st;
  _st->thread = std::thread([st] {
    place_io_thread(st->cfg);
    if (!st->prepared) st->prepare_directory();
    st->loop();
  });
}

void snapshot_service::stop() {
  auto& st = *_st;
  if (!st.running) return;
  st.running = false;
  std::unique_lock lk(st.m);
  if (st.cfg.snapshot_at_shutdown) ++st.requested;
  st.stopping = true;
  st.cv.notify_all();
  const auto give_up = steady::now() + st.cfg.shutdown_timeout;
  if (!st.cv.wait_until(lk, give_up, [&] { return st.finished; })) {
    spdlog::warn("snapshot: shutdown snapshot not done within {} ms; cancelling it",
                 st.cfg.shutdown_timeout.count());
    st.cancel = true;
    // A cancelled attempt returns within one I/O deadline (its waits poll the flag).
    st.cv.wait_until(lk, steady::now() + 2 * st.cfg.writer.io_timeout, [&] { return st.finished; });
  }
  const bool finished = st.finished;
  const bool stuck = st.stuck_at_exit;
  lk.unlock();
  // A thread that abandoned a ring cannot finish exiting until the kernel lets go of the
  // stuck I/O, so it is never joined: detached and counted.
  if (finished && !stuck) {
    st.thread.join();
  } else {
    spdlog::error("snapshot: io thread {} with stuck I/O; detached",
                  finished ? "finished" : "did not finish");
    st.health.add(storage_health::threads_abandoned);
    st.thread.detach();
  }
}

restore_result snapshot_service::restore(item_sink& sink, std::uint32_t now_unix,
                                         unsigned threads) {
  restore_config rc;
  rc.dir = _st->cfg.writer.dir;
  rc.node_id = _st->cfg.writer.node_id;
  rc.now_unix = now_unix;
  rc.threads = threads;
  rc.io_timeout = _st->cfg.writer.io_timeout;
  rc.direct_io = _st->cfg.writer.direct_io;
  return restore_latest(sink, rc, &_st->health);
}

std::string snapshot_service::prepare() {
  if (_st->running) return "";  // the io thread owns the directory state from start() on
  _st->prepare_directory();
  return _st->prepare_error;
}

std::uint64_t snapshot_service::request_snapshot() {
  std::lock_guard lk(_st->m);
  // Coalesce: a request made before the queued attempt starts shares its ticket.
  if (_st->requested == _st->started) ++_st->requested;
  _st->cv.notify_all();
  return _st->requested;
}

bool snapshot_service::wait(std::uint64_t ticket, std::chrono::milliseconds timeout,
                            snapshot_result* out) const {
  std::unique_lock lk(_st->m);
  const bool ok = _st->cv.wait_for(lk, timeout, [&] {
    return _st->served >= ticket || _st->finished;
  }) && _st->served >= ticket;
  if (ok && out != nullptr) *out = _st->last;
  return ok;
}

const storage_health& snapshot_service::health() const { return _st->health; }

snapshot_result snapshot_service::last_result() const {
  std::lock_guard lk(_st->m);
  return _st->last;
}

}  // namespace anvil::io
