// The text protocol beside binary: how a connection's protocol is chosen (-B), SASL's
// refusal of text clients, the line-length rules at their boundaries, CAS values learned
// from one reply and used in the next, counters, the mutation hook, and backpressure.
// Byte-for-byte agreement with memcached is text_differential_test.cc's job.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "dataplane/proto/text_numbers.h"
#include "tests/proto/driver.h"
#include "tests/proto/wire_util.h"

namespace anvil::proto::testing {
namespace {

std::string set_cmd(const std::string& key, const std::string& value,
                    const std::string& extra = "") {
  return "set " + key + " 0 0 " + std::to_string(value.size()) + extra + "\r\n" + value + "\r\n";
}

// --- choosing the protocol

TEST(text_binding, auto_picks_binary_on_0x80_and_text_otherwise) {
  stack bin;
  const run_result b = bin.run(simple_req(op::noop, 7));
  EXPECT_EQ(bin.conn.speaks(), connection::protocol::binary);
  ASSERT_EQ(decode_responses(b.output).size(), 1u);

  stack txt;
  const run_result t = txt.run("version\r\n");
  EXPECT_EQ(txt.conn.speaks(), connection::protocol::text);
  EXPECT_EQ(t.output, "VERSION 1.6.18-anvil\r\n");
  // The choice holds for the connection's life: a 0x80 later is just a text byte.
  const run_result t2 = txt.run(simple_req(op::version) + "\r\n");
  EXPECT_EQ(t2.output, "ERROR\r\n");
}

TEST(text_binding, first_byte_alone_decides_even_split) {
  stack s;
  const std::string in = "get a\r\n";
  const std::size_t cuts[] = {1, 2, 3};
  EXPECT_EQ(s.run(in, cuts).output, "END\r\n");
}

// As memcached, the binary parser waits for a whole 24-byte header before it sees the
// bad magic.
TEST(text_binding, binary_only_closes_a_text_client_silently) {
  stack s(handler_config{.protocols = binding::binary});
  EXPECT_FALSE(s.run("version\r\n").closed);
  const run_result r = s.run("version\r\nversion\r\nversion\r\n");
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.output, "");
  EXPECT_EQ(s.counters.protocol_errors.load(), 1u);
}

TEST(text_binding, ascii_only_reads_0x80_as_text) {
  stack s(handler_config{.protocols = binding::ascii});
  const run_result r = s.run(simple_req(op::version) + "\r\nversion\r\n");
  EXPECT_EQ(s.conn.speaks(), connection::protocol::text);
  EXPECT_EQ(r.output, "ERROR\r\nVERSION 1.6.18-anvil\r\n");
}

// memcached refuses the ASCII protocol with SASL; a text client of a SASL server is
// read as a binary client with a bad magic: closed without a reply.
TEST(text_binding, sasl_refuses_text_connections) {
  std::string err;
  const auto creds =
      credentials::parse(credentials::make_line("u", "p", "saltsalt", 1) + "\n", &err);
  ASSERT_TRUE(creds.has_value()) << err;
  stack s(handler_config{.sasl = &*creds});
  const run_result r = s.run(set_cmd("key", "value") + "get key\r\n");
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.output, "");
  EXPECT_FALSE(s.ses.get("key").found) << "nothing of the text request ran";
}

TEST(text_binding, stats_settings_report_the_binding) {
  for (auto [b, name] :
       {std::pair{binding::auto_detect, "auto-negotiate"}, std::pair{binding::ascii, "ascii"}}) {
    stack s(handler_config{.protocols = b});
    const std::string out = s.run("stats settings\r\n").output;
    EXPECT_NE(out.find(std::string("STAT binding_protocol ") + name + "\r\n"), std::string::npos)
        << name;
    EXPECT_TRUE(out.ends_with("END\r\n"));
  }
}

// --- line lengths: 2048 bytes before the "\n" is the limit for every command but get

TEST(text_lines, a_2048_byte_line_runs_and_2049_closes) {
  stack s;
  const run_result ok = s.run(std::string(2048, 'x') + "\n");
  EXPECT_EQ(ok.output, "ERROR\r\n");
  EXPECT_FALSE(ok.closed);
  stack s2;
  const run_result cut = s2.run(std::string(2049, 'x') + "\n");
  EXPECT_TRUE(cut.closed);
  EXPECT_EQ(cut.output, "");
  stack s3;  // without its "\n" yet: closed as soon as 2049 bytes are in
  const run_result open = s3.run(std::string(2049, 'x'));
  EXPECT_TRUE(open.closed);
}

