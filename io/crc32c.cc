#include "io/crc32c.h"

#include <isa-l/crc.h>

#include <climits>

namespace anvil::io {

std::uint32_t crc32c(const void* data, std::size_t len, std::uint32_t prev) {
  auto* p = static_cast<unsigned char*>(const_cast<void*>(data));  // ISA-L's API is not const
  std::uint32_t crc = ~prev;
  while (len > 0) {
    const int chunk = len > static_cast<std::size_t>(INT_MAX) ? INT_MAX : static_cast<int>(len);
    crc = crc32_iscsi(p, chunk, crc);
    p += chunk;
    len -= static_cast<std::size_t>(chunk);
  }
  return ~crc;
}

}  // namespace anvil::io
