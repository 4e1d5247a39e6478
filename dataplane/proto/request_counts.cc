#include "dataplane/proto/request_counts.h"

namespace anvil::proto {

const char* to_string(req_op o) {
  static constexpr const char* kNames[kReqOps] = {
      "get",       "set",   "add",  "replace", "delete", "incr",    "decr",
      "quit",      "flush", "noop", "version", "append", "prepend", "stat",
      "verbosity", "touch", "gat",  "sasl",    "other"};
  const auto i = static_cast<std::size_t>(o);
  return i < kReqOps ? kNames[i] : "other";
}

const char* to_string(req_status s) {
  static constexpr const char* kNames[kReqStatuses] = {
      "success",    "key_enoent",   "key_eexists", "e2big",         "einval",
      "not_stored", "delta_badval", "auth_error",  "auth_continue", "unknown_command",
      "enomem",     "other",        "quiet"};
  const auto i = static_cast<std::size_t>(s);
  return i < kReqStatuses ? kNames[i] : "other";
}

}  // namespace anvil::proto
