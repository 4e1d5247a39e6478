// Pinning lcore threads to cores with hwloc. The topology is loaded once (slow: it
// reads sysfs) by the control thread; pin() is then called by each lcore thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace anvil::server {

class cpu_topology {
 public:
  cpu_topology();  // throws std::runtime_error when hwloc cannot load the topology
  ~cpu_topology();
  cpu_topology(const cpu_topology&) = delete;
  cpu_topology& operator=(const cpu_topology&) = delete;

  // OS cpu numbers this process may run on (its affinity mask).
  std::vector<unsigned> allowed_cpus() const;
  // NUMA node of an OS cpu (0 on machines without NUMA).
  unsigned numa_node_of(unsigned cpu) const;
  // Binds the calling thread to one OS cpu; false (errno set) on failure.
  bool pin_current_thread(unsigned cpu) const;

 private:
  struct impl;
  std::unique_ptr<impl> _impl;
};

}  // namespace anvil::server
