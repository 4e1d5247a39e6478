// Starts one pinned thread per lcore, each running a poll_loop over its own port queue
// and its own handler, and stops them together. The control thread owns this object;
// it reads the counters (single writer each) and sets the stop flag.
//
// Start-up is observable and bounded: each lcore records how far it got (thread running,
// pinned, polling) and wait_started(timeout) returns once every lcore polls, or false
// when the bound passes; start_report() then says which lcore stopped where, so the
// binary can fail with a reason instead of hanging. Nothing here waits for an lcore to
// be scheduled except wait_started itself, and no lcore ever waits for another.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
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
      : _ports(ports),
        _counters(ports.size()),
        _stage(new std::atomic<std::uint8_t>[ports.size()]),
        _cpus(cpus),
        _finished(0) {
    for (unsigned i = 0; i < ports.size(); ++i) _stage[i].store(kCreated);
    for (unsigned i = 0; i < ports.size(); ++i) _handlers.push_back(make_handler(i));
    _threads.reserve(ports.size());
    try {
      start_threads(cpus, topo, cfg, on_pin_failure);
    } catch (...) {
      // A thread that could not be created (EAGAIN: a thread/pid limit) must not leave
      // the others joinable in a half-built object: std::terminate would follow.
      request_stop();
      for (auto& t : _threads)
        if (t.joinable()) t.join();
      throw;
    }
  }

 private:
  void start_threads(const std::vector<unsigned>& cpus, const cpu_topology& topo, loop_config cfg,
                     const std::function<void(unsigned, unsigned)>& on_pin_failure) {
    for (unsigned i = 0; i < _ports.size(); ++i) {
      _threads.emplace_back([this, i, cpu = cpus.at(i), &topo, cfg, on_pin_failure] {
        _stage[i].store(kRunning, std::memory_order_release);
        if (!topo.pin_current_thread(cpu) && on_pin_failure) on_pin_failure(i, cpu);
        _stage[i].store(kPinned, std::memory_order_release);
        poll_loop loop(*_ports[i], *_handlers[i], cfg, _counters[i]);
        loop.run(_stop, [&] {
          _stage[i].store(kPolling, std::memory_order_release);
          _polling.fetch_add(1, std::memory_order_release);
        });
        _finished.fetch_add(1, std::memory_order_release);
      });
    }
  }

 public:
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

  // Waits until every lcore polls (true) or `timeout` passes (false).
  bool wait_started(std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (_polling.load(std::memory_order_acquire) < _threads.size()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
  // "lcore 1 cpu 1: thread created but never ran; ..." for every lcore not yet polling.
  std::string start_report() const {
    static constexpr const char* kWhere[] = {"thread created but never scheduled",
                                             "running, not yet pinned",
                                             "pinned, setting up its port queue", "polling"};
    std::string out;
    for (std::size_t i = 0; i < _threads.size(); ++i) {
      const auto st = _stage[i].load(std::memory_order_acquire);
      if (st == kPolling) continue;
      if (!out.empty()) out += "; ";
      out +=
          "lcore " + std::to_string(i) + " cpu " + std::to_string(_cpus.at(i)) + ": " + kWhere[st];
    }
    return out;
  }

  std::size_t size() const { return _threads.size(); }
  const loop_counters& counters(unsigned i) const { return _counters[i]; }
  const P& port(unsigned i) const { return *_ports[i]; }

 private:
  std::vector<std::unique_ptr<P>>& _ports;
  std::vector<std::unique_ptr<H>> _handlers;
  std::vector<loop_counters> _counters;
  static constexpr std::uint8_t kCreated = 0, kRunning = 1, kPinned = 2, kPolling = 3;
  std::unique_ptr<std::atomic<std::uint8_t>[]> _stage;  // per lcore, written by that lcore
  std::vector<unsigned> _cpus;
  std::atomic<bool> _stop{false};
  std::atomic<std::size_t> _polling{0};
  std::atomic<std::size_t> _finished;
  std::vector<std::thread> _threads;
};

}  // namespace anvil::server
