#include "control/replication/primary_server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <stdexcept>

#include "control/replication/frame.h"
#include "control/replication/tcp_util.h"
#include "io/format.h"

namespace anvil::replication {

using namespace std::chrono_literals;

namespace {
constexpr auto kSendTimeout = 5000ms;
constexpr auto kHelloTimeout = 2000ms;
constexpr auto kPositionEvery = 100ms;
constexpr std::size_t kBatchBytes = 1u << 20;
}  // namespace

struct primary_server::sender {
  int fd = -1;
  std::thread thread;
  std::atomic<bool> done{false};
  mutable std::mutex mu;  // guards the fields below
  std::string name;
  lag_tracker lag;
  bool copying = true;
  frame_reader acks{64};
};

primary_server::primary_server(cache::engine& e, primary_log& log, const std::string& ip,
                               std::uint16_t port, std::int64_t epoch, primary_counters& counters)
    : _engine(e), _log(log), _epoch(epoch), _counters(counters), _port(port) {
  std::string why;
  _listen_fd = tcp_listen(ip, _port, why);
  if (_listen_fd < 0) throw std::runtime_error("replication: " + why);
  _acceptor = std::thread([this] { accept_loop(); });
}

primary_server::~primary_server() {
  _stop.store(true);
  _log.wake();
  if (_acceptor.joinable()) _acceptor.join();
  std::lock_guard lk(_mu);
  for (auto& s : _senders) {
    ::shutdown(s->fd, SHUT_RDWR);
    if (s->thread.joinable()) s->thread.join();
    tcp_close(s->fd);
  }
  tcp_close(_listen_fd);
}

void primary_server::accept_loop() {
  while (!_stop.load()) {
    std::string why;
    const int fd = tcp_accept(_listen_fd, 100ms, why);
    {  // reap finished senders
      std::lock_guard lk(_mu);
      for (auto it = _senders.begin(); it != _senders.end();) {
        if ((*it)->done.load()) {
          (*it)->thread.join();
          tcp_close((*it)->fd);
          it = _senders.erase(it);
        } else {
          ++it;
        }
      }
    }
    if (fd < 0) {
      if (!why.empty()) spdlog::warn("event=replication_accept_failed reason=\"{}\"", why);
      continue;
    }
    _counters.connections.fetch_add(1);
    auto s = std::make_unique<sender>();
    s->fd = fd;
    sender& ref = *s;
    std::lock_guard lk(_mu);
    _senders.push_back(std::move(s));
    ref.thread = std::thread([this, &ref] {
      run_sender(ref);
      ref.done.store(true);
    });
  }
}

bool primary_server::send_copy(sender& s, std::uint64_t& cursor, std::uint64_t& generation,
                               std::string& why) {
  const primary_log::copy_start start = _log.begin_copy();
  cursor = start.pos;
  generation = start.generation;
  {
    std::lock_guard lk(s.mu);
    s.copying = true;
  }
  _counters.copies.fetch_add(1);
  const std::uint32_t block_size = copy_block_size(_engine.config().max_item_size);
  std::string out;
  append_frame(out, frame_type::copy_begin, start.pos, copy_begin_body(block_size, _epoch));
  if (!tcp_send_all(s.fd, out, kSendTimeout, why)) return false;
  _counters.bytes_sent.fetch_add(out.size());

  // Walk the engine as a snapshot does (cache::session::for_each_item, concurrent with
  // the lcores) and send its records as snapshot item blocks.
  std::vector<std::byte> block(block_size);
  io::block_builder b;
  std::uint32_t index = 0;
  bool ok = true;
  auto flush_block = [&] {
    if (b.empty()) return;
    b.seal();
    const std::size_t used = io::kBlockHeaderSize + io::get_u32(block.data() + 28);
    out.clear();
    append_frame(out, frame_type::copy_block, start.pos,
                 std::span<const std::byte>(block.data(), used));
    if (ok && !_stop.load()) ok = tcp_send_all(s.fd, out, kSendTimeout, why);
    if (_stop.load() && ok) {
      ok = false;
      why = "stopping";
    }
    if (ok) _counters.bytes_sent.fetch_add(out.size());
    ++index;
    b.reset(block, start.pos, index, 0);
  };
  cache::session walker = _engine.open_session();
  for (std::size_t p = 0; p < _engine.partition_count() && ok; ++p) {
    b.reset(block, start.pos, index, static_cast<std::uint32_t>(p));
    walker.for_each_item(p, [&](const cache::item_record& r) {
      if (!ok) return;
      if (!b.fits(r)) flush_block();
      if (ok && b.fits(r)) b.add(r);
    });
    flush_block();
  }
  if (!ok) return false;
  out.clear();
  append_frame(out, frame_type::copy_end, start.pos, u64_body(_engine.cas_counter()));
  if (!tcp_send_all(s.fd, out, kSendTimeout, why)) return false;
  _counters.bytes_sent.fetch_add(out.size());
  std::lock_guard lk(s.mu);
  s.copying = false;
  return true;
}

bool primary_server::poll_acks(sender& s, std::string& why) {
  std::byte buf[4096];
  for (;;) {
    const long n = tcp_recv_some(s.fd, buf, 0ms, why);
    if (n < 0) return false;
    if (n == 0) return true;
    s.acks.feed(std::span<const std::byte>(buf, static_cast<std::size_t>(n)));
    frame_header h;
    std::span<const std::byte> body;
    frame_reader::result r;
    while ((r = s.acks.next(h, body)) == frame_reader::result::frame) {
      if (h.type != frame_type::ack) {
        why = std::string("unexpected ") + to_string(h.type) + " from the replica";
        return false;
      }
      std::lock_guard lk(s.mu);
      s.lag.applied(h.seq);
    }
    if (r == frame_reader::result::error) {
      why = "malformed frame from the replica: " + s.acks.error();
      return false;
    }
  }
}

void primary_server::run_sender(sender& s) {
  std::string why;
  // hello: who is this (for the view and the logs).
  frame_reader hello(kMaxNodeName);
  const auto deadline = std::chrono::steady_clock::now() + kHelloTimeout;
  std::byte buf[256];
  bool got = false;
  while (!got && !_stop.load() && std::chrono::steady_clock::now() < deadline) {
    const long n = tcp_recv_some(s.fd, buf, 100ms, why);
    if (n < 0) break;
    hello.feed(std::span<const std::byte>(buf, static_cast<std::size_t>(n)));
    frame_header h;
    std::span<const std::byte> body;
    const auto r = hello.next(h, body);
    if (r == frame_reader::result::error) {
      why = "malformed hello: " + hello.error();
      break;
    }
    if (r == frame_reader::result::frame) {
      if (h.type != frame_type::hello) {
        why = std::string("expected hello, got ") + to_string(h.type);
        break;
      }
      std::lock_guard lk(s.mu);
      s.name.assign(reinterpret_cast<const char*>(body.data()), body.size());
      got = true;
    }
  }
  if (!got) {
    if (why.empty()) why = "no hello within 2 s";
    if (!_stop.load()) {
      _counters.dropped.fetch_add(1);
      spdlog::warn("event=replication_replica_dropped reason=\"{}\"", why);
    }
    return;
  }
  spdlog::info("event=replication_replica_connected replica={}", s.name);

  std::uint64_t cursor = 0, generation = 0;
  bool ok = send_copy(s, cursor, generation, why);
  auto next_position = std::chrono::steady_clock::now();
  std::string out;
  while (ok && !_stop.load()) {
    out.clear();
    if (!_log.read(cursor, generation, out, kBatchBytes, 50ms)) {
      spdlog::info("event=replication_resync replica={} reason=\"{}\"", s.name,
                   _log.resync_generation() != generation ? "flush or ring overflow"
                                                          : "fell behind the log");
      ok = send_copy(s, cursor, generation, why);
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_position) {
      append_frame(out, frame_type::position, _log.last());
      next_position = now + kPositionEvery;
    }
    if (!out.empty()) {
      ok = tcp_send_all(s.fd, out, kSendTimeout, why);
      if (ok) _counters.bytes_sent.fetch_add(out.size());
    }
    if (ok) ok = poll_acks(s, why);
  }
  if (!ok && !_stop.load()) {
    _counters.dropped.fetch_add(1);
    spdlog::warn("event=replication_replica_dropped replica={} reason=\"{}\"", s.name, why);
  }
}

std::vector<replica_view> primary_server::replicas() const {
  std::vector<replica_view> v;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lk(_mu);
  for (const auto& s : _senders) {
    if (s->done.load()) continue;
    std::lock_guard sl(s->mu);
    v.push_back({s->name, s->lag.applied_position(), s->lag.value(now), s->copying});
  }
  return v;
}

void primary_server::announce(std::uint64_t pos, lag_tracker::time_point t) {
  std::lock_guard lk(_mu);
  for (auto& s : _senders) {
    std::lock_guard sl(s->mu);
    s->lag.announce(pos, t);
  }
}

}  // namespace anvil::replication
