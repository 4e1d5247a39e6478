// Kernel TCP helpers for the replication stream (control side only): every call is
// bounded in time, errors come back as a reason for the log line.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace anvil::replication {

// Listening socket on ip:port (port 0: any; the bound port is written back). -1 + why.
int tcp_listen(const std::string& ip, std::uint16_t& port, std::string& why);
// Accepts one connection if one arrives within `wait`; -1 when none (why empty) or on
// error (why set).
int tcp_accept(int listen_fd, std::chrono::milliseconds wait, std::string& why);
int tcp_connect(const std::string& ip, std::uint16_t port, std::chrono::milliseconds timeout,
                std::string& why);
// Sends everything within `timeout` (the peer must keep reading). False + why.
bool tcp_send_all(int fd, std::string_view data, std::chrono::milliseconds timeout,
                  std::string& why);
// Waits up to `wait` for bytes and reads what is there (at most buf.size()). Returns the
// count, 0 when nothing arrived in time, -1 on EOF or error (why set).
long tcp_recv_some(int fd, std::span<std::byte> buf, std::chrono::milliseconds wait,
                   std::string& why);
void tcp_close(int& fd);

}  // namespace anvil::replication
