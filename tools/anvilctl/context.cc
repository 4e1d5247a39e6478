#include "tools/anvilctl/context.h"

namespace anvil::ctl {

admin_client cli_context::client() const {
  auto e = parse_endpoint(server);
  if (!e)
    throw ctl_error(exit_usage, "--server: '" + server +
                                    "' is not HOST:PORT (e.g. 127.0.0.1:11311, [::1]:11311)");
  client_options o;
  o.server = *e;
  o.timeout_s = timeout_s;
  o.extra_read_s = extra_read_s;
  if (!token_file.empty()) o.token = read_token_file(token_file);
  return admin_client(o);
}

}  // namespace anvil::ctl
