// Embedding in another event loop (Engine::event_fd, Engine::poll_timeout) on
// every variant. The outer loop here is plain poll(2): wait on event_fd() for
// poll_timeout(), then Engine::poll(). Two ways this goes wrong, each tested:
//  - a completion that never makes the fd readable (epoll's try-first send
//    completing inside the call that starts it, io_uring requests queued but
//    not submitted, DEFER_TASKRUN task work whose one signal was spent): the
//    loop sleeps forever unless poll_timeout() says "poll now";
//  - an fd that is readable with nothing to dispatch (a wake, an edge on a
//    socket nobody reads): poll() must clear it, or the outer loop spins.
#include <poll.h>

#include <thread>

#include "support.hpp"

using namespace rxtest;

namespace {

// How long the embedding loop sleeps when poll_timeout() sets no limit before
// it counts a stall: every test below expects work within milliseconds.
constexpr auto stall_ms = 2000;

struct EmbedLoop {
  Engine& engine;
  int fd = -1;
  int stalls = 0;   // waits with no limit that ran out without the fd turning readable
  int polls = 0;
  int idle_polls = 0;  // poll() calls that ran no handler

  explicit EmbedLoop(Engine& e) : engine(e), fd(e.event_fd()) {}

  // One turn of the outer loop.
  void turn() {
    const auto t = engine.poll_timeout();
    int wait_ms = stall_ms;
    if (t.count() >= 0) wait_ms = int(std::chrono::ceil<std::chrono::milliseconds>(t).count());
    pollfd p{fd, POLLIN, 0};
    const auto start = Clock::now();
    ::poll(&p, 1, wait_ms);
    // Count the time, not poll(2)'s answer: a file whose poll wakes nobody is
    // still reported readable when the timeout ends.
    if (t.count() < 0 && Clock::now() - start >= std::chrono::milliseconds(stall_ms / 2)) ++stalls;
    ++polls;
    if (engine.poll() == 0) ++idle_polls;
  }

  template <class Pred>
  bool until(Pred&& pred, std::chrono::milliseconds timeout = short_deadline) {
    const auto deadline = Clock::now() + timeout;
    while (!pred()) {
      if (Clock::now() >= deadline || stalls > 0) return pred();
      turn();
    }
    return true;
  }

  bool fd_readable() const {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
  }

