// The token file: mode 0600 or stricter, a regular file, a non-empty first line; the
// bearer header parsed case-insensitively on the scheme; constant-time comparison.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "control/admin/token.h"
#include "tests/support/temp_dir.h"

namespace anvil::control::admin {
namespace {

std::string write(const std::string& dir, const std::string& name, const std::string& text,
                  mode_t mode) {
  const std::string p = dir + "/" + name;
  std::ofstream(p) << text;
  ::chmod(p.c_str(), mode);
  return p;
}

TEST(AdminToken, AnOwnerOnlyFileGivesItsFirstLine) {
  test::temp_dir d("anvil-token");
  auto r = load_token_file(write(d.path(), "t", "abc123 \r\nsecond line\n", 0600));
  ASSERT_TRUE(r.token) << r.error;
  EXPECT_EQ(*r.token, "abc123");
  r = load_token_file(write(d.path(), "ro", "x", 0400));
  ASSERT_TRUE(r.token) << r.error;
  EXPECT_EQ(*r.token, "x");
}

TEST(AdminToken, WiderModesEmptyFilesAndNonFilesAreRefusedWithTheReason) {
  test::temp_dir d("anvil-token");
  for (mode_t m : {0644, 0640, 0604, 0660, 0601}) {
    const auto r = load_token_file(write(d.path(), "wide", "tok", m));
    EXPECT_FALSE(r.token) << std::oct << m;
    EXPECT_NE(r.error.find("chmod 600"), std::string::npos) << r.error;
  }
  auto r = load_token_file(write(d.path(), "empty", "", 0600));
  EXPECT_FALSE(r.token);
  EXPECT_NE(r.error.find("no token"), std::string::npos) << r.error;
  r = load_token_file(write(d.path(), "blank", "\nsecret on line 2\n", 0600));
  EXPECT_FALSE(r.token) << "the first line is the token";
  r = load_token_file(d.path() + "/missing");
  EXPECT_FALSE(r.token);
  EXPECT_NE(r.error.find("missing"), std::string::npos);
  ::mkdir((d.path() + "/dir").c_str(), 0700);
  r = load_token_file(d.path() + "/dir");
  EXPECT_FALSE(r.token);
  r = load_token_file(write(d.path(), "huge", std::string(5000, 'x'), 0600));
  EXPECT_FALSE(r.token);
  const std::string target = write(d.path(), "real", "tok", 0600);
  ASSERT_EQ(::symlink(target.c_str(), (d.path() + "/link").c_str()), 0);
  r = load_token_file(d.path() + "/link");
  EXPECT_FALSE(r.token) << "a symlink is not followed";
}

TEST(AdminToken, BearerHeaderAndComparison) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer  abc "), "abc");
  EXPECT_EQ(bearer_token("Basic abc"), "");
  EXPECT_EQ(bearer_token("Bearer "), "");
  EXPECT_EQ(bearer_token(""), "");
  EXPECT_TRUE(token_equals("abc", "abc"));
  EXPECT_FALSE(token_equals("abc", "abd"));
  EXPECT_FALSE(token_equals("abc", "abcd"));
  EXPECT_FALSE(token_equals("", "a"));
}

}  // namespace
}  // namespace anvil::control::admin
