#include "control/replication/replication_metrics.h"

#include <string>

namespace anvil::replication {

namespace {
using control::admin::exposition;
}

control::admin::collector metrics_collector(const replication_service& svc) {
  return [&svc](exposition& x) {
    const replication_status s = svc.status();
    x.family("anvil_replication_mode", "gauge",
             "This node's replication mode (1 for the current one: off, primary, replica)");
    for (const char* m : {"off", "primary", "replica"})
      x.sample("anvil_replication_mode", {{"mode", m}},
               std::uint64_t{std::string(m) == s.mode ? 1u : 0u});
    x.family("anvil_replication_position", "gauge",
             "Primary: the last mutation position produced; replica: the last applied (0 "
             "during a full copy)");
    x.sample("anvil_replication_position", {}, s.position);
    x.family("anvil_replication_lag_entries", "gauge",
             "Replica: positions behind its primary; primary: the largest of its replicas'");
    x.sample("anvil_replication_lag_entries", {}, s.lag.entries);
    x.family("anvil_replication_lag_seconds", "gauge",
             "Age of the oldest position announced and not yet applied (replica: its own; "
             "primary: the largest of its replicas')");
    x.sample("anvil_replication_lag_seconds", {}, s.lag.seconds);
    x.family("anvil_replication_replicas", "gauge", "Replicas connected to this primary");
    x.sample("anvil_replication_replicas", {}, std::uint64_t{s.replicas.size()});
    x.family("anvil_replication_resyncs_total", "counter",
             "Full copies started, sent by a primary or received by a replica (first syncs "
             "included)");
    x.sample("anvil_replication_resyncs_total", {}, s.resyncs);
    x.family("anvil_replication_bytes_total", "counter", "Replication stream bytes");
    x.sample("anvil_replication_bytes_total", {{"direction", "sent"}}, s.bytes_sent);
    x.sample("anvil_replication_bytes_total", {{"direction", "received"}}, s.bytes_received);
    x.family("anvil_replication_ring_overflows_total", "counter",
             "Times an lcore's mutation ring was full (each resyncs every replica)");
    x.sample("anvil_replication_ring_overflows_total", {}, s.ring_overflows);
    x.family("anvil_replication_ring_dropped_total", "counter",
             "Mutations not queued because their lcore's ring was full");
    x.sample("anvil_replication_ring_dropped_total", {}, s.ring_dropped);
    x.family("anvil_replication_dropped_connections_total", "counter",
             "Replication connections dropped with an error (logged with the reason)");
    x.sample("anvil_replication_dropped_connections_total", {}, s.dropped_connections);
    x.family("anvil_replication_apply_failures_total", "counter",
             "Records a replica could not store (too large for its -I, out of memory)");
    x.sample("anvil_replication_apply_failures_total", {}, s.store_failures);
  };
}

}  // namespace anvil::replication
