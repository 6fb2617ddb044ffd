// UniqueSocket: the owning handle closes on destruction, moves, releases.
#include "support.hpp"

using namespace rxtest;
using ringxfer::UniqueSocket;

namespace {
struct Ended {
  int calls = 0;
  std::error_code ec;
};
}  // namespace

BOOST_AUTO_TEST_SUITE(unique_socket)

BOOST_FIXTURE_TEST_CASE(destruction_closes_with_ops_in_flight, EngineFixture) {
  HalfPair p = half_pair(engine());
  const int fd = engine().native_handle(p.sock);
  BOOST_REQUIRE_GE(fd, 0);
  CollectSink& sink = state<CollectSink>();
  Ended& timer = state<Ended>();
  {
    UniqueSocket owned(engine(), p.sock);
    BOOST_REQUIRE(start_collect(engine(), owned.get(), sink));
    run_for(engine(), 10ms);
    // A timer in flight that names no socket is not touched.
    engine().timeout(50ms, [t = &timer](std::error_code ec) {
      ++t->calls;
      t->ec = ec;
    });
  }
  // Stale at once: the handle no longer resolves.
  BOOST_CHECK_EQUAL(engine().native_handle(p.sock), -1);
  RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
  BOOST_CHECK_MESSAGE(is_canceled(sink.final_error), describe(sink.final_error));
  BOOST_CHECK_EQUAL(sink.final_calls, 1);
  // The fd is closed once the cancelled recv let go: the peer sees the end.
  char byte;
  ::fcntl(p.peer.get(), F_SETFL, O_NONBLOCK);
  RX_REQUIRE_UNTIL(engine(), ::recv(p.peer.get(), &byte, 1, 0) == 0, short_deadline);
  RX_REQUIRE_UNTIL(engine(), timer.calls == 1, short_deadline);
  RX_CHECK_OK(timer.ec);
}

BOOST_FIXTURE_TEST_CASE(move_release_reset, EngineFixture) {
  HalfPair p = half_pair(engine());
  UniqueSocket a(engine(), p.sock);
  BOOST_CHECK(static_cast<bool>(a));
  BOOST_CHECK_EQUAL(a.engine(), &engine());
  UniqueSocket b(std::move(a));
  BOOST_CHECK(!a);  // NOLINT: moved-from is empty by contract
  BOOST_CHECK(b.get() == p.sock);
  UniqueSocket c;
  c = std::move(b);
  BOOST_CHECK(!b);  // NOLINT
  // Released: no longer owned, not closed.
  Socket s = c.release();
  BOOST_CHECK(!c);
  BOOST_CHECK(s == p.sock);
  run_for(engine(), 10ms);
  BOOST_CHECK_GE(engine().native_handle(s), 0);
  // Owned again, then reset(): closed now.
  UniqueSocket d(engine(), s);
  d.reset();
  BOOST_CHECK(!d);
  BOOST_CHECK_EQUAL(engine().native_handle(s), -1);
  // Move-assigning over an owner closes what it owned.
  HalfPair q = half_pair(engine());
  HalfPair r = half_pair(engine());
  UniqueSocket e(engine(), q.sock);
  e = UniqueSocket(engine(), r.sock);
  BOOST_CHECK_EQUAL(engine().native_handle(q.sock), -1);
  BOOST_CHECK_GE(engine().native_handle(r.sock), 0);
  static_assert(!std::is_copy_constructible_v<UniqueSocket>);
  static_assert(!std::is_copy_assignable_v<UniqueSocket>);
  static_assert(std::is_nothrow_move_constructible_v<UniqueSocket>);
}

BOOST_AUTO_TEST_SUITE_END()
