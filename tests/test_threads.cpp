// Thread rules (include/ringxfer/engine.hpp, "Threads"): an Engine built on
// one thread runs on another; destroyed after the thread that ran it exited,
// it neither hangs nor skips a handler; run from a second thread after a
// first one ran it, it either works (epoll) or ends promptly with
// error::wrong_thread, never spins.
#include <sys/resource.h>
#include <sys/time.h>

#include <thread>

#include "support.hpp"

using namespace rxtest;

namespace {

// CPU time (user + system) this process has used.
std::chrono::microseconds cpu_time() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto us = [](const timeval& t) { return std::int64_t(t.tv_sec) * 1'000'000 + t.tv_usec; };
  return std::chrono::microseconds(us(u.ru_utime) + us(u.ru_stime));
}

// Echoes what arrives on `sock` until eof, then closes it. Each message's
// bytes live in `pending` until their send completed.
struct Echo {
  Engine* e = nullptr;
  Socket sock;
  std::deque<std::vector<std::byte>> pending;
  std::size_t echoed_bytes = 0;
  int recv_ends = 0;
  int send_errors = 0;
  bool closed = false;
  std::error_code recv_error;

  void start() {
    BOOST_REQUIRE(e->recv(sock, [self = this](std::error_code ec, Buffer b) {
      if (ec) {
        ++self->recv_ends;
        self->recv_error = ec;
        self->e->close(self->sock, [self](std::error_code) { self->closed = true; });
        return;
      }
      self->pending.emplace_back(b.bytes().begin(), b.bytes().end());
      // The peer waits for each echo before it writes again: one send at a time.
      self->e->send(self->sock, self->pending.back(), [self](std::error_code sec, std::size_t n) {
        if (sec) ++self->send_errors;
        self->echoed_bytes += n;
      });
    }));
  }
};

// The peer's side: write a message, read it back, `rounds` times. Returns the
// rounds that came back intact; `bytes` counts what was written.
int echo_rounds(int fd, int rounds, std::size_t& bytes) {
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int ok = 0;
  for (int i = 0; i < rounds; ++i) {
    char out[64];
    std::snprintf(out, sizeof out, "round %d of the thread hand-over echo", i);
    std::size_t len = std::strlen(out);
    ssize_t w;
    do w = ::write(fd, out, len);
    while (w < 0 && errno == EINTR);
    if (w != ssize_t(len)) break;
    bytes += len;
    char in[64];
    std::size_t got = 0;
    while (got < len) {
      ssize_t n = ::read(fd, in + got, len - got);
      // With SO_RCVTIMEO an interrupted read is EINTR, not restarted (and
      // io_uring's task work on this process can interrupt it).
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        BOOST_TEST_MESSAGE("echo round " << i << ": read gave " << n << " (" << std::strerror(errno) << ")");
        return ok;
      }
      got += std::size_t(n);
    }
    if (std::memcmp(in, out, len) != 0) {
      BOOST_TEST_MESSAGE("echo round " << i << ": echoed bytes differ");
      break;
    }
    ++ok;
  }
  return ok;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(threads)

