// Fair loops: a task that re-posts itself cannot starve I/O and timers; one
// flooding socket cannot take every receive buffer or stall the others; a
// running recv() claims its socket's read side, and a second reader is told
// so at once instead of waiting forever.
#include <array>

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

BOOST_AUTO_TEST_SUITE_END()
