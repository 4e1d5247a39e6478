// The client gate's "not primary" bit (client_gate.h kNotPrimary): a node with [cluster]
// that is not the shard's primary refuses every write of every protocol (binary 0x07,
// text/meta "SERVER_ERROR not primary: ..."), serves reads only with replica_reads, and
// always answers the commands that touch no key. Checked per command class, quiet and
// noreply forms, pipelined runs (the binary and text GET batches, the text SET fast
// path), malformed input next to the gate, and the transitions the agent makes.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "tests/proto/driver.h"
#include "tests/proto/wire_util.h"

namespace anvil::proto::testing {
namespace {

constexpr std::uint16_t kNotMyVbucket = 0x07;

struct gated_stack {
  explicit gated_stack(bool replica_reads, std::uint8_t initial = gate::kNotPrimary)
      : bits(initial),
        s{handler_config{.gate = &bits, .replica_reads = replica_reads},
          8u << 20,
          {},
          mutation_hook{this, [](void* ctx, const mutation&) {
                          ++static_cast<gated_stack*>(ctx)->mutations;
                        }}} {}
  // What the replication applier does on a replica: straight into the engine.
  void seed(std::string_view key, std::string_view value) {
    ASSERT_EQ(s.ses.store(cache::store_mode::set, key, value, 7, 0, 0).st, cache::status::ok);
  }
  std::atomic<std::uint8_t> bits;
  int mutations = 0;
  stack s;
};

std::string line(std::string_view s) { return std::string(s) + "\r\n"; }

// Every binary write, quiet forms included, one opaque each.
std::vector<bytes> binary_writes() {
  return {
      store_req(op::set, "k", "new", 0, 0, 0, 1),
      store_req(op::setq, "k", "new", 0, 0, 0, 2),
      store_req(op::add, "n", "v", 0, 0, 0, 3),
      store_req(op::addq, "n", "v", 0, 0, 0, 4),
      store_req(op::replace, "k", "v", 0, 0, 0, 5),
      store_req(op::replaceq, "k", "v", 0, 0, 0, 6),
      store_req(op::append, "k", "v", 0, 0, 0, 7),
      store_req(op::appendq, "k", "v", 0, 0, 0, 8),
      store_req(op::prepend, "k", "v", 0, 0, 0, 9),
      store_req(op::prependq, "k", "v", 0, 0, 0, 10),
      store_req(op::set, "k", "v", 0, 0, /*cas=*/12345, 11),
      get_req(op::del, "k", 12),
      get_req(op::delq, "k", 13),
      arith_req(op::incr, "c", 1, 0, 0, 0, 14),
      arith_req(op::incrq, "c", 1, 0, 0, 0, 15),
      arith_req(op::decr, "c", 1, 0, 0, 0, 16),
      arith_req(op::decrq, "c", 1, 0, 0, 0, 17),
      touch_req(op::touch, "k", 100, 18),
      touch_req(op::gat, "k", 100, 19),
      touch_req(op::gatq, "k", 100, 20),
      touch_req(op::gatk, "k", 100, 21),
      touch_req(op::gatkq, "k", 100, 22),
      encode({.opcode = op::flush, .opaque = 23}),
      encode({.opcode = op::flushq, .opaque = 24}),
  };
}

std::vector<bytes> binary_reads() {
  return {get_req(op::get, "k", 1), get_req(op::getq, "k", 2), get_req(op::getk, "k", 3),
          get_req(op::getkq, "k", 4)};
}

std::string concat(const std::vector<bytes>& v) {
  std::string s;
  for (const auto& b : v) s += b;
  return s;
}

void expect_all_refused(const std::vector<response>& out, std::size_t n) {
  ASSERT_EQ(out.size(), n) << "quiet ones are answered too: a refusal is an error";
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].status, kNotMyVbucket) << "request " << i;
    EXPECT_EQ(out[i].opaque, i + 1) << "request " << i;
    EXPECT_EQ(out[i].value, "Not my vbucket: this node is not primary");
  }
}

