// NUMA placement of partitions, separated from the engine so it can be tested on hwloc
// synthetic topologies (no NUMA hardware needed).
// Invariants: partition counts are powers of two; a plan maps every partition to a NUMA
// node's OS index in proportion to the node's share of the serving cpus (the lcores; all
// PUs in topology order when none are given), or to -1 when the topology has no NUMA node
// object.
// Binding degrades gracefully: when the OS refuses mbind the memory is simply unbound.
#pragma once

#include <hwloc.h>

#include <cstddef>
#include <vector>

namespace anvil::cache {

inline constexpr std::size_t kMaxPartitions = 64;

// Next power of two >= the topology's PU count, capped at kMaxPartitions.
std::size_t default_partition_count(hwloc_topology_t topo);

// Next power of two >= `cpus` (the serving threads), capped at kMaxPartitions.
std::size_t partition_count_for(std::size_t cpus);

// Node OS index for each of `partitions` partitions, spread over every PU of the machine.
std::vector<int> place_partitions(hwloc_topology_t topo, std::size_t partitions);
// The same, spread over the serving cpus (OS cpu ids, e.g. the lcores) in the order given:
// partition p goes to the node of cpus[p * cpus.size() / partitions], so each node's share
// of partitions follows its share of the lcores and none sits on a node no lcore runs on.
// A cpu the topology does not know gives -1 (unbound). Empty `cpus`: as above.
std::vector<int> place_partitions(hwloc_topology_t topo, std::size_t partitions,
                                  const std::vector<unsigned>& cpus);

// Anonymous, zero-filled, lazily-faulted memory (RSS grows only as pages are touched),
// bound to `node` when bind is true and the OS allows it. `bound_node` receives the node
// actually bound, or -1. Free with numa_free.
void* numa_alloc(hwloc_topology_t topo, std::size_t bytes, int node, bool bind, int* bound_node);
void numa_free(void* p, std::size_t bytes);

}  // namespace anvil::cache