  // After the work is done the loop must come to rest: a few polls that run
  // nothing at most, then an fd that is not readable and no deadline.
  bool settles() {
    for (int i = 0; i < 8; ++i) {
      if (!fd_readable() && engine.poll_timeout().count() < 0) return true;
      engine.poll();
    }
    return false;
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(embedding, EngineFixture)

BOOST_AUTO_TEST_CASE(event_fd_is_there) {
  const int fd = engine().event_fd();
  BOOST_REQUIRE_GE(fd, 0);
  BOOST_CHECK_EQUAL(engine().event_fd(), fd);  // the same fd every time
  EmbedLoop loop(engine());
  BOOST_CHECK(loop.settles());
}

// epoll sends a small message inside send() (try first): the completion is
// queued in the process and no fd turns readable. io_uring queues the SQE
// and submits it at the next poll(): nothing is in the kernel to signal.
BOOST_AUTO_TEST_CASE(completion_without_the_fd_firing) {
  EmbedLoop loop(engine());
  BOOST_CHECK(loop.settles());
  HalfPair p = half_pair(engine());
  static const char msg[] = "hello";
  Once& sent = state<Once>();
  BOOST_REQUIRE(engine().send(p.sock, std::as_bytes(std::span(msg)), record(sent)));
  BOOST_CHECK_MESSAGE(loop.fd_readable() || engine().poll_timeout().count() == 0,
                      "a send was started, the fd is not readable and poll_timeout() allows sleeping");
  BOOST_REQUIRE_MESSAGE(loop.until([&] { return sent.done(); }),
                        "send handler did not run; stalls " << loop.stalls << ", polls " << loop.polls);
  RX_CHECK_OK(sent.ec);
  BOOST_CHECK_EQUAL(loop.stalls, 0);

  // An op that cannot start completes from the loop: core's deferred list.
  Once& bad = state<Once>();
  BOOST_REQUIRE(engine().send(Socket{}, std::as_bytes(std::span(msg)), record(bad)));
  BOOST_REQUIRE(loop.until([&] { return bad.done(); }));
  RX_CHECK_EC(bad.ec, std::errc::bad_file_descriptor);
  BOOST_CHECK_EQUAL(loop.stalls, 0);

  // A cancel: epoll completes the parked recv in the process, io_uring
  // queues an ASYNC_CANCEL that only the next poll() submits.
  CollectSink& sink = state<CollectSink>();
  const OpId recv = start_collect(engine(), p.sock, sink);
  BOOST_REQUIRE(recv);
  BOOST_REQUIRE(loop.until([&] { return engine().poll_timeout().count() < 0 && !loop.fd_readable(); }, 1s));
  BOOST_REQUIRE(engine().cancel(recv));
  BOOST_CHECK_MESSAGE(loop.fd_readable() || engine().poll_timeout().count() == 0,
                      "a recv was cancelled, the fd is not readable and poll_timeout() allows sleeping");
  BOOST_REQUIRE(loop.until([&] { return sink.done(); }));
  BOOST_CHECK(is_canceled(sink.final_error));
  BOOST_CHECK_EQUAL(loop.stalls, 0);

  close_all(engine(), {p.sock});
  BOOST_REQUIRE(loop.until([&] { return engine().in_flight() == 0; }));
  BOOST_CHECK(loop.settles());
}

// Data arrives while the loop sleeps in poll(2): with DEFER_TASKRUN the
// kernel only queues task work (no CQE yet); the registered eventfd must
// wake the loop, and poll() must then run the handler without another wait
// (it enters the kernel with GETEVENTS although the CQ is empty).
BOOST_AUTO_TEST_CASE(readable_fd_then_poll_dispatches) {
  EmbedLoop loop(engine());
  HalfPair p = half_pair(engine());
  CollectSink& sink = state<CollectSink>();
  BOOST_REQUIRE(start_collect(engine(), p.sock, sink));
  BOOST_REQUIRE(loop.until([&] { return engine().poll_timeout().count() < 0 && !loop.fd_readable(); }, 1s));
  BOOST_REQUIRE_EQUAL(::write(p.peer.get(), "abc", 3), 3);
  pollfd pf{loop.fd, POLLIN, 0};
  const auto start = Clock::now();
  BOOST_REQUIRE_MESSAGE(::poll(&pf, 1, stall_ms) == 1 && Clock::now() - start < std::chrono::milliseconds(stall_ms / 2),
                        "event fd did not turn readable for arrived data");
  // Then poll() while poll_timeout() says so, never waiting on the fd again
  // (without buffer rings a recv waits for readiness first, then reads: two
  // turns).
  engine().poll();
  for (int i = 0; i < 16 && sink.bytes.empty() && engine().poll_timeout().count() == 0; ++i) engine().poll();
  BOOST_CHECK_MESSAGE(sink.bytes.size() == 3, "the fd fired, yet polling ran no recv handler (and poll_timeout() "
                                              "allows sleeping)");
  ::shutdown(p.peer.get(), SHUT_WR);
  BOOST_REQUIRE(loop.until([&] { return sink.done(); }));
  BOOST_CHECK_EQUAL(loop.stalls, 0);
  close_all(engine(), {p.sock});
  BOOST_REQUIRE(loop.until([&] { return engine().in_flight() == 0; }));
}

// Another thread writes while the loop sleeps: many small messages, each
// one a new task-work list on DEFER_TASKRUN (whose signal the kernel sends
// only when the list was empty).
BOOST_AUTO_TEST_CASE(data_from_another_thread_wakes_the_loop) {
  EmbedLoop loop(engine());
  HalfPair p = half_pair(engine());
  CollectSink& sink = state<CollectSink>();
  BOOST_REQUIRE(start_collect(engine(), p.sock, sink));
  constexpr int messages = 200;
  std::thread writer([fd = p.peer.get()] {
    for (int i = 0; i < messages; ++i) {
      char c = char('a' + i % 26);
      if (::write(fd, &c, 1) != 1) return;
      if (i % 20 == 0) std::this_thread::sleep_for(2ms);
    }
    ::shutdown(fd, SHUT_WR);
  });
  const bool done = loop.until([&] { return sink.done(); });
  writer.join();
  BOOST_REQUIRE_MESSAGE(done, "stalls " << loop.stalls << ", received " << sink.bytes.size());
  BOOST_CHECK_EQUAL(sink.bytes.size(), std::size_t(messages));
  BOOST_CHECK_EQUAL(loop.stalls, 0);
  close_all(engine(), {p.sock});
  BOOST_REQUIRE(loop.until([&] { return engine().in_flight() == 0; }));
  BOOST_CHECK(loop.settles());
}

// post() and wake() from another thread make the fd readable even with no
// operation in flight.
BOOST_AUTO_TEST_CASE(post_from_another_thread_fires_the_fd) {
  EmbedLoop loop(engine());
  BOOST_REQUIRE(loop.settles());
  std::atomic<int> ran{0};
  std::thread poster([&] {
    std::this_thread::sleep_for(30ms);
    RX_CHECK_OK(engine().post([&ran] { ran.fetch_add(1); }));
  });
  const bool done = loop.until([&] { return ran.load() == 1; });
  poster.join();
  BOOST_CHECK(done);
  BOOST_CHECK_EQUAL(loop.stalls, 0);
  BOOST_CHECK(loop.settles());
}

// A timer fires through the loop: io_uring's is in the kernel (the fd
// fires), epoll's in the process (poll_timeout() says when).
BOOST_AUTO_TEST_CASE(timer_fires_through_the_loop) {
  EmbedLoop loop(engine());
  Once& t = state<Once>();
  const auto start = Clock::now();
  BOOST_REQUIRE(engine().timeout(40ms, record(t)));
  BOOST_REQUIRE(loop.until([&] { return t.done(); }));
  RX_CHECK_OK(t.ec);
  BOOST_CHECK_GE(Clock::now() - start, 35ms);
  BOOST_CHECK_EQUAL(loop.stalls, 0);
  BOOST_CHECK(loop.settles());
}

// Readable with nothing to dispatch: a wake() with nothing posted. poll()
// runs nothing and clears the fd; the loop comes to rest instead of spinning.
BOOST_AUTO_TEST_CASE(readable_but_nothing_dispatched) {
  EmbedLoop loop(engine());
  BOOST_REQUIRE(loop.settles());
  engine().wake();
  pollfd pf{loop.fd, POLLIN, 0};
  BOOST_REQUIRE_MESSAGE(::poll(&pf, 1, stall_ms) == 1, "wake() did not make the event fd readable");
  BOOST_CHECK_EQUAL(engine().poll(), 0u);
  BOOST_CHECK_MESSAGE(loop.settles(), "event fd still readable (or poll_timeout 0) after polls that ran nothing");

  // A socket edge nobody waits for (the engine's socket turns writable
  // again, data arrives on a socket with no recv): nothing to run, no spin.
  HalfPair p = half_pair(engine());
  BOOST_REQUIRE_EQUAL(::write(p.peer.get(), "x", 1), 1);
  std::this_thread::sleep_for(20ms);
  std::size_t ran = 0;
  for (int i = 0; i < 4; ++i) ran += engine().poll();
  BOOST_CHECK_EQUAL(ran, 0u);
  BOOST_CHECK_MESSAGE(loop.settles(), "an unclaimed socket event keeps the loop busy");
  close_all(engine(), {p.sock});
  BOOST_REQUIRE(loop.until([&] { return engine().in_flight() == 0; }));
  BOOST_CHECK(loop.settles());
}

BOOST_AUTO_TEST_SUITE_END()
