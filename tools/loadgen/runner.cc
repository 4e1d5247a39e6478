#include "tools/loadgen/runner.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tools/loadgen/keyspace.h"
#include "tools/loadgen/wire.h"

namespace anvil::loadgen {

void error_counts::add(const error_counts& o) {
  connect += o.connect;
  disconnect += o.disconnect;
  protocol += o.protocol;
  status += o.status;
  value += o.value;
  miss += o.miss;
  timeout += o.timeout;
}

namespace {

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

double process_cpu_s() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::uint64_t seconds_to_ns(double s) { return static_cast<std::uint64_t>(s * 1e9); }

struct inflight {
  std::uint64_t sent_ns;
  std::uint64_t key;
  std::uint8_t op;
};

// FIFO of the requests a connection has sent and not seen answered, in send order.
class inflight_ring {
 public:
  explicit inflight_ring(std::size_t cap) {
    std::size_t n = 1;
    while (n < cap) n <<= 1;
    _slots.resize(n);
  }
  std::size_t size() const { return _size; }
  bool empty() const { return _size == 0; }
  void push(const inflight& f) { _slots[(_head + _size++) & (_slots.size() - 1)] = f; }
  const inflight& front() const { return _slots[_head]; }
  inflight pop() {
    const inflight f = _slots[_head];
    _head = (_head + 1) & (_slots.size() - 1);
    --_size;
    return f;
  }
  void clear() { _head = _size = 0; }

 private:
  std::vector<inflight> _slots;
  std::size_t _head = 0, _size = 0;
};

struct connection {
  int fd = -1;
  bool open = false;
  bool want_out = false;
  std::vector<std::byte> rx, tx;
  std::size_t rx_len = 0, tx_head = 0, tx_len = 0;
  inflight_ring fifo;
  std::uint64_t rng;
  std::uint32_t index;  // in the worker's table, also the epoll cookie
  connection(std::size_t pipeline, std::uint64_t seed, std::uint32_t i)
      : fifo(pipeline), rng(seed), index(i) {}
};

enum class phase { prefill, measure };

// One thread's share of the connections, with its own epoll set and histograms.
class worker {
 public:
  worker(const options& o, const keyspace& ks, const sockaddr_storage& addr, socklen_t addr_len,
         unsigned index, unsigned conns)
      : _o(o), _ks(ks), _addr(addr), _addr_len(addr_len) {
    _ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (_ep < 0) throw std::runtime_error("epoll_create1 failed");
    const std::size_t req_max = std::max(wire::set_len(ks.key_len(), ks.value_len()),
                                         wire::text_set_len(ks.key_len(), ks.value_len()));
    _max_body = 8 + ks.key_len() + ks.value_len() + 256;
    for (unsigned i = 0; i < conns; ++i) {
      auto c = std::make_unique<connection>(
          o.pipeline, o.seed * 0x9e3779b97f4a7c15ull + index * 1000003ull + i, i);
      c->tx.resize(std::size_t(o.pipeline) * req_max);
      c->rx.resize(std::max<std::size_t>(
          std::size_t{64} * 1024,
          std::size_t(o.pipeline) * (wire::kHeaderLen + 32 + ks.key_len() + ks.value_len()) +
              wire::kHeaderLen + _max_body));
      _conns.push_back(std::move(c));
    }
    _value.resize(ks.value_len());
    _expect.resize(ks.value_len());
    _key.resize(ks.key_len());
  }
  ~worker() {
    for (auto& c : _conns)
      if (c->fd >= 0) ::close(c->fd);
    if (_ep >= 0) ::close(_ep);
  }

  run_result& result() { return _r; }
  std::uint64_t measure_start_ns() const { return _measure_start; }
  std::uint64_t last_response_ns() const { return _last_response; }

  void connect_all();
  void prefill(std::uint64_t lo, std::uint64_t hi) {
    _cursor = lo, _cursor_end = hi;
    drive(phase::prefill);
  }
  void measure(std::uint64_t quota) {
    _quota = quota;
    _issued = 0;
    // Requests sent during the warm-up are answered and checked but not recorded; the
    // measured phase (and its duration) starts when the warm-up ends.
    _measure_start = _last_response = now_ns() + seconds_to_ns(_o.warmup_s);
    _deadline = _o.duration_s > 0 ? _measure_start + seconds_to_ns(_o.duration_s) : ~0ull;
    drive(phase::measure);
  }