TEST(ReplicaGate, BinaryWritesAreRefusedWith0x07AndChangeNothing) {
  for (const bool rr : {false, true}) {
    SCOPED_TRACE(rr ? "replica_reads = true" : "replica_reads = false");
    gated_stack g(rr);
    g.seed("k", "old");
    g.seed("c", "5");
    const auto w = binary_writes();
    expect_all_refused(decode_responses(g.s.run(concat(w)).output), w.size());
    EXPECT_EQ(g.mutations, 0) << "nothing reached the replication hook";
    EXPECT_EQ(g.s.ses.get("k").value, "old");
    EXPECT_EQ(g.s.ses.get("c").value, "5");
    EXPECT_FALSE(g.s.ses.get("n").found);
    EXPECT_EQ(g.s.counters.refused_not_primary_writes.load(), w.size());
    EXPECT_EQ(g.s.counters.refused_fenced_writes.load(), 0u);
    EXPECT_EQ(g.s.counters.cmd_set.load(), 0u);
  }
}

TEST(ReplicaGate, BinaryReadsAreRefusedWithoutReplicaReads) {
  gated_stack g(false);
  g.seed("k", "old");
  const auto r = binary_reads();
  expect_all_refused(decode_responses(g.s.run(concat(r)).output), r.size());
  EXPECT_EQ(g.s.counters.refused_not_primary_reads.load(), r.size());
  EXPECT_EQ(g.s.counters.get_hits.load(), 0u);
}

TEST(ReplicaGate, BinaryReadsAreServedWithReplicaReads) {
  gated_stack g(true);
  g.seed("k", "old");
  const auto out = decode_responses(
      g.s.run(concat(binary_reads()) + get_req(op::getq, "missing", 5) + simple_req(op::noop, 6))
          .output);
  ASSERT_EQ(out.size(), 5u) << "GETQ/GETKQ hits answer, the GETQ miss stays quiet";
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(out[i].status, 0) << i;
    EXPECT_EQ(out[i].value, "old") << i;
    EXPECT_EQ(out[i].opaque, i + 1);
  }
  EXPECT_EQ(out[4].opcode, op::noop);
  EXPECT_EQ(g.s.counters.refused_not_primary_reads.load(), 0u);
}

TEST(ReplicaGate, PipelinedBinaryGetBatchesGoThroughTheGate) {
  // Runs of complete GETs take the get_batch() path (collect_gets): it must not bypass
  // the gate. A write in the middle of the run is refused on its own.
  std::string in;
  for (std::uint32_t i = 0; i < 40; ++i) {
    in += get_req(i % 2 ? op::getk : op::get, "k" + std::to_string(i % 5), i + 1);
    if (i == 20) in += store_req(op::set, "k1", "x", 0, 0, 0, 1000);
  }
  {
    gated_stack g(false);
    for (int i = 0; i < 5; ++i) g.seed("k" + std::to_string(i), "v" + std::to_string(i));
    const auto out = decode_responses(g.s.run(in).output);
    ASSERT_EQ(out.size(), 41u);
    for (const auto& r : out) EXPECT_EQ(r.status, kNotMyVbucket) << r.opaque;
    EXPECT_EQ(g.s.counters.get_hits.load(), 0u);
    EXPECT_EQ(g.s.counters.refused_not_primary_reads.load(), 40u);
    EXPECT_EQ(g.s.counters.refused_not_primary_writes.load(), 1u);
  }
  {
    gated_stack g(true);
    for (int i = 0; i < 5; ++i) g.seed("k" + std::to_string(i), "v" + std::to_string(i));
    const auto out = decode_responses(g.s.run(in).output);
    ASSERT_EQ(out.size(), 41u);
    std::size_t hits = 0, refused = 0;
    for (const auto& r : out) {
      if (r.status == 0) ++hits;
      if (r.status == kNotMyVbucket) {
        ++refused;
        EXPECT_EQ(r.opaque, 1000u);
      }
    }
    EXPECT_EQ(hits, 40u);
    EXPECT_EQ(refused, 1u);
    EXPECT_EQ(g.s.ses.get("k1").value, "v1");
  }
}

