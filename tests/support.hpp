#pragma once
// Shared helpers for the ringxfer conformance suite.
//
// The suite runs once per engine configuration ("variant"), chosen by the
// environment variable RINGXFER_TEST_VARIANT (see variant_options()). Tests use
// only the public headers, POSIX and Boost.Test.
//
// Lifetime rules every test follows (they keep a failing test from turning
// into a crash in the next one):
//  - Handler state lives in the fixture (EngineFixture::state<T>()), which is
//    destroyed *after* the engine, so handlers that run while the engine is
//    drained or destroyed never touch a dead stack frame.
//  - Buffer leases are never kept in that state (a lease must be dropped before
//    its Engine is destroyed): keep them in body locals or in fixture.held_,
//    which is destroyed *before* the engine.
//  - Every wait is bounded: run_until() with a deadline; a missed deadline is a
//    test failure naming the condition.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "ringxfer/ringxfer.hpp"

namespace rxtest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The library names every test file uses (`using namespace rxtest;` brings
// them in).
using ringxfer::Address;
using ringxfer::Buffer;
using ringxfer::Engine;
using ringxfer::File;
using ringxfer::OpId;
using ringxfer::Socket;

inline constexpr std::size_t KiB = 1024;
inline constexpr std::size_t MiB = 1024 * KiB;

// Size of every "big stream" test (send, send_zc, splice file->socket,
// splice socket->socket). Each must stay well under ~10 s on 2 cores.
inline constexpr std::size_t big_stream_bytes = 64 * MiB;
// Deadline for one big stream.
inline constexpr auto big_stream_deadline = 30s;
// Deadline for small things that should take milliseconds.
inline constexpr auto short_deadline = 5s;

// ---- variants ---------------------------------------------------------------

enum class Variant { io_uring, epoll, io_uring_nofeatures, io_uring_sqpoll };

// RINGXFER_TEST_VARIANT: "io_uring" (default when unset), "epoll",
// "io_uring_nofeatures", "io_uring_sqpoll" (every feature, plus SQPOLL). An
// unknown value is reported by the global fixture.
inline std::optional<Variant> parse_variant(const char* text) {
  if (text == nullptr || *text == '\0') return Variant::io_uring;
  std::string s(text);
  if (s == "io_uring") return Variant::io_uring;
  if (s == "epoll") return Variant::epoll;
  if (s == "io_uring_nofeatures") return Variant::io_uring_nofeatures;
  if (s == "io_uring_sqpoll") return Variant::io_uring_sqpoll;
  return std::nullopt;
}

inline Variant variant() {
  static const Variant v = parse_variant(std::getenv("RINGXFER_TEST_VARIANT")).value_or(Variant::io_uring);
  return v;
}

inline const char* variant_name() {
  switch (variant()) {
    case Variant::io_uring: return "io_uring";
    case Variant::epoll: return "epoll";
    case Variant::io_uring_nofeatures: return "io_uring_nofeatures";
    case Variant::io_uring_sqpoll: return "io_uring_sqpoll";
  }
  return "?";
}

inline bool is_uring_variant() { return variant() != Variant::epoll; }
// io_uring with every feature on (with or without SQPOLL).
inline bool is_full_uring_variant() { return variant() == Variant::io_uring || variant() == Variant::io_uring_sqpoll; }

// The EngineOptions of the current variant. read_environment is off so a stray
// RINGXFER_BACKEND / RINGXFER_DISABLE cannot change what is being tested.
inline ringxfer::EngineOptions variant_options() {
  ringxfer::EngineOptions o;
  o.read_environment = false;
  switch (variant()) {
    case Variant::io_uring: o.backend = ringxfer::BackendKind::io_uring; break;
    case Variant::epoll: o.backend = ringxfer::BackendKind::epoll; break;
    case Variant::io_uring_nofeatures:
      o.backend = ringxfer::BackendKind::io_uring;
      o.disabled = ringxfer::FeatureSet::all();
      break;
    case Variant::io_uring_sqpoll:
      o.backend = ringxfer::BackendKind::io_uring;
      o.sqpoll = true;
      break;
  }
  return o;
}

// The variant's options with a pool of `recv` receive buffers and `send` send
// buffers (buffer_count = recv + send), each `size` bytes (0: the default).
inline ringxfer::EngineOptions pool_options(std::uint32_t recv, std::uint32_t send, std::size_t size = 0) {
  ringxfer::EngineOptions o = variant_options();
  o.recv_buffer_count = recv;
  o.buffer_count = recv + send;
  if (size != 0) o.buffer_size_bytes = size;
  return o;
}

// How many buffers of the pool acquire_buffer() can hand out.
inline std::size_t send_buffer_count(const ringxfer::EngineOptions& o = variant_options()) {
  return o.buffer_count - o.recv_buffer_count;
}

// SIGPIPE deliveries since start (the global fixture installs the counter).
// The engine is expected to send with MSG_NOSIGNAL; a test can check this.
inline std::atomic<int> sigpipe_count{0};

// ---- loop helpers -------------------------------------------------------------

// Runs engine.run_once(10ms) until pred() is true or `timeout` passes. pred()
// is evaluated before every loop turn, so it may also do work (start ops).
// Returns pred()'s final value.
template <class Pred>
bool run_until(ringxfer::Engine& engine, Pred&& pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return pred();
    engine.run_once(10ms);
  }
  return true;
}

