// One text command line, tokenized exactly as memcached's tokenize_command() does it:
// tokens are split on ' ' only (a tab or CR is part of a token), at most 23 tokens are
// taken and the 24th, "terminal" token holds the unread rest of the line (empty when
// the whole line was read). `ntokens` counts like memcached's (real tokens + terminal),
// so memcached's arity checks transcribe unchanged. The line stops at a NUL byte, as
// memcached's strlen() does. Views into the receive buffer; nothing is copied.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "dataplane/proto/handler.h"

namespace anvil::proto {

struct text_line {
  static constexpr std::size_t kMaxTokens = 24;  // memcached MAX_TOKENS

  std::string_view line;  // without its terminator, cut at the first NUL
  std::array<std::string_view, kMaxTokens> tok{};
  std::size_t ntokens = 0;
  std::string_view rest;  // the terminal token: what the tokenizer did not read
  bool noreply = false;   // set by the commands that call memcached's set_noreply_maybe

  explicit text_line(std::string_view raw) {
    const std::size_t nul = raw.find('\0');
    line = nul == std::string_view::npos ? raw : raw.substr(0, nul);
    std::size_t s = 0, e = 0;
    for (; e < line.size(); ++e) {
      if (line[e] != ' ') continue;
      if (s != e) {
        tok[ntokens++] = line.substr(s, e - s);
        if (ntokens == kMaxTokens - 1) {
          s = ++e;
          break;
        }
      }
      s = e + 1;
    }
    if (s < e) tok[ntokens++] = line.substr(s, e - s);
    if (e < line.size()) rest = line.substr(e);
    ++ntokens;  // the terminal token (tok[ntokens - 1] is empty)
  }

  // memcached's set_noreply_maybe(): the last real token is exactly "noreply".
  bool take_noreply() {
    noreply = noreply || tok[ntokens - 2] == "noreply";
    return noreply;
  }

  // Offset of a token within the line.
  std::size_t offset_of(std::size_t i) const {
    return static_cast<std::size_t>(tok[i].data() - line.data());
  }
};

}  // namespace anvil::proto
