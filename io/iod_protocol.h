// The wire between an io thread's ring and its I/O process (anvil-iod), shared by both
// sides. Why a separate process: an I/O that a filesystem never completes leaves the
// kernel worker that issued it in an uninterruptible wait, and a process cannot exit
// while one of its threads is in such a wait. When the ring lives in anvil-iod, a hung
// filesystem strands only that small process; the server abandons it, starts a fresh
// one for the next attempt, and still exits (and frees its cache memory) on shutdown.
//
// Transport: a SOCK_SEQPACKET socketpair (fd 3 in the child) and a shared memory arena
// (a memfd, fd 4 in the child) that holds every buffer and path an SQE points to. SQEs
// travel verbatim except their pointer fields, which carry arena offsets on the wire.
// Only the operations listed in map_pointers are accepted; anything else is refused
// before it is sent (-EOPNOTSUPP), so a new use fails loudly instead of misbehaving.
//
// Messages (each one packet, little endian, native struct layout: both ends are the
// same build):
//   parent -> child  submit:    msg_header{kSubmit, n} + n io_uring_sqe
//                    register:  msg_header{kRegister, n} + n buffer_range
//   child -> parent  completed: msg_header{kCompleted, n} + n completion_record
//                    registered: msg_header{kRegistered, 1} + int32 result
#pragma once

#include <liburing.h>

#include <cstdint>

namespace anvil::io::iod {

constexpr int kSocketFd = 3;
constexpr int kArenaFd = 4;
constexpr unsigned kMaxBatch = 64;  // records per packet either way

enum msg_type : std::uint32_t { kSubmit = 1, kRegister = 2, kCompleted = 3, kRegistered = 4 };

struct msg_header {
  std::uint32_t type;
  std::uint32_t count;
};

struct buffer_range {
  std::uint64_t offset;
  std::uint64_t length;
};

struct completion_record {
  std::uint64_t tag;
  std::int32_t res;
  std::uint32_t pad;
};

constexpr std::size_t kMaxPacket = sizeof(msg_header) + kMaxBatch * sizeof(io_uring_sqe);

// Applies `map` to every field of `s` that holds a pointer into memory (a buffer, a
// path, a statx result). Returns false for an operation this channel does not carry.
template <class Map>
bool map_pointers(io_uring_sqe& s, Map&& map) {
  switch (s.opcode) {
    case IORING_OP_READ:
    case IORING_OP_WRITE:
    case IORING_OP_READ_FIXED:
    case IORING_OP_WRITE_FIXED:
    case IORING_OP_OPENAT:
    case IORING_OP_UNLINKAT:
    case IORING_OP_MKDIRAT:
      return map(s.addr);
    case IORING_OP_RENAMEAT:  // old path in addr, new path in addr2
    case IORING_OP_STATX:     // path in addr, struct statx in addr2
      return map(s.addr) && map(s.addr2);
    case IORING_OP_FSYNC:
    case IORING_OP_CLOSE:
    case IORING_OP_NOP:
      return true;
    default:
      return false;
  }
}

}  // namespace anvil::io::iod