TEST(ReplicaGate, BinaryAdminCommandsAreAlwaysAnswered) {
  gated_stack g(false);
  const auto out =
      decode_responses(g.s.run(simple_req(op::noop, 1) + simple_req(op::version, 2) +
                               encode({.opcode = op::stat, .key = "settings", .opaque = 3}) +
                               simple_req(op::quit, 4))
                           .output);
  ASSERT_GE(out.size(), 4u);
  EXPECT_EQ(out[0].status, 0);
  EXPECT_EQ(out[1].status, 0);
  EXPECT_EQ(out[1].value, "1.6.18-anvil");
  for (std::size_t i = 2; i < out.size(); ++i) EXPECT_EQ(out[i].status, 0) << i;
  EXPECT_EQ(out.back().opcode, op::quit);
  EXPECT_EQ(g.s.counters.refused_not_primary_reads.load() +
                g.s.counters.refused_not_primary_writes.load(),
            0u);
}

TEST(ReplicaGate, BinaryTooLargeSetOnAReplicaKeepsTheOldValueAndTheStream) {
  // A SET over the item size normally drops the old value (memcached unlinks it): on a
  // replica that would be a write, so the gate answers first and the body is skipped.
  gated_stack g(true);
  g.seed("k", "old");
  const std::string big(2u << 20, 'x');
  const std::string in = store_req(op::set, "k", big, 0, 0, 0, 1) + get_req(op::get, "k", 2);
  const std::size_t cuts[] = {30, 1000, 70000};
  const auto out = decode_responses(g.s.run(in, cuts).output);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].status, kNotMyVbucket);
  EXPECT_EQ(out[1].status, 0);
  EXPECT_EQ(out[1].value, "old");
  EXPECT_EQ(g.s.counters.too_large.load(), 0u);
}

TEST(ReplicaGate, MalformedBinaryInputIsAnsweredAsWithoutTheGate) {
  // Validation comes before the gate: a malformed packet gets the answer it gets on a
  // primary (and closes the same way), never 0x07.
  const std::vector<bytes> cases = {
      encode({.opcode = op::get, .key = "k", .extras = "x"}),        // GET with extras
      encode({.opcode = op::set, .key = "", .extras = "12345678"}),  // SET without key
      encode({.opcode = op::incr, .key = "c", .extras = "short"}),   // bad extras
      encode({.opcode = 0x55, .key = "k", .value = "v"}),            // unknown opcode
      encode({.opcode = op::get, .key = "k", .magic = 0x81}),        // bad magic
      encode({.opcode = op::get, .key = "k", .keylen = 5, .bodylen = 1}),
      encode({.opcode = op::get, .key = std::string(251, 'k')}),  // key too long
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    gated_stack g(false);
    stack open;
    const auto a = g.s.run(cases[i] + simple_req(op::noop, 9));
    const auto b = open.run(cases[i] + simple_req(op::noop, 9));
    EXPECT_EQ(a.output, b.output) << "case " << i;
    EXPECT_EQ(a.closed, b.closed) << "case " << i;
  }
}

TEST(ReplicaGate, TheGateFollowsTransitions) {
  gated_stack g(false, gate::kNotPrimary);  // joining: closed from the start
  EXPECT_EQ(decode_responses(g.s.run(store_req(op::set, "k", "v")).output).at(0).status,
            kNotMyVbucket);
  g.bits = gate::kOpen;  // vip_lease::take(): primary
  EXPECT_EQ(decode_responses(g.s.run(store_req(op::set, "k", "v")).output).at(0).status, 0);
  EXPECT_EQ(decode_responses(g.s.run(get_req(op::get, "k")).output).at(0).value, "v");
  g.bits = gate::kWritesPaused;  // switchover fence: retry
  EXPECT_EQ(decode_responses(g.s.run(get_req(op::del, "k")).output).at(0).status, 0x86);
  g.bits = gate::kNotPrimary | gate::kWritesPaused;  // "not primary" wins over the fence
  EXPECT_EQ(decode_responses(g.s.run(get_req(op::del, "k")).output).at(0).status, kNotMyVbucket);
  g.bits = gate::kNotPrimary;  // vip_lease::release(): replica
  EXPECT_EQ(decode_responses(g.s.run(get_req(op::del, "k")).output).at(0).status, kNotMyVbucket);
  EXPECT_EQ(decode_responses(g.s.run(get_req(op::get, "k")).output).at(0).status, kNotMyVbucket);
  EXPECT_EQ(g.s.ses.get("k").value, "v");
  EXPECT_EQ(g.mutations, 1);
}

