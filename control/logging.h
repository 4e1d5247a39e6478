// The server's log: logfmt lines to stderr, written by a logging thread so that no
// other thread ever waits for the log's consumer.
//
// Why: stderr is a file on the host's disk (tests, `make run`) or a pipe to journald
// (systemd). When that consumer stalls (a disk busy with writeback, a journal commit, a
// journald that does not read), a synchronous write(2) blocks the thread that logs. The
// control thread logs every start-up stage, so a stalled log stopped start-up between two
// lines (the two-lcore "start hang": event=port_open, then no event=started), and with it
// the engine clock and SIGTERM handling. Now a line is queued and the caller goes on.
//
// Invariants: log calls never block on the sink (a full queue drops its oldest line and
// counts it: dropped_lines()); start_logging() runs after the signal mask is set, so the
// logging thread never takes SIGINT/SIGTERM; finish_logging(bound) writes what is queued
// but gives up after `bound`, so a stalled log cannot keep the process from exiting.
#pragma once

#include <spdlog/common.h>

#include <chrono>
#include <cstddef>

namespace anvil::control {

// Lines that fit in the queue before the oldest is dropped (about 8 MiB of lines).
inline constexpr std::size_t kLogQueueLines = 8192;

// The default spdlog logger becomes the asynchronous stderr logger at `level`.
void start_logging(spdlog::level::level_enum level);
// Lines dropped because the queue was full (the sink stalled or could not keep up).
std::size_t dropped_lines();
// Writes every queued line and stops the logging thread: true when done within `bound`;
// false when the sink is still stalled (the thread is left behind: exit with _Exit).
bool finish_logging(std::chrono::milliseconds bound);

}  // namespace anvil::control
