#include "control/admin/token.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace anvil::control::admin {

token_load load_token_file(const std::string& path) {
  token_load r;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    r.error = "'" + path + "': " + std::strerror(errno);
    return r;
  }
  struct stat st {};
  std::string text;
  if (::fstat(fd, &st) != 0) {
    r.error = "'" + path + "': " + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    r.error = "'" + path + "' is not a regular file";
  } else if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    r.error = "'" + path + "' has mode " + mode +
              ": the token file must not be readable by group or others (chmod 600)";
  } else if (st.st_size > 4096) {
    r.error = "'" + path + "' is larger than 4096 bytes: not a token file";
  } else {
    char buf[4097];
    ssize_t n = 0, got = 0;
    while ((n = ::read(fd, buf + got, sizeof buf - 1 - static_cast<std::size_t>(got))) > 0)
      got += n;
    if (n < 0) {
      r.error = "'" + path + "': " + std::strerror(errno);
    } else {
      text.assign(buf, static_cast<std::size_t>(got));
      const auto eol = text.find('\n');
      if (eol != std::string::npos) text.resize(eol);
      while (!text.empty() && (text.back() == '\r' || text.back() == ' ' || text.back() == '\t'))
        text.pop_back();
      if (text.empty())
        r.error = "'" + path + "' holds no token (its first line is empty)";
      else
        r.token = std::move(text);
    }
  }
  ::close(fd);
  return r;
}

bool token_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string_view bearer_token(std::string_view h) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (h.size() <= kPrefix.size()) return {};
  for (std::size_t i = 0; i < kPrefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(h[i])) !=
        std::tolower(static_cast<unsigned char>(kPrefix[i])))
      return {};
  h.remove_prefix(kPrefix.size());
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  return h;
}

}  // namespace anvil::control::admin
