// A seeded network simulator (after smoltcp's tests/netsim.rs and fault_injector.rs):
// two stacks joined by a link that loses, duplicates, reorders, corrupts and delays
// frames from one seed, so a failing run replays exactly. Time is simulated: the loop
// jumps to the next frame arrival or stack deadline.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <random>
#include <vector>

#include "dataplane/net/wire.h"

namespace anvil::net::sim {

struct link_faults {
  double loss = 0;                  // probability a frame is dropped
  double duplicate = 0;             // probability a frame is delivered twice
  double reorder = 0;               // probability a frame gets extra delay (arrives late)
  double corrupt = 0;               // probability one bit of the frame is flipped
  nanos delay = 500'000;            // one-way base delay (0.5 ms)
  nanos reorder_delay = 2'000'000;  // up to this much extra for a reordered frame
  nanos per_byte = 8;               // serialisation: 8 ns/byte = 1 Gbit/s
};

// One direction of the link. Frames committed at `now` arrive later (or never).
class link {
 public:
  link(const link_faults& f, std::uint64_t seed) : _f(f), _rng(seed) {}

  void send(std::span<const std::byte> frame, nanos now) {
    ++sent;
    if ((drop_if && drop_if(frame)) || chance(_f.loss)) {
      ++lost;
      return;
    }
    const int copies = chance(_f.duplicate) ? 2 : 1;
    for (int k = 0; k < copies; ++k) {
      std::vector<std::byte> f(frame.begin(), frame.end());
      // Corruption hits the IP packet, never the Ethernet header: a real link's FCS
      // drops a frame with a damaged MAC, while a flipped bit in the payload is what
      // the IP and TCP checksums are for. (A flipped source MAC with intact TCP
      // checksum used to move the peer's neighbour entry to a MAC nobody owns.)
      if (chance(_f.corrupt) && f.size() > kEthHeader) {
        std::uniform_int_distribution<std::size_t> pos(kEthHeader, f.size() - 1);
        f[pos(_rng)] ^= std::byte(1u << (_rng() % 8));
        ++corrupted;
      }
      // Serialisation: the wire is busy; frames leave one after the other.
      _wire_free = std::max(_wire_free, now) + static_cast<nanos>(f.size()) * _f.per_byte;
      nanos at = _wire_free + _f.delay;
      if (chance(_f.reorder)) {
        std::uniform_int_distribution<nanos> extra(1, _f.reorder_delay);
        at += extra(_rng);
        ++reordered;
      }
      _q.emplace(at, std::move(f));
    }
  }
  nanos next_time() const { return _q.empty() ? kNever : _q.begin()->first; }
  // Pops every frame due at `now` into `out`.
  void due(nanos now, std::vector<std::vector<std::byte>>& out) {
    while (!_q.empty() && _q.begin()->first <= now) {
      out.push_back(std::move(_q.begin()->second));
      _q.erase(_q.begin());
    }
  }

  std::uint64_t sent = 0, lost = 0, corrupted = 0, reordered = 0;
  // Test hook: frames for which it returns true are lost (a chosen segment, not chance).
  std::function<bool(std::span<const std::byte>)> drop_if;

 private:
  bool chance(double p) { return p > 0 && std::uniform_real_distribution<double>(0, 1)(_rng) < p; }
  link_faults _f;
  std::mt19937_64 _rng;
  std::multimap<nanos, std::vector<std::byte>> _q;
  nanos _wire_free = 0;
};

// A frame sink that puts frames on a link at the simulator's current time.
struct link_sink {
  link* l;
  const nanos* now;
  std::byte buf[kMaxFrame];
  std::span<std::byte> begin_frame() { return {buf, kMaxFrame}; }
  void commit_frame(std::size_t len) { l->send({buf, len}, *now); }
};

}  // namespace anvil::net::sim