TEST(ReplicaGate, ALeaseThatLapsedByTimeClosesAnOpenGate) {
  // The agent still says "primary" (it is stuck), but the server saw the VIP's lease run
  // out this iteration (cache_server::poll_gate -> set_lease_lapsed): not primary.
  gated_stack g(true, gate::kOpen);
  g.seed("k", "old");
  g.s.h.set_lease_lapsed(true);
  EXPECT_EQ(decode_responses(g.s.run(store_req(op::set, "k", "new")).output).at(0).status,
            kNotMyVbucket);
  EXPECT_EQ(decode_responses(g.s.run(get_req(op::get, "k")).output).at(0).value, "old")
      << "replica_reads: reads go on, as on a fenced node";
  g.bits = gate::kWritesPaused;
  EXPECT_EQ(decode_responses(g.s.run(get_req(op::del, "k")).output).at(0).status, kNotMyVbucket)
      << "a lapsed lease is 'not primary' even during a fence";
  g.bits = gate::kOpen;
  g.s.h.set_lease_lapsed(false);  // renewed (extend) or retaken
  EXPECT_EQ(decode_responses(g.s.run(store_req(op::set, "k", "new")).output).at(0).status, 0);
  EXPECT_EQ(g.s.ses.get("k").value, "new");
  gated_stack t(false, gate::kOpen);
  t.s.h.set_lease_lapsed(true);
  EXPECT_EQ(t.s.run("get k\r\nmg k v\r\nset k 0 0 1\r\nx\r\n").output,
            line(kNotPrimaryReadLine) + line(kNotPrimaryReadLine) + line(kNotPrimaryWriteLine));
}

// --- text -------------------------------------------------------------------------

std::string text_set(const std::string& cmd, const std::string& key, const std::string& value,
                     const std::string& tail = "") {
  return cmd + " " + key + " 0 0 " + std::to_string(value.size()) + tail + "\r\n" + value + "\r\n";
}

TEST(ReplicaGate, TextWritesAreRefusedAndTheDataBlockIsConsumed) {
  for (const bool rr : {false, true}) {
    SCOPED_TRACE(rr ? "replica_reads = true" : "replica_reads = false");
    gated_stack g(rr);
    g.seed("k", "old");
    g.seed("c", "5");
    const std::string no = line(kNotPrimaryWriteLine);
    // The plain set takes the fast path (text_fast_set); its block looks like commands.
    EXPECT_EQ(g.s.run(text_set("set", "k", "get k") + "version\r\n").output,
              no + "VERSION 1.6.18-anvil\r\n");
    for (const char* cmd : {"add", "replace", "append", "prepend"})
      EXPECT_EQ(g.s.run(text_set(cmd, "k", "xy")).output, no) << cmd;
    EXPECT_EQ(g.s.run("cas k 0 0 1 1\r\nx\r\n").output, no);
    EXPECT_EQ(g.s.run("incr c 1\r\ndecr c 1\r\n").output, no + no);
    EXPECT_EQ(
        g.s.run("delete k\r\ndelete k 0\r\ntouch k 10\r\nflush_all\r\nflush_all 5\r\n").output,
        no + no + no + no + no);
    EXPECT_EQ(g.s.run("gat 10 k\r\ngats 10 k c\r\n").output, no + no) << "GAT is a write";
    EXPECT_EQ(g.s.run("set k 0 0 3 noreply\r\nabc\r\nincr c 1 noreply\r\n"
                      "delete k noreply\r\nflush_all noreply\r\nversion\r\n")
                  .output,
              "VERSION 1.6.18-anvil\r\n")
        << "noreply silences the refusal (memcached's noreply silences errors)";
    // A data block split across reads is still skipped whole; a value over the item
    // size is refused by the gate (not dropped as too large) and skipped too.
    const std::size_t cuts[] = {12, 20};
    EXPECT_EQ(g.s.run(text_set("set", "k", "0123456789") + "mn\r\n", cuts).output, no + "MN\r\n");
    EXPECT_EQ(g.s.run(text_set("set", "k", std::string(2u << 20, 'z')) + "mn\r\n").output,
              no + "MN\r\n");
    EXPECT_EQ(g.mutations, 0);
    EXPECT_EQ(g.s.ses.get("k").value, "old");
    EXPECT_EQ(g.s.ses.get("c").value, "5");
    EXPECT_EQ(g.s.counters.refused_not_primary_writes.load(), 21u);
    EXPECT_EQ(g.s.counters.too_large.load(), 0u);
  }
}

