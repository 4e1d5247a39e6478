// Captures spdlog lines (while alive) so tests can assert that a reason was logged.
#pragma once

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace anvil::io::test {

class log_capture {
 public:
  log_capture() {
    _ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
    _old = spdlog::default_logger();
    auto both = std::make_shared<spdlog::logger>(
        "capture",
        spdlog::sinks_init_list{_ring, std::make_shared<spdlog::sinks::stderr_sink_mt>()});
    spdlog::set_default_logger(both);
  }
  ~log_capture() { spdlog::set_default_logger(_old); }
  bool contains(const std::string& needle) const {
    for (const auto& l : _ring->last_formatted()) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> _ring;
  std::shared_ptr<spdlog::logger> _old;
};

}  // namespace anvil::io::test
