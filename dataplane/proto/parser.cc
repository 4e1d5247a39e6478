// Per-opcode rules transcribed from memcached 1.6 dispatch_bin_command().
#include "dataplane/proto/parser.h"

namespace anvil::proto {

bool known_opcode(std::uint8_t opcode) {
  // Verbosity (0x1b) is deliberately absent: memcached 1.6 answers it with 0x81.
  return opcode <= op::prependq || opcode == op::touch || opcode == op::gat || opcode == op::gatq ||
         opcode == op::gatk || opcode == op::gatkq || opcode == op::sasl_list_mechs ||
         opcode == op::sasl_auth || opcode == op::sasl_step;
}

verdict check_framing(const request_header& h) {
  if (h.magic != kRequestMagic) return verdict::bad_magic;
  if (std::uint64_t{h.keylen} + h.extlen > h.bodylen) return verdict::bad_lengths;
  return verdict::ok;
}

verdict check_command(const request_header& h, std::size_t max_value) {
  if (h.keylen > kMaxKeyLength) return verdict::invalid;
  const std::uint32_t k = h.keylen, e = h.extlen, b = h.bodylen;
  const std::uint32_t value_len = b - k - e;  // check_framing: k + e <= b
  bool ok = true;
  bool capped = false;  // the value is stored: apply the size cap
  switch (h.opcode) {
    case op::version:
    case op::noop:
    case op::quit:
    case op::quitq:
    case op::sasl_list_mechs:
      ok = e == 0 && k == 0 && b == 0;
      break;
    case op::flush:
    case op::flushq:
      ok = k == 0 && b == e && (e == 0 || e == 4);
      break;
    case op::set:
    case op::setq:
    case op::add:
    case op::addq:
    case op::replace:
    case op::replaceq:
      ok = e == 8 && k != 0;
      capped = true;
      break;
    case op::get:
    case op::getq:
    case op::getk:
    case op::getkq:
    case op::del:
    case op::delq:
      ok = e == 0 && k > 0 && b == k;
      break;
    case op::incr:
    case op::incrq:
    case op::decr:
    case op::decrq:
      ok = k > 0 && e == 20 && b == k + e;
      break;
    case op::append:
    case op::appendq:
    case op::prepend:
    case op::prependq:
      ok = k > 0 && e == 0;
      capped = true;
      break;
    case op::stat:
      ok = e == 0;
      capped = true;  // memcached would parse trailing body bytes as a new packet
      break;
    case op::sasl_auth:
    case op::sasl_step:
      ok = e == 0 && k != 0;
      capped = true;
      break;
    case op::touch:
    case op::gat:
    case op::gatq:
    case op::gatk:
    case op::gatkq:
      ok = e == 4 && k != 0;
      // memcached leaves bodylen unchecked here and reads trailing bytes as the next
      // packet; we treat them as part of this one (never dispatched, skipped).
      capped = true;
      break;
    default:
      return verdict::unknown_command;
  }
  if (!ok) return verdict::invalid;
  if (capped && value_len > max_value) return verdict::too_large;
  return verdict::ok;
}

request make_request(const request_header& h, const std::byte* packet) {
  request r;
  r.hdr = h;
  const std::byte* body = packet + kHeaderSize;
  r.extras = {body, h.extlen};
  r.key = {reinterpret_cast<const char*>(body + h.extlen), h.keylen};
  r.value = {reinterpret_cast<const char*>(body + h.extlen + h.keylen),
             h.bodylen - h.extlen - h.keylen};
  return r;
}

}  // namespace anvil::proto
