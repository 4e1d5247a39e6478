// The meta commands before they exist: every meta line is answered "ERROR", as a
// memcached that does not know the command would. Replaced by the meta implementation
// (see meta_seam.h).
#include <cstring>

#include "dataplane/proto/meta_seam.h"

namespace anvil::proto {

meta_result execute_meta(text_ctx& ctx, std::string_view, std::string_view) {
  constexpr std::string_view kError = "ERROR\r\n";
  std::memcpy(ctx.out.data + ctx.out.size, kError.data(), kError.size());  // room guaranteed
  ctx.out.size += kError.size();
  ctx.counters.unknown_commands.add();
  return {};
}

}  // namespace anvil::proto
