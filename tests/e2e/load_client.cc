#include "tests/e2e/load_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

#include "tests/e2e/binproto.h"
#include "tests/support/netns.h"

namespace anvil::e2e {
namespace {

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

struct expect {
  std::uint8_t op;
  int key;
  int gen;  // GET: generation of the value that must come back, -1: a miss
};

struct conn {
  int id = 0;
  int fd = -1;
  bool connected = false;
  bool done = false;
  bool want_out = false;
  std::string out;
  std::size_t out_off = 0;
  std::string in;
  std::deque<expect> pending;
  std::vector<int> key_gen;
  int issued = 0, completed = 0;
  bool text = false;  // memcache_text requests instead of binary
};

class load_run {
 public:
  explicit load_run(const load_options& o) : _o(o) {}

  std::string key(const conn& c, int k) const {
    return "ld:" + std::to_string(_o.seed) + ":" + std::to_string(c.id) + ":" + std::to_string(k);
  }
  std::uint64_t h(const conn& c, int k, int gen) const {
    return mix((std::uint64_t(_o.seed) << 48) ^ (std::uint64_t(c.id) << 32) ^
               (std::uint64_t(k) << 20) ^ std::uint64_t(gen));
  }
  std::string value(const conn& c, int k, int gen) const {
    std::uint64_t x = h(c, k, gen);
    const int span = _o.max_value - _o.min_value + 1;
    std::string v(std::size_t(_o.min_value + int(x % std::uint64_t(span))), '\0');
    for (auto& ch : v) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      ch = char('!' + (x >> 58));
    }
    return v;
  }
  std::uint32_t flags(const conn& c, int k, int gen) const {
    return std::uint32_t(h(c, k, gen) >> 32);
  }

  void problem(const conn& c, const std::string& what) {
    if (_r.first_problem.empty())
      _r.first_problem = "connection " + std::to_string(c.id) + ": " + what;
  }

  void issue(conn& c) {
    while (!c.done && int(c.pending.size()) < _o.depth && c.issued < _o.ops_per_connection) {
      const int i = c.issued++;
      const int k = int(mix(std::uint64_t(i) * 7919 + std::uint64_t(c.id)) %
                        std::uint64_t(_o.keys_per_connection));
      if (c.text) {
        if (i % _o.set_every == 0) {
          const std::string v = value(c, k, i);
          c.out += "set " + key(c, k) + " " + std::to_string(flags(c, k, i)) + " 0 " +
                   std::to_string(v.size()) + "\r\n" + v + "\r\n";
          c.key_gen[std::size_t(k)] = i;
          c.pending.push_back({op_set, k, i});
        } else {
          c.out += "get " + key(c, k) + "\r\n";
          c.pending.push_back({op_get, k, c.key_gen[std::size_t(k)]});
        }
        continue;
      }
      if (i % _o.set_every == 0) {
        c.out += set_request(key(c, k), value(c, k, i), flags(c, k, i));
        c.key_gen[std::size_t(k)] = i;
        c.pending.push_back({op_set, k, i});
      } else {
        c.out += request(op_get, key(c, k));
        c.pending.push_back({op_get, k, c.key_gen[std::size_t(k)]});
      }
    }
  }

  // The length of the complete text reply at the start of `in` to the oldest pending
  // request (0: incomplete), or npos when it cannot be one.
  std::size_t complete_text(const conn& c, std::string_view in) const {
    const std::size_t eol = in.find("\r\n");
    if (eol == std::string_view::npos) return in.size() > 600 ? std::string_view::npos : 0;
    if (c.pending.front().op == op_set || !in.starts_with("VALUE ")) return eol + 2;
    const std::size_t sp = in.rfind(' ', eol);
    const std::size_t len =
        std::strtoul(std::string(in.substr(sp + 1, eol - sp - 1)).c_str(), nullptr, 10);
    const std::size_t total = eol + 2 + len + 2 + 5;  // data, "\r\n", "END\r\n"
    return in.size() < total ? 0 : total;
  }

