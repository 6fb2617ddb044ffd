// An fd slot is never reused while the kernel may still name it (DESIGN
// invariant 8). Each case closes a socket while a request on it is queued or
// issued but not complete, then at once gives a new socket to the engine —
// which, with a LIFO free list, lands in the slot just closed. The kernel
// resolves a fixed file when a request is issued, not when it is queued (a
// linked second half waits for its first; deferred task work runs at the
// next GETEVENTS), so a slot freed too early sends the old request's bytes to
// the new socket's peer. The new peer must receive nothing it did not ask
// for, over many rounds.
#include "support.hpp"

using namespace rxtest;

namespace {

constexpr int rounds = 12;

// Bytes readable on a plain socket right now (non-blocking), up to `limit`.
std::size_t drain_now(int fd, std::size_t limit = 64 * MiB) {
  std::vector<std::byte> buf(256 * KiB);
  std::size_t total = 0;
  while (total < limit) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n <= 0) break;
    total += std::size_t(n);
  }
  return total;
}

struct Round {
  Once op;
  Once close;
};

// The shape every case shares: `start` begins an operation on `victim`; the
// loop turns once (so it is submitted, and on io_uring its first part may run
// while its completion is deferred); the victim is closed; a newcomer socket
// is adopted at once; then everything settles. Returns the newcomer.
template <class Start>
HalfPair close_under_then_adopt(EngineFixture& f, HalfPair& victim, Round& r, Start&& start) {
  Engine& e = f.engine();
  start(victim.sock);
  e.poll();
  ::usleep(2000);  // let io-wq finish a first half; its CQE stays deferred
  BOOST_REQUIRE(e.close(victim.sock, record(r.close)));
  HalfPair newcomer = half_pair(e);
  return newcomer;
}