// Runs the loop for `duration` regardless (to see that nothing more happens).
inline void run_for(ringxfer::Engine& engine, std::chrono::milliseconds duration) {
  const auto deadline = Clock::now() + duration;
  while (Clock::now() < deadline) engine.run_once(5ms);
}

#define RX_REQUIRE_UNTIL(engine, cond, timeout) RX_REQUIRE_UNTIL_INFO(engine, cond, timeout, "")

// Like RX_REQUIRE_UNTIL; on a missed deadline the message also streams `info`
// (progress counters) and the engine's stats. The wait runs first, into a
// local: Boost.Test may build a message before it evaluates the predicate, so
// a message must never call anything whose value changes during the wait.
#define RX_REQUIRE_UNTIL_INFO(engine, cond, timeout, info)                                                   \
  do {                                                                                                       \
    const auto rx_timeout_ = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);                \
    const bool rx_ok_ = ::rxtest::run_until((engine), [&] { return static_cast<bool>(cond); }, rx_timeout_); \
    if (!rx_ok_) {                                                                                           \
      std::ostringstream rx_msg_;                                                                            \
      rx_msg_ << "timed out after " << rx_timeout_.count() << " ms waiting for: " #cond << " " << info      \
              << "; in_flight " << (engine).in_flight() << "; stats: " << (engine).stats();                 \
      BOOST_REQUIRE_MESSAGE(rx_ok_, rx_msg_.str());                                                          \
    }                                                                                                        \
  } while (0)

// Error checks that print the error's message and category on failure.
inline std::string describe(const std::error_code& ec) {
  if (!ec) return "success";
  return std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " (" + ec.message() + ")";
}

