// Running code inside a network namespace from a test process: a socket created in a
// namespace stays in it, so tests open sockets "there" and use them from anywhere.
// Each call runs on a short-lived thread that joins the namespace, so the calling
// thread's own namespace never changes.
#pragma once

#include <functional>
#include <string>

namespace anvil::test {

// Runs fn in namespace `ns` (a name under /run/netns). Throws std::system_error when
// the namespace cannot be entered.
void run_in_netns(const std::string& ns, const std::function<void()>& fn);

// socket(2) inside `ns`; throws std::system_error on failure.
int socket_in_netns(const std::string& ns, int domain, int type, int protocol);

// if_nametoindex inside `ns`; throws when the interface does not exist there.
unsigned ifindex_in_netns(const std::string& ns, const std::string& ifname);

// Runs a shell command line, returns its exit status and (optionally) its stdout.
int run_command(const std::string& cmd, std::string* out = nullptr);

}  // namespace anvil::test
