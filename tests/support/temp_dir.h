// A fresh directory under /tmp for one test, removed with everything in it when the
// object goes. Its name starts with `prefix`, so a crashed run's leftovers say whose
// they are. Header-only: any test folder can use it.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace anvil::test {

class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "anvil-io") {
    std::string t = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(t.data()) == nullptr) std::abort();
    _path = t;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(_path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return _path; }

 private:
  std::string _path;
};

}  // namespace anvil::test