// Each evaluates its expression once (it may be a call such as close_and_wait).
#define RX_CHECK_EC(expr, expected)                                                              \
  do {                                                                                            \
    const std::error_code rx_ec_ = (expr);                                                        \
    BOOST_CHECK_MESSAGE(rx_ec_ == (expected),                                                     \
                        #expr " is " << ::rxtest::describe(rx_ec_) << ", expected " #expected);    \
  } while (0)
#define RX_CHECK_OK(expr)                                                                          \
  do {                                                                                             \
    const std::error_code rx_ec_ = (expr);                                                         \
    BOOST_CHECK_MESSAGE(!rx_ec_, #expr " is " << ::rxtest::describe(rx_ec_) << ", expected success"); \
  } while (0)
#define RX_REQUIRE_OK(expr)                                                                          \
  do {                                                                                               \
    const std::error_code rx_ec_ = (expr);                                                           \
    BOOST_REQUIRE_MESSAGE(!rx_ec_, #expr " is " << ::rxtest::describe(rx_ec_) << ", expected success"); \
  } while (0)

inline bool is_canceled(const std::error_code& ec) { return ec == std::errc::operation_canceled; }
// What a pending op on a handle being closed may legitimately end with.
inline bool is_canceled_or_badf(const std::error_code& ec) {
  return ec == std::errc::operation_canceled || ec == std::errc::bad_file_descriptor;
}

// How many pool buffers `leases` pin. With incremental consumption
// (Feature::buf_ring_inc) several receive chunks share one pool buffer, so
// the memory bound is on distinct buffers, not on leases.
template <class Leases>
std::size_t distinct_buffers(const Leases& leases) {
  std::vector<std::uint32_t> ids;
  for (const ringxfer::Buffer& b : leases) {
    if (b) ids.push_back(b.index());
  }
  std::sort(ids.begin(), ids.end());
  return std::size_t(std::unique(ids.begin(), ids.end()) - ids.begin());
}

// ---- fixture -------------------------------------------------------------------

// Constructs an Engine with the variant's options. Tests that need other
// options call reset(options), which starts from variant_options().
struct EngineFixture {
  EngineFixture() { engine_ = std::make_unique<ringxfer::Engine>(variant_options()); }

  ~EngineFixture() {
    // Invariant checks every test gets for free: nothing left in flight, every
    // started op completed. Skipped if the test stopped the engine.
    held_.clear();
    if (engine_ && !engine_->stopped()) {
      const bool drained = run_until(*engine_, [&] { return engine_->in_flight() == 0; }, 3000ms);
      BOOST_CHECK_MESSAGE(drained, "fixture teardown: " << engine_->in_flight()
                                                        << " operation(s) still in flight after the test");
      if (drained) {
        const auto& s = engine_->stats();
        BOOST_CHECK_MESSAGE(s.ops_started == s.ops_completed,
                            "fixture teardown: stats ops_started=" << s.ops_started
                                                                   << " != ops_completed=" << s.ops_completed);
      }
    }
    held_.clear();
    engine_.reset();
    // Handlers the engine ran while it was destroyed may have kept more leases
    // (only after a failure). Their pool is gone: releasing them would touch
    // freed memory, so they are leaked on purpose.
    if (!held_.empty()) new std::deque<ringxfer::Buffer>(std::move(held_));
    keep_.clear();
  }

  ringxfer::Engine& engine() { return *engine_; }

  // Replaces the engine (the old one is destroyed first).
  ringxfer::Engine& reset(const ringxfer::EngineOptions& options) {
    destroy_engine();
    engine_ = std::make_unique<ringxfer::Engine>(options);
    return *engine_;
  }
  void destroy_engine() {
    held_.clear();
    engine_.reset();
    if (!held_.empty()) new std::deque<ringxfer::Buffer>(std::move(held_));  // see ~EngineFixture
    held_.clear();
  }

  // State for handlers: owned by the fixture, outlives the engine.
  template <class T, class... Args>
  T& state(Args&&... args) {
    auto p = std::make_shared<T>(std::forward<Args>(args)...);
    T& ref = *p;
    keep_.push_back(std::move(p));
    return ref;
  }

  // Declaration order matters: destroyed in reverse (held_, engine_, keep_).
  std::vector<std::shared_ptr<void>> keep_;
  std::unique_ptr<ringxfer::Engine> engine_;
  std::deque<ringxfer::Buffer> held_;  // leases a test keeps on purpose (destroyed before the engine)
};

// ---- fds ----------------------------------------------------------------------------

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

inline bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// A connected loopback TCP pair made with plain blocking syscalls (so that the
// helper does not depend on the engine's accept/connect, tested on their own).
struct RawPair {
  UniqueFd client;
  UniqueFd server;
};

inline RawPair raw_tcp_pair(int family = AF_INET) {
  RawPair p;
  UniqueFd listener(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  BOOST_REQUIRE_MESSAGE(listener, "socket: " << std::strerror(errno));
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(sockaddr_in);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    len = sizeof(sockaddr_in6);
  }
  BOOST_REQUIRE_MESSAGE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0,
                        "bind: " << std::strerror(errno));
  BOOST_REQUIRE(::listen(listener.get(), 16) == 0);
  socklen_t got = sizeof(ss);
  BOOST_REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&ss), &got) == 0);
  p.client = UniqueFd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  BOOST_REQUIRE(p.client);
  BOOST_REQUIRE_MESSAGE(::connect(p.client.get(), reinterpret_cast<sockaddr*>(&ss), got) == 0,
                        "connect: " << std::strerror(errno));
  p.server = UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  BOOST_REQUIRE_MESSAGE(p.server, "accept: " << std::strerror(errno));
  return p;
}

