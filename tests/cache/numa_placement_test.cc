// NUMA placement on hwloc synthetic topologies (no NUMA hardware needed), and graceful
// binding on whatever this machine is.
#include <gtest/gtest.h>
#include <hwloc.h>

#include <algorithm>
#include <cstring>

#include "cache/engine.h"
#include "cache/numa.h"

namespace anvil::cache {
namespace {

struct synthetic {
  explicit synthetic(const char* desc) {
    hwloc_topology_init(&t);
    EXPECT_EQ(hwloc_topology_set_synthetic(t, desc), 0) << desc;
    EXPECT_EQ(hwloc_topology_load(t), 0);
  }
  ~synthetic() { hwloc_topology_destroy(t); }
  hwloc_topology_t t = nullptr;
};

TEST(numa_placement, two_nodes_four_cores_each) {
  synthetic s("pack:2 numa:1 core:4 pu:1");
  ASSERT_EQ(hwloc_get_nbobjs_by_type(s.t, HWLOC_OBJ_NUMANODE), 2);
  EXPECT_EQ(default_partition_count(s.t), 8u);
  const std::vector<int> p8 = place_partitions(s.t, 8);
  EXPECT_EQ(p8, (std::vector<int>{0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(place_partitions(s.t, 2), (std::vector<int>{0, 1}));
  EXPECT_EQ(place_partitions(s.t, 1), (std::vector<int>{0}));
  const std::vector<int> p16 = place_partitions(s.t, 16);
  EXPECT_EQ(std::count(p16.begin(), p16.end(), 0), 8);
  EXPECT_EQ(std::count(p16.begin(), p16.end(), 1), 8);
}

TEST(numa_placement, four_nodes_with_smt) {
  synthetic s("pack:2 numa:2 core:2 pu:2");
  EXPECT_EQ(hwloc_get_nbobjs_by_type(s.t, HWLOC_OBJ_NUMANODE), 4);
  EXPECT_EQ(default_partition_count(s.t), 16u);
  const std::vector<int> p = place_partitions(s.t, 4);
  EXPECT_EQ(p, (std::vector<int>{0, 1, 2, 3}));
  const std::vector<int> p8 = place_partitions(s.t, 8);
  for (int n = 0; n < 4; ++n) EXPECT_EQ(std::count(p8.begin(), p8.end(), n), 2);
}

TEST(numa_placement, partition_count_is_capped_and_a_power_of_two) {
  synthetic s("pack:4 numa:1 core:12 pu:2");  // 96 PUs
  EXPECT_EQ(default_partition_count(s.t), kMaxPartitions);
  synthetic one("pack:1 core:3 pu:1");  // 3 PUs, one (implicit) NUMA node
  EXPECT_EQ(default_partition_count(one.t), 4u);
  const std::vector<int> p = place_partitions(one.t, 4);
  EXPECT_EQ(std::count(p.begin(), p.end(), p[0]), 4);
}

// All lcores on one socket (the NIC's): every partition lives there. Spread over the
// machine's PUs (the only placement before), half of them sat on the other node.
TEST(numa_placement, partitions_follow_the_lcores_not_the_machine) {
  synthetic s("pack:2 numa:1 core:4 pu:1");  // PUs 0-3 on node 0, 4-7 on node 1
  const std::vector<unsigned> socket0{0, 1, 2, 3};
  EXPECT_EQ(place_partitions(s.t, 4, socket0), (std::vector<int>{0, 0, 0, 0}));
  EXPECT_EQ(place_partitions(s.t, 8, socket0), std::vector<int>(8, 0));
  EXPECT_EQ(place_partitions(s.t, 1, std::vector<unsigned>{5}), (std::vector<int>{1}));
  // Partitions more than lcores: 2 lcores on node 1 serve all 4 partitions.
  EXPECT_EQ(place_partitions(s.t, 4, std::vector<unsigned>{6, 7}), std::vector<int>(4, 1));
  // Split lcores: shares follow the lcores (1 of 4 on node 1 -> 1 of 4 partitions).
  EXPECT_EQ(place_partitions(s.t, 4, std::vector<unsigned>{0, 1, 2, 4}),
            (std::vector<int>{0, 0, 0, 1}));
  // Fewer partitions than lcores (memory halved them): still only the lcores' nodes.
  EXPECT_EQ(place_partitions(s.t, 1, std::vector<unsigned>{4, 5, 6, 7}), (std::vector<int>{1}));
  // No cpus given: the whole machine, as before.
  EXPECT_EQ(place_partitions(s.t, 2, std::vector<unsigned>{}), (std::vector<int>{0, 1}));
}

TEST(numa_placement, lcores_on_four_nodes_with_smt) {
  synthetic s("pack:2 numa:2 core:2 pu:2");  // 4 nodes of 4 PUs
  // Two lcores, hyperthread siblings on node 2: both partitions there.
  EXPECT_EQ(place_partitions(s.t, 2, std::vector<unsigned>{8, 9}), (std::vector<int>{2, 2}));
  // One lcore per node, 8 partitions: two per node.
  const auto p = place_partitions(s.t, 8, std::vector<unsigned>{0, 4, 8, 12});
  EXPECT_EQ(p, (std::vector<int>{0, 0, 1, 1, 2, 2, 3, 3}));
}

TEST(numa_placement, unknown_cpu_or_no_numa_object_is_unbound) {
  synthetic s("pack:2 numa:1 core:4 pu:1");
  EXPECT_EQ(place_partitions(s.t, 2, std::vector<unsigned>{0, 99}), (std::vector<int>{0, -1}));
  EXPECT_EQ(place_partitions(nullptr, 2, std::vector<unsigned>{0}), (std::vector<int>{-1, -1}));
}

TEST(numa_placement, binding_on_a_synthetic_topology_degrades_to_unbound) {
  synthetic s("pack:2 numa:1 core:4 pu:1");
  int bound = 99;
  void* p = numa_alloc(s.t, 1 << 20, 1, true, &bound);
  ASSERT_NE(p, nullptr);
  std::memset(p, 0xab, 1 << 20);  // usable either way
  EXPECT_TRUE(bound == -1 || bound == 1);
  numa_free(p, 1 << 20);
}

TEST(numa_placement, engine_binds_or_degrades_on_this_machine) {
  clock c(1);
  for (bool bind : {true, false}) {
    engine_config cfg;
    cfg.memory_limit_bytes = 8u << 20;
    cfg.partitions = 2;
    cfg.numa_bind = bind;
    cfg.time = &c;
    engine e(cfg);
    for (std::size_t p = 0; p < e.partition_count(); ++p) {
      const int node = e.stats(p).numa_node;
      if (!bind) {
        EXPECT_EQ(node, -1);
      }
      EXPECT_GE(node, -1);
    }
    session s = e.open_session();
    EXPECT_EQ(s.store(store_mode::set, "k", "v", 0, 0).st, status::ok);
    EXPECT_TRUE(s.get("k").found);
  }
}

}  // namespace
}  // namespace anvil::cache
