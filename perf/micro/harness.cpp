#include "harness.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

namespace ringxfer::perf {

FeatureSet& disabled_features() {
  static FeatureSet set;
  return set;
}

EngineOptions base_options(const Variant& variant) {
  EngineOptions options;
  options.backend = variant.backend;
  options.read_environment = false;
  options.disabled = disabled_features();
  return options;
}

std::unique_ptr<Engine> make_engine(benchmark::State& state, const EngineOptions& options) {
  std::unique_ptr<Engine> engine;
  try {
    engine = std::make_unique<Engine>(options);
  } catch (const std::exception& e) {
    std::string message = std::string("cannot start ") + std::string(to_string(options.backend)) + ": " + e.what();
    state.SkipWithError(message.c_str());
    return nullptr;
  }
  if (engine->features().backend != options.backend) {
    std::string message = std::string("asked for ") + std::string(to_string(options.backend)) + ", got " +
                          std::string(to_string(engine->features().backend)) + ": " + engine->features().why;
    state.SkipWithError(message.c_str());
    return nullptr;
  }
  return engine;
}

namespace {

bool fail_errno(benchmark::State& state, const char* what) {
  std::string message = std::string("loopback pair: ") + what + ": " + std::strerror(errno);
  state.SkipWithError(message.c_str());
  return false;
}

}  // namespace

bool make_loopback_pair(benchmark::State& state, Engine& engine, Socket& client, Socket& server) {
  // Plain blocking socket calls: setup is not what is measured, and it keeps
  // the benchmarks independent of the engine's accept/connect paths.
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return fail_errno(state, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(listener);
    return fail_errno(state, "listen");
  }
  int a = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (a < 0 || ::connect(a, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (a >= 0) ::close(a);
    ::close(listener);
    return fail_errno(state, "connect");
  }
  int b = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ::close(listener);
  if (b < 0) {
    ::close(a);
    return fail_errno(state, "accept");
  }
  int one = 1;
  ::setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (std::error_code ec = engine.adopt(a, client)) {
    ::close(b);  // `a` belongs to the engine now, whatever adopt() did with it
    state.SkipWithError(("adopt: " + describe(ec)).c_str());
    return false;
  }
  if (std::error_code ec = engine.adopt(b, server)) {
    state.SkipWithError(("adopt: " + describe(ec)).c_str());
    return false;
  }
  return true;
}

void close_and_drain(Engine& engine, std::span<const FdRef> handles) {
  for (FdRef h : handles) {
    if (h.valid()) engine.close(h, [](std::error_code) {});
  }
  // Bounded: whatever is still in flight after this completes with
  // operation_canceled when the Engine is destroyed (invariant 1).
  run_until(engine, [&] { return engine.in_flight() == 0; }, std::chrono::milliseconds(2000));
}

Stats stats_delta(const Stats& a, const Stats& b) noexcept {
  Stats d;
  d.syscalls = a.syscalls - b.syscalls;
  d.enter_calls = a.enter_calls - b.enter_calls;
  d.epoll_waits = a.epoll_waits - b.epoll_waits;
  d.sqes = a.sqes - b.sqes;
  d.cqes = a.cqes - b.cqes;
  d.ops_started = a.ops_started - b.ops_started;
  d.ops_completed = a.ops_completed - b.ops_completed;
  d.bytes_in = a.bytes_in - b.bytes_in;
  d.bytes_out = a.bytes_out - b.bytes_out;
  d.zc_sends = a.zc_sends - b.zc_sends;
  d.zc_copied = a.zc_copied - b.zc_copied;
  d.short_sends = a.short_sends - b.short_sends;
  d.fallbacks = a.fallbacks - b.fallbacks;
  d.sq_full = a.sq_full - b.sq_full;
  d.cq_overflows = a.cq_overflows - b.cq_overflows;
  d.recv_starved = a.recv_starved - b.recv_starved;
  return d;
}

std::string describe(const std::error_code& ec) { return ec.message() + " (" + ec.category().name() + ":" + std::to_string(ec.value()) + ")"; }

}  // namespace ringxfer::perf