// Both ends adopted by the engine.
struct SocketPair {
  ringxfer::Socket a;  // the connecting side
  ringxfer::Socket b;  // the accepted side
};

inline SocketPair engine_pair(ringxfer::Engine& engine, int family = AF_INET) {
  RawPair raw = raw_tcp_pair(family);
  SocketPair p;
  std::error_code ec = engine.adopt(raw.client.get(), p.a);
  BOOST_REQUIRE_MESSAGE(!ec, "adopt: " << describe(ec));
  raw.client.release();
  ec = engine.adopt(raw.server.get(), p.b);
  BOOST_REQUIRE_MESSAGE(!ec, "adopt: " << describe(ec));
  raw.server.release();
  return p;
}

// One end adopted by the engine, the other a plain fd the test drives.
struct HalfPair {
  ringxfer::Socket sock;
  UniqueFd peer;
};

inline HalfPair half_pair(ringxfer::Engine& engine) {
  RawPair raw = raw_tcp_pair(AF_INET);
  HalfPair p;
  std::error_code ec = engine.adopt(raw.server.get(), p.sock);
  BOOST_REQUIRE_MESSAGE(!ec, "adopt: " << describe(ec));
  raw.server.release();
  p.peer = std::move(raw.client);
  return p;
}

// A pipe whose read end the engine adopted; the write end stays a plain fd.
struct EnginePipe {
  ringxfer::File rd;
  UniqueFd wr;
};

inline EnginePipe engine_pipe(ringxfer::Engine& engine) {
  int fds[2];
  BOOST_REQUIRE_MESSAGE(::pipe2(fds, O_CLOEXEC) == 0, "pipe2: " << std::strerror(errno));
  EnginePipe p;
  p.wr = UniqueFd(fds[1]);
  std::error_code ec = engine.adopt(fds[0], p.rd);
  if (ec) ::close(fds[0]);
  BOOST_REQUIRE_MESSAGE(!ec, "adopt: " << describe(ec));
  return p;
}

inline void set_int_sockopt(int fd, int level, int name, int value) {
  BOOST_REQUIRE_MESSAGE(::setsockopt(fd, level, name, &value, sizeof value) == 0,
                        "setsockopt: " << std::strerror(errno));
}