  bool check_text(conn& c, std::string_view bytes) {
    const expect e = c.pending.front();
    c.pending.pop_front();
    std::string want;
    if (e.op == op_set) {
      want = "STORED\r\n";
    } else if (e.gen < 0) {
      want = "END\r\n";
    } else {
      const std::string v = value(c, e.key, e.gen);
      want = "VALUE " + key(c, e.key) + " " + std::to_string(flags(c, e.key, e.gen)) + " " +
             std::to_string(v.size()) + "\r\n" + v + "\r\nEND\r\n";
    }
    if (bytes != want) {
      ++(e.op == op_set ? _r.errors : _r.wrong_values);
      problem(c, std::string(e.op == op_set ? "text SET " : "text GET ") + key(c, e.key) +
                     " (gen " + std::to_string(e.gen) + ") answered " + hex(bytes, 64) +
                     " expected " + hex(want, 64));
      return false;
    }
    ++_r.ops_ok;
    ++c.completed;
    return true;
  }

  // Checks one response against the oldest pending request.
  bool check(conn& c, std::string_view bytes) {
    response r{reinterpret_cast<const unsigned char*>(bytes.data())};
    const expect e = c.pending.front();
    c.pending.pop_front();
    auto req_hex = [&] {
      // request bytes are gone from `out` once sent; rebuild them for the message
      return e.op == op_set
                 ? hex(set_request(key(c, e.key), value(c, e.key, e.gen), flags(c, e.key, e.gen)))
                 : hex(request(op_get, key(c, e.key)));
    };
    if (r.magic() != kResponseMagic || r.opcode() != e.op || r.opaque() != 0 || !r.sane()) {
      ++_r.errors;
      problem(c, "request " + req_hex() + " answered out of order or malformed: " + hex(bytes));
      return false;
    }
    if (e.op == op_set) {
      if (r.status() != 0) {
        ++_r.errors;
        problem(c, "SET " + key(c, e.key) + " status " + std::to_string(r.status()));
        return false;
      }
    } else if (e.gen < 0) {
      if (r.status() != 1) {
        ++_r.wrong_values;
        problem(c, "GET " + key(c, e.key) + " of a never-set key answered " + hex(bytes));
        return false;
      }
    } else {
      const std::string want = value(c, e.key, e.gen);
      std::string flag_bytes;
      put32(flag_bytes, flags(c, e.key, e.gen));
      if (r.status() != 0 || r.value() != want || r.extras() != flag_bytes) {
        ++_r.wrong_values;
        problem(c, "GET " + key(c, e.key) + " (gen " + std::to_string(e.gen) + ", " +
                       std::to_string(want.size()) + " bytes, flags " + hex(flag_bytes) +
                       ") answered status " + std::to_string(r.status()) + " value " +
                       std::to_string(r.value().size()) + " bytes: " + hex(bytes, 64) +
                       " expected value " + hex(want, 24));
        return false;
      }
    }
    ++_r.ops_ok;
    ++c.completed;
    return true;
  }

  void finish(conn& c) {
    if (c.done) return;
    c.done = true;
    ++_finished;
    ::epoll_ctl(_ep, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
  }

  void update_interest(conn& c) {
    const bool want = c.out_off < c.out.size() || !c.connected;
    if (want == c.want_out) return;
    c.want_out = want;
    epoll_event ev{};
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
    ev.data.u32 = std::uint32_t(c.id);
    ::epoll_ctl(_ep, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void on_writable(conn& c) {
    if (!c.connected) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        ++_r.errors;
        problem(c, std::string("connect: ") + std::strerror(err));
        return finish(c);
      }
      c.connected = true;
      ++_r.connected;
      issue(c);
    }
    while (c.out_off < c.out.size()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN) break;
        ++_r.errors;
        problem(c, std::string("send: ") + std::strerror(errno));
        return finish(c);
      }
      c.out_off += std::size_t(n);
    }
    if (c.out_off == c.out.size()) {
      c.out.clear();
      c.out_off = 0;
    }
  }

