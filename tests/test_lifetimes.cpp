// Lifetimes that fail safe: a Buffer lease that outlives its Engine, an
// Engine destroyed with zero-copy notifications pending, and an Engine whose
// drain limit runs out — every handler still runs once, nothing touches freed
// memory or a backend that is gone (run under ASan in CI).
#include "support.hpp"

using namespace rxtest;

BOOST_AUTO_TEST_SUITE(lifetimes)

BOOST_FIXTURE_TEST_CASE(buffer_leases_outlive_their_engine, EngineFixture) {
  SocketPair p = engine_pair(engine());
  CollectSink& sink = state<CollectSink>();
  struct Kept {
    std::vector<Buffer> received;
  };
  // Kept in a local, not the fixture: these leases are dropped after the
  // engine is gone, on purpose.
  auto kept = std::make_shared<Kept>();
  BOOST_REQUIRE(engine().recv(p.b, [kept, s = &sink](std::error_code ec, Buffer b) {
    s->note_call(ec);
    if (!ec) kept->received.push_back(std::move(b));
  }));
  static const char msg[] = "held past the engine";
  Once& sent = state<Once>();
  BOOST_REQUIRE(engine().send(p.a, std::as_bytes(std::span(msg)), record(sent)));
  RX_REQUIRE_UNTIL(engine(), !kept->received.empty(), short_deadline);
  Buffer send_side = engine().acquire_buffer();
  BOOST_REQUIRE(send_side);
  std::memset(send_side.data(), 0x5a, send_side.capacity());
  destroy_engine();
  // The pool outlived the engine for these leases: reading them is fine, and
  // dropping them frees the pool without calling into the dead engine.
  BOOST_CHECK(std::memcmp(kept->received.front().data(), msg, sizeof msg) == 0);
  BOOST_CHECK(send_side.data()[send_side.capacity() - 1] == std::byte{0x5a});
  kept->received.clear();
  send_side.release();
  BOOST_CHECK_EQUAL(sink.final_calls, 1);  // the recv ended with the engine
}

BOOST_FIXTURE_TEST_CASE(destroyed_with_zero_copy_notifications_pending, EngineFixture) {
  // The peer never reads: the zero-copy pages stay in the socket until it is
  // closed. Destruction must close it and wait for the notifications, not
  // hang until the drain limit, and leave nothing behind.
  HalfPair h = half_pair(engine());
  set_int_sockopt(h.peer.get(), SOL_SOCKET, SO_RCVBUF, 4096);
  const Pattern pattern(81);
  std::vector<Once*> sends;
  for (int i = 0; i < 8; ++i) {
    sends.push_back(&state<Once>());
    BOOST_REQUIRE(engine().send_zc(h.sock, filled(engine(), pattern, 0, 16 * KiB), record(*sends.back())));
  }
  run_for(engine(), 50ms);
  const auto t0 = Clock::now();
  destroy_engine();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  for (Once* s : sends) BOOST_CHECK_EQUAL(s->calls, 1);
  BOOST_CHECK_LT(ms, 2000);
}

BOOST_FIXTURE_TEST_CASE(drain_limit_runs_every_remaining_handler, EngineFixture) {
  // drain_timeout 0: ~Engine does not wait for the kernel at all; every
  // handler must still run exactly once, with operation_canceled.
  ringxfer::EngineOptions o = variant_options();
  o.drain_timeout = std::chrono::milliseconds(0);
  Engine& e = reset(o);
  HalfPair h = half_pair(e);
  set_int_sockopt(h.peer.get(), SOL_SOCKET, SO_RCVBUF, 4096);
  const std::vector<std::byte> big = Pattern(82).make(0, 8 * MiB);
  Once& send = state<Once>();
  Once& queued = state<Once>();
  Once& timer = state<Once>();
  CollectSink& recv = state<CollectSink>();
  BOOST_REQUIRE(e.send(h.sock, big, record(send)));
  BOOST_REQUIRE(e.send(h.sock, std::span(big).first(10), record(queued)));
  BOOST_REQUIRE(e.timeout(std::chrono::seconds(60), record(timer)));
  BOOST_REQUIRE(start_collect(e, h.sock, recv));
  run_for(e, 20ms);
  destroy_engine();
  BOOST_CHECK_EQUAL(send.calls, 1);
  BOOST_CHECK_EQUAL(queued.calls, 1);
  BOOST_CHECK(is_canceled(queued.ec));
  BOOST_CHECK_EQUAL(timer.calls, 1);
  BOOST_CHECK(is_canceled(timer.ec));
  BOOST_CHECK_EQUAL(recv.final_calls, 1);
  BOOST_CHECK_EQUAL(recv.calls_after_final, 0);
}

BOOST_AUTO_TEST_SUITE_END()
