// Fair loops: a task that re-posts itself cannot starve I/O and timers; one
// flooding socket cannot take every receive buffer or stall the others; a
// running recv() claims its socket's read side, and a second reader is told
// so at once instead of waiting forever.
#include <array>
#include <thread>

#include "support.hpp"

using namespace rxtest;

namespace {

// A posted task that posts itself again until `stop` says so (or a time
// limit passes: then it records that it had to be stopped).
struct Spinner {
  struct St {
    Engine* e = nullptr;
    long runs = 0;
    bool done = false;  // the test has what it wanted
    bool hit_limit = false;
    Clock::time_point limit;
  };
  St* st;
  void operator()() const {
    ++st->runs;
    if (st->done) return;
    if (Clock::now() >= st->limit) {
      st->hit_limit = true;
      return;
    }
    if (st->e->post(Spinner{st})) st->hit_limit = true;  // queue full: cannot happen with one task
  }
};

// Ping-pong between two engine sockets: a sends `message` to b, b echoes it
// back, a counts a round trip and sends the next one.
struct PingPong {
  Engine* e = nullptr;
  SocketPair p;
  std::array<std::byte, 64> message{};
  std::array<std::byte, 64> echo{};
  std::size_t echo_len = 0;
  long round_trips = 0;
  std::size_t at_a = 0;  // bytes of the current pong received
  bool failed = false;
  std::error_code error;
  Clock::time_point sent_at;
  Clock::duration worst{};