inline void set_nonblocking(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

// Closes a plain socket with SO_LINGER {1, 0}: the peer gets an RST.
inline void close_with_reset(UniqueFd& fd) {
  linger l{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  fd.reset();
}

// Closes a handle and waits for the close to complete; returns its error.
inline std::error_code close_and_wait(ringxfer::Engine& engine, ringxfer::FdRef handle,
                                      std::chrono::milliseconds timeout = 15000ms) {
  struct St {
    bool done = false;
    std::error_code ec;
  };
  auto st = std::make_shared<St>();
  ringxfer::OpId id = engine.close(handle, [st](std::error_code ec) {
    st->done = true;
    st->ec = ec;
  });
  BOOST_REQUIRE_MESSAGE(static_cast<bool>(id), "close() did not start");
  BOOST_REQUIRE_MESSAGE(run_until(engine, [&] { return st->done; }, timeout), "close did not complete");
  return st->ec;
}

// Closes each handle in turn (close_and_wait) and checks that every close
// succeeded; a failure names the handle's place in the list.
inline void close_all(ringxfer::Engine& engine, std::initializer_list<ringxfer::FdRef> handles) {
  std::size_t i = 0;
  for (ringxfer::FdRef h : handles) {
    BOOST_TEST_CONTEXT("closing handle #" << i++ << " of the list") { RX_CHECK_OK(close_and_wait(engine, h)); }
  }
}

// A port on 127.0.0.1 that refuses connections: a bound socket that never
// listens (kept bound so nobody else takes the port while the test runs).
struct RefusingPort {
  UniqueFd fd;
  std::uint16_t port = 0;
  RefusingPort() {
    fd = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    BOOST_REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
  }
};

// ---- data: pattern and checksum --------------------------------------------------------

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A deterministic byte stream: byte i depends only on (seed, i), so any slice
// can be generated or verified independently of how the stream was chunked.
class Pattern {
 public:
  explicit Pattern(std::uint64_t seed = 0x5eed) : seed_(seed) {}

  std::byte at(std::uint64_t offset) const {
    std::uint64_t w = splitmix64(seed_ ^ (offset >> 3) * 0x100000001b3ull);
    return std::byte(static_cast<unsigned char>(w >> ((offset & 7) * 8)));
  }
  void fill(std::uint64_t offset, std::span<std::byte> out) const {
    std::size_t i = 0;
    // Head up to a word boundary, whole words, tail.
    while (i < out.size() && ((offset + i) & 7) != 0) { out[i] = at(offset + i); ++i; }
    while (i + 8 <= out.size()) {
      std::uint64_t w = splitmix64(seed_ ^ ((offset + i) >> 3) * 0x100000001b3ull);
      std::memcpy(out.data() + i, &w, 8);  // little-endian: matches at()
      i += 8;
    }
    while (i < out.size()) { out[i] = at(offset + i); ++i; }
  }
  std::vector<std::byte> make(std::uint64_t offset, std::size_t n) const {
    std::vector<std::byte> v(n);
    fill(offset, v);
    return v;
  }
  // Index of the first byte of `data` that differs from the stream at
  // `offset`, or data.size() if all match.
  std::size_t first_mismatch(std::uint64_t offset, std::span<const std::byte> data) const {
    std::size_t i = 0;
    while (i < data.size() && ((offset + i) & 7) != 0) {
      if (data[i] != at(offset + i)) return i;
      ++i;
    }
    while (i + 8 <= data.size()) {
      std::uint64_t w = splitmix64(seed_ ^ ((offset + i) >> 3) * 0x100000001b3ull);
      if (std::memcmp(data.data() + i, &w, 8) != 0) {
        for (std::size_t j = i; j < i + 8; ++j)
          if (data[j] != at(offset + j)) return j;
      }
      i += 8;
    }
    while (i < data.size()) {
      if (data[i] != at(offset + i)) return i;
      ++i;
    }
    return data.size();
  }

 private:
  std::uint64_t seed_;
};

// FNV-1a, 64 bit, streaming.
class Fnv1a64 {
 public:
  void update(std::span<const std::byte> data) {
    std::uint64_t h = h_;
    for (std::byte b : data) {
      h ^= static_cast<unsigned char>(b);
      h *= 0x100000001b3ull;
    }
    h_ = h;
  }
  std::uint64_t value() const { return h_; }

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ull;
};

inline std::uint64_t fnv1a64(std::span<const std::byte> data) {
  Fnv1a64 f;
  f.update(data);
  return f.value();
}

// Checksum of the pattern's [offset, offset + n), computed in slices.
inline std::uint64_t pattern_checksum(const Pattern& p, std::uint64_t offset, std::size_t n) {
  Fnv1a64 f;
  std::vector<std::byte> tmp(1 * MiB);
  while (n > 0) {
    std::size_t k = n < tmp.size() ? n : tmp.size();
    p.fill(offset, std::span(tmp.data(), k));
    f.update(std::span<const std::byte>(tmp.data(), k));
    offset += k;
    n -= k;
  }
  return f.value();
}

// xorshift64*: chunk sizes and other test randomness, deterministic per seed.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed ? seed : 1) {}
  std::uint64_t next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 2685821657736338717ull;
  }
  // Uniform-ish in [lo, hi].
  std::size_t between(std::size_t lo, std::size_t hi) { return lo + next() % (hi - lo + 1); }

 private:
  std::uint64_t s_;
};