// Construct (and adopt a socket) on this thread, run on a worker: echo round
// trips work, and the worker's run() ends by itself with no error.
BOOST_FIXTURE_TEST_CASE(construct_here_run_on_worker, EngineFixture) {
  constexpr int rounds = 50;
  Engine& e = engine();
  HalfPair p = half_pair(e);  // registered from this thread, before the ring runs
  Echo& echo = state<Echo>();
  echo.e = &e;
  echo.sock = p.sock;

  std::error_code run_error;
  std::atomic<bool> worker_done{false};
  std::thread worker([&] {
    echo.start();
    run_error = e.run();  // returns once the echo closed its socket
    worker_done = true;
  });
  // A watchdog: if run() spins or blocks, stop it after the deadline.
  const auto deadline = Clock::now() + 10s;
  const auto cpu_before = cpu_time();
  const auto wall_before = Clock::now();
  std::size_t bytes = 0;
  int ok = echo_rounds(p.peer.get(), rounds, bytes);
  p.peer.reset();  // eof: the echo closes its side and run() returns
  while (!worker_done && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  if (!worker_done) e.stop();
  worker.join();
  const auto wall = Clock::now() - wall_before;
  const auto cpu = cpu_time() - cpu_before;

  BOOST_CHECK_EQUAL(ok, rounds);
  BOOST_CHECK_MESSAGE(!run_error, "run() on the worker: " << describe(run_error));
  BOOST_CHECK_MESSAGE(worker_done.load(), "run() on the worker did not return by itself");
  BOOST_CHECK_EQUAL(echo.echoed_bytes, bytes);
  BOOST_CHECK_EQUAL(echo.send_errors, 0);
  BOOST_CHECK_EQUAL(echo.recv_ends, 1);
  BOOST_CHECK_MESSAGE(echo.recv_error == ringxfer::error::eof, "recv ended with " << describe(echo.recv_error));
  BOOST_CHECK(echo.closed);
  BOOST_TEST_MESSAGE(variant_name() << ": hand-over echo " << ok << " rounds, wall "
                                    << std::chrono::duration_cast<std::chrono::milliseconds>(wall).count()
                                    << " ms, cpu " << cpu.count() / 1000 << " ms; " << e.stats());
  BOOST_CHECK_EQUAL(e.in_flight(), 0u);
}

// Construct here, run on a worker that leaves ops in flight and exits, destroy
// here: the destructor returns promptly, every handler runs exactly once (with
// operation_canceled), and the adopted fds are closed.
BOOST_AUTO_TEST_CASE(destroy_after_worker_exit) {
  struct St {
    int recv_calls = 0, timeout_calls = 0, accept_calls = 0, zero_timeouts = 0;
    std::error_code recv_ec, timeout_ec, accept_ec;
  };
  auto st = std::make_shared<St>();  // outlives the engine: handlers run in its destructor
  auto e = std::make_unique<Engine>(variant_options());
  HalfPair p = half_pair(*e);
  const int sock_fd = e->native_handle(p.sock);
  Socket listener;
  RX_REQUIRE_OK(e->listen(Address::loopback_v4(0), listener));
  const int listener_fd = e->native_handle(listener);

  std::thread worker([&] {
    BOOST_REQUIRE(e->recv(p.sock, [st](std::error_code ec, Buffer) {
      ++st->recv_calls;
      st->recv_ec = ec;
    }));
    BOOST_REQUIRE(e->timeout(60s, [st](std::error_code ec) {
      ++st->timeout_calls;
      st->timeout_ec = ec;
    }));
    BOOST_REQUIRE(e->accept(listener, [st](std::error_code ec, Socket) {
      ++st->accept_calls;
      st->accept_ec = ec;
    }));
    // The worker really runs the ring: a zero timeout completes on it.
    BOOST_REQUIRE(e->timeout(0ns, [st](std::error_code) { ++st->zero_timeouts; }));
    const auto deadline = Clock::now() + 2s;
    while (st->zero_timeouts == 0 && Clock::now() < deadline) e->run_once(10ms);
    for (int i = 0; i < 3; ++i) e->poll();  // the rest is submitted: the kernel holds it now
  });
  worker.join();
  BOOST_REQUIRE_MESSAGE(st->zero_timeouts == 1, "the engine did not run on the worker thread");
  BOOST_REQUIRE_EQUAL(e->in_flight(), 3u);

  const auto cpu_before = cpu_time();
  const auto before = Clock::now();
  e.reset();
  const auto took = Clock::now() - before;
  const auto cpu = cpu_time() - cpu_before;
  BOOST_TEST_MESSAGE(variant_name() << ": destroyed after the worker exited in "
                                    << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                    << " ms, cpu " << cpu.count() / 1000 << " ms");
  BOOST_CHECK_MESSAGE(took < 2s, "destruction took "
                                     << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                     << " ms");
  BOOST_CHECK_EQUAL(st->recv_calls, 1);
  BOOST_CHECK_EQUAL(st->timeout_calls, 1);
  BOOST_CHECK_EQUAL(st->accept_calls, 1);
  BOOST_CHECK_MESSAGE(is_canceled(st->recv_ec), "recv: " << describe(st->recv_ec));
  BOOST_CHECK_MESSAGE(is_canceled(st->timeout_ec), "timeout: " << describe(st->timeout_ec));
  BOOST_CHECK_MESSAGE(is_canceled(st->accept_ec), "accept: " << describe(st->accept_ec));
  BOOST_CHECK_MESSAGE(!fd_is_open(sock_fd) || sock_fd == p.peer.get(), "the adopted socket's fd is still open");
  BOOST_CHECK_MESSAGE(!fd_is_open(listener_fd), "the listener's fd is still open");
}

// A first thread ran the engine; a second one runs it: on io_uring the kernel
// refuses the second thread (SINGLE_ISSUER, per-thread registered ring fd) and
// run() returns error::wrong_thread at once instead of spinning; on epoll it
// just works. Either way the pending op's handler runs exactly once.
BOOST_FIXTURE_TEST_CASE(run_from_a_second_thread_fails_loudly, EngineFixture) {
  Engine& e = engine();
  struct St {
    int calls = 0;
    std::error_code ec;
  };
  St& st = state<St>();
  e.poll();  // this thread runs it first
  BOOST_REQUIRE(e.timeout(300ms, [s = &st](std::error_code ec) {
    ++s->calls;
    s->ec = ec;
  }));
  e.poll();

  std::error_code run_error;
  std::atomic<bool> worker_done{false};
  const std::uint64_t enters_before = e.stats().enter_calls;
  const auto cpu_before = cpu_time();
  const auto before = Clock::now();
  std::thread worker([&] {
    run_error = e.run();
    worker_done = true;
  });
  const auto deadline = Clock::now() + 5s;
  while (!worker_done && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  if (!worker_done) e.stop();  // it spun or blocked: end it so the test can report
  worker.join();
  const auto took = Clock::now() - before;
  const auto cpu = cpu_time() - cpu_before;
  const std::uint64_t enters = e.stats().enter_calls - enters_before;
  BOOST_TEST_MESSAGE(variant_name() << ": run() on a second thread returned " << describe(run_error) << " after "
                                    << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                    << " ms, cpu " << cpu.count() / 1000 << " ms, " << enters << " enters");
  BOOST_CHECK_MESSAGE(worker_done.load(), "run() on the second thread neither worked nor failed");
  BOOST_CHECK_LT(enters, 100u);  // not a spin
  if (is_uring_variant()) {
    BOOST_CHECK_MESSAGE(run_error == ringxfer::error::wrong_thread, "run(): " << describe(run_error));
    BOOST_CHECK_LT(took, 1s);
    BOOST_CHECK(e.stopped());
    BOOST_CHECK(e.error() == ringxfer::error::wrong_thread);
    // The engine stays stopped for good, and says so at once.
    std::error_code again;
    const auto t0 = Clock::now();
    BOOST_CHECK_EQUAL(e.run_once(200ms, again), 0u);
    BOOST_CHECK(again == ringxfer::error::wrong_thread);
    BOOST_CHECK_LT(Clock::now() - t0, 100ms);
    BOOST_CHECK_EQUAL(st.calls, 0);
    destroy_engine();  // the handler still runs exactly once
    BOOST_CHECK_EQUAL(st.calls, 1);
    BOOST_CHECK_MESSAGE(is_canceled(st.ec), "timeout: " << describe(st.ec));
  } else {
    BOOST_CHECK_MESSAGE(!run_error, "run(): " << describe(run_error));
    BOOST_CHECK_EQUAL(st.calls, 1);
    RX_CHECK_OK(st.ec);
  }
}

BOOST_AUTO_TEST_SUITE_END()