TEST(ReplicaGate, TextReadsDependOnReplicaReads) {
  const std::string batch = "get k\r\nget k\r\ngets k\r\nget k\r\n";  // the fast-path run
  {
    gated_stack g(false);
    g.seed("k", "old");
    const std::string no = line(kNotPrimaryReadLine);
    EXPECT_EQ(g.s.run("get k\r\n").output, no) << "the single-key fast path";
    EXPECT_EQ(g.s.run(batch).output, no + no + no + no) << "the pipelined get_batch run";
    EXPECT_EQ(g.s.run("get k k missing\r\nbget k\r\ngets  k\r\n").output, no + no + no);
    EXPECT_EQ(g.s.counters.get_hits.load(), 0u);
    EXPECT_EQ(g.s.counters.cmd_get.load(), 0u);
    EXPECT_EQ(g.s.counters.refused_not_primary_reads.load(), 8u);
  }
  {
    gated_stack g(true);
    g.seed("k", "old");
    const std::string hit = "VALUE k 7 3\r\nold\r\nEND\r\n";
    EXPECT_EQ(g.s.run("get k\r\n").output, hit);
    EXPECT_EQ(g.s.run("get k missing\r\n").output, hit);
    const std::string out = g.s.run(batch).output;
    EXPECT_EQ(out.substr(0, 2 * hit.size()), hit + hit);
    EXPECT_NE(out.find("VALUE k 7 3 "), std::string::npos) << "gets answers with a CAS";
    EXPECT_EQ(g.s.counters.refused_not_primary_reads.load(), 0u);
    EXPECT_EQ(g.s.run("gat 0 k\r\n").output, line(kNotPrimaryWriteLine));
  }
}

TEST(ReplicaGate, TextAdminCommandsAreAlwaysAnswered) {
  gated_stack g(false);
  EXPECT_EQ(g.s.run("version\r\n").output, "VERSION 1.6.18-anvil\r\n");
  EXPECT_EQ(g.s.run("verbosity 1\r\n").output, "OK\r\n");
  g.s.run("set k 0 0 1\r\nx\r\nget k\r\n");
  const std::string stats = g.s.run("stats\r\n").output;
  EXPECT_NE(stats.find("STAT anvil_refused_not_primary_writes 1\r\n"), std::string::npos);
  EXPECT_NE(stats.find("STAT anvil_refused_not_primary_reads 1\r\n"), std::string::npos);
  EXPECT_NE(stats.find("STAT anvil_refused_fenced_writes 0\r\n"), std::string::npos);
  EXPECT_TRUE(stats.ends_with("END\r\n"));
  EXPECT_TRUE(g.s.run("quit\r\n").closed);
}