// The bookkeeping of a multishot op's handler: the call with an error is the
// final one (there must be exactly 1), and no call may come after it.
struct FinalCall {
  int final_calls = 0;
  int calls_after_final = 0;
  std::error_code final_error;

  // Counts one handler call; true if it is a data call (no error), false if
  // it is a final one.
  bool note_call(std::error_code ec) {
    if (final_calls > 0) ++calls_after_final;
    if (!ec) return true;
    ++final_calls;
    final_error = ec;
    return false;
  }
  bool done() const { return final_calls > 0; }
};

// A receiver for one multishot recv stream that checks every byte against a
// Pattern as it arrives, counts calls and remembers the final error.
struct StreamSink : FinalCall {
  Pattern pattern;
  std::uint64_t base = 0;  // the stream is expected to be pattern[base, base + n)
  std::uint64_t received = 0;
  std::uint64_t mismatch_at = UINT64_MAX;  // first bad stream offset
  Fnv1a64 checksum;
  int data_calls = 0;
  int empty_buffer_calls = 0;  // success with an empty buffer

  explicit StreamSink(Pattern p = Pattern()) : pattern(p) {}

  void on_recv(std::error_code ec, ringxfer::Buffer buf) {
    if (!note_call(ec)) return;
    ++data_calls;
    if (!buf || buf.size() == 0) {
      ++empty_buffer_calls;
      return;
    }
    take(buf.bytes());
    // buf is dropped here: the receive buffer goes back to the ring at once.
  }

  // Accounts for `bytes` as the next part of the stream.
  void take(std::span<const std::byte> bytes) {
    if (mismatch_at == UINT64_MAX) {
      std::size_t m = pattern.first_mismatch(base + received, bytes);
      if (m != bytes.size()) mismatch_at = received + m;
    }
    checksum.update(bytes);
    received += bytes.size();
  }
};

inline std::ostream& operator<<(std::ostream& os, const StreamSink& s) {
  return os << "[sink: received " << s.received << " in " << s.data_calls << " buffers, finals " << s.final_calls
            << " (" << describe(s.final_error) << ")]";
}

// A receiver that keeps every byte (for small streams checked as a whole).
struct CollectSink : FinalCall {
  std::vector<std::byte> bytes;
  void on_recv(std::error_code ec, ringxfer::Buffer buf) {
    if (note_call(ec)) bytes.insert(bytes.end(), buf.bytes().begin(), buf.bytes().end());
  }
};

inline ringxfer::OpId start_collect(ringxfer::Engine& engine, ringxfer::Socket s, CollectSink& sink) {
  CollectSink* p = &sink;
  return engine.recv(s, [p](std::error_code ec, ringxfer::Buffer b) { p->on_recv(ec, std::move(b)); });
}

// Starts a multishot recv feeding `sink`.
inline ringxfer::OpId start_sink(ringxfer::Engine& engine, ringxfer::Socket s, StreamSink& sink) {
  StreamSink* p = &sink;
  return engine.recv(s, [p](std::error_code ec, ringxfer::Buffer b) { p->on_recv(ec, std::move(b)); });
}