TEST(text_lines, long_get_lines_up_to_the_limit_then_line_too_long) {
  handler_config hc;
  hc.max_get_line = 4096;
  std::string keys;
  while (keys.size() < 4096) keys += " k";
  stack s(hc);
  s.ses.store(cache::store_mode::set, "k", "v", 3, 0);
  const std::string at_limit = "get" + keys.substr(0, 4096 - 3);
  ASSERT_EQ(at_limit.size(), 4096u);
  const run_result ok = s.run(at_limit + "\n");
  EXPECT_FALSE(ok.closed);
  EXPECT_TRUE(ok.output.starts_with("VALUE k 3 1\r\nv\r\nVALUE k 3 1\r\n"));
  EXPECT_TRUE(ok.output.ends_with("END\r\n"));

  stack s2(hc);
  const run_result over = s2.run(at_limit + " \n");
  EXPECT_TRUE(over.closed);
  EXPECT_EQ(over.output, "CLIENT_ERROR line too long\r\n");
  stack s3(hc);  // more than 100 leading spaces: not a multiget, closed silently
  const run_result spaces = s3.run(std::string(101, ' ') + "get" + std::string(3000, 'k'));
  EXPECT_TRUE(spaces.closed);
  EXPECT_EQ(spaces.output, "");
}

// --- commands whose replies depend on earlier replies

std::string cas_of(const std::string& gets_reply) {
  // "VALUE k f n cas\r\n..."
  const std::size_t eol = gets_reply.find("\r\n");
  const std::string line = gets_reply.substr(0, eol);
  return line.substr(line.rfind(' ') + 1);
}

TEST(text_cas, the_cas_from_gets_stores_once) {
  stack s;
  EXPECT_EQ(s.run(set_cmd("k", "v1")).output, "STORED\r\n");
  const std::string cas = cas_of(s.run("gets k\r\n").output);
  EXPECT_EQ(s.run("cas k 5 0 2\r\nv2\r\n").output, "ERROR\r\nERROR\r\n") << "7 tokens needed";
  EXPECT_EQ(s.run("cas k 5 0 2 " + cas + "\r\nv2\r\n").output, "STORED\r\n");
  EXPECT_EQ(s.run("cas k 5 0 2 " + cas + "\r\nv3\r\n").output, "EXISTS\r\n");
  EXPECT_EQ(s.run("get k\r\n").output, "VALUE k 5 2\r\nv2\r\nEND\r\n");
  const std::string cas2 = cas_of(s.run("gats 100 k\r\n").output);
  EXPECT_NE(cas2, cas);
  EXPECT_EQ(s.run("cas k 0 0 1 " + cas2 + " noreply\r\nx\r\nget k\r\n").output,
            "VALUE k 0 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(s.run("delete k\r\ncas k 0 0 1 " + cas2 + "\r\ny\r\n").output,
            "DELETED\r\nNOT_FOUND\r\n");
  EXPECT_EQ(s.counters.cas_hits.load(), 2u);
  EXPECT_EQ(s.counters.cas_badval.load(), 1u);
  EXPECT_EQ(s.counters.cas_misses.load(), 1u);
}

TEST(text_counters, the_commands_count_as_memcached) {
  stack s;
  s.run(set_cmd("a", "1") + "get a b\r\ngets a\r\ntouch a 10\r\ntouch b 10\r\ngat 5 a b\r\n" +
        "incr a 2\r\ndecr b 1\r\ndelete a\r\ndelete a\r\nflush_all\r\nbogus\r\n" +
        "set x 0 0 z\r\n");
  EXPECT_EQ(s.counters.cmd_set.load(), 1u);
  EXPECT_EQ(s.counters.total_items.load(), 1u);
  EXPECT_EQ(s.counters.cmd_get.load(), 3u);
  EXPECT_EQ(s.counters.get_hits.load(), 2u);
  EXPECT_EQ(s.counters.get_misses.load(), 1u);
  EXPECT_EQ(s.counters.cmd_touch.load(), 4u);
  EXPECT_EQ(s.counters.touch_hits.load(), 2u);
  EXPECT_EQ(s.counters.touch_misses.load(), 2u);
  EXPECT_EQ(s.counters.incr_hits.load(), 1u);
  EXPECT_EQ(s.counters.decr_misses.load(), 1u);
  EXPECT_EQ(s.counters.delete_hits.load(), 1u);
  EXPECT_EQ(s.counters.delete_misses.load(), 1u);
  EXPECT_EQ(s.counters.cmd_flush.load(), 1u);
  EXPECT_EQ(s.counters.unknown_commands.load(), 1u);
  EXPECT_EQ(s.counters.protocol_errors.load(), 1u);
  EXPECT_EQ(s.counters.cmd_meta.load(), 0u);
}

