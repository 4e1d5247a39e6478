#include "dataplane/server/cpu_pin.h"

#include <hwloc.h>

#include <stdexcept>

namespace anvil::server {

struct cpu_topology::impl {
  hwloc_topology_t topo = nullptr;
};

cpu_topology::cpu_topology() : _impl(std::make_unique<impl>()) {
  if (hwloc_topology_init(&_impl->topo) != 0 || hwloc_topology_load(_impl->topo) != 0)
    throw std::runtime_error("hwloc: cannot load the CPU topology");
}

cpu_topology::~cpu_topology() {
  if (_impl->topo != nullptr) hwloc_topology_destroy(_impl->topo);
}

std::vector<unsigned> cpu_topology::allowed_cpus() const {
  std::vector<unsigned> out;
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  if (hwloc_get_cpubind(_impl->topo, set, HWLOC_CPUBIND_PROCESS) != 0)
    hwloc_bitmap_copy(set, hwloc_topology_get_allowed_cpuset(_impl->topo));
  for (int i = hwloc_bitmap_first(set); i >= 0; i = hwloc_bitmap_next(set, i))
    out.push_back(static_cast<unsigned>(i));
  hwloc_bitmap_free(set);
  return out;
}

unsigned cpu_topology::numa_node_of(unsigned cpu) const {
  hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(_impl->topo, cpu);
  if (pu == nullptr) return 0;
  hwloc_bitmap_t nodes = hwloc_bitmap_alloc();
  hwloc_cpuset_to_nodeset(_impl->topo, pu->cpuset, nodes);
  int first = hwloc_bitmap_first(nodes);
  hwloc_bitmap_free(nodes);
  return first < 0 ? 0 : static_cast<unsigned>(first);
}

bool cpu_topology::pin_current_thread(unsigned cpu) const {
  hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(_impl->topo, cpu);
  if (pu == nullptr) return false;
  return hwloc_set_cpubind(_impl->topo, pu->cpuset, HWLOC_CPUBIND_THREAD) == 0;
}

}  // namespace anvil::server
