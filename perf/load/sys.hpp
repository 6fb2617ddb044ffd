#pragma once
// The few system services every load client needs: clocks, CPU accounting,
// the fd limit and TCP connect.
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "cli.hpp"

namespace ringxfer::perf {

std::uint64_t monotonic_ns();
void sleep_until_ns(std::uint64_t deadline_ns);

// CPU seconds this process has used so far (all threads; getrusage).
struct CpuTimes {
  double user_s = 0;
  double sys_s = 0;
  double total_s() const { return user_s + sys_s; }
};
CpuTimes process_cpu_times();
CpuTimes operator-(const CpuTimes& a, const CpuTimes& b);

// Raises RLIMIT_NOFILE's soft limit to the hard limit and returns the new
// soft limit.
std::uint64_t raise_fd_limit();

// A resolved numeric address (no DNS: the load runs on literals).
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = 0;
};
SocketAddress resolve(const Endpoint& endpoint);

// Blocking connect with a timeout; returns a non-blocking socket with
// TCP_NODELAY set. Throws RuntimeError naming the endpoint and the errno.
int connect_tcp(const SocketAddress& address, const Endpoint& endpoint, double timeout_s);

void set_nonblocking(int fd);
void set_blocking(int fd);
void set_nodelay(int fd);

std::string errno_text(int error);

}  // namespace ringxfer::perf
