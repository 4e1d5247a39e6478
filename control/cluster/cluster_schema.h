// The [cluster] keys for control/config.cc's schema table: each key with its
// validator writing into a cluster_config. Kept here so the cluster's configuration
// lives with the cluster code and config.cc only lists the section.
#pragma once

#include <toml++/toml.h>

#include <functional>
#include <map>
#include <string>

#include "control/cluster/cluster_config.h"

namespace anvil::cluster {

using config_setter = std::function<void(const std::string& field, const toml::node&)>;
// Setters throw control::config_error naming the field.
std::map<std::string, config_setter> cluster_schema(cluster_config& c);

}  // namespace anvil::cluster
