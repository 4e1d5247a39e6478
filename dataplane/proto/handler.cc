// The framing loop: validation in memcached's order, skip of refused packets,
// backpressure, and dispatch to the per-command executors (commands_*.cc).
#include "dataplane/proto/handler.h"
#include "dataplane/proto/reserved_keys.h"

#include <algorithm>
#include <random>

#include "dataplane/proto/meta_line.h"
#include "dataplane/proto/text_writer.h"

namespace anvil::proto {
namespace {

bool is_get(std::uint8_t opcode) {
  return opcode == op::get || opcode == op::getq || opcode == op::getk || opcode == op::getkq;
}

bool is_sasl(std::uint8_t opcode) {
  return opcode == op::sasl_list_mechs || opcode == op::sasl_auth || opcode == op::sasl_step;
}

bool is_store(std::uint8_t opcode) {
  switch (opcode) {
    case op::set:
    case op::setq:
    case op::add:
    case op::addq:
    case op::replace:
    case op::replaceq:
    case op::append:
    case op::appendq:
    case op::prepend:
    case op::prependq:
      return true;
    default:
      return false;
  }
}

// The opcodes that change the cache (what the write fence refuses), incl. touch/GAT.
bool is_mutation(std::uint8_t opcode) {
  if (is_store(opcode)) return true;
  switch (opcode) {
    case op::del:
    case op::delq:
    case op::incr:
    case op::incrq:
    case op::decr:
    case op::decrq:
    case op::flush:
    case op::flushq:
    case op::touch:
    case op::gat:
    case op::gatq:
    case op::gatk:
    case op::gatkq:
      return true;
    default:
      return false;
  }
}

// What a binary opcode does to the cache, for the client gate (client_gate.h).
access access_of(std::uint8_t opcode) {
  if (is_get(opcode)) return access::read;
  return is_mutation(opcode) ? access::write : access::admin;
}

// The gate of a server without [cluster]: always open (so the hot path loads without a
// null check).
const std::atomic<std::uint8_t> kNoGate{gate::kOpen};

// A fresh random key per handler for its verified-credentials cache (start-up only).
std::array<std::uint8_t, 32> random_key() {
  std::random_device rd;
  std::array<std::uint8_t, 32> k{};
  for (std::size_t i = 0; i < k.size(); i += 4) {
    const std::uint32_t v = rd();
    for (std::size_t j = 0; j < 4; ++j) k[i + j] = static_cast<std::uint8_t>(v >> (8 * j));
  }
  return k;
}

}  // namespace

std::size_t sink_capacity_for(std::size_t max_value) {
  return std::max({response_size(4, kMaxKeyLength, max_value), text::max_value_size(max_value) + 5,
                   kSmallResponseMax + prefix_stats::kDumpCapacity + kHeaderSize + 16,
                   kTextSmallResponseMax + prefix_stats::kDumpCapacity,
                   meta::max_response(max_value)});
}

handler::handler(cache::engine& engine, cache::session& session, const handler_config& cfg,
                 lcore_counters& counters, facts_provider facts, mutation_hook hook)
    : _engine(engine),
      _session(session),
      _cfg(cfg),
      _counters(counters),
      _facts(facts),
      _hook(hook),
      _sasl_cache(random_key()) {
  if (_cfg.max_value == 0) _cfg.max_value = engine.config().max_item_size;
  if (_cfg.sasl_max_failures == 0) _cfg.sasl_max_failures = 1;
  if (_cfg.gate == nullptr) _cfg.gate = &kNoGate;
}

std::size_t handler::min_sink_capacity() const { return sink_capacity_for(_cfg.max_value); }

// Gathers the run of complete, valid Get-family packets starting at `pos` (at most
// kGetBatch); anything else ends the run and takes the ordinary path.
std::size_t handler::collect_gets(const connection& c, std::span<const std::byte> input,
                                  std::size_t pos) {
  if (_cfg.sasl != nullptr && !c._authenticated) return 0;
  std::size_t count = 0;
  while (count < kGetBatch && input.size() - pos >= kHeaderSize) {
    const std::byte* p = input.data() + pos;
    const request_header h = decode_header(p);
    if (!is_get(h.opcode) || check_framing(h) != verdict::ok ||
        check_command(h, _cfg.max_value) != verdict::ok ||
        input.size() - pos < kHeaderSize + std::size_t{h.bodylen}) {
      break;
    }
    _batch_reqs[count] = make_request(h, p);
    _batch_keys[count] = _batch_reqs[count].key;
    pos += _batch_reqs[count].size();
    ++count;
  }
  return count;
}

handle_result handler::handle(connection& c, std::span<const std::byte> input, output_sink& out) {
  if (c._protocol == connection::protocol::unknown) [[unlikely]] {
    if (input.empty()) return {.need_bytes = 1, .need_more = true};
    const bool magic = std::to_integer<std::uint8_t>(input[0]) == kRequestMagic;
    // SASL forces binary (memcached refuses -S with the ASCII protocol); a binary-only
    // server reads a text client's first byte as a bad magic and closes, as memcached.
    const bool text = _cfg.protocols == binding::ascii ||
                      (_cfg.protocols == binding::auto_detect && _cfg.sasl == nullptr && !magic);
    c._protocol = text ? connection::protocol::text : connection::protocol::binary;
  }
  if (c._protocol == connection::protocol::text) return handle_text(c, input, out);
  return handle_binary(c, input, out);
}

handle_result handler::handle_binary(connection& c, std::span<const std::byte> input,
                                     output_sink& out) {
  handle_result res;
  const std::size_t sink_start = out.size;
  std::size_t pos = 0;
  const std::size_t n = input.size();

  auto close_with = [&](echo e, status st) {
    write_error(out, e, st);  // room for it was checked before
    count_request(e.opcode, status_class(static_cast<std::uint16_t>(st)));
    c._closing = true;
  };

  while (true) {
    if (c._closing) {
      res.close_after_flush = true;
      break;
    }
    if (c._skip > 0) {
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(c._skip, n - pos));
      pos += k;
      c._skip -= k;
      if (c._skip > 0) {
        res.need_more = true;
        res.need_bytes = 1;
        break;
      }
    }
    if (n - pos < kHeaderSize) {
      res.need_more = true;
      res.need_bytes = kHeaderSize;
      break;
    }
    const std::byte* p = input.data() + pos;
    const request_header h = decode_header(p);
    const echo e{h.opcode, h.opaque};
    // The client gate, sampled once for this request (or this run of GETs).
    const std::uint8_t gate_now = gate_bits();

    if (_cfg.batch_gets && is_get(h.opcode) &&
        (gate_now == gate::kOpen ||
         gate_refusal(gate_now, access::read, _cfg.replica_reads) == refusal::none)) {
      const std::size_t count = collect_gets(c, input, pos);
      if (count >= 2) {
        _session.get_batch({_batch_keys.data(), count}, {_batch_items.data(), count});
        std::size_t i = 0;
        for (; i < count; ++i) {
          const std::size_t mark = out.size;
          const cache::item_view& it =
              is_reserved_key(_batch_keys[i]) ? cache::item_view{} : _batch_items[i];
          if (out.room() < kSmallResponseMax ||
              emit_get(_batch_reqs[i], it, out) == outcome::sink_full) {
            break;
          }
          count_request(_batch_reqs[i].hdr.opcode, out, mark);
          pos += _batch_reqs[i].size();
        }
        if (i < count) {  // stopped for room: the rest is looked up again next call
          if (out.size == 0) {
            _counters.protocol_errors.add();
            c._closing = true;
            continue;
          }
          res.sink_full = true;
          break;
        }
        continue;
      }
    }

    verdict v = check_framing(h);
    if (v == verdict::bad_magic) {  // memcached closes without a word
      _counters.protocol_errors.add();
      c._closing = true;
      continue;
    }
    if (out.room() < kSmallResponseMax) {
      res.sink_full = true;
      break;
    }
    if (v == verdict::bad_lengths) {
      _counters.protocol_errors.add();
      close_with(e, status::unknown_command);
      continue;
    }
    if (_cfg.sasl != nullptr && !c._authenticated && !allowed_unauthenticated(h.opcode)) {
      _counters.protocol_errors.add();
      close_with(e, status::auth_error);
      continue;
    }
    v = check_command(h, _cfg.max_value);
    if (v == verdict::ok && is_sasl(h.opcode) && _cfg.sasl == nullptr) {
      v = verdict::unknown_command;  // SASL off: memcached answers 0x81 and swallows
    }
    if (v == verdict::too_large && is_sasl(h.opcode)) {
      v = _cfg.sasl == nullptr ? verdict::unknown_command : v;
    }
    switch (v) {
      case verdict::invalid:
        _counters.protocol_errors.add();
        close_with(e, status::einval);
        continue;
      case verdict::unknown_command:
        _counters.unknown_commands.add();
        if (h.bodylen > max_packet_body()) {
          // No command has a body this large: answer and close rather than swallow up
          // to 4 GiB (memcached answers too, then loses the stream: see protocol.md).
          _counters.protocol_errors.add();
          close_with(e, status::unknown_command);
          continue;
        }
        write_error(out, e, status::unknown_command);
        count_request(h.opcode, req_status::unknown_command);
        pos += kHeaderSize;
        c._skip = h.bodylen;  // exactly the rest of this packet
        continue;
      case verdict::too_large: {
        // A refused SET must not leave the old value behind (memcached unlinks it):
        // wait for the key, which is small, but never for the value.
        const std::size_t head = kHeaderSize + h.extlen + h.keylen;
        if (n - pos < head) {
          res.need_more = true;
          res.need_bytes = head;
          goto done;
        }
        const refusal why = gate_refusal(gate_now, access_of(h.opcode), _cfg.replica_reads);
        if (why != refusal::none) [[unlikely]] {  // not even the old value is dropped
          const status st = write_gate_refusal(e, why, out);
          count_request(h.opcode, status_class(static_cast<std::uint16_t>(st)));
          pos += head;
          c._skip = h.bodylen - h.extlen - h.keylen;
          continue;
        }
        if (h.opcode == op::set || h.opcode == op::setq) {
          const request r = make_request(h, p);
          if (!is_reserved_key(r.key)) _session.remove(r.key);
        }
        _counters.too_large.add();
        if (is_store(h.opcode)) _counters.store_too_large.add();
        write_error(out, e, is_sasl(h.opcode) ? status::enomem : status::e2big);
        count_request(h.opcode, is_sasl(h.opcode) ? req_status::enomem : req_status::e2big);
        pos += head;
        c._skip = h.bodylen - h.extlen - h.keylen;
        continue;
      }
      default:
        break;
    }
    if (n - pos < kHeaderSize + std::size_t{h.bodylen}) {
      res.need_more = true;
      res.need_bytes = kHeaderSize + std::size_t{h.bodylen};
      break;
    }
    const request r = make_request(h, p);
    const std::size_t mark = out.size;
    const outcome o = execute(c, r, out, gate_now);
    if (o == outcome::sink_full) {
      if (out.size == 0) {  // cannot fit even in an empty sink: give up on the peer
        _counters.protocol_errors.add();
        c._closing = true;
        continue;
      }
      res.sink_full = true;
      break;
    }
    count_request(h.opcode, out, mark);
    pos += r.size();
    if (o == outcome::close) c._closing = true;
  }
done:
  if (res.sink_full) _counters.backpressure_stops.add();
  res.consumed = pos;
  _counters.bytes_read.add(pos);
  _counters.bytes_written.add(out.size - sink_start);
  return res;
}

