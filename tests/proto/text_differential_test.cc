// Differential test of the text protocol: the same request streams (malformed ones
// included) go to a real memcached (Debian's, `-B auto`, emptied before each stream) and to
// proto::handler under -B auto; the response bytes are compared exactly after three
// normalizations: CAS values in "VALUE" lines become their order of first appearance,
// "VERSION x" becomes "VERSION <v>", and "STAT name value" lines are dropped (names and
// values differ on purpose, docs/protocol.md; the END and any error stay). Whether the
// connection was closed is compared too. Anvil's side is run whole, cut at every split
// point (streams up to 4 KiB), byte by byte, and with a sink that forces backpressure;
// every run must give the same bytes.
//
// Intentional differences, kept out of these streams (docs/protocol.md, "Text"):
//  - a non-get line over 2048 bytes: memcached closes only if its first 2048 bytes
//    arrive without the "\n" (timing-dependent); Anvil closes whenever the line is that
//    long, however it arrives (the "long_line_without_newline" stream: both close);
//  - a get line over the receive buffer: memcached grows its buffer without bound;
//    Anvil answers "CLIENT_ERROR line too long" and closes (unit test);
//  - incr/decr that shortens a number (decr, or incr wrapping at 2^64): memcached pads
//    the value with spaces in place; Anvil stores the shorter number (no get after one);
//  - a delayed flush_all after an immediate one: memcached's pending deadline hides
//    the immediate flush again (items it had flushed come back until the deadline);
//    Anvil keeps them flushed (no get after a delayed flush here);
//  - commands outside the issue's list that tune memcached machinery Anvil does not
//    have (slabs, cache_memlimit, lru, lru_crawler, watch, extstore): Anvil says ERROR;
//  - `stats cachedump` (memcached's dump_enabled is yes, Anvil's no), `stats conns`,
//    stat names and values;
//  - meta commands: compared by the meta engineer's own streams once they exist;
//  - a get with a key over 250 bytes after other pipelined commands: memcached also
//    drops the unsent replies of those earlier commands (it culls its whole response
//    queue); Anvil answers them (the key_too_long stream puts the get first).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/proto/differential_harness.h"
#include "tests/proto/driver.h"

