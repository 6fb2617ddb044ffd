// Limits never fail silently (DESIGN invariant 10): the defaults hold a real
// server (thousands of connections, dozens of parallel downloads), an accept
// loop survives running out of fds, and an operation that cannot start says
// why.
#include <sys/resource.h>

#include "support.hpp"

using namespace rxtest;

namespace {

// Raises the soft RLIMIT_NOFILE to the hard limit (as a server does) for the
// test's lifetime; the engine's default table sizes follow it.
struct RaisedFdLimit {
  rlimit saved{};
  RaisedFdLimit() {
    ::getrlimit(RLIMIT_NOFILE, &saved);
    rlimit raised = saved;
    raised.rlim_cur = saved.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &raised);
  }
  ~RaisedFdLimit() { ::setrlimit(RLIMIT_NOFILE, &saved); }
  rlim_t soft() const {
    rlimit now{};
    ::getrlimit(RLIMIT_NOFILE, &now);
    return now.rlim_cur;
  }
};

// An echo server on the engine: every byte back, through write() of the very
// receive buffer (no copy).
struct EchoServer {
  Engine* e = nullptr;
  Socket listener;
  int accepted = 0;
  int errors = 0;

  void start(Engine& engine, Address& bound) {
    e = &engine;
    RX_REQUIRE_OK(engine.listen(Address::loopback_v4(0), listener, 4096));
    RX_REQUIRE_OK(engine.local_address(listener, bound));
    BOOST_REQUIRE(engine.accept(listener, [this](std::error_code ec, Socket s) {
      if (ec) return;
      ++accepted;
      serve(s);
    }));
  }
  void serve(Socket s) {
    OpId id = e->recv(s, [this, s](std::error_code ec, Buffer b) {
      if (ec) {
        e->close(s, [](std::error_code) {});
        return;
      }
      if (!e->write(s, -1, std::move(b), [this](std::error_code wec, Buffer) { errors += wec ? 1 : 0; })) ++errors;
    });
    if (!id) ++errors;
  }
};

// One client connection: sends `rounds` messages of 64 distinct bytes, one at
// a time, and checks each echo.
struct EchoClient {
  Engine* e = nullptr;
  Socket s;
  std::array<std::byte, 64> msg{};
  std::vector<std::byte> got;
  int round = 0;
  int rounds = 0;
  int bad = 0;
  bool finished = false;
  std::error_code error;