TEST(text_hook, every_successful_mutation_is_reported) {
  std::vector<std::pair<std::uint8_t, std::string>> seen;
  mutation_hook hook{&seen, [](void* ctx, const mutation& m) {
                       static_cast<decltype(seen)*>(ctx)->emplace_back(m.opcode,
                                                                       std::string(m.key));
                     }};
  stack s({}, 8u << 20, {}, hook);
  s.run(set_cmd("a", "1") + "append a 0 0 1\r\n2\r\nincr a 1\r\ntouch a 9\r\ngat 9 a\r\n" +
        "delete a\r\ndelete a\r\nflush_all\r\nadd b 0 0 1\r\nx\r\nadd b 0 0 1\r\nx\r\n");
  const std::vector<std::pair<std::uint8_t, std::string>> want = {
      {op::set, "a"}, {op::append, "a"}, {op::incr, "a"}, {op::touch, "a"},
      {op::gat, "a"}, {op::del, "a"},    {op::flush, ""}, {op::add, "b"}};
  EXPECT_EQ(seen, want);
}

TEST(text_expiry, negative_and_absolute_exptimes) {
  stack s;
  const std::string now = std::to_string(s.clk.now());
  EXPECT_EQ(s.run("set a 0 -1 1\r\nx\r\nget a\r\n").output, "STORED\r\nEND\r\n");
  EXPECT_EQ(s.run("set b 0 " + std::to_string(s.clk.now() + 100) + " 1\r\ny\r\nget b\r\n").output,
            "STORED\r\nVALUE b 0 1\r\ny\r\nEND\r\n");
  s.clk.advance(101);
  EXPECT_EQ(s.run("get b\r\n").output, "END\r\n");
  EXPECT_EQ(s.run("set c 0 10 1\r\nz\r\nflush_all 5\r\nget c\r\n").output,
            "STORED\r\nOK\r\nVALUE c 0 1\r\nz\r\nEND\r\n");
  s.clk.advance(6);
  EXPECT_EQ(s.run("get c\r\n").output, "END\r\n");
}

// --- backpressure and the receive buffer

TEST(text_backpressure, a_value_that_cannot_fit_an_empty_sink_closes) {
  // One get, and a pipelined run of them (looked up together).
  for (const char* in : {"get big\r\n", "get big\r\nget big\r\nget big\r\n"}) {
    stack s;
    s.run(set_cmd("big", std::string(4000, 'b')));
    connection c;
    const run_result r = drive(s.h, s.ses, c, in, {}, 3000);
    EXPECT_TRUE(r.closed) << in;
    EXPECT_EQ(r.output, "") << in;
    EXPECT_EQ(s.counters.protocol_errors.load(), 1u) << in;
    EXPECT_EQ(s.counters.cmd_get.load(), 0u) << in;
  }
}

TEST(text_backpressure, sink_full_keeps_order_and_counts_once) {
  stack s;
  std::string in;
  for (int i = 0; i < 5; ++i) in += set_cmd("k" + std::to_string(i), std::string(3000, 'a' + i));
  in += "get k0 k1 k2 k3 k4 k0\r\nincr n 1\r\n";
  const std::size_t cap = 4096;  // one value (and the small-reply room) at a time
  connection c;
  const run_result r = drive(s.h, s.ses, c, in, {}, cap);
  std::string want;
  for (int i = 0; i < 5; ++i) want += "STORED\r\n";
  for (int i : {0, 1, 2, 3, 4, 0})
    want += "VALUE k" + std::to_string(i) + " 0 3000\r\n" + std::string(3000, 'a' + i) + "\r\n";
  want += "END\r\nNOT_FOUND\r\n";
  EXPECT_EQ(r.output, want);
  EXPECT_EQ(s.counters.get_hits.load(), 6u);
  EXPECT_EQ(s.counters.cmd_get.load(), 6u);
  EXPECT_GT(s.counters.backpressure_stops.load(), 0u);
}