 private:
  void fail(std::uint64_t& counter, const std::string& what) {
    ++counter;
    if (_r.first_error.empty()) _r.first_error = what;
  }
  void close_conn(connection& c) {
    if (c.fd >= 0) ::close(c.fd);  // also leaves the epoll set
    c.fd = -1;
    c.open = false;
    c.fifo.clear();
  }
  bool can_issue(phase p, std::uint64_t now) const {
    if (p == phase::prefill) return _cursor < _cursor_end;
    if (now >= _deadline) return false;
    return _o.requests == 0 || _issued < _quota;
  }
  void issue(connection& c, phase p, std::uint64_t now);
  void top_up(connection& c, phase p, std::uint64_t now) {
    while (c.open && c.fifo.size() < _o.pipeline && can_issue(p, now)) issue(c, p, now);
  }
  void flush(connection& c);
  void on_readable(connection& c, phase p, std::uint64_t now);
  bool on_response(const wire::response& r, connection& c, phase p, std::uint64_t now);
  std::size_t outstanding() const {
    std::size_t n = 0;
    for (const auto& c : _conns) n += c->open ? c->fifo.size() : 0;
    return n;
  }
  void drive(phase p);

  const options& _o;
  const keyspace& _ks;
  sockaddr_storage _addr;
  socklen_t _addr_len;
  int _ep = -1;
  std::size_t _max_body = 0;
  std::vector<std::unique_ptr<connection>> _conns;
  std::vector<std::byte> _value, _expect;
  std::string _key;
  std::uint64_t _cursor = 0, _cursor_end = 0;
  std::uint64_t _quota = 0, _issued = 0;
  std::uint64_t _deadline = ~0ull, _measure_start = 0, _last_response = 0;
  run_result _r;
};

void worker::connect_all() {
  for (auto& c : _conns) {
    c->fd = ::socket(_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
      fail(_r.errors.connect, std::string("socket: ") + std::strerror(errno));
      continue;
    }
    int one = 1;
    ::setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const int rc = ::connect(c->fd, reinterpret_cast<const sockaddr*>(&_addr), _addr_len);
    if (rc != 0 && errno != EINPROGRESS) {
      fail(_r.errors.connect, std::string("connect: ") + std::strerror(errno));
      close_conn(*c);
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u32 = c->index;
    ::epoll_ctl(_ep, EPOLL_CTL_ADD, c->fd, &ev);
  }
  const std::uint64_t deadline = now_ns() + seconds_to_ns(_o.connect_timeout_s);
  std::size_t pending = 0;
  for (auto& c : _conns) pending += c->fd >= 0;
  epoll_event evs[64];
  while (pending > 0) {
    const std::uint64_t now = now_ns();
    if (now >= deadline) break;
    const int n = ::epoll_wait(_ep, evs, 64, static_cast<int>((deadline - now) / 1000000 + 1));
    for (int i = 0; i < n; ++i) {
      connection& c = *_conns[evs[i].data.u32];
      if (c.open || c.fd < 0) continue;
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      --pending;
      if (err != 0) {
        fail(_r.errors.connect, std::string("connect: ") + std::strerror(err));
        close_conn(c);
        continue;
      }
      c.open = true;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = evs[i].data.u32;
      ::epoll_ctl(_ep, EPOLL_CTL_MOD, c.fd, &ev);
    }
  }
  for (auto& c : _conns)
    if (c->fd >= 0 && !c->open) {
      fail(_r.errors.connect, "connect: timed out");
      close_conn(*c);
    }
  for (auto& c : _conns) _r.connections_open += c->open;
}

void worker::issue(connection& c, phase p, std::uint64_t now) {
  std::uint64_t key;
  std::uint8_t op;
  if (p == phase::prefill) {
    key = _cursor++;
    op = wire::kOpSet;
  } else {
    if (now >= _measure_start) ++_issued;
    const std::uint64_t r = splitmix64(c.rng);
    key = static_cast<std::uint64_t>(
        (static_cast<unsigned __int128>(splitmix64(c.rng)) * _ks.keys()) >> 64);
    op = double(r >> 11) * 0x1p-53 < _o.get_ratio ? wire::kOpGet : wire::kOpSet;
  }
  const std::size_t need = std::max(wire::set_len(_ks.key_len(), _ks.value_len()),
                                    wire::text_set_len(_ks.key_len(), _ks.value_len()));
  if (c.tx_len + need > c.tx.size()) {  // compact what a partial send left behind
    std::memmove(c.tx.data(), c.tx.data() + c.tx_head, c.tx_len - c.tx_head);
    c.tx_len -= c.tx_head;
    c.tx_head = 0;
  }
  _ks.key(key, _key.data());
  std::byte* out = c.tx.data() + c.tx_len;
  if (op == wire::kOpGet) {
    c.tx_len += _o.text ? wire::encode_text_get(out, _key) : wire::encode_get(out, _key);
  } else {
    _ks.value(key, _value);
    c.tx_len +=
        _o.text ? wire::encode_text_set(out, _key, _value) : wire::encode_set(out, _key, _value);
  }
  c.fifo.push({now, key, op});
}

void worker::flush(connection& c) {
  while (c.open && c.tx_head < c.tx_len) {
    const ssize_t n =
        ::send(c.fd, c.tx.data() + c.tx_head, c.tx_len - c.tx_head, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c.tx_head += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c.want_out) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.u32 = c.index;
        ::epoll_ctl(_ep, EPOLL_CTL_MOD, c.fd, &ev);
        c.want_out = true;
      }
      return;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      fail(_r.errors.disconnect, std::string("send: ") + std::strerror(errno));
      close_conn(c);
      return;
    }
  }
  c.tx_head = c.tx_len = 0;
}

bool worker::on_response(const wire::response& r, connection& c, phase p, std::uint64_t now) {
  if (c.fifo.empty()) {
    fail(_r.errors.protocol, "response to no request (opcode " + std::to_string(r.opcode) + ")");
    return false;
  }
  const inflight f = c.fifo.pop();
  const bool get = f.op == wire::kOpGet;
  if (r.opcode != f.op || r.opaque != 0) {
    fail(_r.errors.protocol, "response out of order: sent opcode " + std::to_string(f.op) +
                                 ", got opcode " + std::to_string(r.opcode) + " opaque " +
                                 std::to_string(r.opaque));
    return false;
  }
  auto key_text = [&] {
    _ks.key(f.key, _key.data());
    return _key;
  };
  bool hit = false;
  if (r.status == wire::kStatusOk) {
    hit = get;
    if (get && _o.verify) {
      _ks.value(f.key, _expect);
      const auto v = r.value();
      if (v.size() != _expect.size() || std::memcmp(v.data(), _expect.data(), v.size()) != 0)
        fail(_r.errors.value,
             "GET " + key_text() + ": wrong value (" + std::to_string(v.size()) + " bytes)");
    }
  } else if (get && r.status == wire::kStatusKeyNotFound) {
    if (_o.miss_is_error) fail(_r.errors.miss, "GET " + key_text() + ": miss");
  } else {
    fail(_r.errors.status,
         std::string(get ? "GET " : "SET ") + key_text() + ": status " + std::to_string(r.status));
  }
  if (p == phase::prefill) {
    _r.prefilled += r.status == wire::kStatusOk;
    return true;
  }
  ++_r.responses_total;
  if (f.sent_ns < _measure_start) return true;  // warm-up
  const std::uint64_t lat = now - f.sent_ns;
  _r.all.record(lat);
  ++_r.requests;
  if (get) {
    _r.get.record(lat);
    ++_r.gets;
    ++(hit ? _r.get_hits : _r.get_misses);
  } else {
    _r.set.record(lat);
    ++_r.sets;
  }
  _last_response = now;
  return true;
}

void worker::on_readable(connection& c, phase p, std::uint64_t now) {
  const ssize_t n = ::recv(c.fd, c.rx.data() + c.rx_len, c.rx.size() - c.rx_len, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    fail(_r.errors.disconnect, n == 0 ? std::string("server closed a connection")
                                      : std::string("recv: ") + std::strerror(errno));
    close_conn(c);
    return;
  }
  c.rx_len += static_cast<std::size_t>(n);
  std::size_t off = 0;
  for (;;) {
    wire::response r{};
    std::size_t used = 0;
    const auto in = std::span(c.rx.data() + off, c.rx_len - off);
    if (_o.text && c.fifo.empty() && !in.empty()) {
      fail(_r.errors.protocol, "text response to no request");
      close_conn(c);
      return;
    }
    if (_o.text && in.empty()) break;
    const auto pr = _o.text ? wire::parse_text_response(in, c.fifo.front().op, r, used, _max_body)
                            : wire::parse_response(in, r, used, _max_body);
    if (pr == wire::parse_result::need_more) break;
    if (pr != wire::parse_result::ok) {
      fail(_r.errors.protocol,
           pr == wire::parse_result::bad_magic ? "bad response magic" : "bad response lengths");
      close_conn(c);
      return;
    }
    if (!on_response(r, c, p, now)) {
      close_conn(c);
      return;
    }
    off += used;
  }
  std::memmove(c.rx.data(), c.rx.data() + off, c.rx_len - off);
  c.rx_len -= off;
  top_up(c, p, now);
  flush(c);
}

void worker::drive(phase p) {
  std::uint64_t now = now_ns();
  for (auto& c : _conns) {
    top_up(*c, p, now);
    flush(*c);
  }
  std::uint64_t drain_deadline = 0;
  epoll_event evs[64];
  for (;;) {
    now = now_ns();
    const bool issuing = can_issue(p, now);
    const std::size_t pending = outstanding();
    if (!issuing && pending == 0) break;
    if (!issuing) {
      if (drain_deadline == 0) drain_deadline = now + seconds_to_ns(_o.drain_timeout_s);
      if (now >= drain_deadline) {
        fail(_r.errors.timeout, std::to_string(pending) + " requests unanswered after " +
                                    std::to_string(_o.drain_timeout_s) + " s");
        _r.errors.timeout += pending - 1;
        for (auto& c : _conns) c->fifo.clear();
        break;
      }
    }
    bool any_open = false;
    for (auto& c : _conns) any_open |= c->open;
    if (!any_open) break;
    std::uint64_t wake =
        drain_deadline ? drain_deadline : std::min<std::uint64_t>(_deadline, now + 100000000ull);
    const int timeout_ms = static_cast<int>(
        std::min<std::uint64_t>(100, wake > now ? (wake - now + 999999) / 1000000 : 0));
    const int n = ::epoll_wait(_ep, evs, 64, timeout_ms);
    now = now_ns();
    for (int i = 0; i < n; ++i) {
      connection& c = *_conns[evs[i].data.u32];
      if (!c.open) continue;
      if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c, p, now);
      if (c.open && (evs[i].events & EPOLLOUT)) {
        flush(c);
        if (c.open && c.tx_head == c.tx_len && c.want_out) {
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u32 = evs[i].data.u32;
          ::epoll_ctl(_ep, EPOLL_CTL_MOD, c.fd, &ev);
          c.want_out = false;
        }
      }
    }
  }
}

}  // namespace