// Checks a finished sink against the expected stream.
inline void check_sink(const StreamSink& sink, std::size_t expected_bytes, bool expect_eof = true) {
  BOOST_CHECK_EQUAL(sink.received, expected_bytes);
  BOOST_CHECK_MESSAGE(sink.mismatch_at == UINT64_MAX, "received data differs from the pattern at stream offset "
                                                          << sink.mismatch_at);
  BOOST_CHECK_EQUAL(sink.checksum.value(), pattern_checksum(sink.pattern, sink.base, expected_bytes));
  BOOST_CHECK_EQUAL(sink.final_calls, 1);
  BOOST_CHECK_EQUAL(sink.calls_after_final, 0);
  BOOST_CHECK_EQUAL(sink.empty_buffer_calls, 0);
  if (expect_eof)
    BOOST_CHECK_MESSAGE(sink.final_error == ringxfer::error::eof,
                        "recv stream ended with " << describe(sink.final_error) << ", expected eof");
}

// Sends [0, total) of a pattern on `s` as a chain of send() calls of varied
// sizes (each started from the previous one's handler: one send in flight on
// the socket at a time, so the stream order is the call order), then shuts the
// socket down for writing so the peer sees eof.
struct ChainSender {
  ringxfer::Engine* engine = nullptr;
  ringxfer::Socket socket;
  std::vector<std::byte> data;  // the whole stream, valid until every send completed
  std::size_t offset = 0;
  std::size_t in_current = 0;
  Rng rng{42};
  std::size_t max_chunk = 2 * MiB;
  int sends_started = 0;
  int handler_calls = 0;
  bool failed = false;
  std::error_code error;
  bool shutdown_done = false;
  std::error_code shutdown_error;
  bool do_shutdown = true;

  ChainSender(ringxfer::Engine& e, ringxfer::Socket s, std::vector<std::byte> stream)
      : engine(&e), socket(s), data(std::move(stream)) {}

  std::size_t next_size() {
    std::size_t n = (rng.next() % 4 == 0) ? rng.between(1, 4096) : rng.between(4096, max_chunk);
    return std::min(n, data.size() - offset);
  }
  void start() { send_next(); }
  void send_next() {
    if (offset == data.size()) {
      if (do_shutdown) {
        ChainSender* self = this;
        engine->shutdown(socket, SHUT_WR, [self](std::error_code ec) {
          self->shutdown_done = true;
          self->shutdown_error = ec;
        });
      } else {
        shutdown_done = true;
      }
      return;
    }
    in_current = next_size();
    ChainSender* self = this;
    ++sends_started;
    ringxfer::OpId id = engine->send(socket, std::span<const std::byte>(data.data() + offset, in_current),
                                     [self](std::error_code ec, std::size_t n) { self->on_sent(ec, n); });
    if (!id) {
      failed = true;
      error = ringxfer::error::no_free_op_slot;
    }
  }
  void on_sent(std::error_code ec, std::size_t n) {
    ++handler_calls;
    if (ec) {
      failed = true;
      error = ec;
      return;
    }
    if (n != in_current) {
      failed = true;  // send() must send all of its span
      error = std::make_error_code(std::errc::message_size);
      BOOST_ERROR("send() handler reported " << n << " bytes for a " << in_current << "-byte send");
      return;
    }
    offset += n;
    send_next();
  }
  bool done() const { return failed || shutdown_done; }
};

inline std::ostream& operator<<(std::ostream& os, const ChainSender& t) {
  return os << "[sender: " << t.offset << " of " << t.data.size() << " bytes acknowledged, " << t.sends_started
            << " sends, " << t.handler_calls << " results, failed " << t.failed << " (" << describe(t.error)
            << "), shutdown " << t.shutdown_done << "]";
}

// ---- files ---------------------------------------------------------------------------------

