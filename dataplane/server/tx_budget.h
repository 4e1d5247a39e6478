// A per-iteration transmit budget between the stack and the port: the frame sink the
// stack's flush writes into, which stops handing out buffers once the lcore has sent
// `kTxBudgetFrames` in this poll-loop iteration (or when the port itself has none).
// The stack reads an empty begin_frame() as back-pressure and keeps the rest of its
// output owed (net/stack.h), so nothing is lost: the loop polls RX, then resumes.
//
// Why: one flush used to release a connection's whole congestion window (a 1 MB GET:
// ~700 frames) without reading RX in between. The peer's ACKs to that burst piled up
// in the RX ring; on DPDK's net_af_packet (PACKET_FANOUT_FLAG_ROLLOVER) a ring past
// 3/4 full rolls a heavy flow's frames over to another queue, whose lcore does not
// know the connection and answers with RST. 64 frames per iteration keeps the ACKs an
// iteration provokes within a few RX bursts. Hot path: a counter, no call to the port
// beyond what the stack asked for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace anvil::server {

inline constexpr std::uint32_t kTxBudgetFrames = 64;

template <class Sink>
class budget_sink {
 public:
  budget_sink(Sink& port, std::uint32_t& left) : _port(port), _left(left) {}

  std::span<std::byte> begin_frame() {
    if (_left == 0) {
      _held = true;
      return {};
    }
    auto b = _port.begin_frame();
    if (b.empty()) _held = true;
    return b;
  }
  void commit_frame(std::size_t len) {
    if (_left > 0) --_left;
    _port.commit_frame(len);
  }
  // True when a begin_frame() was refused: the stack holds output for a later flush.
  bool held() const { return _held; }

 private:
  Sink& _port;
  std::uint32_t& _left;
  bool _held = false;
};

}  // namespace anvil::server