void settle(EngineFixture& f, Round& r) {
  RX_REQUIRE_UNTIL(f.engine(), r.op.calls > 0 && r.close.calls > 0, short_deadline);
  run_for(f.engine(), 20ms);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(slot_reuse)

BOOST_FIXTURE_TEST_CASE(splice_file_to_closed_socket_never_reaches_the_next_socket, EngineFixture) {
  const std::size_t size = 4 * MiB;
  Pattern pattern(61);
  TempFile tf(pattern, size);
  File file = open_file(engine(), tf.path(), O_RDONLY);
  for (int i = 0; i < rounds; ++i) {
    BOOST_TEST_CONTEXT("round " << i) {
      HalfPair victim = half_pair(engine());
      set_int_sockopt(victim.peer.get(), SOL_SOCKET, SO_RCVBUF, 4096);
      Round& r = state<Round>();
      HalfPair newcomer = close_under_then_adopt(*this, victim, r, [&](Socket s) {
        BOOST_REQUIRE(engine().splice(file, 0, s, -1, size, record(r.op)));
      });
      settle(*this, r);
      BOOST_CHECK_EQUAL(drain_now(newcomer.peer.get()), 0u);
      RX_CHECK_OK(close_and_wait(engine(), newcomer.sock));
    }
  }
  RX_CHECK_OK(close_and_wait(engine(), file));
}

BOOST_FIXTURE_TEST_CASE(send_to_closed_socket_never_reaches_the_next_socket, EngineFixture) {
  std::vector<std::byte> data = Pattern(62).make(0, 8 * MiB);
  for (int i = 0; i < rounds; ++i) {
    BOOST_TEST_CONTEXT("round " << i) {
      HalfPair victim = half_pair(engine());
      set_int_sockopt(victim.peer.get(), SOL_SOCKET, SO_RCVBUF, 4096);
      Round& r = state<Round>();
      HalfPair newcomer = close_under_then_adopt(*this, victim, r, [&](Socket s) {
        BOOST_REQUIRE(engine().send(s, data, record(r.op)));
      });
      settle(*this, r);
      BOOST_CHECK_EQUAL(drain_now(newcomer.peer.get()), 0u);
      RX_CHECK_OK(close_and_wait(engine(), newcomer.sock));
    }
  }
}

BOOST_FIXTURE_TEST_CASE(sendv_to_closed_socket_never_reaches_the_next_socket, EngineFixture) {
  std::vector<std::byte> data = Pattern(63).make(0, 8 * MiB);
  std::span<const std::byte> all(data);
  const std::span<const std::byte> pieces[] = {all.subspan(0, 100), all.subspan(100, 4 * MiB),
                                               all.subspan(100 + 4 * MiB)};
  for (int i = 0; i < rounds; ++i) {
    BOOST_TEST_CONTEXT("round " << i) {
      HalfPair victim = half_pair(engine());
      set_int_sockopt(victim.peer.get(), SOL_SOCKET, SO_RCVBUF, 4096);
      Round& r = state<Round>();
      HalfPair newcomer = close_under_then_adopt(*this, victim, r, [&](Socket s) {
        BOOST_REQUIRE(engine().sendv(s, pieces, record(r.op)));
      });
      settle(*this, r);
      BOOST_CHECK_EQUAL(drain_now(newcomer.peer.get()), 0u);
      RX_CHECK_OK(close_and_wait(engine(), newcomer.sock));
    }
  }
}

BOOST_FIXTURE_TEST_CASE(send_zc_to_closed_socket_never_reaches_the_next_socket, EngineFixture) {
  Pattern pattern(64);
  for (int i = 0; i < rounds; ++i) {
    BOOST_TEST_CONTEXT("round " << i) {
      HalfPair victim = half_pair(engine());
      set_int_sockopt(victim.peer.get(), SOL_SOCKET, SO_RCVBUF, 4096);
      // Fill the victim's path so the zero-copy send waits in the kernel.
      std::vector<std::byte> filler(4 * MiB);
      Once& fill = state<Once>();
      BOOST_REQUIRE(engine().send(victim.sock, filler, record(fill)));
      Round& r = state<Round>();
      HalfPair newcomer = close_under_then_adopt(*this, victim, r, [&](Socket s) {
        BOOST_REQUIRE(engine().send_zc(s, filled(engine(), pattern), record(r.op)));
      });
      settle(*this, r);
      RX_REQUIRE_UNTIL(engine(), fill.calls > 0, short_deadline);
      BOOST_CHECK_EQUAL(drain_now(newcomer.peer.get()), 0u);
      RX_CHECK_OK(close_and_wait(engine(), newcomer.sock));
    }
  }
}

BOOST_FIXTURE_TEST_CASE(recv_on_closed_socket_never_takes_the_next_sockets_bytes, EngineFixture) {
  static const char msg[] = "for the newcomer only";
  for (int i = 0; i < rounds; ++i) {
    BOOST_TEST_CONTEXT("round " << i) {
      HalfPair victim = half_pair(engine());
      CollectSink& old_sink = state<CollectSink>();
      Once& close_done = state<Once>();
      start_collect(engine(), victim.sock, old_sink);
      engine().poll();
      BOOST_REQUIRE(engine().close(victim.sock, record(close_done)));
      HalfPair newcomer = half_pair(engine());
      // The newcomer's peer writes before the loop turns again.
      BOOST_REQUIRE_EQUAL(::send(newcomer.peer.get(), msg, sizeof msg, MSG_NOSIGNAL), ssize_t(sizeof msg));
      CollectSink& new_sink = state<CollectSink>();
      start_collect(engine(), newcomer.sock, new_sink);
      RX_REQUIRE_UNTIL(engine(), old_sink.done() && close_done.calls > 0 && new_sink.bytes.size() == sizeof msg,
                       short_deadline);
      BOOST_CHECK_EQUAL(old_sink.bytes.size(), 0u);
      BOOST_CHECK_MESSAGE(is_canceled_or_badf(old_sink.final_error), describe(old_sink.final_error));
      RX_CHECK_OK(close_and_wait(engine(), newcomer.sock));
      RX_REQUIRE_UNTIL(engine(), new_sink.done(), short_deadline);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
