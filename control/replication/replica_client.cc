#include "control/replication/replica_client.h"

#include <spdlog/spdlog.h>

#include "control/replication/frame.h"
#include "control/replication/tcp_util.h"

namespace anvil::replication {

using namespace std::chrono_literals;

replica_client::replica_client(cache::engine& e, std::string node_name, std::string primary_ip,
                               std::uint16_t port, replica_counters& counters,
                               std::chrono::milliseconds retry)
    : _engine(e),
      _name(std::move(node_name)),
      _ip(std::move(primary_ip)),
      _port(port),
      _counters(counters),
      _retry(retry) {
  if (_name.empty() || _name.size() > kMaxNodeName) _name = _name.substr(0, kMaxNodeName);
  if (_name.empty()) _name = "replica";
  _thread = std::thread([this] { run(); });
}

replica_client::~replica_client() {
  _stop.store(true);
  if (_thread.joinable()) _thread.join();
}

std::uint64_t replica_client::applied() const {
  std::lock_guard lk(_mu);
  return _position;
}
lag_value replica_client::lag() const {
  std::lock_guard lk(_mu);
  return _lag.value(std::chrono::steady_clock::now());
}
bool replica_client::synced() const {
  std::lock_guard lk(_mu);
  return _synced;
}
replica_client::stream_view replica_client::stream() const {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lk(_mu);
  return {_copying,
          now > _last_frame ? std::chrono::duration<double>(now - _last_frame).count() : 0.0};
}

void replica_client::run() {
  while (!_stop.load()) {
    std::string why;
    const bool clean = session(why);
    {
      std::lock_guard lk(_mu);
      _synced = false;
      _copying = false;
    }
    if (_stop.load()) break;
    if (!clean) {
      _counters.dropped.fetch_add(1);
      spdlog::warn("event=replication_stream_dropped primary={}:{} reason=\"{}\"", _ip, _port, why);
    }
    for (auto t = 0ms; t < _retry && !_stop.load(); t += 10ms) std::this_thread::sleep_for(10ms);
  }
}

bool replica_client::session(std::string& why) {
  int fd = tcp_connect(_ip, _port, 1000ms, why);
  if (fd < 0) return false;
  _counters.connects.fetch_add(1);
  std::string out;
  append_frame(out, frame_type::hello, 0, _name);
  if (!tcp_send_all(fd, out, 2000ms, why)) {
    tcp_close(fd);
    return false;
  }
  applier app(_engine);
  frame_reader reader(max_body_for(_engine.config().max_item_size));
  {
    std::lock_guard lk(_mu);
    _lag.reset(0);
    _copying = true;  // every connection starts with a full copy
  }
  std::vector<std::byte> buf(256u << 10);
  auto next_ack = std::chrono::steady_clock::now();
  std::uint64_t last_items = 0, last_failures = 0;
  bool ok = true;
  while (ok && !_stop.load()) {
    const long n = tcp_recv_some(fd, buf, 50ms, why);
    if (n < 0) {
      ok = false;
      break;
    }
    if (n > 0) {
      _counters.bytes_received.fetch_add(static_cast<std::uint64_t>(n));
      reader.feed(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(n)));
    }
    frame_header h;
    std::span<const std::byte> body;
    frame_reader::result r;
    const auto now = std::chrono::steady_clock::now();
    while (ok && (r = reader.next(h, body)) == frame_reader::result::frame) {
      if (h.type == frame_type::position) {
        std::lock_guard lk(_mu);
        _last_frame = now;
        _lag.announce(h.seq, now);
        continue;
      }
      ok = app.apply(h, body, why);
      std::lock_guard lk(_mu);
      if (ok) _last_frame = now;
      if (ok && app.copying()) {
        _position = 0;    // this engine is being replaced: not caught up with anything
        _copying = true;  // a resync mid-stream is a copy too
      } else if (ok && app.synced()) {
        _lag.announce(app.applied(), now);
        _lag.applied(app.applied());
        _position = app.applied();
        _synced = true;
        _copying = false;
      }
    }
    if (ok && r == frame_reader::result::error) {
      why = "malformed stream: " + reader.error();
      ok = false;
    }
    app.finish_batch();
    _counters.items.fetch_add(app.stats().items - last_items);
    _counters.store_failures.fetch_add(app.stats().store_failures - last_failures);
    last_items = app.stats().items;
    last_failures = app.stats().store_failures;
    if (ok && now >= next_ack) {
      out.clear();
      append_frame(out, frame_type::ack, app.applied());
      ok = tcp_send_all(fd, out, 2000ms, why);
      next_ack = now + 100ms;
    }
  }
  tcp_close(fd);
  return ok || _stop.load();
}

}  // namespace anvil::replication
