// Template part of snapshot_files.h.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

namespace anvil::io {

template <class T>
std::optional<T> call_with_deadline(std::function<T()> fn, std::chrono::milliseconds timeout,
                                    storage_health* health) {
  struct shared {
    std::mutex m;
    std::condition_variable cv;
    std::optional<T> value;
    bool done = false;
  };
  auto st = std::make_shared<shared>();
  std::thread t([st, fn = std::move(fn)]() mutable {
    T v = fn();
    std::lock_guard lk(st->m);
    st->value = std::move(v);
    st->done = true;
    st->cv.notify_all();
  });
  std::unique_lock lk(st->m);
  if (!st->cv.wait_for(lk, timeout, [&] { return st->done; })) {
    lk.unlock();
    t.detach();
    if (health != nullptr) health->add(storage_health::threads_abandoned);
    return std::nullopt;
  }
  lk.unlock();
  t.join();
  return std::move(st->value);
}

}  // namespace anvil::io
