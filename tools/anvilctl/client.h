// The admin API client: one HTTP/JSON request per call over cpp-httplib, with a
// connection and read timeout, the bearer token on every request, and every failure
// turned into an exit code (exit_codes.h): no connection or a timeout is
// `exit_unreachable`, 401/403 is `exit_refused`, a body that is not JSON is
// `exit_unhealthy`. The client never retries: a script decides what a failure means.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "tools/anvilctl/endpoint.h"
#include "tools/anvilctl/exit_codes.h"

namespace anvil::ctl {

struct client_options {
  endpoint server;
  std::string token;       // empty: send no Authorization header
  double timeout_s = 5.0;  // connect, read and write, each
  // Extra time for the answer of a request the server works on (an operator action);
  // the connect and write bounds stay timeout_s.
  double extra_read_s = 0.0;
};

struct response {
  int status = 0;
  nlohmann::json body;
};

// The server's own words from an error body (docs/admin.md: {"error": "<code>",
// "reason": "<text>"} -> "text [code]"), else the body itself, shortened.
std::string error_message(const nlohmann::json& body);
// The exit code for an HTTP status >= 400: 401/403 refused, 408 unreachable,
// 409/421/429/5xx unhealthy, any other 4xx usage (the server called the request bad).
exit_code exit_code_for_status(int status);
// Reads a token file: its first line, surrounding blanks removed. Throws ctl_error
// (usage) when the file cannot be read or holds no token.
std::string read_token_file(const std::string& path);

class admin_client {
 public:
  explicit admin_client(client_options o) : _o(std::move(o)) {}

  // Sends the request and parses the JSON answer, whatever its status; throws ctl_error
  // when there is no answer (unreachable), on 401/403 (refused) and when the body is
  // not JSON (unhealthy).
  response call(const std::string& method, const std::string& path,
                const nlohmann::json* body = nullptr) const;
  // As call(), and a status >= 400 throws ctl_error with the server's message.
  nlohmann::json get(const std::string& path) const;
  nlohmann::json post(const std::string& path,
                      const nlohmann::json& body = nlohmann::json::object()) const;
  nlohmann::json put(const std::string& path, const nlohmann::json& body) const;
  // A plain-text GET (/metrics): the body as is; same failures as get().
  std::string get_text(const std::string& path) const;

  std::string where() const;  // "host:port" for messages

 private:
  struct raw {
    int status;
    std::string body;
  };
  raw send(const std::string& method, const std::string& path, const std::string& body) const;
  client_options _o;
};

}  // namespace anvil::ctl
