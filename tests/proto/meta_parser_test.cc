// The meta line parser (dataplane/proto/meta_parser.h): tokens, flags with their
// tokens, base64 keys, numbers, and every error line memcached 1.6.18 answers for a
// malformed meta line (each expectation below was probed against it).
#include "dataplane/proto/meta_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace anvil::proto::meta {
namespace {

struct parsed {
  parse_result res;
  request req;
  char buf[kKeyBuffer];
};

parsed run(std::string_view line) {
  parsed p;
  p.res = parse(line, p.req, p.buf);
  return p;
}

std::string err(std::string_view line) {
  const parsed p = run(line);
  return p.res.ok ? std::string("<ok>") : std::string(p.res.error);
}

TEST(meta_parser, commands_keys_and_flag_tokens_in_order) {
  const parsed p = run("mg foo v s f t c k h l O123 P L u");
  ASSERT_TRUE(p.res.ok);
  EXPECT_EQ(p.req.cmd, command::mg);
  EXPECT_EQ(p.req.key, "foo");
  EXPECT_TRUE(p.req.f.value);
  EXPECT_TRUE(p.req.f.no_update);
  ASSERT_EQ(p.req.ntok, 12u);
  EXPECT_EQ(p.req.tok[0], "v");
  EXPECT_EQ(p.req.tok[8], "O123");
  EXPECT_EQ(p.req.tok[11], "u");
  EXPECT_EQ(run("md k").req.cmd, command::md);
  EXPECT_EQ(run("ma k").req.cmd, command::ma);
  EXPECT_EQ(run("me k").req.cmd, command::me);
  EXPECT_EQ(run("mn").req.cmd, command::mn);
  EXPECT_TRUE(run("mn anything at all").res.ok);  // mn ignores its tokens
}

TEST(meta_parser, spaces_separate_tokens_and_nothing_else) {
  const parsed p = run("  mg  foo   v  k ");
  ASSERT_TRUE(p.res.ok);
  EXPECT_EQ(p.req.key, "foo");
  EXPECT_EQ(p.req.ntok, 2u);
  // A tab is part of a token (memcached splits on ' ' only).
  EXPECT_EQ(run("mg foo\tv").req.key, "foo\tv");
  // A NUL ends the line (memcached's tokenizer uses strlen).
  const parsed z = run(std::string("mg foo\0 x", 9));
  ASSERT_TRUE(z.res.ok);
  EXPECT_EQ(z.req.ntok, 0u);
}

TEST(meta_parser, flags_with_tokens) {
  const parsed p = run("ms k 5 F4294967295 T-1 C18446744073709551615 MA I q b0");
  // b0: the key "k" is not valid base64, so this is an error; parse the rest separately.
  EXPECT_FALSE(p.res.ok);
  const parsed s = run("ms k 5 F4294967295 T-1 C18446744073709551615 MA I q E7");
  ASSERT_TRUE(s.res.ok);
  EXPECT_EQ(s.req.datalen, 5);
  EXPECT_EQ(s.req.f.client_flags, 4294967295u);
  EXPECT_TRUE(s.req.f.new_ttl);
  EXPECT_EQ(s.req.f.exptime, -1);
  EXPECT_TRUE(s.req.f.has_cas);
  EXPECT_EQ(s.req.f.req_cas, 18446744073709551615ull);
  EXPECT_EQ(s.req.f.mode, 'A');
  EXPECT_TRUE(s.req.f.set_stale);
  EXPECT_TRUE(s.req.f.no_reply);
  EXPECT_TRUE(s.req.f.has_new_cas);
  EXPECT_EQ(s.req.f.new_cas, 7u);
  const parsed a = run("ma k N0 J42 D9 M- T+5 R30");
  ASSERT_TRUE(a.res.ok);
  EXPECT_TRUE(a.req.f.vivify);
  EXPECT_EQ(a.req.f.autoviv_exptime, 0);
  EXPECT_EQ(a.req.f.initial, 42u);
  EXPECT_EQ(a.req.f.delta, 9u);
  EXPECT_EQ(a.req.f.mode, '-');
  EXPECT_EQ(a.req.f.exptime, 5);
  EXPECT_TRUE(a.req.f.recache);
  EXPECT_EQ(a.req.f.recache_time, 30);
  EXPECT_EQ(run("ma k").req.f.delta, 1u);  // default delta
}

TEST(meta_parser, numbers_read_as_memcached_reads_them) {
  // F is uint32 from a 64-bit strtoul: wraps above 2^32, refuses a negative.
  EXPECT_EQ(run("ms k 1 F4294967296").req.f.client_flags, 0u);
  EXPECT_EQ(err("ms k 1 F-1"), "CLIENT_ERROR bad command line format");
  EXPECT_EQ(run("ms k 1 F-0").req.f.client_flags, 0u);
  // T is int32 from a 64-bit strtol: 99999999999 wraps to 1215752191.
  EXPECT_EQ(run("mg k T99999999999").req.f.exptime, 1215752191);
  EXPECT_EQ(run("mg k T2147483647").req.f.exptime, 2147483647);
  EXPECT_EQ(run("mg k T-2147483648").req.f.exptime, -2147483647 - 1);
  EXPECT_EQ(err("mg k T9223372036854775808"), "CLIENT_ERROR bad token in command line format");
  // C is uint64: 2^64 overflows, a minus is refused, a plus accepted.
  EXPECT_EQ(err("mg k C18446744073709551616"), "CLIENT_ERROR bad token in command line format");
  EXPECT_EQ(err("mg k C-1"), "CLIENT_ERROR bad token in command line format");
  EXPECT_EQ(run("mg k C+1").req.f.req_cas, 1u);
  // Empty number tokens are errors.
  EXPECT_EQ(err("mg k T"), "CLIENT_ERROR bad token in command line format");
  EXPECT_EQ(err("mg k N"), "CLIENT_ERROR bad token in command line format");
  EXPECT_EQ(err("mg k R"), "CLIENT_ERROR bad token in command line format");
  EXPECT_EQ(err("mg k C"), "CLIENT_ERROR bad token in command line format");
  EXPECT_EQ(err("mg k Nabc"), "CLIENT_ERROR bad token in command line format");
  EXPECT_EQ(err("mg k N5x"), "CLIENT_ERROR bad token in command line format");
  EXPECT_EQ(err("mg k Jabc"), "CLIENT_ERROR invalid numeric initial value");
  EXPECT_EQ(err("mg k J"), "CLIENT_ERROR invalid numeric initial value");
  EXPECT_EQ(err("mg k Dabc"), "CLIENT_ERROR invalid numeric delta value");
  EXPECT_EQ(err("mg k D-1"), "CLIENT_ERROR invalid numeric delta value");
  EXPECT_EQ(err("mg k E-1"), "CLIENT_ERROR bad token in command line format");
}

TEST(meta_parser, flag_errors_in_memcacheds_order) {
  EXPECT_EQ(err("mg k x"), "CLIENT_ERROR invalid flag");
  EXPECT_EQ(err("mg k 1"), "CLIENT_ERROR invalid flag");
  EXPECT_EQ(err("mg k S2"), "CLIENT_ERROR invalid flag");
  EXPECT_EQ(err("mg k v v"), "CLIENT_ERROR duplicate flag");
  EXPECT_EQ(err("mg k O1 O2"), "CLIENT_ERROR duplicate flag");
  EXPECT_EQ(err("mg k vx vy"), "CLIENT_ERROR duplicate flag");
  EXPECT_EQ(err("mg k \xc3x"), "CLIENT_ERROR duplicate flag");  // a byte >= 127
  EXPECT_EQ(err("mg k \x7f"), "CLIENT_ERROR duplicate flag");
  // A bad token records its message, later ones replace it; F keeps the message.
  EXPECT_EQ(err("mg k Nabc Fx"), "CLIENT_ERROR bad token in command line format");
  EXPECT_EQ(err("mg k Fx Nabc"), "CLIENT_ERROR bad token in command line format");
  EXPECT_EQ(err("mg k Fx"), "CLIENT_ERROR bad command line format");
  EXPECT_EQ(err("mg k Jx Dx"), "CLIENT_ERROR invalid numeric delta value");
  // ... but an invalid or duplicate flag ends the scan with its own.
  EXPECT_EQ(err("mg k Nabc x"), "CLIENT_ERROR invalid flag");
  EXPECT_EQ(err("mg k Nabc Nabc"), "CLIENT_ERROR duplicate flag");
  EXPECT_EQ(err("mg k Mxy"), "CLIENT_ERROR incorrect length for M token");
  EXPECT_EQ(err("mg k M"), "CLIENT_ERROR incorrect length for M token");
  // mg ignores flags meant for other commands.
  EXPECT_EQ(err("mg k C5 F1 MZ I D3 J4"), "<ok>");
  // md and ma answer any flag error the same way.
  EXPECT_EQ(err("md k x"), "CLIENT_ERROR invalid or duplicate flag");
  EXPECT_EQ(err("md k q q"), "CLIENT_ERROR invalid or duplicate flag");
  EXPECT_EQ(err("md k Cabc"), "CLIENT_ERROR invalid or duplicate flag");
  EXPECT_EQ(err("ma k Dabc"), "CLIENT_ERROR invalid or duplicate flag");
  EXPECT_EQ(err("ma k Jabc"), "CLIENT_ERROR invalid or duplicate flag");
  EXPECT_EQ(err("ma k Mx"), "CLIENT_ERROR invalid mode for ma M token");
  EXPECT_EQ(err("ma k MI"), "<ok>");
  EXPECT_EQ(err("ma k M+"), "<ok>");
  EXPECT_EQ(err("ma k MD"), "<ok>");
  EXPECT_EQ(err("ma k M-"), "<ok>");
}

TEST(meta_parser, missing_and_too_long_keys) {
  EXPECT_EQ(err("mg"), "ERROR");
  EXPECT_EQ(err("ms"), "ERROR");
  EXPECT_EQ(err("md   "), "ERROR");
  EXPECT_EQ(err("ma"), "ERROR");
  EXPECT_EQ(err("me"), "CLIENT_ERROR bad command line format");
  const std::string k250(250, 'a'), k251(251, 'a');
  EXPECT_EQ(err("mg " + k250 + " v"), "<ok>");
  EXPECT_EQ(err("mg " + k251 + " v"), "CLIENT_ERROR bad command line format");
  EXPECT_EQ(err("md " + k251), "CLIENT_ERROR bad command line format");
  EXPECT_EQ(err("ma " + k251), "CLIENT_ERROR bad command line format");
  EXPECT_EQ(err("me " + k251), "CLIENT_ERROR bad command line format");
  const parsed s = run("ms " + k251 + " 2");
  EXPECT_EQ(s.res.error, "CLIENT_ERROR bad command line format");
  EXPECT_FALSE(s.res.swallow);  // memcached reads the data block as commands
  // The limit applies to the key as sent, before base64 decoding.
  EXPECT_EQ(err("mg " + std::string(252, 'Q') + " b"), "CLIENT_ERROR bad command line format");
}

TEST(meta_parser, flag_count_limits) {
  // 20 tokens counting the command, key (ms: length) and a terminal one.
  const std::string f17 = " k v c f s t h l u O1 P L N5 R5 T5 q C1";
  EXPECT_EQ(err("mg foo" + f17), "<ok>");
  EXPECT_EQ(err("mg foo" + f17 + " F1"), "CLIENT_ERROR options flags are too long");
  EXPECT_EQ(err("md foo" + f17), "<ok>");
  EXPECT_EQ(err("md foo" + f17 + " F1"), "CLIENT_ERROR options flags too long");
  EXPECT_EQ(err("ma foo" + f17 + " F1"), "CLIENT_ERROR options flags too long");
  const std::string f16 = " k v c f s t h l u O1 P L N5 R5 T5 q";
  EXPECT_EQ(err("ms foo 2" + f16), "<ok>");
  const parsed s = run("ms foo 2" + f16 + " F1");
  EXPECT_EQ(s.res.error, "CLIENT_ERROR options flags too long");
  EXPECT_FALSE(s.res.swallow);
  // Past 23 tokens the tokenizer stops; still too long.
  std::string many = "mg foo";
  for (int i = 0; i < 40; ++i) many += " v";
  EXPECT_EQ(err(many), "CLIENT_ERROR options flags are too long");
}

TEST(meta_parser, ms_length_and_swallow) {
  EXPECT_EQ(err("ms k"), "CLIENT_ERROR bad command line format");
  const parsed neg = run("ms k -1");
  EXPECT_EQ(neg.res.error, "CLIENT_ERROR bad command line format");
  EXPECT_FALSE(neg.res.swallow);
  EXPECT_EQ(err("ms k abc"), "CLIENT_ERROR bad command line format");
  EXPECT_EQ(err("ms k 2147483646"), "CLIENT_ERROR bad command line format");  // INT_MAX - 1
  EXPECT_EQ(run("ms k 2147483645").req.datalen, 2147483645);
  EXPECT_EQ(run("ms k 0").req.datalen, 0);
  // Errors after the length swallow the data block (length + 2).
  for (const char* line : {"ms k 2 x", "ms k 2 v v", "ms k 2 Fabc", "ms k 2 Cabc", "ms k 2 MX",
                           "ms k 2 MEE", "ms foo 2 b"}) {
    const parsed p = run(line);
    EXPECT_FALSE(p.res.ok) << line;
    EXPECT_TRUE(p.res.swallow) << line;
    EXPECT_EQ(p.res.swallow_bytes, 4u) << line;
  }
  EXPECT_EQ(err("ms k 2 MX"), "CLIENT_ERROR invalid mode for ms M token");
  EXPECT_EQ(err("ms k 2 MEE"), "CLIENT_ERROR incorrect length for M token");
  EXPECT_EQ(err("ms k 2 Fabc"), "CLIENT_ERROR bad command line format");
  // The mode error wins over an opaque error (memcached checks it last).
  EXPECT_EQ(err("ms k 2 MX O" + std::string(32, 'x')), "CLIENT_ERROR invalid mode for ms M token");
  for (const char* m : {"ME", "MA", "MP", "MR", "MS"})
    EXPECT_EQ(err(std::string("ms k 2 ") + m), "<ok>");
}

TEST(meta_parser, opaque_up_to_32_bytes) {
  const std::string o32 = "O" + std::string(31, 'x'), o33 = "O" + std::string(32, 'x');
  EXPECT_EQ(err("mg k " + o32), "<ok>");
  EXPECT_EQ(err("mg k " + o33), "CLIENT_ERROR opaque token too long");
  EXPECT_EQ(err("md k " + o33), "CLIENT_ERROR opaque token too long");
  EXPECT_EQ(err("ma k " + o33), "CLIENT_ERROR opaque token too long");
  const parsed s = run("ms k 3 " + o33);
  EXPECT_EQ(s.res.error, "CLIENT_ERROR opaque token too long");
  EXPECT_EQ(s.res.swallow_bytes, 5u);
  EXPECT_EQ(err("mg k O"), "<ok>");  // an empty opaque is echoed as "O"
}

TEST(meta_parser, base64_keys) {
  const parsed p = run("mg Zm9v b k v");
  ASSERT_TRUE(p.res.ok);
  EXPECT_EQ(p.req.key, "foo");
  EXPECT_EQ(p.req.raw_key, "Zm9v");
  EXPECT_TRUE(p.req.f.key_binary);
  EXPECT_EQ(run("mg AA== b").req.key, std::string("\0", 1));
  EXPECT_EQ(run("mg AAE= b").req.key, std::string("\0\1", 2));
  EXPECT_EQ(err("mg Zm9 b"), "CLIENT_ERROR error decoding key");  // not a multiple of 4
  EXPECT_EQ(err("mg foo b"), "CLIENT_ERROR error decoding key");
  EXPECT_EQ(err("mg ==== b"), "CLIENT_ERROR error decoding key");  // padding only
  EXPECT_EQ(err("mg A=== b"), "CLIENT_ERROR error decoding key");  // three pads
  EXPECT_EQ(err("mg !!!! b"), "CLIENT_ERROR error decoding key");  // nothing decodable
  // memcached's decoder skips bytes outside the alphabet and stops at padding.
  EXPECT_EQ(run("mg Zm!9v b").req.key, "foo");
  EXPECT_EQ(run("mg AA==Zm9v b").req.key, std::string("\0", 1));
  // The last error message wins: b before a bad token.
  EXPECT_EQ(err("mg foo b Nx"), "CLIENT_ERROR bad token in command line format");
  EXPECT_EQ(err("md foo b"), "CLIENT_ERROR invalid or duplicate flag");
  // me: only a third token of exactly "b" decodes.
  const parsed me = run("me Zm9v b");
  ASSERT_TRUE(me.res.ok);
  EXPECT_EQ(me.req.key, "foo");
  EXPECT_EQ(run("me Zm9v bx").req.key, "Zm9v");
  EXPECT_EQ(err("me Zm9 b"), "CLIENT_ERROR bad command line format");
}

TEST(meta_parser, base64_round_trip_every_length) {
  std::string raw;
  for (int n = 0; n < 188; ++n) {
    char enc[256], dec[256];
    const std::size_t e = base64_encode(raw, enc, sizeof enc);
    ASSERT_EQ(e, base64_encoded_size(raw.size()));
    const std::size_t d = base64_decode(std::string_view(enc, e), dec, sizeof dec);
    if (raw.empty()) {
      EXPECT_EQ(d, 0u);  // an empty key is not a key
    } else {
      ASSERT_EQ(std::string_view(dec, d), raw) << n;
    }
    raw.push_back(static_cast<char>(n * 37 + 11));
  }
  char small[3];
  EXPECT_EQ(base64_encode("abcd", small, sizeof small), 0u);  // no room
  EXPECT_EQ(base64_decode("Zm9vYmFy", small, 3), 0u);         // 6 bytes do not fit 3
}

TEST(meta_parser, order_facts_for_ttl_flags) {
  EXPECT_TRUE(run("mg k T5 R9").req.t_before_r);
  EXPECT_FALSE(run("mg k R9 T5").req.t_before_r);
  EXPECT_TRUE(run("mg k N9 T5").req.t_after_n);
  EXPECT_FALSE(run("mg k T5 N9").req.t_after_n);
  EXPECT_FALSE(run("mg k N9").req.t_after_n);
}

}  // namespace
}  // namespace anvil::proto::meta
