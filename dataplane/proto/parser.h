// Incremental request framing and per-opcode validation, exactly as memcached's
// try_read_command_binary + dispatch_bin_command order them:
//   magic -> keylen+extlen <= bodylen -> (SASL gate, in the handler) -> keylen <= 250
//   -> per-opcode extras/key/body rules -> unknown opcode -> value size cap.
// The parser is pure: it looks at a byte view and says what the next packet is; it
// never copies. A request's extras, key and value are views into the caller's input,
// valid as long as those bytes are. Validation needs the header only, so an error can
// be answered before the body arrives; a request is dispatched only once the whole
// packet (24 + bodylen bytes) is contiguous in the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "dataplane/proto/wire.h"

namespace anvil::proto {

// What the header alone says about the packet (memcached's reaction in brackets).
enum class verdict : std::uint8_t {
  ok,               // dispatch once the body is complete
  bad_magic,        // [close, no response]
  bad_lengths,      // keylen + extlen > bodylen [0x81, close]
  invalid,          // key too long or wrong extras/key/body for the opcode [0x04, close]
  unknown_command,  // [0x81, keep the connection]; we skip exactly the rest of the packet
  too_large,        // value longer than the cap [0x03, skip the value, keep the connection]
};

struct request {
  request_header hdr;
  std::span<const std::byte> extras;
  std::string_view key;
  std::string_view value;
  std::size_t size() const { return kHeaderSize + hdr.bodylen; }
};

// True for the commands an unauthenticated SASL connection may still send.
constexpr bool allowed_unauthenticated(std::uint8_t opcode) {
  return opcode == op::sasl_list_mechs || opcode == op::sasl_auth || opcode == op::sasl_step ||
         opcode == op::version;
}

// Framing checks that precede the SASL gate (magic, lengths).
verdict check_framing(const request_header& h);
// Checks that follow the SASL gate. `max_value` caps the value of storage commands
// (the engine's item size limit): a longer value is refused without being buffered.
verdict check_command(const request_header& h, std::size_t max_value);

// Views into a complete packet; `packet` holds at least 24 + hdr.bodylen bytes.
request make_request(const request_header& h, const std::byte* packet);

// True for the opcodes memcached implements (the rest get 0x81).
bool known_opcode(std::uint8_t opcode);

}  // namespace anvil::proto
