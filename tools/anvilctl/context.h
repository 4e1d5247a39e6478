// What every anvilctl command shares: the global flags (--server, --token-file,
// --json, --timeout), the output stream, and the exit code the command leaves. A
// command group is a function that adds its subcommands to the app (commands.h).
#pragma once

#include <iostream>
#include <string>

#include "tools/anvilctl/client.h"
#include "tools/anvilctl/exit_codes.h"

namespace anvil::ctl {

struct cli_context {
  std::string server = default_server;
  std::string token_file;
  bool json = false;
  double timeout_s = 5.0;
  double extra_read_s = 0.0;  // set by commands whose answer the server works on
  std::ostream* out = &std::cout;
  int rc = exit_ok;

  // The client for --server, with the token of --token-file when given. Throws
  // ctl_error(usage) for a malformed --server or an unreadable token file.
  admin_client client() const;
  std::ostream& o() const { return *out; }
};

}  // namespace anvil::ctl
