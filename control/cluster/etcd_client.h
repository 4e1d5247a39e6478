// A small etcd v3 client over etcd's JSON gateway (HTTP/1.1, cpp-httplib): lease grant,
// keepalive, time-to-live, revoke; range; put; and transactions (compare, then put /
// delete / range). etcd 3.4 (Debian 12) serves the gateway under /v3/ (also /v3beta/).
//
// Invariants:
// - Every call has a deadline: the caller passes the time it may take; what is left is
//   shared among the endpoints still to try, and each HTTP phase (connect, write, each
//   read) is bounded by that share. A call never throws: failures are values
//   (etcd_status). A peer that trickles bytes could stretch a call past its deadline;
//   fencing never depends on a call returning in time (vip_lease.h).
// - Keys and values are raw bytes here; the gateway's base64 (protobuf `bytes` in JSON)
//   is done inside. int64 fields (ids, revisions, TTLs) travel as JSON strings, as the
//   gateway writes them, and absent fields mean zero (the gateway omits defaults).
// - Endpoints are tried in order, starting at the last one that answered; a transport
//   failure, or etcd saying it cannot serve (UNAVAILABLE: no leader; DEADLINE_EXCEEDED),
//   moves to the next one within the same deadline. Any other etcd error reply (a gRPC
//   status in JSON) is returned as such.
// - Not thread-safe: one client per thread (the HA agent owns one).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace anvil::cluster {

enum class etcd_code {
  ok,
  unreachable,  // no endpoint answered in time (connect/read/write failed or timed out)
  not_found,    // e.g. lease not found (gRPC NOT_FOUND)
  error,        // any other etcd error reply, or a reply we could not parse
};

struct etcd_status {
  etcd_code code = etcd_code::ok;
  std::string detail{};  // endpoint and reason, for logs
  bool ok() const { return code == etcd_code::ok; }
};

struct etcd_kv {
  std::string key{};
  std::string value{};
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;
  std::int64_t lease = 0;
};

struct lease_grant_result {
  etcd_status status;
  std::int64_t id = 0;
  std::int64_t ttl_s = 0;
};

// Keepalive: ttl_s == 0 with an ok status means etcd no longer knows the lease (it
// expired or was revoked); status not_found is reported the same way.
struct lease_keepalive_result {
  etcd_status status;
  std::int64_t ttl_s = 0;
  bool alive() const { return status.ok() && ttl_s > 0; }
};

struct range_result {
  etcd_status status;
  std::int64_t revision = 0;  // the store revision the read saw
  std::vector<etcd_kv> kvs;
};

// One comparison of a transaction (etcd's Compare, EQUAL only: that is all we need).
struct etcd_compare {
  enum class target { create_revision, mod_revision, version, value };
  std::string key{};
  target what = target::mod_revision;
  std::int64_t number = 0;  // for the revision/version targets
  std::string value{};      // for target::value
};

struct etcd_op {
  enum class kind { put, del, range };
  kind what = kind::range;
  std::string key{};
  std::string value{};     // put
  std::int64_t lease = 0;  // put: attach to this lease (0: none)
};

struct txn_result {
  etcd_status status;
  bool succeeded = false;
  std::int64_t revision = 0;
  // One entry per range op of the branch that ran, in order (single-key ranges):
  // the key's kv, or nullopt when it does not exist.
  std::vector<std::optional<etcd_kv>> ranged;
};

// The answering member's view of the etcd cluster (maintenance status).
struct member_status_result {
  etcd_status status;
  std::uint64_t member_id = 0;
  std::uint64_t leader = 0;  // 0: it knows no leader
  std::int64_t raft_term = 0;
};

class etcd_client {
 public:
  using duration = std::chrono::milliseconds;

  // `endpoints`: "http://host:port" (or "host:port"). Empty is allowed: every call then
  // returns unreachable.
  explicit etcd_client(std::vector<std::string> endpoints);
  ~etcd_client();
  etcd_client(const etcd_client&) = delete;
  etcd_client& operator=(const etcd_client&) = delete;

  lease_grant_result lease_grant(std::int64_t ttl_s, duration deadline);
  lease_keepalive_result lease_keepalive(std::int64_t id, duration deadline);
  etcd_status lease_revoke(std::int64_t id, duration deadline);
  range_result get(const std::string& key, duration deadline);
  range_result get_prefix(const std::string& prefix, duration deadline);
  etcd_status put(const std::string& key, const std::string& value, std::int64_t lease,
                  duration deadline);
  txn_result txn(const std::vector<etcd_compare>& compare, const std::vector<etcd_op>& success,
                 const std::vector<etcd_op>& failure, duration deadline);

  // Asks the current endpoint (then the next ones) for its status.
  member_status_result member_status(duration deadline);

  // The endpoint the next call starts with (for logs and tests).
  const std::string& current_endpoint() const;

 private:
  struct reply;
  reply call(const std::string& path, const std::string& body, duration deadline);

  std::vector<std::string> _endpoints;
  std::size_t _current = 0;
};

// Exposed for tests: the gateway's base64 (standard alphabet, padded).
std::string base64_encode(const std::string& bytes);
std::optional<std::string> base64_decode(const std::string& text);
// The smallest key greater than every key starting with `prefix` (etcd's range_end for
// a prefix scan); "\0" when the prefix is empty or all 0xff (the whole keyspace).
std::string prefix_end(const std::string& prefix);

}  // namespace anvil::cluster
