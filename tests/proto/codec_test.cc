// The codec without the engine: header decoding, per-opcode validation (memcached's
// table), response encoding, SHA-256/HMAC/PBKDF2 test vectors, the credentials file
// and the prefix-stats table.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/proto/parser.h"
#include "dataplane/proto/prefix_stats.h"
#include "dataplane/proto/sasl.h"
#include "dataplane/proto/sha256.h"
#include "dataplane/proto/writer.h"
#include "tests/proto/wire_util.h"

namespace anvil::proto::testing {
namespace {

request_header hdr_of(const std::string& packet) {
  return decode_header(reinterpret_cast<const std::byte*>(packet.data()));
}

TEST(header, decodes_big_endian_fields) {
  const std::string p = encode({.opcode = op::set,
                                .key = "key",
                                .extras = be64s(0),
                                .value = "value",
                                .opaque = 0x01020304,
                                .cas = 0x1122334455667788});
  const request_header h = hdr_of(p);
  EXPECT_EQ(h.magic, 0x80);
  EXPECT_EQ(h.opcode, op::set);
  EXPECT_EQ(h.keylen, 3);
  EXPECT_EQ(h.extlen, 8);
  EXPECT_EQ(h.bodylen, 16u);
  EXPECT_EQ(h.cas, 0x1122334455667788u);
  const request r = make_request(h, reinterpret_cast<const std::byte*>(p.data()));
  EXPECT_EQ(r.key, "key");
  EXPECT_EQ(r.value, "value");
  EXPECT_EQ(r.extras.size(), 8u);
  EXPECT_EQ(r.size(), p.size());
}

struct vcase {
  const char* name;
  req_spec spec;
  verdict framing;
  verdict command;
};

TEST(validation, memcached_rules_per_opcode) {
  const std::string k250(250, 'k'), k251(251, 'k');
  const vcase table[] = {
      {"bad magic", {.opcode = op::noop, .magic = 0x81}, verdict::bad_magic, verdict::ok},
      {"response magic",
       {.opcode = op::get, .key = "a", .magic = 0x00},
       verdict::bad_magic,
       verdict::ok},
      {"keylen > bodylen",
       {.opcode = op::get, .key = "abc", .bodylen = 2},
       verdict::bad_lengths,
       verdict::ok},
      {"key+ext > bodylen",
       {.opcode = op::set, .key = "a", .extras = be64s(0), .bodylen = 8},
       verdict::bad_lengths,
       verdict::ok},
      {"key 250", {.opcode = op::get, .key = k250}, verdict::ok, verdict::ok},
      {"key 251", {.opcode = op::get, .key = k251}, verdict::ok, verdict::invalid},
      {"key 251 unknown op", {.opcode = 0x55, .key = k251}, verdict::ok, verdict::invalid},
      {"get", {.opcode = op::get, .key = "a"}, verdict::ok, verdict::ok},
      {"get no key", {.opcode = op::getk}, verdict::ok, verdict::invalid},
      {"get extras",
       {.opcode = op::getq, .key = "a", .extras = "1234"},
       verdict::ok,
       verdict::invalid},
      {"get value", {.opcode = op::getkq, .key = "a", .value = "v"}, verdict::ok, verdict::invalid},
      {"set",
       {.opcode = op::set, .key = "a", .extras = be64s(0), .value = "v"},
       verdict::ok,
       verdict::ok},
      {"set empty value",
       {.opcode = op::setq, .key = "a", .extras = be64s(0)},
       verdict::ok,
       verdict::ok},
      {"set extras 4",
       {.opcode = op::add, .key = "a", .extras = be32s(0)},
       verdict::ok,
       verdict::invalid},
      {"set no key",
       {.opcode = op::replace, .extras = be64s(0), .value = "v"},
       verdict::ok,
       verdict::invalid},
      {"set too large",
       {.opcode = op::set, .key = "a", .extras = be64s(0), .value = std::string(101, 'v')},
       verdict::ok,
       verdict::too_large},
      {"set at cap",
       {.opcode = op::set, .key = "a", .extras = be64s(0), .value = std::string(100, 'v')},
       verdict::ok,
       verdict::ok},
      {"append", {.opcode = op::append, .key = "a", .value = "v"}, verdict::ok, verdict::ok},
      {"append extras",
       {.opcode = op::prepend, .key = "a", .extras = "1234", .value = "v"},
       verdict::ok,
       verdict::invalid},
      {"append no key", {.opcode = op::appendq, .value = "v"}, verdict::ok, verdict::invalid},
      {"append too large",
       {.opcode = op::prependq, .key = "a", .value = std::string(101, 'v')},
       verdict::ok,
       verdict::too_large},
      {"delete", {.opcode = op::del, .key = "a"}, verdict::ok, verdict::ok},
      {"delete value",
       {.opcode = op::delq, .key = "a", .value = "x"},
       verdict::ok,
       verdict::invalid},
      {"incr",
       {.opcode = op::incr, .key = "a", .extras = std::string(20, '\0')},
       verdict::ok,
       verdict::ok},
      {"incr extras 8",
       {.opcode = op::decr, .key = "a", .extras = be64s(1)},
       verdict::ok,
       verdict::invalid},
      {"incr value",
       {.opcode = op::incrq, .key = "a", .extras = std::string(20, '\0'), .value = "x"},
       verdict::ok,
       verdict::invalid},
      {"incr no key",
       {.opcode = op::decrq, .extras = std::string(20, '\0')},
       verdict::ok,
       verdict::invalid},
      {"flush", {.opcode = op::flush}, verdict::ok, verdict::ok},
      {"flush delay", {.opcode = op::flushq, .extras = be32s(5)}, verdict::ok, verdict::ok},
      {"flush extras 2", {.opcode = op::flush, .extras = "12"}, verdict::ok, verdict::invalid},
      {"flush key", {.opcode = op::flush, .key = "a"}, verdict::ok, verdict::invalid},
      {"noop", {.opcode = op::noop}, verdict::ok, verdict::ok},
      {"noop body", {.opcode = op::noop, .value = "x"}, verdict::ok, verdict::invalid},
      {"version body", {.opcode = op::version, .key = "x"}, verdict::ok, verdict::invalid},
      {"quit body", {.opcode = op::quitq, .extras = "x"}, verdict::ok, verdict::invalid},
      {"stat", {.opcode = op::stat}, verdict::ok, verdict::ok},
      {"stat key", {.opcode = op::stat, .key = "items"}, verdict::ok, verdict::ok},
      {"stat extras", {.opcode = op::stat, .extras = "1234"}, verdict::ok, verdict::invalid},
      {"touch", {.opcode = op::touch, .key = "a", .extras = be32s(1)}, verdict::ok, verdict::ok},
      {"gat no extras", {.opcode = op::gat, .key = "a"}, verdict::ok, verdict::invalid},
      {"gatkq no key", {.opcode = op::gatkq, .extras = be32s(1)}, verdict::ok, verdict::invalid},
      {"sasl list", {.opcode = op::sasl_list_mechs}, verdict::ok, verdict::ok},
      {"sasl list body",
       {.opcode = op::sasl_list_mechs, .value = "x"},
       verdict::ok,
       verdict::invalid},
      {"sasl auth",
       {.opcode = op::sasl_auth, .key = "PLAIN", .value = "x"},
       verdict::ok,
       verdict::ok},
      {"sasl auth no key", {.opcode = op::sasl_auth, .value = "x"}, verdict::ok, verdict::invalid},
      {"sasl step extras",
       {.opcode = op::sasl_step, .key = "PLAIN", .extras = "1"},
       verdict::ok,
       verdict::invalid},
      {"verbosity",
       {.opcode = op::verbosity, .extras = be32s(1)},
       verdict::ok,
       verdict::unknown_command},
      {"unknown 0x25", {.opcode = 0x25}, verdict::ok, verdict::unknown_command},
      {"unknown 0xff body",
       {.opcode = 0xff, .key = "k", .extras = "e", .value = "v"},
       verdict::ok,
       verdict::unknown_command},
  };
  for (const vcase& c : table) {
    SCOPED_TRACE(c.name);
    const request_header h = hdr_of(encode(c.spec));
    EXPECT_EQ(check_framing(h), c.framing);
    if (c.framing == verdict::ok) {
      EXPECT_EQ(check_command(h, 100), c.command);
    }
  }
}

TEST(validation, known_opcodes) {
  int known = 0;
  for (int o = 0; o < 256; ++o) known += known_opcode(static_cast<std::uint8_t>(o));
  EXPECT_EQ(known, 0x1b + 5 + 3);  // 0x00..0x1a, touch/gat/gatq/gatk/gatkq, 3 SASL
  EXPECT_FALSE(known_opcode(op::verbosity));
  EXPECT_TRUE(allowed_unauthenticated(op::version));
  EXPECT_FALSE(allowed_unauthenticated(op::noop));
}

TEST(writer, encodes_response_and_refuses_when_full) {
  std::byte mem[64];
  output_sink out{mem, sizeof mem, 0};
  const std::byte ext[4] = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{9}};
  ASSERT_TRUE(
      write_response(out, echo{op::getkq, 0x44332211}, status::success, 77, ext, "k", "val"));
  const auto rs = decode_responses({reinterpret_cast<const char*>(mem), out.size});
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].magic, kResponseMagic);
  EXPECT_EQ(rs[0].opcode, op::getkq);
  EXPECT_EQ(rs[0].cas, 77u);
  EXPECT_EQ(rs[0].key, "k");
  EXPECT_EQ(rs[0].value, "val");
  EXPECT_EQ(rs[0].extras, be32s(9));
  std::uint32_t raw;
  std::memcpy(&raw, mem + 12, 4);
  EXPECT_EQ(raw, 0x44332211u) << "opaque echoed as raw bytes";
  const std::size_t before = out.size;
  EXPECT_FALSE(write_error(out, echo{op::get, 0}, status::delta_badval));
  EXPECT_EQ(out.size, before) << "a refused write leaves the sink untouched";
  EXPECT_EQ(error_text(status::delta_badval).size(), kMaxErrorText);
}