// A temporary file in /tmp (mkstemp) that removes itself.
class TempFile {
 public:
  TempFile() {
    char tmpl[] = "/tmp/ringxfer-test-XXXXXX";
    int fd = ::mkstemp(tmpl);
    BOOST_REQUIRE_MESSAGE(fd >= 0, "mkstemp: " << std::strerror(errno));
    fd_ = UniqueFd(fd);
    path_ = tmpl;
  }
  // A temporary file holding [0, n) of `p`.
  TempFile(const Pattern& p, std::size_t n) : TempFile() { fill(p, n); }
  ~TempFile() { ::unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const char* path() const { return path_.c_str(); }
  int fd() const { return fd_.get(); }

  // Writes [0, n) of `p` into the file with plain pwrite.
  void fill(const Pattern& p, std::size_t n) {
    std::vector<std::byte> tmp(4 * MiB);
    std::size_t off = 0;
    while (off < n) {
      std::size_t k = std::min(tmp.size(), n - off);
      p.fill(off, std::span(tmp.data(), k));
      write_at(off, std::span<const std::byte>(tmp.data(), k));
      off += k;
    }
  }
  void write_at(std::size_t offset, std::span<const std::byte> data) {
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t r = ::pwrite(fd_.get(), data.data() + done, data.size() - done, off_t(offset + done));
      BOOST_REQUIRE_MESSAGE(r > 0, "pwrite: " << std::strerror(errno));
      done += std::size_t(r);
    }
  }
  std::vector<std::byte> read_all() const {
    struct stat st {};
    ::fstat(fd_.get(), &st);
    std::vector<std::byte> v(std::size_t(st.st_size));
    std::size_t done = 0;
    while (done < v.size()) {
      ssize_t r = ::pread(fd_.get(), v.data() + done, v.size() - done, off_t(done));
      if (r <= 0) break;
      done += std::size_t(r);
    }
    v.resize(done);
    return v;
  }
  std::size_t size() const {
    struct stat st {};
    ::fstat(fd_.get(), &st);
    return std::size_t(st.st_size);
  }

 private:
  UniqueFd fd_;
  std::string path_;
};

// A file handle opened by the engine on `path`.
inline ringxfer::File open_file(ringxfer::Engine& engine, const char* path, int flags = O_RDWR) {
  ringxfer::File f;
  std::error_code ec = engine.open(path, flags, f);
  BOOST_REQUIRE_MESSAGE(!ec, "open(" << path << "): " << describe(ec));
  return f;
}

// A pool buffer holding pattern[offset, offset + n); n defaults to the
// buffer's whole capacity.
inline ringxfer::Buffer filled(ringxfer::Engine& engine, const Pattern& pattern, std::uint64_t offset = 0,
                               std::size_t n = SIZE_MAX) {
  ringxfer::Buffer b = engine.acquire_buffer();
  BOOST_REQUIRE_MESSAGE(b, "acquire_buffer(): no free send buffer");
  if (n == SIZE_MAX) n = b.capacity();
  BOOST_REQUIRE_LE(n, b.capacity());
  pattern.fill(offset, b.storage().first(n));
  b.resize(n);
  return b;
}

// Counts the send-side buffers acquire_buffer() can hand out right now (and
// gives them back).
inline std::size_t free_send_buffers(ringxfer::Engine& engine, std::size_t limit = 100000) {
  std::vector<ringxfer::Buffer> got;
  while (got.size() < limit) {
    ringxfer::Buffer b = engine.acquire_buffer();
    if (!b) break;
    got.push_back(std::move(b));
  }
  return got.size();
}

// Counts handler invocations of one single-shot op.
struct Once {
  int calls = 0;
  std::error_code ec;
  std::size_t bytes = 0;
  bool done() const { return calls > 0; }
  void record(std::error_code e, std::size_t n = 0) {
    ++calls;
    ec = e;
    bytes = n;
  }
};

// A handler that records its call in a Once: fits handler(ec) (timeout,
// shutdown, close) and handler(ec, bytes) (send, sendv, send_zc, splice).
struct Record {
  Once* once;
  void operator()(std::error_code ec, std::size_t n = 0) const { once->record(ec, n); }
};
inline Record record(Once& once) { return Record{&once}; }

}  // namespace rxtest
