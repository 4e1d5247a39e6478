// The bearer token of the mutating endpoints: read once at start-up from
// [admin] token_file, which must be a regular file readable only by its owner (mode
// 0600 or stricter: no group or other bits) and hold a non-empty first line. Compared
// in constant time; never logged or returned.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace anvil::control::admin {

struct token_load {
  std::optional<std::string> token;  // set on success
  std::string error;                 // why not, naming the file
};

token_load load_token_file(const std::string& path);

// Constant-time comparison (for equal lengths; a length mismatch is refused at once,
// which reveals only the length).
bool token_equals(std::string_view a, std::string_view b);

// "Bearer <token>" -> token; empty when the header has another form.
std::string_view bearer_token(std::string_view authorization);

}  // namespace anvil::control::admin