std::string hex(const sha256_digest& d) {
  static const char* x = "0123456789abcdef";
  std::string s;
  for (auto b : d) {
    s += x[b >> 4];
    s += x[b & 15];
  }
  return s;
}

TEST(crypto, sha256_hmac_pbkdf2_vectors) {
  sha256 e;
  EXPECT_EQ(hex(e.finish()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  sha256 abc;
  abc.update("abc");
  EXPECT_EQ(hex(abc.finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  sha256 two;
  two.update("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
  EXPECT_EQ(hex(two.finish()), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // Padding edges: the length fits the last block (55), just does not (56, 63), a
  // whole block (64), and the same past a block (119, 120). Digests from Python's hashlib.
  const std::pair<std::size_t, const char*> pads[] = {
      {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
      {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
      {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
      {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"}};
  for (const auto& [n, want] : pads) {
    sha256 h;
    h.update(std::string(n, 'a'));
    EXPECT_EQ(hex(h.finish()), want) << n;
  }
  EXPECT_EQ(hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex(pbkdf2_sha256("password", "salt", 1)),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
  EXPECT_EQ(hex(pbkdf2_sha256("password", "salt", 2)),
            "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43");
  EXPECT_EQ(hex(pbkdf2_sha256("password", "salt", 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
}

TEST(credentials_file, parse_verify_and_reject) {
  std::string err;
  const std::string text = "# users\n" + credentials::make_line("alice", "pw1", "0123456789", 50) +
                           "\r\n\n" + credentials::make_line("bob", "pw2", "abcdefgh", 10) + "\n";
  EXPECT_EQ(text.find("pw1"), std::string::npos) << "no plaintext in the file";
  auto c = credentials::parse(text, &err);
  ASSERT_TRUE(c) << err;
  EXPECT_EQ(c->size(), 2u);
  EXPECT_TRUE(c->verify("alice", "pw1"));
  EXPECT_FALSE(c->verify("alice", "pw2"));
  EXPECT_FALSE(c->verify("carol", "pw1"));
  EXPECT_TRUE(check_plain(*c, std::string("\0bob\0pw2", 8)));
  EXPECT_FALSE(check_plain(*c, std::string("bob\0pw2", 7)));
  EXPECT_FALSE(check_plain(*c, std::string("\0\0pw2", 5)));
  for (const char* bad : {"alice:plain:1:00:00", "alice:pbkdf2-sha256:0:0011223344556677:",
                          "alice:pbkdf2-sha256:x:0011223344556677:00",
                          "alice:pbkdf2-sha256:10:00:", "noseparators", ":pbkdf2-sha256:1:a:b"}) {
    EXPECT_FALSE(credentials::parse(bad, &err)) << bad;
    EXPECT_FALSE(err.empty());
  }
  EXPECT_FALSE(credentials::load_file("/nonexistent/anvil-creds", &err));
}

TEST(sasl_plain, parse_forms) {
  using namespace std::string_literals;
  const std::string simple = "\0alice\0pw"s;  // the views point into the message
  auto m = parse_plain(simple);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->authcid, "alice");
  EXPECT_EQ(m->passwd, "pw");
  const std::string authzid = "alice\0alice\0"s;  // authzid = authcid, empty password
  m = parse_plain(authzid);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->authcid, "alice");
  EXPECT_EQ(m->passwd, "");
  EXPECT_FALSE(parse_plain("bob\0alice\0pw"s));  // proxy authorisation refused
  EXPECT_FALSE(parse_plain("\0\0pw"s));          // empty authcid
  EXPECT_FALSE(parse_plain("\0alice"s));         // one NUL
  EXPECT_FALSE(parse_plain(""));
}

// The verified cache: what went in is found, what did not is not (same bytes split
// differently between user and password included); full, the oldest goes first.
TEST(sasl_verified_cache, contains_insert_and_replacement) {
  std::array<std::uint8_t, 32> key{};
  key[0] = 1;
  verified_cache c(key);
  const plain_message a{"alice", "s3cret"};
  EXPECT_FALSE(c.contains(a));
  c.insert(a);
  EXPECT_TRUE(c.contains(a));
  EXPECT_FALSE(c.contains({"alic", "es3cret"}));
  EXPECT_FALSE(c.contains({"alice", "s3cre"}));
  EXPECT_FALSE(c.contains({"alice", ""}));
  std::vector<std::string> users;
  for (std::size_t i = 0; i < verified_cache::kEntries; ++i)
    users.push_back("u" + std::to_string(i));
  for (std::size_t i = 0; i + 1 < verified_cache::kEntries; ++i) c.insert({users[i], "p"});
  EXPECT_TRUE(c.contains(a)) << "full, nothing replaced yet";
  c.insert({users.back(), "p"});  // one past full: alice (the oldest) goes
  EXPECT_FALSE(c.contains(a));
  for (const auto& u : users) EXPECT_TRUE(c.contains({u, "p"})) << u;
  // Another key gives other digests: nothing is shared between caches.
  key[0] = 2;
  verified_cache other(key);
  EXPECT_FALSE(other.contains({users[0], "p"}));
}

TEST(constant_time, equal) {
  const std::uint8_t a[3] = {1, 2, 3}, b[3] = {1, 2, 4};
  EXPECT_TRUE(constant_time_equal(a, a, 3));
  EXPECT_FALSE(constant_time_equal(a, b, 3));
}

TEST(prefix_stats_table, records_and_dumps) {
  prefix_stats p;
  p.record_get("a:1", true);
  p.record_get("a:2", false);
  p.record_set("b:x");
  p.record_delete("nocolon");
  p.record_get(std::string(100, 'z') + ":1", true);  // prefix too long: not recorded
  char buf[prefix_stats::kDumpCapacity];
  EXPECT_EQ(p.dump(buf),
            "PREFIX a get 2 hit 1 set 0 del 0\r\nPREFIX b get 0 hit 0 set 1 del 0\r\nEND\r\n");
  for (int i = 0; i < 200; ++i) p.record_set("p" + std::to_string(i) + ":k");
  EXPECT_LE(p.dump(buf).size(), sizeof buf);
}

}  // namespace
}  // namespace anvil::proto::testing
