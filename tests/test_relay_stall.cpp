// Relays of small request/response messages must never stall.
//
// The case this guards: a relay by splice on io_uring. io_uring runs every
// splice on an io-wq worker thread, and a splice from a socket with nothing
// to read blocks that worker inside the socket read. With 32 relays x 2
// directions that is 64 workers parked in reads; in about 1 run in 8 of
// 20 000 request/responses of 512 B one message then waited ~5 s (the io-wq
// worker idle timeout) before its splice ran (2026-12-01, kernel 6.18). The
// client here sends one message per connection and waits for every echo
// before the next round; a round that takes longer than `stall` fails the
// test (every receive is bounded by SO_RCVTIMEO, so a stall ends the test,
// not the suite). Run for each strategy a relay can use.
#include <poll.h>
#include <sys/time.h>

#include <thread>

#include "support.hpp"

using namespace rxtest;
using ringxfer::Strategy;
using ringxfer::Transfers;

namespace {

constexpr int connections = 32;
constexpr std::size_t message_bytes = 512;
constexpr auto stall = std::chrono::milliseconds(1500);
// Rounds per strategy: 32 x 320 = 10 240 request/responses, about 0.3 s when
// nothing stalls.
constexpr int rounds = 320;

void set_receive_timeout(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = t.count() / 1000;
  tv.tv_usec = (t.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

bool read_exactly(int fd, std::byte* p, std::size_t n) {
  while (n > 0) {
    ssize_t k = ::recv(fd, p, n, 0);
    if (k <= 0) return false;
    p += k;
    n -= std::size_t(k);
  }
  return true;
}

bool write_all(int fd, const std::byte* p, std::size_t n) {
  while (n > 0) {
    ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) return false;
    p += k;
    n -= std::size_t(k);
  }
  return true;
}

struct Driver {
  std::vector<int> clients;    // the relay's a side: the test's client ends
  std::vector<int> upstreams;  // the relay's b side: the test echoes there
  std::atomic<bool> done{false};
  bool ok = true;
  std::string why;
  int rounds_done = 0;
  std::chrono::microseconds slowest{0};

  void run() {
    std::vector<std::byte> out(message_bytes), in(message_bytes);
    for (int r = 0; r < rounds && ok; ++r) {
      const auto t0 = Clock::now();
      for (std::size_t i = 0; i < message_bytes; ++i) out[i] = std::byte(r + i);
      for (int fd : clients) {
        if (!write_all(fd, out.data(), out.size())) fail("client send", r);
      }
      for (int fd : upstreams) {  // the upstream echoes each message
        if (!ok) break;
        if (!read_exactly(fd, in.data(), in.size())) fail("upstream receive (a stalled relay?)", r);
        else if (!write_all(fd, in.data(), in.size())) fail("upstream send", r);
      }
      for (int fd : clients) {
        if (!ok) break;
        if (!read_exactly(fd, in.data(), in.size())) fail("client receive (a stalled relay?)", r);
        else if (in != out) fail("echo differs", r);
      }
      const auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
      slowest = std::max(slowest, took);
      if (ok && took > stall) fail("a round took " + std::to_string(took.count() / 1000) + " ms", r);
      if (ok) ++rounds_done;
    }
    done = true;
  }

  void fail(const std::string& what, int round) {
    if (!ok) return;
    ok = false;
    why = what + " in round " + std::to_string(round);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(relay_stall)

BOOST_FIXTURE_TEST_CASE(small_messages_through_relays_never_stall, EngineFixture) {
  for (Strategy s : {Strategy::automatic, Strategy::copy, Strategy::splice}) {
    BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s)) {
      Transfers& t = state<Transfers>(engine());
      std::vector<HalfPair> a, b;
      Driver& d = state<Driver>();
      int ended = 0;
      for (int i = 0; i < connections; ++i) {
        a.push_back(half_pair(engine()));
        b.push_back(half_pair(engine()));
        set_int_sockopt(a.back().peer.get(), IPPROTO_TCP, TCP_NODELAY, 1);
        set_int_sockopt(b.back().peer.get(), IPPROTO_TCP, TCP_NODELAY, 1);
        set_receive_timeout(a.back().peer.get(), stall + 500ms);
        set_receive_timeout(b.back().peer.get(), stall + 500ms);
        d.clients.push_back(a.back().peer.get());
        d.upstreams.push_back(b.back().peer.get());
        ringxfer::RelayOptions o;
        o.strategy = s;
        BOOST_REQUIRE(t.relay(a.back().sock, b.back().sock, o,
                              [e = &ended](std::error_code, const ringxfer::RelayResult&) { ++*e; }));
      }
      const auto t0 = Clock::now();
      std::thread driver([&d] { d.run(); });
      // Bounded: every round is bounded by the receive timeouts.
      const bool finished = run_until(engine(), [&] { return d.done.load(); }, 60s);
      driver.join();
      BOOST_TEST_MESSAGE(ringxfer::to_string(s) << ": " << d.rounds_done << " rounds x " << connections
                                                << " in " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                 Clock::now() - t0).count()
                                                << " ms, slowest round " << d.slowest.count() / 1000 << " ms");
      BOOST_CHECK(finished);
      BOOST_CHECK_MESSAGE(d.ok, d.why);
      // Both sides shut down: every relay ends by itself.
      for (int i = 0; i < connections; ++i) {
        ::shutdown(a[std::size_t(i)].peer.get(), SHUT_WR);
        ::shutdown(b[std::size_t(i)].peer.get(), SHUT_WR);
      }
      RX_REQUIRE_UNTIL(engine(), ended == connections, short_deadline);
      for (int i = 0; i < connections; ++i) {
        close_all(engine(), {a[std::size_t(i)].sock, b[std::size_t(i)].sock});
      }
    }
  }
}

// Engine::wait_readable: completes only once the socket has something to
// read, takes nothing from the pool, and ends with operation_canceled when
// its socket is closed.
BOOST_FIXTURE_TEST_CASE(wait_readable_waits_for_bytes_and_holds_no_buffer, EngineFixture) {
  HalfPair p = half_pair(engine());
  struct St {
    int calls = 0;
    std::error_code ec;
  };
  St& st = state<St>();
  const std::uint32_t ops_before = engine().slot_usage().op_slots_in_use;
  BOOST_REQUIRE(engine().wait_readable(p.sock, [s = &st](std::error_code ec) {
    ++s->calls;
    s->ec = ec;
  }));
  for (int i = 0; i < 10; ++i) engine().run_once(std::chrono::milliseconds(5));
  BOOST_CHECK_EQUAL(st.calls, 0);  // nothing to read yet
  BOOST_CHECK_EQUAL(engine().slot_usage().op_slots_in_use, ops_before + 1);
  std::vector<Buffer> all;  // every send buffer is still in the pool
  while (Buffer b = engine().acquire_buffer()) all.push_back(std::move(b));
  BOOST_CHECK_EQUAL(all.size(), send_buffer_count());
  all.clear();
  BOOST_REQUIRE(::send(p.peer.get(), "x", 1, MSG_NOSIGNAL) == 1);
  RX_REQUIRE_UNTIL(engine(), st.calls == 1, short_deadline);
  RX_CHECK_OK(st.ec);
  // The byte is still there to read: waiting consumed nothing.
  char c = 0;
  ssize_t k = -1;
  int fd = engine().native_handle(p.sock);
  k = ::recv(fd, &c, 1, MSG_DONTWAIT);
  BOOST_CHECK(k == 1 && c == 'x');
  // A wait on a socket that is closed under it ends, canceled.
  BOOST_REQUIRE(engine().wait_readable(p.sock, [s = &st](std::error_code ec) {
    ++s->calls;
    s->ec = ec;
  }));
  engine().close(p.sock, [](std::error_code) {});
  RX_REQUIRE_UNTIL(engine(), st.calls == 2, short_deadline);
  BOOST_CHECK(st.ec == std::errc::operation_canceled);
}

// Idle relays must not hold what others need. A relay direction by copy used
// to wait for its next bytes in a read that held a send buffer: 128 idle
// relays (64 by splice, each direction holding a pipe for its whole life)
// took every buffer, and the next relay never moved a byte. A direction by
// splice now takes its pipe only for a turn, once its socket is readable.
BOOST_FIXTURE_TEST_CASE(idle_relays_hold_no_buffer, EngineFixture) {
  for (Strategy s : {Strategy::automatic, Strategy::copy, Strategy::splice}) {
    BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s)) {
      Transfers& t = state<Transfers>(engine());
      // More relays than the pool has send buffers (and than it has pipes).
      const std::size_t idle = send_buffer_count() + 8;
      std::vector<HalfPair> a, b;
      int ended = 0;
      ringxfer::RelayOptions o;
      o.strategy = s;
      for (std::size_t i = 0; i <= idle; ++i) {  // the last one is the busy one
        a.push_back(half_pair(engine()));
        b.push_back(half_pair(engine()));
        BOOST_REQUIRE(t.relay(a.back().sock, b.back().sock, o,
                              [e = &ended](std::error_code, const ringxfer::RelayResult&) { ++*e; }));
      }
      for (int i = 0; i < 20; ++i) engine().run_once(std::chrono::milliseconds(5));  // let every relay start
      const char message[] = "through the last relay";
      BOOST_REQUIRE(::send(a.back().peer.get(), message, sizeof message, MSG_NOSIGNAL) == ssize_t(sizeof message));
      set_nonblocking(b.back().peer.get());
      char got[sizeof message] = {};
      std::size_t have = 0;
      RX_REQUIRE_UNTIL(engine(), [&] {
        ssize_t k = ::recv(b.back().peer.get(), got + have, sizeof got - have, 0);
        if (k > 0) have += std::size_t(k);
        return have == sizeof got;
      }(), short_deadline);
      BOOST_CHECK(std::memcmp(got, message, sizeof message) == 0);
      for (std::size_t i = 0; i <= idle; ++i) {
        ::shutdown(a[i].peer.get(), SHUT_WR);
        ::shutdown(b[i].peer.get(), SHUT_WR);
      }
      RX_REQUIRE_UNTIL(engine(), ended == int(idle + 1), short_deadline);
      for (std::size_t i = 0; i <= idle; ++i) {
        engine().close(a[i].sock, [](std::error_code) {});
        engine().close(b[i].sock, [](std::error_code) {});
      }
      RX_REQUIRE_UNTIL(engine(), engine().in_flight() == 0, short_deadline);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
