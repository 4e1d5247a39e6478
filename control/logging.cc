#include "control/logging.h"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <future>
#include <memory>
#include <thread>

namespace anvil::control {

void start_logging(spdlog::level::level_enum level) {
  spdlog::init_thread_pool(kLogQueueLines, 1);
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger =
      std::make_shared<spdlog::async_logger>("anvil", std::move(sink), spdlog::thread_pool(),
                                             spdlog::async_overflow_policy::overrun_oldest);
  spdlog::set_default_logger(std::move(logger));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(level);
  spdlog::flush_on(spdlog::level::trace);  // each line reaches stderr as the thread writes it
}

std::size_t dropped_lines() {
  auto pool = spdlog::thread_pool();
  return pool ? pool->overrun_counter() : 0;
}

bool finish_logging(std::chrono::milliseconds bound) {
  // spdlog::shutdown() drains the queue and joins the logging thread; run it where a
  // stalled write cannot hold this thread past the bound.
  std::packaged_task<void()> drain([] { spdlog::shutdown(); });
  auto done = drain.get_future();
  std::thread t(std::move(drain));
  if (done.wait_for(bound) == std::future_status::ready) {
    t.join();
    return true;
  }
  t.detach();  // stuck in the sink's write(2): the caller exits without waiting for it
  return false;
}

}  // namespace anvil::control