TEST(ReplicaGate, MalformedTextIsAnsweredAsWithoutTheGate) {
  // The line is validated first: the client's mistake is reported whatever the role.
  const std::vector<std::string> cases = {
      "set k 0 0 abc\r\n",
      "set k 0 0\r\n",
      "cas k 0 0 1\r\nx\r\n",
      "get " + std::string(251, 'k') + "\r\n",
      "gat abc k\r\n",
      "incr c abc\r\n",
      "touch k abc\r\n",
      "delete k 5\r\n",
      "flush_all abc\r\n",
      "bogus\r\n",
      "mg\r\n",
      "ms k abc\r\n",
      "mg k !\r\n",
      "GET / HTTP/1.1\r\n",
  };
  for (const auto& c : cases) {
    gated_stack g(false);
    stack open;
    const auto a = g.s.run(c + "version\r\n");
    const auto b = open.run(c + "version\r\n");
    EXPECT_EQ(a.output, b.output) << c;
    EXPECT_EQ(a.closed, b.closed) << c;
  }
}

// --- meta -------------------------------------------------------------------------

TEST(ReplicaGate, MetaCommandsFollowTheGate) {
  for (const bool rr : {false, true}) {
    SCOPED_TRACE(rr ? "replica_reads = true" : "replica_reads = false");
    gated_stack g(rr);
    g.seed("k", "old");
    const std::string no_w = line(kNotPrimaryWriteLine), no_r = line(kNotPrimaryReadLine);
    EXPECT_EQ(g.s.run("ms k 5\r\nget k\r\nmn\r\n").output, no_w + "MN\r\n")
        << "the data block is skipped";
    EXPECT_EQ(g.s.run("ms k 2 q\r\nxy\r\nmn\r\n").output, no_w + "MN\r\n")
        << "quiet mode shows errors";
    EXPECT_EQ(g.s.run("md k\r\nma c N0\r\nmg k T30 v\r\nmg n N30\r\nmd k q\r\n").output,
              no_w + no_w + no_w + no_w + no_w);
    if (rr) {
      EXPECT_EQ(g.s.run("mg k v\r\nmg missing v q\r\nmn\r\n").output, "VA 3\r\nold\r\nMN\r\n");
      EXPECT_EQ(g.s.run("me k\r\n").output.substr(0, 5), "ME k ");
    } else {
      EXPECT_EQ(g.s.run("mg k v\r\nmg missing v q\r\nme k\r\nmn\r\n").output,
                no_r + no_r + no_r + "MN\r\n");
    }
    EXPECT_EQ(g.mutations, 0);
    EXPECT_EQ(g.s.ses.get("k").value, "old");
    EXPECT_FALSE(g.s.ses.get("n").found);
    EXPECT_FALSE(g.s.ses.get("c").found);
  }
}

// --- standalone -------------------------------------------------------------------

TEST(ReplicaGate, AStandaloneNodeServesEverything) {
  stack s;  // no [cluster]: handler_config::gate is null
  const auto out =
      decode_responses(s.run(store_req(op::set, "k", "v", 0, 0, 0, 1) + get_req(op::get, "k", 2) +
                             get_req(op::getk, "k", 3) + get_req(op::get, "k", 4) +
                             arith_req(op::incr, "c", 1, 7, 0, 0, 5) +
                             touch_req(op::gat, "k", 100, 6) + get_req(op::del, "k", 7))
                           .output);
  ASSERT_EQ(out.size(), 7u);
  for (const auto& r : out) EXPECT_EQ(r.status, 0) << r.opaque;
  stack t;
  EXPECT_EQ(
      t.run("set k 0 0 1\r\n5\r\nget k\r\nget k\r\nincr k 1\r\nms m 1\r\nx\r\nmg m v\r\n").output,
      "STORED\r\nVALUE k 0 1\r\n5\r\nEND\r\nVALUE k 0 1\r\n5\r\nEND\r\n6\r\nHD\r\nVA 1\r\nx\r\n");
  EXPECT_EQ(t.counters.refused_not_primary_reads.load() +
                t.counters.refused_not_primary_writes.load() +
                t.counters.refused_fenced_writes.load(),
            0u);
}

}  // namespace
}  // namespace anvil::proto::testing
