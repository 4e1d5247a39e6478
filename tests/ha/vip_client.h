// A memcached binary-protocol client for the HA tests and the failover benchmark: talks
// to the VIP through the kernel of the client namespace, with a deadline on every
// operation (a dead or fenced primary must cost a bounded wait, never a hang), and
// reconnects after any failure. Not thread-safe: one per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace anvil::ha {

enum class op_result { ok, miss, failed };

class vip_client {
 public:
  // `make_socket` returns a fresh TCP socket (e.g. one opened in the client namespace);
  // by default a plain socket(2) in the caller's namespace.
  vip_client(std::string ip, std::uint16_t port, std::chrono::milliseconds op_timeout,
             std::function<int()> make_socket = {});
  ~vip_client();
  vip_client(const vip_client&) = delete;
  vip_client& operator=(const vip_client&) = delete;

  // SET: ok when the server acknowledged it (status 0).
  op_result set(const std::string& key, const std::string& value);
  // GET: ok with `value` filled, miss on "not found", failed on anything else.
  op_result get(const std::string& key, std::string& value);
  // Any well-formed answer (a hit or a miss) counts as "the VIP serves".
  bool serves();
  // Retries serves() until it succeeds or `bound` passes; the instant of the first
  // success, or nullopt-like time_point{} when none.
  std::chrono::system_clock::time_point wait_serving(std::chrono::milliseconds bound);

  // The status of the last well-formed SET/GET response (kNoStatus before any): e.g.
  // 0x07 from a node that is not the shard's primary (dataplane/proto/client_gate.h).
  static constexpr std::uint32_t kNoStatus = 0x10000;
  std::uint32_t last_status() const { return _last_status; }
  std::uint64_t connects() const { return _connects; }
  std::uint64_t failures() const { return _failures; }
  const std::string& last_error() const { return _last_error; }

 private:
  bool ensure_connected();
  bool exchange(const std::string& request, std::string& response);
  void drop(const std::string& why);

  std::string _ip;
  std::uint16_t _port;
  std::chrono::milliseconds _timeout;
  std::function<int()> _make_socket;
  int _fd = -1;
  std::uint32_t _opaque = 0;
  std::uint32_t _last_status = kNoStatus;
  std::uint64_t _connects = 0, _failures = 0;
  std::string _last_error;
};

// Keys and values of a numbered data set: key(i) = prefix + i, value(i) derived from i,
// so a read-back can tell a right value from a stale or foreign one.
std::string test_key(const std::string& prefix, std::uint64_t i);
std::string test_value(const std::string& prefix, std::uint64_t i);

}  // namespace anvil::ha