  void fail(std::error_code ec) {
    if (!failed && ec != ringxfer::error::eof && !is_canceled(ec)) {
      failed = true;
      error = ec;
    }
  }
  void start() {
    e->recv(p.b, [s = this](std::error_code ec, Buffer b) {
      if (ec) return s->fail(ec);
      // Echo what arrived (one message is in flight at a time).
      s->echo_len = std::min(b.size(), s->echo.size());
      std::memcpy(s->echo.data(), b.data(), s->echo_len);
      s->e->send(s->p.b, std::span<const std::byte>(s->echo.data(), s->echo_len),
                 [s](std::error_code ec2, std::size_t) { if (ec2) s->fail(ec2); });
    });
    e->recv(p.a, [s = this](std::error_code ec, Buffer b) {
      if (ec) return s->fail(ec);
      s->at_a += b.size();
      if (s->at_a < s->message.size()) return;
      s->at_a = 0;
      ++s->round_trips;
      s->worst = std::max(s->worst, Clock::now() - s->sent_at);
      s->ping();
    });
    ping();
  }
  void ping() {
    sent_at = Clock::now();
    e->send(p.a, message, [s = this](std::error_code ec, std::size_t) { if (ec) s->fail(ec); });
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(fairness)

BOOST_FIXTURE_TEST_CASE(reposting_task_does_not_starve_timers_or_io, EngineFixture) {
  Engine& e = engine();
  auto& spin = state<Spinner::St>();
  spin.e = &e;
  spin.limit = Clock::now() + 2s;
  auto& pp = state<PingPong>();
  pp.e = &e;
  pp.p = engine_pair(e);
  Once& timer = state<Once>();
  BOOST_REQUIRE(e.timeout(5ms, record(timer)));
  BOOST_REQUIRE(!e.post(Spinner{&spin}));
  pp.start();
  const auto start = Clock::now();
  RX_REQUIRE_UNTIL_INFO(e, (timer.done() && pp.round_trips >= 10) || spin.hit_limit, 5s,
                        "runs " << spin.runs << " round trips " << pp.round_trips);
  spin.done = true;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  BOOST_TEST_MESSAGE("re-posting task ran " << spin.runs << " times; timer and 10 round trips after " << ms << " ms");
  BOOST_CHECK_MESSAGE(!spin.hit_limit, "the re-posting task held the loop for its whole 2 s limit");
  BOOST_CHECK(timer.done());
  RX_CHECK_OK(timer.ec);
  BOOST_CHECK_GE(pp.round_trips, 10);
  BOOST_CHECK(!pp.failed);
  BOOST_CHECK_GT(spin.runs, 10);  // it did keep re-posting meanwhile
  close_all(e, {pp.p.a, pp.p.b});
}

BOOST_FIXTURE_TEST_CASE(a_flood_does_not_take_every_receive_buffer, EngineFixture) {
  // One peer writes as fast as it can; another connection does request /
  // response round trips. Flood buffers are held until the end of each loop
  // turn (a consumer that works per turn), so the most the flood holds at
  // once is what it took in one turn.
  constexpr std::uint32_t recv_buffers = 256;
  Engine& e = reset(pool_options(recv_buffers, 32, 16 * KiB));
  struct St {
    EngineFixture* fx = nullptr;
    std::uint64_t flood_bytes = 0;
    std::size_t max_held = 0;
    FinalCall flood;
  };
  St& st = state<St>();
  st.fx = this;
  HalfPair flood = half_pair(e);
  BOOST_REQUIRE(e.recv(flood.sock, [s = &st](std::error_code ec, Buffer b) {
    if (!s->flood.note_call(ec)) return;
    s->flood_bytes += b.size();
    s->fx->held_.push_back(std::move(b));
    s->max_held = std::max(s->max_held, distinct_buffers(s->fx->held_));
  }));
  auto& pp = state<PingPong>();
  pp.e = &e;
  pp.p = engine_pair(e);

  std::atomic<bool> stop{false};
  const int writer_fd = flood.peer.get();
  std::thread writer([&stop, writer_fd] {
    std::vector<char> chunk(256 * KiB, 'f');
    timeval tv{0, 100'000};
    ::setsockopt(writer_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const auto until = Clock::now() + 5s;
    while (!stop.load() && Clock::now() < until) {
      if (::send(writer_fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0 && errno != EAGAIN && errno != EINTR) break;
    }
  });
  auto turns_for = [&](std::chrono::milliseconds d) {
    const auto start = Clock::now();
    while (Clock::now() - start < d) {
      e.run_once(10ms);
      held_.clear();  // end of turn: the flood's buffers go back
    }
  };
  turns_for(50ms);  // the flood gets going
  pp.start();
  turns_for(500ms);
  const long round_trips = pp.round_trips;
  const auto worst_ms = std::chrono::duration_cast<std::chrono::milliseconds>(pp.worst).count();
  stop = true;
  writer.join();
  BOOST_TEST_MESSAGE("flood " << st.flood_bytes / MiB << " MiB, at most " << st.max_held << " of " << recv_buffers
                              << " receive buffers in one turn; " << round_trips
                              << " round trips in 500 ms, worst " << worst_ms << " ms; " << e.stats());
  BOOST_CHECK_GT(st.flood_bytes, 1 * MiB);  // the flood did flow
  if (variant() == Variant::io_uring_sqpoll) {
    // The SQ thread, not our loop, drives the kernel's retries: there is no
    // per-turn bound to check; the round trips below still must go on.
  } else if (variant() == Variant::io_uring) {
    // The kernel runs a multishot recv up to 32 times per wake-up, then
    // requeues it; one io_uring_enter may run it a few times (66 to 99
    // buffers seen on 6.18). It still leaves buffers for the others.
    BOOST_CHECK_MESSAGE(st.max_held < recv_buffers,
                        "the flood took all " << recv_buffers << " receive buffers in one turn");
  } else {
    // epoll: a multishot recv takes at most recv_buffer_count / 4 (<= 32)
    // buffers per fd per turn; single-shot recv (no multishot) takes one.
    BOOST_CHECK_MESSAGE(st.max_held <= recv_buffers / 4,
                        "the flood took " << st.max_held << " of " << recv_buffers << " receive buffers in one turn");
  }
  // Generous bounds (a loaded 2-core machine, sanitizers: 100-200 ms stalls
  // seen under TSan): they catch starvation, not slowness.
  BOOST_CHECK_MESSAGE(round_trips >= 20, "only " << round_trips << " round trips in 500 ms beside a flood");
  // Under SQPOLL the kernel's SQ thread spins on one of the two cores beside
  // the flood's writer and the test (1 050 ms seen once under TSan with
  // other builds running): a looser bound there, still well below the 5 s
  // the flood runs, so starvation is caught.
  const long worst_bound_ms = variant() == Variant::io_uring_sqpoll ? 3000 : 1000;
  BOOST_CHECK_MESSAGE(worst_ms < worst_bound_ms, "a round trip beside the flood took " << worst_ms << " ms");
  BOOST_CHECK(!pp.failed);
  held_.clear();
  close_all(e, {flood.sock, pp.p.a, pp.p.b});
}

BOOST_FIXTURE_TEST_CASE(second_reader_after_recv_is_refused, EngineFixture) {
  // recv() takes every byte that arrives on its socket, so a read(), a second
  // recv() or a splice from that socket started while it runs has nothing it
  // could be given: it fails at once with error::receive_in_progress (instead
  // of waiting forever behind the recv, or racing it for bytes).
  Engine& e = engine();
  HalfPair p = half_pair(e);
  TempFile file;
  ringxfer::File f = open_file(e, file.path());
  CollectSink& sink = state<CollectSink>();
  const OpId recv_id = start_collect(e, p.sock, sink);
  BOOST_REQUIRE(recv_id);
  struct St {
    Once read, recv2, splice;
  };
  St& st = state<St>();
  BOOST_REQUIRE(e.read(p.sock, -1, e.acquire_buffer(),
                       [o = &st.read](std::error_code ec, Buffer b) { o->record(ec, b.size()); }));
  BOOST_REQUIRE(e.recv(p.sock, [o = &st.recv2](std::error_code ec, Buffer) {
    if (ec) o->record(ec);
  }));
  BOOST_REQUIRE(e.splice(p.sock, -1, f, 0, 10, record(st.splice)));
  RX_REQUIRE_UNTIL(e, st.read.done() && st.recv2.done() && st.splice.done(), short_deadline);
  RX_CHECK_EC(st.read.ec, ringxfer::error::receive_in_progress);
  RX_CHECK_EC(st.recv2.ec, ringxfer::error::receive_in_progress);
  RX_CHECK_EC(st.splice.ec, ringxfer::error::receive_in_progress);
  // The recv still gets everything.
  BOOST_REQUIRE(::write(p.peer.get(), "hello", 5) == 5);
  RX_REQUIRE_UNTIL(e, sink.bytes.size() == 5, short_deadline);
  // Once it ended, the socket's read side is free again.
  BOOST_REQUIRE(e.cancel(recv_id));
  RX_REQUIRE_UNTIL(e, sink.done(), short_deadline);
  Once& later = state<Once>();
  BOOST_REQUIRE(e.read(p.sock, -1, e.acquire_buffer(),
                       [o = &later](std::error_code ec, Buffer b) { o->record(ec, b.size()); }));
  BOOST_REQUIRE(::write(p.peer.get(), "again", 5) == 5);
  RX_REQUIRE_UNTIL(e, later.done(), short_deadline);
  RX_CHECK_OK(later.ec);
  BOOST_CHECK_EQUAL(later.bytes, 5u);
  close_all(e, {f, p.sock});
}

BOOST_FIXTURE_TEST_CASE(read_started_before_recv_still_completes, EngineFixture) {
  // The other order is allowed: a read() pending when recv() starts is not
  // blocked by it; between them they receive every byte exactly once.
  Engine& e = engine();
  HalfPair p = half_pair(e);
  Once& rd = state<Once>();
  std::vector<std::byte>& got = state<std::vector<std::byte>>();
  BOOST_REQUIRE(e.read(p.sock, -1, e.acquire_buffer(), [o = &rd, g = &got](std::error_code ec, Buffer b) {
    o->record(ec, b.size());
    g->insert(g->end(), b.bytes().begin(), b.bytes().end());
  }));
  CollectSink& sink = state<CollectSink>();
  const OpId recv_id = start_collect(e, p.sock, sink);
  BOOST_REQUIRE(recv_id);
  BOOST_REQUIRE(::write(p.peer.get(), "0123456789", 10) == 10);
  run_for(e, 20ms);
  BOOST_REQUIRE(::write(p.peer.get(), "abcdefghij", 10) == 10);
  RX_REQUIRE_UNTIL(e, rd.done() && got.size() + sink.bytes.size() == 20, short_deadline);
  RX_CHECK_OK(rd.ec);
  BOOST_CHECK_GT(rd.bytes, 0u);
  BOOST_CHECK(e.cancel(recv_id));
  RX_REQUIRE_UNTIL(e, sink.done(), short_deadline);
  close_all(e, {p.sock});
}

BOOST_AUTO_TEST_SUITE_END()