TEST(text_receive, a_data_block_waits_for_all_its_bytes_and_swallows_refused_ones) {
  handler_config hc;
  hc.max_value = 100;
  stack s(hc);
  const std::string in = "set a 0 0 101\r\n" + std::string(101, 'x') + "\r\nset b 0 0 100\r\n" +
                         std::string(100, 'y') + "\r\nget a b\r\n";
  std::vector<std::size_t> cuts;
  for (std::size_t k = 1; k < in.size(); ++k) cuts.push_back(k);
  const run_result r = s.run(in, cuts);
  EXPECT_EQ(r.output, "SERVER_ERROR object too large for cache\r\nSTORED\r\nVALUE b 0 100\r\n" +
                          std::string(100, 'y') + "\r\nEND\r\n");
  EXPECT_EQ(s.counters.store_too_large.load(), 1u);
}

// --- the SET fast path (text_fast_set) answers exactly as the general path

// Runs `set <key> <args>` (fast shape) and the same line with a trailing space, which
// text_line tokenizes alike but the fast path refuses, on fresh stacks with the
// mutation hook on; replies, counters and hook calls must agree, whole and split at
// every byte.
void expect_fast_set_as_general(const std::string& key, const std::string& args,
                                const std::string& block, const std::string& after = "") {
  struct seen_t {
    std::vector<std::string> calls;
  };
  auto one = [&](const std::string& line, std::span<const std::size_t> cuts) {
    seen_t seen;
    mutation_hook hook{&seen, [](void* ctx, const mutation& m) {
                         static_cast<seen_t*>(ctx)->calls.push_back(
                             std::to_string(m.opcode) + " " + std::string(m.key) + " " +
                             std::string(m.value) + " " + std::to_string(m.flags) + " " +
                             std::to_string(m.exptime));
                       }};
    handler_config hc;
    hc.max_value = 1000;
    stack s(hc, 8u << 20, {}, hook);
    const run_result r = s.run(line + block + after + "get " + key + "\r\n", cuts);
    return std::tuple{r.output,
                      r.closed,
                      s.counters.cmd_set.load(),
                      s.counters.protocol_errors.load(),
                      s.counters.total_items.load(),
                      s.counters.store_too_large.load(),
                      seen.calls};
  };
  const std::string fast = "set " + key + " " + args + "\r\n";
  const std::string general = "set " + key + " " + args + " \r\n";
  const auto want = one(general, {});
  EXPECT_EQ(one(fast, {}), want) << fast;
  const std::string in = fast + block + after;
  std::vector<std::size_t> cuts;
  for (std::size_t k = 1; k < in.size(); ++k) cuts.push_back(k);
  EXPECT_EQ(one(fast, cuts), want) << fast << " byte by byte";
}

TEST(text_fast_set, agrees_with_the_general_path_at_every_boundary) {
  expect_fast_set_as_general("k", "0 0 1", "x\r\n");
  expect_fast_set_as_general("k", "0 0 0", "\r\n");
  expect_fast_set_as_general("k", "999999999 0 3", "abc\r\n");   // 9 digits: fast
  expect_fast_set_as_general("k", "4294967295 0 3", "abc\r\n");  // 10: general
  expect_fast_set_as_general("k", "4294967296 0 3", "abc\r\n");  // truncated to 0
  expect_fast_set_as_general("k", "000000007 0 1", "x\r\n");     // leading zeros
  expect_fast_set_as_general("k", "7 100 1", "x\r\n");
  expect_fast_set_as_general("k", "7 999999999 1", "x\r\n");   // absolute, past
  expect_fast_set_as_general("k", "7 1700000100 1", "x\r\n");  // absolute, future
  expect_fast_set_as_general("k", "0 0 000000001", "x\r\n");
  expect_fast_set_as_general("k", "0 0 0000000001", "x\r\n");                    // 10 digits
  expect_fast_set_as_general("k", "0 0 1000", std::string(1000, 'v') + "\r\n");  // max
  expect_fast_set_as_general("k", "0 0 1001", std::string(1001, 'v') + "\r\n");  // too large
  expect_fast_set_as_general("k", "0 0 2", "abc\r\n", "\r\n");                   // bad data chunk
  expect_fast_set_as_general("k", "0 0 2", "ab\n\r\n");                          // bad data chunk
  expect_fast_set_as_general(std::string(250, 'k'), "0 0 1", "x\r\n");
  expect_fast_set_as_general(std::string(251, 'k'), "0 0 1", "x\r\n");
  expect_fast_set_as_general("a\tb", "0 0 1", "x\r\n");  // a tab is key text
  expect_fast_set_as_general("k", "0 0 1\r", "x\r\n");   // "1\r" is a number
}

