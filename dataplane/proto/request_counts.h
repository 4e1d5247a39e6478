// Requests by operation and response status (`anvil_requests_total{op,status}`), one
// table per lcore. Single writer (the lcore's handler), read by the admin thread with
// relaxed loads. Quiet opcodes are folded into their base operation; a quiet request
// that sent nothing (a GETQ miss, a SETQ success) is status `quiet`. Unlike the
// memcached-named counters, this table is never reset by `stats reset`: Prometheus
// counters only go up.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "dataplane/proto/wire.h"

namespace anvil::proto {

enum class req_op : std::uint8_t {
  get,
  set,
  add,
  replace,
  del,
  incr,
  decr,
  quit,
  flush,
  noop,
  version,
  append,
  prepend,
  stat,
  verbosity,
  touch,
  gat,
  sasl,
  other,
  kCount
};
enum class req_status : std::uint8_t {
  success,
  key_enoent,
  key_eexists,
  e2big,
  einval,
  not_stored,
  delta_badval,
  auth_error,
  auth_continue,
  unknown_command,
  enomem,
  other,
  quiet,
  kCount
};
inline constexpr std::size_t kReqOps = static_cast<std::size_t>(req_op::kCount);
inline constexpr std::size_t kReqStatuses = static_cast<std::size_t>(req_status::kCount);

const char* to_string(req_op o);
const char* to_string(req_status s);

// Opcode -> operation, as a 256-entry table (one load on the hot path).
constexpr std::array<req_op, 256> make_op_table() {
  std::array<req_op, 256> t{};
  for (auto& e : t) e = req_op::other;
  t[op::get] = t[op::getq] = t[op::getk] = t[op::getkq] = req_op::get;
  t[op::set] = t[op::setq] = req_op::set;
  t[op::add] = t[op::addq] = req_op::add;
  t[op::replace] = t[op::replaceq] = req_op::replace;
  t[op::del] = t[op::delq] = req_op::del;
  t[op::incr] = t[op::incrq] = req_op::incr;
  t[op::decr] = t[op::decrq] = req_op::decr;
  t[op::quit] = t[op::quitq] = req_op::quit;
  t[op::flush] = t[op::flushq] = req_op::flush;
  t[op::noop] = req_op::noop;
  t[op::version] = req_op::version;
  t[op::append] = t[op::appendq] = req_op::append;
  t[op::prepend] = t[op::prependq] = req_op::prepend;
  t[op::stat] = req_op::stat;
  t[op::verbosity] = req_op::verbosity;
  t[op::touch] = req_op::touch;
  t[op::gat] = t[op::gatq] = t[op::gatk] = t[op::gatkq] = req_op::gat;
  t[op::sasl_list_mechs] = t[op::sasl_auth] = t[op::sasl_step] = req_op::sasl;
  return t;
}
inline constexpr std::array<req_op, 256> kOpTable = make_op_table();

constexpr req_status status_class(std::uint16_t wire) {
  switch (static_cast<status>(wire)) {
    case status::success:
      return req_status::success;
    case status::key_enoent:
      return req_status::key_enoent;
    case status::key_eexists:
      return req_status::key_eexists;
    case status::e2big:
      return req_status::e2big;
    case status::einval:
      return req_status::einval;
    case status::not_stored:
      return req_status::not_stored;
    case status::delta_badval:
      return req_status::delta_badval;
    case status::auth_error:
      return req_status::auth_error;
    case status::auth_continue:
      return req_status::auth_continue;
    case status::unknown_command:
      return req_status::unknown_command;
    case status::enomem:
      return req_status::enomem;
    case status::temporary_failure:  // a switchover's write fence
    case status::not_my_vbucket:     // the client gate: not the primary
      return req_status::other;
  }
  return req_status::other;
}

class alignas(64) request_counts {
 public:
  // Owner lcore only: a relaxed load+store, no locked RMW.
  void record(std::uint8_t opcode, req_status s) {
    auto& c = _c[static_cast<std::size_t>(kOpTable[opcode])][static_cast<std::size_t>(s)];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  std::uint64_t get(req_op o, req_status s) const {
    return _c[static_cast<std::size_t>(o)][static_cast<std::size_t>(s)].load(
        std::memory_order_relaxed);
  }

 private:
  std::array<std::array<std::atomic<std::uint64_t>, kReqStatuses>, kReqOps> _c{};
};

}  // namespace anvil::proto