run_result run(const options& o) {
  if (o.connections == 0 || o.threads == 0 || o.pipeline == 0 || o.keys == 0)
    throw std::invalid_argument("connections, threads, pipeline and keys must be >= 1");
  if (o.duration_s <= 0 && o.requests == 0 && !o.prefill_only)
    throw std::invalid_argument("give a duration or a request count");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* ai = nullptr;
  const std::string port = std::to_string(o.port);
  if (const int rc = ::getaddrinfo(o.host.c_str(), port.c_str(), &hints, &ai); rc != 0)
    throw std::invalid_argument("cannot resolve '" + o.host + "': " + ::gai_strerror(rc));
  sockaddr_storage addr{};
  std::memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
  const socklen_t addr_len = ai->ai_addrlen;
  ::freeaddrinfo(ai);

  const keyspace ks(o.keys, o.value_len);
  const unsigned threads = std::min(o.threads, o.connections);
  std::vector<std::unique_ptr<worker>> workers;
  for (unsigned t = 0; t < threads; ++t)
    workers.push_back(std::make_unique<worker>(
        o, ks, addr, addr_len, t, o.connections / threads + (t < o.connections % threads)));

  std::barrier sync(static_cast<std::ptrdiff_t>(threads + 1));
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      worker& w = *workers[t];
      w.connect_all();
      sync.arrive_and_wait();
      if (o.prefill) w.prefill(o.keys * t / threads, o.keys * (t + 1) / threads);
      sync.arrive_and_wait();
      if (!o.prefill_only) w.measure(o.requests / threads + (t < o.requests % threads));
    });
  sync.arrive_and_wait();
  const auto p0 = now_ns();
  sync.arrive_and_wait();
  const auto p1 = now_ns();
  const double cpu0 = process_cpu_s();
  for (auto& th : pool) th.join();

  run_result r;
  r.prefill_s = double(p1 - p0) / 1e9;
  r.client_wall_s = double(now_ns() - p1) / 1e9;
  r.client_cpu_s = process_cpu_s() - cpu0;
  std::uint64_t start = ~0ull, end = 0;
  for (auto& w : workers) {
    const run_result& x = w->result();
    r.connections_open += x.connections_open;
    r.prefilled += x.prefilled;
    r.requests += x.requests;
    r.responses_total += x.responses_total;
    r.gets += x.gets, r.sets += x.sets, r.get_hits += x.get_hits, r.get_misses += x.get_misses;
    r.all.merge(x.all), r.get.merge(x.get), r.set.merge(x.set);
    r.errors.add(x.errors);
    if (r.first_error.empty()) r.first_error = x.first_error;
    start = std::min(start, w->measure_start_ns());
    end = std::max(end, w->last_response_ns());
  }
  if (!o.prefill_only && end > start) r.elapsed_s = double(end - start) / 1e9;
  return r;
}

}  // namespace anvil::loadgen