// The gate's answer: 0x86 for the write fence (retry: this node or the VIP's next owner
// takes it shortly), 0x07 for "not the primary" (this node does not own the key).
// Quiet requests get it too: errors are always answered.
// Out of line: the open gate (every primary, every standalone node) costs one compare.
[[gnu::noinline, gnu::cold]] bool handler::refused_by_gate(echo e, std::uint8_t gate_now,
                                                           output_sink& out) {
  const refusal why = gate_refusal(gate_now, access_of(e.opcode), _cfg.replica_reads);
  if (why == refusal::none) return false;
  write_gate_refusal(e, why, out);
  return true;
}

status handler::write_gate_refusal(echo e, refusal why, output_sink& out) {
  count_refusal(_counters, why);
  const status st =
      why == refusal::write_fenced ? status::temporary_failure : status::not_my_vbucket;
  write_error(out, e, st);
  return st;
}

handler::outcome handler::execute(connection& c, const request& r, output_sink& out,
                                  std::uint8_t gate_now) {
  const echo e{r.hdr.opcode, r.hdr.opaque};
  if (gate_now != gate::kOpen && refused_by_gate(e, gate_now, out)) [[unlikely]]
    return outcome::done;
  if (is_reserved_key(r.key) && r.hdr.opcode != op::stat && !is_sasl(r.hdr.opcode)) [[unlikely]] {
    // The server's own keys (reserved_keys.h): a miss for a GET, 0x04 for the rest,
    // as the engine answers a key it cannot hold; the engine is never asked.
    if (is_get(r.hdr.opcode)) return emit_get(r, cache::item_view{}, out);
    write_error(out, e, status::einval);
    return outcome::done;
  }
  switch (r.hdr.opcode) {
    case op::get:
    case op::getq:
    case op::getk:
    case op::getkq:
      return exec_get(r, out);
    case op::touch:
    case op::gat:
    case op::gatq:
    case op::gatk:
    case op::gatkq:
      return exec_touch(r, out);
    case op::set:
    case op::setq:
    case op::add:
    case op::addq:
    case op::replace:
    case op::replaceq:
    case op::append:
    case op::appendq:
    case op::prepend:
    case op::prependq:
      return exec_store(r, out);
    case op::del:
    case op::delq:
      return exec_delete(r, out);
    case op::incr:
    case op::incrq:
    case op::decr:
    case op::decrq:
      return exec_arith(r, out);
    case op::flush:
    case op::flushq:
      return exec_flush(r, out);
    case op::noop:
      write_response(out, e, status::success, 0, {}, {}, {});
      return outcome::done;
    case op::version:
      write_response(out, e, status::success, 0, {}, {}, _cfg.version.substr(0, 40));
      return outcome::done;
    case op::quit:
      write_response(out, e, status::success, 0, {}, {}, {});
      return outcome::close;
    case op::quitq:
      return outcome::close;
    case op::stat:
      return exec_stat(r, out);
    case op::sasl_list_mechs:
    case op::sasl_auth:
    case op::sasl_step:
      return exec_sasl(c, r, out);
    default:  // unreachable: check_command refused it
      write_error(out, e, status::unknown_command);
      return outcome::done;
  }
}

}  // namespace anvil::proto