namespace anvil::proto::testing {
namespace {

using anvil::test::memcached_process;

const std::string kSentinel = "set __end 0 0 4\r\ndone\r\nget __end\r\n";
const std::string kSentinelReply = "STORED\r\nVALUE __end 0 4\r\ndone\r\nEND\r\n";

struct text_run {
  std::string output;
  bool closed = false;
};

// Sends the stream; reads until the sentinel's reply, EOF or 3 s of silence.
text_run run_memcached(int port, const std::string& stream, bool closes) {
  const memcached_answer a = exchange(
      port, stream, [&](std::string_view got) { return !closes && got.ends_with(kSentinelReply); });
  return {a.bytes, a.closed};
}

// The three normalizations of the header comment, line by line (a value's data lines
// are passed through by their announced length).
std::string normalize(const std::string& out) {
  std::string r;
  std::vector<std::string> cas_seen;
  std::size_t pos = 0;
  while (pos < out.size()) {
    std::size_t eol = out.find("\r\n", pos);
    if (eol == std::string::npos) {
      r += out.substr(pos);
      break;
    }
    std::string line = out.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.starts_with("STAT ")) continue;
    if (line.starts_with("VERSION ")) line = "VERSION <v>";
    if (line.starts_with("VALUE ")) {
      // VALUE key flags bytes [cas]
      std::vector<std::string> t;
      std::size_t s = 0;
      while (s <= line.size()) {
        const std::size_t sp = line.find(' ', s);
        t.push_back(line.substr(s, sp == std::string::npos ? std::string::npos : sp - s));
        if (sp == std::string::npos) break;
        s = sp + 1;
      }
      if (t.size() == 5) {
        auto it = std::find(cas_seen.begin(), cas_seen.end(), t[4]);
        if (it == cas_seen.end()) it = cas_seen.insert(cas_seen.end(), t[4]);
        t[4] = "#" + std::to_string(it - cas_seen.begin() + 1);
        line = t[0] + " " + t[1] + " " + t[2] + " " + t[3] + " " + t[4];
      }
      r += line + "\r\n";
      if (t.size() >= 4) {
        const std::size_t n = std::stoul(t[3]) + 2;
        r += out.substr(pos, n);
        pos += n;
      }
      continue;
    }
    r += line + "\r\n";
  }
  return r;
}

struct scenario {
  const char* name;
  std::string stream;
  bool closes = false;
};

std::string set_cmd(const std::string& verb, const std::string& key, const std::string& value,
                    const std::string& flags = "0", const std::string& extra = "") {
  return verb + " " + key + " " + flags + " 0 " + std::to_string(value.size()) + extra + "\r\n" +
         value + "\r\n";
}

std::vector<scenario> scenarios() {
  std::vector<scenario> v;
  v.push_back({"storage_and_get",
               set_cmd("set", "a", "hello", "42") + "get a\r\ngets a\r\nget a none a\r\n" +
                   set_cmd("add", "a", "x") + set_cmd("add", "b", "bee", "1") +
                   set_cmd("replace", "none", "x") + set_cmd("replace", "b", "B", "2") +
                   set_cmd("append", "b", ">>") + set_cmd("prepend", "b", "<<") +
                   set_cmd("append", "none", "x") + set_cmd("prepend", "none", "x") +
                   "gets a b none\r\nbget b\r\n" + set_cmd("set", "e", "") + "get e\r\n" +
                   set_cmd("set", "bin", std::string("\0\x80\xff\r\n", 5), "4294967295") +
                   "get bin\r\n"});
  v.push_back({"noreply_everywhere",
               set_cmd("set", "n", "1", "0", " noreply") +
                   set_cmd("add", "n", "1", "0", " noreply") +
                   set_cmd("replace", "n", "2", "0", " noreply") +
                   set_cmd("append", "n", "3", "0", " noreply") +
                   set_cmd("prepend", "n", "4", "0", " noreply") + "incr n 1 noreply\r\n" +
                   "decr n 1 noreply\r\ntouch n 100 noreply\r\nget n\r\n" +
                   "incr n abc noreply\r\ndelete n noreply\r\ndelete n noreply\r\n" +
                   "delete n 0 noreply\r\nverbosity 1 noreply\r\nflush_all noreply\r\n" +
                   "flush_all 0 noreply\r\nset n 0 0 abc noreply\r\nget n\r\n" +
                   set_cmd("set", "n", "12", "0", " noreply") + "get n\r\n"});
  v.push_back({"cas_without_a_known_value",
               set_cmd("set", "c", "v1") + set_cmd("cas", "c", "v2", "0", " 12345") +
                   set_cmd("cas", "none", "v", "0", " 12345") +
                   set_cmd("cas", "c", "v", "0", " 0") + set_cmd("cas", "none", "v", "0", " 0") +
                   set_cmd("cas", "c", "v", "0", " 99999999 noreply") + "get c\r\n" +
                   set_cmd("cas", "c", "v", "0", " abc") + set_cmd("cas", "c", "v", "0", " -1") +
                   "cas c 0 0 1\r\nx\r\n"});
  v.push_back({"arith",
               set_cmd("set", "n", "5") + "incr n 5\r\ndecr n 3\r\ndecr n 1000\r\nincr nx 1\r\n" +
                   "decr nx 1\r\n" + set_cmd("set", "max", "18446744073709551615") +
                   "incr max 1\r\n" + set_cmd("set", "txt", "abc") +
                   "incr txt 1\r\ndecr txt 1\r\n" + set_cmd("set", "neg", "-1") + "incr neg 1\r\n" +
                   set_cmd("set", "huge", "18446744073709551616") + "incr huge 1\r\n" +
                   "incr n abc\r\nincr n -1\r\nincr n 18446744073709551616\r\n" +
                   "incr n 18446744073709551615\r\nget n\r\nincr n\r\nincr n 1 2 3\r\n" +
                   "incr n +4\r\nincr n 0x10\r\nincr " + std::string(251, 'k') + " 1\r\n" +
                   set_cmd("set", "e", "") + "incr e 1\r\n"});
  v.push_back({"touch_gat",
               set_cmd("set", "t", "tv", "5") + "touch t 100\r\ntouch none 100\r\n" +
                   "touch t abc\r\ntouch t\r\ngat 200 t none t\r\ngats 200 t\r\ngat abc t\r\n" +
                   "gat 10\r\ngat\r\ntouch t -1\r\nget t\r\n" + set_cmd("set", "t2", "x") +
                   "gat -1 t2\r\nget t2\r\n"});
  v.push_back({"delete_forms", set_cmd("set", "d", "v") + "delete d 0\r\ndelete d\r\n" +
                                   set_cmd("set", "d", "v") + "delete d 1\r\ndelete d 0 x\r\n" +
                                   "delete d noreply x\r\ndelete\r\ndelete d 0 noreply extra\r\n" +
                                   "delete " + std::string(251, 'k') + "\r\nget d\r\n"});
  v.push_back({"flush", set_cmd("set", "f", "v") + "flush_all\r\nget f\r\n" +
                            set_cmd("set", "f", "v") +
                            "flush_all 0\r\nflush_all abc\r\nflush_all -5\r\nflush_all 1 2 3\r\n" +
                            "get f\r\nflush_all 1000 noreply\r\n"});
  v.push_back(
      {"number_quirks",
       set_cmd("set", "q1", "x", "4294967296") + "get q1\r\n" + set_cmd("set", "q2", "x", "-1") +
           set_cmd("set", "q3", "x", "+7") + "get q3\r\n" +
           set_cmd("set", "q4", "x", "18446744073709551615") + "get q4\r\n" +
           "set q5 0 0 -1\r\nset q6 0 0 abc\r\nset q7 0 0 1x\r\nx\r\nset q8 0 0 01\r\nx\r\n" +
           "get q8\r\nset q9 0 -1 1\r\nx\r\nget q9\r\nset q10 0 4294967297 1\r\nx\r\n" +
           "get q10\r\nset q11 0 0 4294967297\r\nset q12 00 0 1\r\ny\r\nget q12\r\n" +
           "set q13 0 0 2147483647\r\n"});
  // The SET fast path's shape (memtier's line) and its near misses, which take the
  // general path: every one must still answer as memcached does.
  v.push_back({"fast_set_shapes",
               "set f1 999999999 0 1\r\na\r\nget f1\r\nset f2 1000000000 0 1\r\nb\r\n" +
                   std::string("get f2\r\nset f3 0 0 000000002\r\ncc\r\nget f3\r\n") +
                   "set f4 0 0 0000000002\r\ndd\r\nget f4\r\nset f5 0 0 1 \r\ne\r\n" +
                   "get f5\r\nset  f6 0  0 1\r\nf\r\nget f6\r\nset f7 0 0 1\r\r\ng\r\n" +
                   "get f7\r\nset f\t8 7 0 1\r\nh\r\nget f\t8\r\nset f9 0 0 1\r\nxy\r\n" +
                   "get f9\r\nset f10 0 100 2\r\nab\r\nget f10\r\nset f11 0 0\r\n" +
                   "set f12 0 0 1 2\r\nset \r\nset f13 0 0 -0\r\n\r\nget f13\r\n" + "set f" + '\0' +
                   "z 0 0 1\r\ni\r\nget f\r\n"});
  v.push_back({"bad_data_chunk", "set b 0 0 3\r\nabcd\r\nget b\r\nset b 0 0 3\r\nabc\n\r\n" +
                                     std::string("set b 0 0 1\r\n\r\r\nget b\r\n")});
  v.push_back({"value_too_large",
               set_cmd("set", "big", "small") +
                   set_cmd("set", "big", std::string(1536 * 1024, 'x')) + "get big\r\n" +
                   set_cmd("set", "big2", "small") +
                   set_cmd("add", "big2", std::string(1536 * 1024, 'x')) + "get big2\r\n" +
                   set_cmd("set", "big3", std::string(1024 * 1024, 'x')) + "get big3\r\n" +
                   set_cmd("set", "ok", std::string(100 * 1024, 'y')) + "get ok\r\n"});
  v.push_back({"errors_and_framing",
               "foo\r\n\r\n\n\r\nx\r\ng\r\nget\r\nset k 0 0\r\nset k 0 0 1 2 3\r\nGET k\r\n" +
                   std::string("get   a    b  \r\n  get a\r\nget a\n") +
                   "get a\tb\r\nget a\rb\r\n" +
                   "get a\r\r\nversion\r\nversion extra\r\nverbosity\r\nverbosity 1\r\n" +
                   "verbosity abc\r\nverbosity 1 2 3\r\nshutdown\r\nstats nosuch\r\n" +
                   "mx foo\r\nmgx\r\nquitx\r\n"});
  v.push_back(
      {"key_lengths", "get " + std::string(251, 'k') + " a\r\nget " + std::string(250, 'k') +
                          "\r\n" + set_cmd("set", std::string(251, 'k'), "v") +
                          set_cmd("set", std::string(250, 'k'), "v") + "get " +
                          std::string(250, 'k') + "\r\ntouch " + std::string(251, 'k') + " 1\r\n"});
  {
    std::string many = "get";
    std::string sets;
    for (int i = 0; i < 40; ++i) {
      many += " m" + std::to_string(i);
      if (i % 3 == 0) sets += set_cmd("set", "m" + std::to_string(i), std::to_string(i * i));
    }
    std::string toks = "set m1 0 0 1";
    for (int i = 0; i < 25; ++i) toks += " x";
    v.push_back({"many_tokens", sets + many + "\r\n" + toks + "\r\n1\r\n"});
    std::string wide = "get";
    for (int i = 0; i < 300; ++i) wide += " w" + std::to_string(i % 7);
    v.push_back({"get_line_over_2048", sets + set_cmd("set", "w3", "three") + wide + "\r\n"});
  }
  v.push_back({"stats", set_cmd("set", "s:a", "v") +
                            "stats\r\nstats settings\r\nstats items\r\nstats slabs\r\n" +
                            "stats sizes\r\nstats detail\r\nstats detail bogus\r\n" +
                            "stats detail on\r\nget s:a s:b\r\n" + set_cmd("set", "s:c", "v") +
                            "delete s:a\r\nstats detail dump\r\nstats detail off\r\n" +
                            "stats reset\r\nstats  \r\n"});
  v.push_back({"quit", "get a\r\nquit\r\nget a\r\n", true});
  v.push_back({"quit_with_args", "quit now\r\nget a\r\n", true});
  v.push_back({"http_request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", true});
  v.push_back({"long_line_without_newline", "get a\r\n" + std::string(3000, 'x'), true});
  v.push_back(
      {"long_get_without_newline_then_end", "get " + std::string(3000, ' ') + "a\r\nget a\r\n"});
  // Four 400 KB values in one get: more than the send buffer holds, so the get stops
  // for room and resumes after the flush without repeating a value.
  v.push_back({"multiget_over_the_sink", set_cmd("set", "g1", std::string(400 * 1024, '1')) +
                                             set_cmd("set", "g2", std::string(400 * 1024, '2')) +
                                             set_cmd("set", "g3", std::string(400 * 1024, '3')) +
                                             set_cmd("set", "g4", std::string(400 * 1024, '4')) +
                                             "get g1 g2 none g3 g4 g1\r\ngets g4 g3\r\n"});
  v.push_back({"text_after_binary_byte", std::string("set z 0 0 1\r\n\x80\r\nget z\r\n")});
  return v;
}

// Anvil's side: a fresh -B auto stack per run (state must not leak between runs).
run_result run_anvil(const std::string& stream, std::span<const std::size_t> cuts,
                     std::size_t sink = 0) {
  stack s({}, 8u << 20);
  return s.run(stream, cuts, sink);
}

// One memcached for every stream, emptied before each by an immediate flush_all (which
// also replaces a pending delayed one).
class text_differential
    : public memcached_suite<text_differential, ::testing::TestWithParam<scenario>> {
 protected:
  static void SetUpTestSuite() { start_memcached({"-B", "auto"}); }
};

TEST_P(text_differential, same_bytes_as_memcached) {
  const scenario& sc = GetParam();
  if (mc() == nullptr) GTEST_SKIP() << memcached_process::kPath << " not available";
  ASSERT_EQ(run_memcached(mc()->port(), "flush_all\r\n" + kSentinel, false).output,
            "OK\r\n" + kSentinelReply);
  const std::string stream = sc.stream + (sc.closes ? "" : kSentinel);
  const text_run theirs = run_memcached(mc()->port(), stream, sc.closes);
  const run_result whole = run_anvil(stream, {});
  EXPECT_EQ(normalize(whole.output), normalize(theirs.output));
  EXPECT_EQ(whole.closed, theirs.closed);
  if (!sc.closes) {
    EXPECT_TRUE(theirs.output.ends_with(kSentinelReply)) << "memcached stalled";
  }
}

// Every split point, byte by byte and a tiny sink give the bytes of the whole run.
TEST_P(text_differential, any_split_gives_the_same_bytes) {
  const scenario& sc = GetParam();
  const std::string stream = sc.stream + (sc.closes ? "" : kSentinel);
  const run_result whole = run_anvil(stream, {});
  auto same = [&](const run_result& rr, const std::string& how) {
    EXPECT_EQ(normalize(rr.output), normalize(whole.output)) << how;
    EXPECT_EQ(rr.closed, whole.closed) << how;
  };
  if (stream.size() <= 4096) {
    for (std::size_t k = 1; k < stream.size(); ++k) {
      const std::size_t cut[] = {k};
      same(run_anvil(stream, cut), "split at " + std::to_string(k));
      if (::testing::Test::HasFailure()) return;
    }
    std::vector<std::size_t> cuts;
    for (std::size_t k = 1; k < stream.size(); ++k) cuts.push_back(k);
    same(run_anvil(stream, cuts), "byte by byte");
  } else {
    std::vector<std::size_t> cuts;
    for (std::size_t k = 1; k < stream.size(); k += 1 + k / 3) cuts.push_back(k);
    same(run_anvil(stream, cuts), "growing pieces");
    std::vector<std::size_t> mss;
    for (std::size_t k = 1448; k < stream.size(); k += 1448) mss.push_back(k);
    same(run_anvil(stream, mss), "1448-byte segments");
  }
}

INSTANTIATE_TEST_SUITE_P(streams, text_differential, ::testing::ValuesIn(scenarios()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace anvil::proto::testing