  void on_readable(conn& c) {
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0 && errno == EAGAIN) break;
      if (n <= 0) {
        ++_r.errors;
        problem(c, n == 0 ? "closed by the server after " + std::to_string(c.completed) + " of " +
                                std::to_string(_o.ops_per_connection) + " ops"
                          : std::string("recv: ") + std::strerror(errno));
        return finish(c);
      }
      c.in.append(buf, std::size_t(n));
    }
    std::size_t off = 0;
    while (c.text) {
      if (off == c.in.size()) break;
      if (c.pending.empty()) {
        ++_r.errors;
        problem(c, "a response nobody asked for: " + hex(std::string_view(c.in).substr(off)));
        return finish(c);
      }
      const std::size_t n = complete_text(c, std::string_view(c.in).substr(off));
      if (n == 0) break;
      if (n == std::string_view::npos || !check_text(c, std::string_view(c.in).substr(off, n))) {
        if (n == std::string_view::npos) {
          ++_r.errors;
          problem(c, "not a text reply: " + hex(std::string_view(c.in).substr(off), 64));
        }
        return finish(c);
      }
      off += n;
    }
    for (; !c.text;) {
      auto* p = reinterpret_cast<const unsigned char*>(c.in.data()) + off;
      const std::size_t n = complete_response(p, c.in.size() - off);
      if (n == 0) break;
      if (c.pending.empty()) {
        ++_r.errors;
        problem(c, "a response nobody asked for: " + hex(std::string_view(c.in).substr(off)));
        return finish(c);
      }
      if (!check(c, std::string_view(c.in).substr(off, n))) return finish(c);
      off += n;
    }
    c.in.erase(0, off);
    if (c.completed == _o.ops_per_connection) return finish(c);
    issue(c);
  }

  load_result run() {
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + _o.deadline;
    _ep = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<conn> conns(std::size_t(_o.connections));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(_o.port);
    ::inet_pton(AF_INET, _o.ip.c_str(), &a.sin_addr);
    for (int i = 0; i < _o.connections; ++i) {
      conn& c = conns[std::size_t(i)];
      c.id = i;
      c.text = _o.text_every > 0 && i % _o.text_every == 0;
      c.key_gen.assign(std::size_t(_o.keys_per_connection), -1);
      c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0) {
        ++_r.errors;
        problem(c, std::string("socket: ") + std::strerror(errno));
        c.done = true;
        ++_finished;
        continue;
      }
      int one = 1;
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT;
      ev.data.u32 = std::uint32_t(i);
      c.want_out = true;
      ::epoll_ctl(_ep, EPOLL_CTL_ADD, c.fd, &ev);
    }
    std::vector<epoll_event> evs(256);
    while (_finished < _o.connections && std::chrono::steady_clock::now() < deadline) {
      int n = ::epoll_wait(_ep, evs.data(), int(evs.size()), 50);
      for (int i = 0; i < n; ++i) {
        conn& c = conns[evs[std::size_t(i)].data.u32];
        if (c.done) continue;
        const auto ev = evs[std::size_t(i)].events;
        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_writable(c);
        if (!c.done && c.connected && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(c);
        if (!c.done) {
          if (c.connected) on_writable(c);
          if (!c.done) update_interest(c);
        }
      }
    }
    for (auto& c : conns) {
      if (!c.done) {
        ++_r.unfinished;
        problem(c, "unfinished at the deadline: " + std::to_string(c.completed) + " of " +
                       std::to_string(_o.ops_per_connection) + " ops, " +
                       std::to_string(c.pending.size()) + " in flight" +
                       (c.connected ? "" : ", never connected"));
        finish(c);
      }
    }
    ::close(_ep);
    _r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    return _r;
  }

 private:
  const load_options& _o;
  load_result _r;
  int _ep = -1;
  int _finished = 0;
};

}  // namespace

std::string load_result::summary() const {
  return "ops_ok=" + std::to_string(ops_ok) + " wrong_values=" + std::to_string(wrong_values) +
         " errors=" + std::to_string(errors) + " unfinished=" + std::to_string(unfinished) +
         " connected=" + std::to_string(connected) +
         " elapsed_ms=" + std::to_string(elapsed.count()) +
         (first_problem.empty() ? "" : "\nfirst problem: " + first_problem);
}

load_result run_load(const load_options& opts) {
  load_result r;
  test::run_in_netns(opts.ns, [&] { r = load_run(opts).run(); });
  return r;
}

}  // namespace anvil::e2e