TEST(text_fast_set, near_misses_take_the_general_path) {
  stack s;
  // Each of these is refused by the fast path; the replies are the general path's.
  EXPECT_EQ(s.run("set k 0 0 -1\r\nset k -1 0 1\r\nset k 0 0 1x\r\n").output,
            "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\n"
            "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(s.run("set  k  0  0  1\r\nx\r\nget k\r\n").output,
            "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(s.run(std::string("set a") + '\0' + "b 0 0 1\r\nx\r\n").output, "ERROR\r\nERROR\r\n")
      << "the line ends at a NUL";
  EXPECT_EQ(s.run("set k 0 0 1 noreply\r\ny\r\nget k\r\n").output, "VALUE k 0 1\r\ny\r\nEND\r\n");
  EXPECT_EQ(s.run("set k 0 0\r\nset k\r\nset \r\nset k 0 0 1 2 3\r\n").output,
            "ERROR\r\nERROR\r\nERROR\r\nERROR\r\n");
  EXPECT_EQ(s.run("set k +1 0 1\r\nz\r\nget k\r\n").output,
            "STORED\r\nVALUE k 1 1\r\nz\r\nEND\r\n");
}

// --- runs of single-key gets, looked up together (engine get_batch) as binary's

// Batched lookups answer exactly like one-by-one lookups: hits, misses, gets, runs cut
// by other commands, by a full sink (the rest is looked up again) and by any split.
TEST(text_get_batch, same_bytes_as_single_lookups) {
  std::string in;
  for (int i = 0; i < 40; i += 3)
    in += "set b" + std::to_string(i) + " " + std::to_string(i) + " 0 " + std::to_string(i * 5) +
          "\r\n" + std::string(static_cast<std::size_t>(i) * 5, 'v') + "\r\n";
  for (int i = 0; i < 40; ++i) {
    in += (i % 4 == 1 ? "gets b" : "get b") + std::to_string(i) + (i % 5 == 2 ? "\n" : "\r\n");
    if (i == 20) in += "set b21 0 0 4\r\nlate\r\n";
    if (i == 25) in += "get b0 b3 none\r\n";
    if (i == 30) in += "get " + std::string(251, 'k') + "\r\nget b30\r\r\n";
  }
  in += "get b39\r\n";
  std::string first;
  for (int batch = 0; batch < 2; ++batch) {
    for (std::size_t sink : {std::size_t{0}, std::size_t{1100}}) {
      for (bool bytewise : {false, true}) {
        std::vector<std::size_t> cuts;
        if (bytewise)
          for (std::size_t k = 1; k < in.size(); ++k) cuts.push_back(k);
        stack s(handler_config{.batch_gets = batch == 1});
        const run_result rr = s.run(in, cuts, sink);
        if (first.empty()) first = rr.output;
        const std::string how = "batch=" + std::to_string(batch) + " sink=" + std::to_string(sink) +
                                " bytewise=" + (bytewise ? "1" : "0");
        EXPECT_EQ(rr.output, first) << how;
        EXPECT_FALSE(rr.closed) << how;
        EXPECT_EQ(s.counters.cmd_get.load(), 45u) << how;
        EXPECT_EQ(s.counters.get_hits.load(), 17u) << how;  // "b30\r" misses
        if (sink != 0 && !bytewise) {
          EXPECT_GT(s.counters.backpressure_stops.load(), 0u) << how;
        }
      }
    }
  }
  EXPECT_NE(first.find("VALUE b39 39 195\r\n"), std::string::npos);
  EXPECT_NE(first.find("VALUE b21 0 4 "), std::string::npos) << "a gets, after the late set";
  EXPECT_NE(first.find("\r\nlate\r\n"), std::string::npos);
}

// --- the meta seam: meta lines reach execute_meta (meta_handler_test.cc has the commands)

TEST(text_meta_seam, meta_lines_reach_the_seam) {
  stack s;
  EXPECT_EQ(s.run("mn\r\nmg foo v\r\nmz foo\r\n").output, "MN\r\nEN\r\nERROR\r\n");
  EXPECT_TRUE(is_meta_command("ms"));
  EXPECT_FALSE(is_meta_command("mz"));
  EXPECT_FALSE(is_meta_command("mgx"));
}

// --- memcached's number parsing (util.c safe_strto*)

TEST(text_numbers, plain_number_takes_one_to_nine_digits) {
  using text::plain_number;
  auto at = [](std::string_view s, std::size_t p = 0) {
    const std::int32_t v = plain_number(s, p);
    return std::pair{v, p};
  };
  EXPECT_EQ(at("0"), (std::pair{0, std::size_t{1}}));
  EXPECT_EQ(at("7 "), (std::pair{7, std::size_t{1}}));
  EXPECT_EQ(at("x 12 y", 2), (std::pair{12, std::size_t{4}}));
  EXPECT_EQ(at("999999999"), (std::pair{999999999, std::size_t{9}}));
  EXPECT_EQ(at("000000001"), (std::pair{1, std::size_t{9}}));
  EXPECT_EQ(at("1000000000").first, -1) << "a tenth digit";
  EXPECT_EQ(at("0000000000").first, -1);
  EXPECT_EQ(at("9999999999").first, -1) << "a tenth digit past INT32_MAX (overflowed before: UBSan)";
  EXPECT_EQ(at("4294967296 1").first, -1);
  EXPECT_EQ(at("").first, -1);
  EXPECT_EQ(at("5", 1).first, -1) << "at the end";
  EXPECT_EQ(at(" 5").first, -1);
  EXPECT_EQ(at("-5").first, -1);
  EXPECT_EQ(at("+5").first, -1);
  EXPECT_EQ(at("/").first, -1) << "'0' - 1";
  EXPECT_EQ(at(":").first, -1) << "'9' + 1";
  EXPECT_EQ(at("12x"), (std::pair{12, std::size_t{2}})) << "the caller checks the end";
}

TEST(text_numbers, memcached_quirks) {
  using namespace text;
  EXPECT_EQ(to_u32("4294967295"), 4294967295u);
  EXPECT_EQ(to_u32("4294967296"), 0u) << "truncated, as memcached assigns a long";
  EXPECT_EQ(to_u32("-1"), std::nullopt);
  EXPECT_EQ(to_u32("-0"), 0u);
  EXPECT_EQ(to_u32("+7"), 7u);
  EXPECT_EQ(to_u32("\t7"), 7u);
  EXPECT_EQ(to_u32("7\r"), 7u);
  EXPECT_EQ(to_u32("7x"), std::nullopt);
  EXPECT_EQ(to_u32(""), std::nullopt);
  EXPECT_EQ(to_u32("-"), std::nullopt);
  EXPECT_EQ(to_u64("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(to_u64("18446744073709551616"), std::nullopt);
  EXPECT_EQ(to_u64("-18446744073709551615"), 1u) << "strtoull negates; below 2^63 it passes";
  EXPECT_EQ(to_u64("-9223372036854775808"), std::nullopt);
  EXPECT_EQ(to_i32("2147483647"), INT32_MAX);
  EXPECT_EQ(to_i32("2147483648"), INT32_MIN) << "truncated";
  EXPECT_EQ(to_i32("-1"), -1);
  EXPECT_EQ(to_i32("9223372036854775807"), -1);
  EXPECT_EQ(to_i32("9223372036854775808"), std::nullopt) << "ERANGE";
  EXPECT_EQ(to_i32("-9223372036854775808"), 0);
  EXPECT_EQ(to_i32("-9223372036854775809"), std::nullopt);
}

}  // namespace
}  // namespace anvil::proto::testing
