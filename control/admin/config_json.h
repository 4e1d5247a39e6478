// The effective configuration as GET /v1/config returns it: every setting of
// control/config.cc's schema (known_settings(); a test keeps the two equal), by section
// and key as docs/anvil.md names them, after file, flags and defaults. It holds no
// secret values, only the paths of the files that hold them. Its digest (SHA-256 of the
// compact JSON, keys sorted) is GET /v1/status's config_digest.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "control/config.h"

namespace anvil::control::admin {

nlohmann::json effective_config(const server_config& c);
std::string config_digest(const nlohmann::json& effective);  // "sha256:<64 hex>"

}  // namespace anvil::control::admin