  void start(Engine& engine, const Address& to, int id, int n) {
    e = &engine;
    rounds = n;
    for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = std::byte((id * 131 + int(i)) & 0xff);
    BOOST_REQUIRE(engine.connect(to, [this](std::error_code ec, Socket sock) {
      if (ec) {
        error = ec;
        finished = true;
        return;
      }
      s = sock;
      e->recv(s, [this](std::error_code rec, Buffer b) { on_recv(rec, std::move(b)); });
      send_next();
    }));
  }
  void send_next() {
    msg[0] = std::byte(round);
    e->send(s, msg, [this](std::error_code ec, std::size_t) {
      if (ec) error = ec;
    });
  }
  void on_recv(std::error_code ec, Buffer b) {
    if (ec) {
      if (!finished) error = ec;
      finished = true;
      return;
    }
    got.insert(got.end(), b.bytes().begin(), b.bytes().end());
    if (got.size() < msg.size()) return;
    if (got.size() != msg.size() || std::memcmp(got.data(), msg.data(), msg.size()) != 0) ++bad;
    got.clear();
    if (++round < rounds) {
      send_next();
    } else {
      finished = true;
      e->close(s, [](std::error_code) {});
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(limits)

BOOST_FIXTURE_TEST_CASE(five_thousand_echo_clients_with_the_defaults, EngineFixture) {
  constexpr int clients = 5000;
  constexpr int rounds = 3;
  RaisedFdLimit limit;
  if (limit.soft() < rlim_t(2 * clients + 200)) {
    BOOST_TEST_MESSAGE("RLIMIT_NOFILE hard limit " << limit.soft() << " is below " << 2 * clients + 200
                                                   << ": the test needs both ends of every connection");
    BOOST_REQUIRE(limit.soft() >= rlim_t(2 * clients + 200));
  }
  Engine& e = reset(variant_options());  // defaults: sized from the raised limit
  const ringxfer::SlotUsage usage = e.slot_usage();
  BOOST_CHECK_GE(usage.fd_slots_capacity, std::uint32_t(2 * clients));
  Address bound;
  EchoServer& server = state<EchoServer>();
  server.start(e, bound);
  std::vector<EchoClient*> all;
  // Connect in waves, as a load generator would (the listen backlog is
  // bounded by net.core.somaxconn).
  for (int i = 0; i < clients; ++i) {
    all.push_back(&state<EchoClient>());
    all.back()->start(e, bound, i, rounds);
    if (i % 500 == 499) e.poll();
  }
  auto finished = [&] {
    return std::all_of(all.begin(), all.end(), [](EchoClient* c) { return c->finished; });
  };
  RX_REQUIRE_UNTIL_INFO(e, finished(), 60s, "accepted " << server.accepted);
  int errors = 0, bad = 0, incomplete = 0;
  for (EchoClient* c : all) {
    errors += c->error ? 1 : 0;
    bad += c->bad;
    incomplete += c->round < rounds ? 1 : 0;
  }
  BOOST_CHECK_EQUAL(server.accepted, clients);
  BOOST_CHECK_EQUAL(errors, 0);
  BOOST_CHECK_EQUAL(bad, 0);
  BOOST_CHECK_EQUAL(incomplete, 0);
  BOOST_CHECK_EQUAL(server.errors, 0);
  BOOST_TEST_MESSAGE(variant_name() << ": " << clients << " echo clients x " << rounds << " round trips; "
                                    << e.stats());
  RX_REQUIRE_UNTIL(e, e.slot_usage().fd_slots_in_use <= 1, 20s);  // every connection closed
  RX_CHECK_OK(close_and_wait(e, server.listener));
}

BOOST_FIXTURE_TEST_CASE(sixty_four_parallel_downloads_with_the_defaults, EngineFixture) {
  constexpr int downloads = 64;
  constexpr std::size_t size = 2 * MiB + 333;
  const Pattern pattern(71);
  TempFile tf(pattern, size);
  File file = open_file(engine(), tf.path(), O_RDONLY);
  std::vector<SocketPair> pairs;
  std::vector<StreamSink*> sinks;
  std::vector<Once*> sent;
  for (int i = 0; i < downloads; ++i) {
    pairs.push_back(engine_pair(engine()));
    sinks.push_back(&state<StreamSink>(pattern));
    BOOST_REQUIRE(start_sink(engine(), pairs.back().b, *sinks.back()));
    sent.push_back(&state<Once>());
    BOOST_REQUIRE(engine().splice(file, 0, pairs.back().a, -1, size, record(*sent.back())));
    engine().shutdown(pairs.back().a, SHUT_WR, [](std::error_code) {});  // after the splice: write order
  }
  auto all_done = [&] {
    return std::all_of(sinks.begin(), sinks.end(), [](StreamSink* s) { return s->done(); });
  };
  RX_REQUIRE_UNTIL_INFO(engine(), all_done(), big_stream_deadline, *sinks[0] << " " << engine().stats());
  for (int i = 0; i < downloads; ++i) {
    BOOST_TEST_CONTEXT("download " << i) {
      RX_CHECK_OK(sent[std::size_t(i)]->ec);
      check_sink(*sinks[std::size_t(i)], size);
    }
  }
  BOOST_TEST_MESSAGE(variant_name() << ": pipe_waits " << engine().stats().pipe_waits);
  for (auto& p : pairs) close_all(engine(), {p.a, p.b});
  RX_CHECK_OK(close_and_wait(engine(), file));
}

BOOST_FIXTURE_TEST_CASE(splices_wait_for_a_pipe_instead_of_failing, EngineFixture) {
  ringxfer::EngineOptions o = variant_options();
  o.pipe_count = 2;
  o.pipe_size_bytes = 64 * KiB;
  Engine& e = reset(o);
  constexpr int downloads = 8;
  constexpr std::size_t size = 1 * MiB;
  const Pattern pattern(72);
  TempFile tf(pattern, size);
  File file = open_file(e, tf.path(), O_RDONLY);
  std::vector<SocketPair> pairs;
  std::vector<StreamSink*> sinks;
  for (int i = 0; i < downloads; ++i) {
    pairs.push_back(engine_pair(e));
    sinks.push_back(&state<StreamSink>(pattern));
    BOOST_REQUIRE(start_sink(e, pairs.back().b, *sinks.back()));
    // (epoll moves file -> socket with sendfile: no pipe; io_uring needs one each.)
    BOOST_REQUIRE(e.splice(file, 0, pairs.back().a, -1, size, [](std::error_code, std::size_t) {}));
    e.shutdown(pairs.back().a, SHUT_WR, [](std::error_code) {});
  }
  RX_REQUIRE_UNTIL(e, std::all_of(sinks.begin(), sinks.end(), [](StreamSink* s) { return s->done(); }),
                   big_stream_deadline);
  for (StreamSink* s : sinks) check_sink(*s, size);
  for (auto& p : pairs) close_all(e, {p.a, p.b});
  RX_CHECK_OK(close_and_wait(e, file));
}

BOOST_FIXTURE_TEST_CASE(accept_survives_running_out_of_fds, EngineFixture) {
  // With RLIMIT_NOFILE at 64 the accept loop hits EMFILE (or runs out of fd
  // slots, sized from that limit). It must pause and re-arm, not end: once
  // fds are free again, new connections are accepted by the same accept op.
  // A connection accepted as a direct descriptor (accept_direct) takes no
  // process fd, so the limit cannot touch it: this is the plain-fd path;
  // test_accept_direct.cpp fills the kernel's slot range instead.
  ringxfer::EngineOptions o = variant_options();
  o.disabled.add(ringxfer::Feature::accept_direct);
  Engine& e = reset(o);
  Address bound;
  Socket listener;
  RX_REQUIRE_OK(e.listen(Address::loopback_v4(0), listener));
  RX_REQUIRE_OK(e.local_address(listener, bound));
  struct Acc : FinalCall {
    std::vector<Socket> got;
  };
  Acc& acc = state<Acc>();
  BOOST_REQUIRE(e.accept(listener, [a = &acc](std::error_code ec, Socket s) {
    if (a->note_call(ec)) a->got.push_back(s);
  }));
  // 40 clients connect (the kernel completes their handshakes into the
  // backlog), then the limit drops to 4 fds above the highest open one, with
  // every lower hole filled: the engine can take ~4 connections, then EMFILE.
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 40; ++i) {
    UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    BOOST_REQUIRE(c);
    ::connect(c.get(), bound.data(), bound.size());
    clients.push_back(std::move(c));
  }
  int highest = 0;
  for (int fd = 0; fd < 65536; ++fd)
    if (fd_is_open(fd)) highest = fd;
  std::vector<UniqueFd> holes;
  for (int fd = 0; fd < highest; ++fd)
    if (!fd_is_open(fd)) holes.emplace_back(::fcntl(0, F_DUPFD_CLOEXEC, fd));
  rlimit saved{};
  ::getrlimit(RLIMIT_NOFILE, &saved);
  rlimit low = saved;
  low.rlim_cur = rlim_t(highest + 1 + 4);
  BOOST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  run_for(e, 300ms);
  ::setrlimit(RLIMIT_NOFILE, &saved);
  holes.clear();
  BOOST_TEST_MESSAGE(variant_name() << ": accepted " << acc.got.size() << " of " << clients.size()
                                    << " under the low limit; accept_pauses " << e.stats().accept_pauses);
  BOOST_CHECK_EQUAL(acc.final_calls, 0);  // the accept did not end
  BOOST_CHECK_GT(e.stats().accept_pauses, 0u);
  BOOST_CHECK_LT(acc.got.size(), clients.size());
  // fds free up: close what was accepted; the waiting connections get in
  // (the accept handler adds to acc.got while the closes run the loop).
  std::vector<Socket> first = std::exchange(acc.got, {});
  for (Socket s : first) RX_CHECK_OK(close_and_wait(e, s));
  UniqueFd late(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  BOOST_REQUIRE(::connect(late.get(), bound.data(), bound.size()) == 0);
  RX_REQUIRE_UNTIL_INFO(e, acc.got.size() >= 1, 5s, "accept_pauses " << e.stats().accept_pauses);
  BOOST_CHECK_EQUAL(acc.final_calls, 0);
  RX_CHECK_OK(close_and_wait(e, listener));
  RX_REQUIRE_UNTIL(e, acc.done(), short_deadline);
  for (Socket s : std::exchange(acc.got, {})) RX_CHECK_OK(close_and_wait(e, s));
  RX_REQUIRE_UNTIL(e, acc.done(), short_deadline);
}

BOOST_FIXTURE_TEST_CASE(an_operation_that_cannot_start_says_why, EngineFixture) {
  ringxfer::EngineOptions o = variant_options();
  o.op_slots = 4;
  Engine& e = reset(o);
  std::vector<OpId> timers;
  OpId last;
  for (int i = 0; i < 5; ++i) {
    last = e.timeout(std::chrono::seconds(30), record(state<Once>()));
    if (last) timers.push_back(last);
  }
  BOOST_CHECK_EQUAL(timers.size(), 4u);
  BOOST_CHECK(!last);
  BOOST_CHECK_MESSAGE(last.error() == ringxfer::error::no_free_op_slot, describe(last.error()));
  BOOST_CHECK_EQUAL(e.slot_usage().op_slots_free(), 0u);
  BOOST_CHECK_EQUAL(e.stats().start_failures, 1u);
  // close() with no op slot for itself still makes the handle stale and
  // closes the fd once nothing names it; only its handler cannot run.
  EnginePipe p = engine_pipe(e);
  const int fd = e.native_handle(p.rd);
  BOOST_REQUIRE_GE(fd, 0);
  OpId c = e.close(p.rd, [](std::error_code) {});
  BOOST_CHECK(!c);
  BOOST_CHECK_EQUAL(e.native_handle(p.rd), -1);
  run_for(e, 20ms);
  BOOST_CHECK_MESSAGE(!fd_is_open(fd) || e.slot_usage().fd_slots_in_use == 0, "fd " << fd << " still open");
  BOOST_CHECK_EQUAL(e.slot_usage().fd_slots_in_use, 0u);
  for (OpId id : timers) BOOST_CHECK(e.cancel(id));
  RX_REQUIRE_UNTIL(e, e.in_flight() == 0, short_deadline);
}

BOOST_FIXTURE_TEST_CASE(sqpoll_close_cancels_a_pending_recv_at_once, EngineFixture) {
  if (!is_uring_variant()) {
    BOOST_TEST_MESSAGE("SQPOLL is io_uring's; nothing to test on " << variant_name());
    return;
  }
  ringxfer::EngineOptions o = variant_options();
  o.sqpoll = true;
  Engine& e = reset(o);
  if (!e.features().sqpoll) {
    BOOST_TEST_MESSAGE("SQPOLL not available here: " << e.features().setup_mode);
    return;
  }
  for (int i = 0; i < 3; ++i) {
    HalfPair h = half_pair(e);
    CollectSink& sink = state<CollectSink>();
    BOOST_REQUIRE(start_collect(e, h.sock, sink));
    run_for(e, 20ms);
    ::usleep(1200 * 1000);  // the SQ thread goes idle (sq_thread_idle is 1 s)
    const auto t0 = Clock::now();
    Once& closed = state<Once>();
    BOOST_REQUIRE(e.close(h.sock, record(closed)));
    RX_REQUIRE_UNTIL(e, sink.done() && closed.calls > 0, short_deadline);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    BOOST_CHECK_MESSAGE(is_canceled(sink.final_error), describe(sink.final_error));
    BOOST_CHECK_LT(ms, 500);
    RX_CHECK_OK(closed.ec);
  }
}

BOOST_AUTO_TEST_SUITE_END()
