// CRC32C (Castagnoli, the iSCSI polynomial) as every snapshot checksum uses it.
// Standard convention: initial value ~0, final inversion, so crc32c("123456789") is
// 0xE3069283 and crc32c(b, crc32c(a)) == crc32c(a + b). ISA-L's crc32_iscsi does
// neither inversion itself; this wrapper is the only place that knows.
#pragma once

#include <cstddef>
#include <cstdint>

namespace anvil::io {

std::uint32_t crc32c(const void* data, std::size_t len, std::uint32_t prev = 0);

}  // namespace anvil::io
