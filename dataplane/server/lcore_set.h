// Starts one pinned thread per lcore, each running a poll_loop over its own port queue
// and its own handler, and stops them together. The control thread owns this object;
// it reads the counters (single writer each) and sets the stop flag.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/server/cpu_pin.h"
#include "dataplane/server/loop_counters.h"
#include "dataplane/server/poll_loop.h"

namespace anvil::server {

template <port::packet_port P, class H>
class lcore_set {
 public:
  // make_handler(lcore index) builds each lcore's handler on the control thread.
  // on_pin_failure(lcore, cpu) is called on the lcore thread if pinning fails.
  lcore_set(std::vector<std::unique_ptr<P>>& ports, std::vector<unsigned> cpus,
            const cpu_topology& topo, loop_config cfg,
            const std::function<std::unique_ptr<H>(unsigned)>& make_handler,
            std::function<void(unsigned, unsigned)> on_pin_failure = {})
      : _ports(ports), _counters(ports.size()), _finished(0) {
    for (unsigned i = 0; i < ports.size(); ++i) _handlers.push_back(make_handler(i));
    for (unsigned i = 0; i < ports.size(); ++i) {
      _threads.emplace_back([this, i, cpu = cpus.at(i), &topo, cfg, on_pin_failure] {
        if (!topo.pin_current_thread(cpu) && on_pin_failure) on_pin_failure(i, cpu);
        poll_loop loop(*_ports[i], *_handlers[i], cfg, _counters[i]);
        loop.run(_stop);
        _finished.fetch_add(1, std::memory_order_release);
      });
    }
  }
  ~lcore_set() {
    request_stop();
    for (auto& t : _threads)
      if (t.joinable()) t.join();
  }
  lcore_set(const lcore_set&) = delete;
  lcore_set& operator=(const lcore_set&) = delete;

  void request_stop() { _stop.store(true, std::memory_order_relaxed); }

  // Waits until every loop has returned or `timeout` passes; true when all returned
  // (then the threads are joined).
  bool wait_stopped(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (_finished.load(std::memory_order_acquire) < _threads.size()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    for (auto& t : _threads) t.join();
    return true;
  }

  std::size_t size() const { return _threads.size(); }
  const loop_counters& counters(unsigned i) const { return _counters[i]; }
  const P& port(unsigned i) const { return *_ports[i]; }

 private:
  std::vector<std::unique_ptr<P>>& _ports;
  std::vector<std::unique_ptr<H>> _handlers;
  std::vector<loop_counters> _counters;
  std::atomic<bool> _stop{false};
  std::atomic<std::size_t> _finished;
  std::vector<std::thread> _threads;
};

}  // namespace anvil::server
