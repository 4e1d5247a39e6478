#include "tools/anvilctl/client.h"

#include <httplib.h>

#include <cmath>
#include <fstream>

namespace anvil::ctl {

using nlohmann::json;

std::string error_message(const json& body) {
  if (body.is_object() && body.contains("reason") && body["reason"].is_string() &&
      !body["reason"].get<std::string>().empty()) {
    std::string r = body["reason"].get<std::string>();
    if (body.contains("error") && body["error"].is_string())
      r += " [" + body["error"].get<std::string>() + "]";
    return r;
  }
  if (body.is_object() && body.contains("error")) {
    const json& e = body["error"];
    if (e.is_string()) return e.get<std::string>();
    if (e.is_object() && e.contains("message") && e["message"].is_string())
      return e["message"].get<std::string>();
  }
  std::string s = body.is_string() ? body.get<std::string>() : body.dump();
  if (s.size() > 200) s = s.substr(0, 200) + "...";
  return s;
}

exit_code exit_code_for_status(int status) {
  if (status == 401 || status == 403) return exit_refused;
  if (status == 408) return exit_unreachable;
  if (status == 409 || status == 421 || status == 429 || status >= 500) return exit_unhealthy;
  return exit_usage;
}

std::string read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ctl_error(exit_usage, "--token-file: cannot read '" + path + "'");
  std::string line;
  std::getline(in, line);
  const auto first = line.find_first_not_of(" \t\r");
  const auto last = line.find_last_not_of(" \t\r");
  if (first == std::string::npos)
    throw ctl_error(exit_usage, "--token-file: '" + path + "' holds no token on its first line");
  return line.substr(first, last - first + 1);
}

std::string admin_client::where() const {
  const bool v6 = _o.server.host.find(':') != std::string::npos;
  return (v6 ? "[" + _o.server.host + "]" : _o.server.host) + ":" + std::to_string(_o.server.port);
}

admin_client::raw admin_client::send(const std::string& method, const std::string& path,
                                     const std::string& body) const {
  httplib::Client c(_o.server.host, _o.server.port);
  const double whole = std::floor(_o.timeout_s);
  const auto sec = static_cast<time_t>(whole);
  const auto usec = static_cast<time_t>((_o.timeout_s - whole) * 1e6);
  c.set_connection_timeout(sec, usec);
  const double read_s = _o.timeout_s + _o.extra_read_s;
  const double read_whole = std::floor(read_s);
  c.set_read_timeout(static_cast<time_t>(read_whole),
                     static_cast<time_t>((read_s - read_whole) * 1e6));
  c.set_write_timeout(sec, usec);
  httplib::Headers h{{"Accept", "application/json"}};
  if (!_o.token.empty()) h.emplace("Authorization", "Bearer " + _o.token);
  httplib::Result r = method == "GET"    ? c.Get(path, h)
                      : method == "POST" ? c.Post(path, h, body, "application/json")
                                         : c.Put(path, h, body, "application/json");
  if (!r) {
    throw ctl_error(exit_unreachable, "cannot reach the admin API at " + where() + " (" +
                                          httplib::to_string(r.error()) +
                                          "): is anvil running, and is --server its [admin] "
                                          "address?");
  }
  return {r->status, r->body};
}

response admin_client::call(const std::string& method, const std::string& path,
                            const json* body) const {
  raw r = send(method, path, body != nullptr ? body->dump() : std::string());
  json parsed = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (r.status == 401 || r.status == 403) {
    const std::string why = parsed.is_discarded() ? r.body : error_message(parsed);
    throw ctl_error(exit_refused,
                    method + " " + path + " refused (HTTP " + std::to_string(r.status) + ": " +
                        why +
                        "): pass --token-file with the token of the node's [admin] token_file");
  }
  if (parsed.is_discarded()) {
    std::string head = r.body.substr(0, 80);
    throw ctl_error(r.status >= 400 ? exit_code_for_status(r.status) : exit_unhealthy,
                    method + " " + path + ": the server's answer is not JSON (HTTP " +
                        std::to_string(r.status) + ", " + std::to_string(r.body.size()) +
                        " bytes: '" + head + "')");
  }
  return {r.status, std::move(parsed)};
}

namespace {
json checked(const std::string& method, const std::string& path, response r) {
  if (r.status >= 400)
    throw ctl_error(exit_code_for_status(r.status), method + " " + path + " failed (HTTP " +
                                                        std::to_string(r.status) +
                                                        "): " + error_message(r.body));
  return std::move(r.body);
}
}  // namespace

json admin_client::get(const std::string& path) const {
  return checked("GET", path, call("GET", path));
}
json admin_client::post(const std::string& path, const json& body) const {
  return checked("POST", path, call("POST", path, &body));
}
json admin_client::put(const std::string& path, const json& body) const {
  return checked("PUT", path, call("PUT", path, &body));
}

std::string admin_client::get_text(const std::string& path) const {
  raw r = send("GET", path, "");
  if (r.status >= 400) {
    json parsed = json::parse(r.body, nullptr, false);
    throw ctl_error(exit_code_for_status(r.status),
                    "GET " + path + " failed (HTTP " + std::to_string(r.status) + "): " +
                        (parsed.is_discarded() ? r.body.substr(0, 200) : error_message(parsed)));
  }
  return r.body;
}

}  // namespace anvil::ctl
