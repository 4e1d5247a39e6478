// hwloc-based partition placement and memory binding (see numa.h).
#include "cache/numa.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <new>

namespace anvil::cache {

namespace {
constexpr std::size_t kHugePage = 2u << 20;

std::size_t next_pow2(std::size_t v) {
  std::size_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

// The NUMA node (OS index) of a PU: its nearest ancestor's nodeset names it.
int node_of_pu(hwloc_topology_t topo, hwloc_obj_t pu) {
  const int nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  for (int i = 0; i < nodes; ++i) {
    hwloc_obj_t n = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
    if (n && pu->nodeset && hwloc_bitmap_isset(pu->nodeset, n->os_index))
      return static_cast<int>(n->os_index);
  }
  return -1;
}
}  // namespace

std::size_t default_partition_count(hwloc_topology_t topo) {
  int pus = topo ? hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU) : 0;
  if (pus < 1) pus = 1;
  return std::min(next_pow2(static_cast<std::size_t>(pus)), kMaxPartitions);
}

std::size_t partition_count_for(std::size_t cpus) {
  return std::min(next_pow2(std::max<std::size_t>(cpus, 1)), kMaxPartitions);
}

std::vector<int> place_partitions(hwloc_topology_t topo, std::size_t partitions) {
  std::vector<int> out(partitions, -1);
  if (!topo) return out;
  const int pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
  if (pus < 1 || hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE) < 1) return out;
  // Spread partitions evenly over the PUs in topology order, so each node's share of
  // partitions follows its share of PUs (and of the lcores that will use them).
  for (std::size_t p = 0; p < partitions; ++p) {
    const std::size_t idx = (p * static_cast<std::size_t>(pus)) / partitions;
    hwloc_obj_t pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, static_cast<unsigned>(idx));
    out[p] = pu ? node_of_pu(topo, pu) : -1;
  }
  return out;
}

std::vector<int> place_partitions(hwloc_topology_t topo, std::size_t partitions,
                                  const std::vector<unsigned>& cpus) {
  if (cpus.empty()) return place_partitions(topo, partitions);
  std::vector<int> out(partitions, -1);
  if (!topo || hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE) < 1) return out;
  for (std::size_t p = 0; p < partitions; ++p) {
    const unsigned cpu = cpus[(p * cpus.size()) / partitions];
    hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(topo, cpu);
    out[p] = pu ? node_of_pu(topo, pu) : -1;
  }
  return out;
}

void* numa_alloc(hwloc_topology_t topo, std::size_t bytes, int node, bool bind, int* bound_node) {
  if (bound_node) *bound_node = -1;
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  if (bytes >= 2 * kHugePage) {
    // Align big regions to 2 MiB so transparent huge pages can back them: the index and
    // the arena are probed at random, and TLB misses were a large part of a lookup.
    void* raw = mmap(nullptr, bytes + kHugePage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto base = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (base + kHugePage - 1) & ~(std::uintptr_t{kHugePage} - 1);
    if (aligned > base) munmap(raw, aligned - base);
    const std::uintptr_t tail = aligned + bytes;
    if (base + bytes + kHugePage > tail)
      munmap(reinterpret_cast<void*>(tail), base + bytes + kHugePage - tail);
    p = reinterpret_cast<void*>(aligned);
    madvise(p, bytes, MADV_HUGEPAGE);  // advisory: ignored where THP is off
  } else {
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
             -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
  }
  if (bind && topo && node >= 0) {
    hwloc_nodeset_t set = hwloc_bitmap_alloc();
    hwloc_bitmap_only(set, static_cast<unsigned>(node));
    // Binding before any page is touched: pages are faulted in on that node.
    if (hwloc_set_area_membind(topo, p, bytes, set, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_BYNODESET) ==
            0 &&
        bound_node)
      *bound_node = node;
    hwloc_bitmap_free(set);
  }
  return p;
}

void numa_free(void* p, std::size_t bytes) {
  if (p) munmap(p, bytes);
}

}  // namespace anvil::cache
