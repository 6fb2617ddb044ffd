// Relays by splice (and `auto`, which switches a direction between copy and
// splice) against a small pipe pool: a direction may hold a pipe only while
// bytes pass through it, so idle relays hold none, more active relays than
// pipes all make progress (running out of pipes means a copy turn, never a
// wait for a pipe an idle relay holds, never an error), and every byte
// arrives once, in order, across any number of switches.
//
// The load is a ping-pong: each connection's client sends one message, the
// upstream checks it and echoes it, the client checks the echo, next round.
// A relay that kept a pipe until its stream ended would hold it across the
// rounds, so with more relays than pipes one of them would never get its
// turn. Message sizes mix 1 B with 1 MiB, so `auto` sees reads both small
// and large on one direction. A driver thread drives plain nonblocking
// sockets; the engine runs on the test's thread; every wait is bounded.
#include <thread>

#include "support.hpp"

using namespace rxtest;
using ringxfer::Strategy;
using ringxfer::Transfers;

namespace {

// Bytes of round `round` of connection `index` at `offset`: a block moved,
// dropped or repeated anywhere in a message shows as a wrong byte.
std::byte pattern_byte(int index, int round, std::size_t offset) {
  const std::uint32_t x = std::uint32_t(offset) * 131u ^ std::uint32_t(offset >> 9) ^ std::uint32_t(round) * 29u ^
                          std::uint32_t(index) * 7u;
  return std::byte(x & 0xff);
}

// Message sizes: small ones (a copy's business) between large ones (which
// should go by splice under `auto`).
constexpr std::size_t sizes[] = {1 * MiB + 7, 64, 300 * KiB, 1, 2 * KiB, 256 * KiB, 17, 700 * KiB + 3, 512, 4 * KiB};
constexpr std::size_t size_count = sizeof sizes / sizeof sizes[0];

struct PingPong {
  struct Conn {
    int client = -1;    // the relay's a side (the test's end)
    int upstream = -1;  // the relay's b side (the test's end)
    int index = 0;
    int round = 0;
    std::size_t size = 0;
    std::vector<std::byte> message, echo, in;
    std::size_t c_sent = 0, u_got = 0, u_sent = 0, c_got = 0;
    // After the last round: the client half-closes, the upstream sees the
    // end, answers with a tail of `tail_bytes` and closes its side too.
    bool client_fin = false, upstream_saw_fin = false, upstream_fin = false, client_saw_fin = false;
    std::size_t tail_sent = 0, tail_got = 0;
  };
  std::vector<Conn> conns;
  int rounds = 0;
  std::size_t tail_bytes = 0;
  bool half_close = true;  // false: a connection is done after its rounds, and stays open
  // Round r + 1 starts on any connection only once every connection finished
  // round r: no relay can finish alone and hand its pipes on.
  bool lockstep = false;
  int slowest_round = 0;
  std::atomic<bool> done{false};
  bool ok = true;
  std::string why;
  std::size_t bytes_each_way = 0;

  void add(int client, int upstream) {
    set_nonblocking(client);
    set_nonblocking(upstream);
    Conn c;
    c.client = client;
    c.upstream = upstream;
    c.index = int(conns.size());
    conns.push_back(std::move(c));
  }

  void fail(const Conn& c, const std::string& what) {
    if (!ok) return;
    ok = false;
    why = "connection " + std::to_string(c.index) + " round " + std::to_string(c.round) + ": " + what;
  }

  void start_round(Conn& c) {
    c.size = sizes[std::size_t(c.round + c.index) % size_count];
    c.message.resize(c.size);
    for (std::size_t i = 0; i < c.size; ++i) c.message[i] = pattern_byte(c.index, c.round, i);
    c.echo.assign(c.size, std::byte{0});
    c.c_sent = c.u_got = c.u_sent = c.c_got = 0;
  }

  // One nonblocking step of every side of `c`; true if anything moved.
  bool step(Conn& c) {
    bool moved = false;
    if (lockstep && c.round > slowest_round && c.round < rounds) return false;
    if (c.round < rounds) {
      if (c.c_sent < c.size) {
        ssize_t k = ::send(c.client, c.message.data() + c.c_sent, c.size - c.c_sent, MSG_NOSIGNAL);
        if (k > 0) c.c_sent += std::size_t(k), moved = true;
        else if (k < 0 && errno != EAGAIN) fail(c, std::string("client send: ") + std::strerror(errno));
      }
      if (c.u_got < c.size) {
        ssize_t k = ::recv(c.upstream, c.echo.data() + c.u_got, c.size - c.u_got, 0);
        if (k == 0) fail(c, "upstream saw an early end");
        if (k < 0 && errno != EAGAIN) fail(c, std::string("upstream receive: ") + std::strerror(errno));
        if (k > 0) {
          if (std::memcmp(c.echo.data() + c.u_got, c.message.data() + c.u_got, std::size_t(k)) != 0) {
            fail(c, "upstream got wrong bytes at offset " + std::to_string(c.u_got));
          }
          c.u_got += std::size_t(k);
          moved = true;
        }
      }
      if (c.u_sent < c.u_got) {
        ssize_t k = ::send(c.upstream, c.echo.data() + c.u_sent, c.u_got - c.u_sent, MSG_NOSIGNAL);
        if (k > 0) c.u_sent += std::size_t(k), moved = true;
        else if (k < 0 && errno != EAGAIN) fail(c, std::string("upstream send: ") + std::strerror(errno));
      }
      if (c.c_got < c.u_sent) {
        c.in.resize(c.size);
        ssize_t k = ::recv(c.client, c.in.data(), c.size - c.c_got, 0);
        if (k == 0) fail(c, "client saw an early end");
        if (k < 0 && errno != EAGAIN) fail(c, std::string("client receive: ") + std::strerror(errno));
        if (k > 0) {
          if (std::memcmp(c.in.data(), c.message.data() + c.c_got, std::size_t(k)) != 0) {
            fail(c, "client got wrong bytes at offset " + std::to_string(c.c_got));
          }
          c.c_got += std::size_t(k);
          moved = true;
        }
      }
      if (c.c_got == c.size) {
        bytes_each_way += c.size;
        if (++c.round < rounds) start_round(c);
        moved = true;
      }
      return moved;
    }
    // Half-close one way, then the other way's tail, then its end.
    if (!c.client_fin) {
      ::shutdown(c.client, SHUT_WR);
      c.client_fin = moved = true;
    }
    if (!c.upstream_saw_fin) {
      std::byte b;
      ssize_t k = ::recv(c.upstream, &b, 1, 0);
      if (k == 0) c.upstream_saw_fin = moved = true;
      else if (k > 0) fail(c, "upstream got bytes after the last round");
      else if (errno != EAGAIN) fail(c, std::string("upstream receive at the end: ") + std::strerror(errno));
      return moved;
    }
    if (c.tail_sent < tail_bytes) {
      std::byte chunk[16 * 1024];
      const std::size_t n = std::min(sizeof chunk, tail_bytes - c.tail_sent);
      for (std::size_t i = 0; i < n; ++i) chunk[i] = pattern_byte(c.index, -1, c.tail_sent + i);
      ssize_t k = ::send(c.upstream, chunk, n, MSG_NOSIGNAL);
      if (k > 0) c.tail_sent += std::size_t(k), moved = true;
      else if (k < 0 && errno != EAGAIN) fail(c, std::string("upstream tail send: ") + std::strerror(errno));
    } else if (!c.upstream_fin) {
      ::shutdown(c.upstream, SHUT_WR);
      c.upstream_fin = moved = true;
    }
    if (!c.client_saw_fin) {
      std::byte chunk[16 * 1024];
      ssize_t k = ::recv(c.client, chunk, sizeof chunk, 0);
      if (k > 0) {
        for (std::size_t i = 0; i < std::size_t(k); ++i) {
          if (chunk[i] != pattern_byte(c.index, -1, c.tail_got + i)) {
            fail(c, "client got a wrong tail byte at offset " + std::to_string(c.tail_got + i));
            break;
          }
        }
        c.tail_got += std::size_t(k);
        moved = true;
      } else if (k == 0) {
        c.client_saw_fin = moved = true;
        if (c.tail_got != tail_bytes) fail(c, "tail ended after " + std::to_string(c.tail_got) + " bytes");
      } else if (errno != EAGAIN) {
        fail(c, std::string("client tail receive: ") + std::strerror(errno));
      }
    }
    return moved;
  }

  void run(std::chrono::milliseconds limit) {
    for (Conn& c : conns) start_round(c);
    const auto deadline = Clock::now() + limit;
    while (ok) {
      bool moved = false, all_done = true;
      slowest_round = rounds;
      for (const Conn& c : conns) slowest_round = std::min(slowest_round, c.round);
      for (Conn& c : conns) {
        if (c.client_saw_fin || (!half_close && c.round >= rounds)) continue;
        all_done = false;
        moved |= step(c);
      }
      if (all_done) break;
      if (Clock::now() > deadline) {
        std::string where;
        for (const Conn& c : conns) {
          if (!c.client_saw_fin && (half_close || c.round < rounds)) {
            where += " [" + std::to_string(c.index) + ": round " + std::to_string(c.round) + " sent " +
                     std::to_string(c.c_sent) + " upstream got " + std::to_string(c.u_got) + " echoed " +
                     std::to_string(c.u_sent) + " client got " + std::to_string(c.c_got) + " of " +
                     std::to_string(c.size) + "]";
          }
        }
        ok = false;
        why = "stalled (a relay that never got its turn?):" + where;
        break;
      }
      if (!moved) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    done = true;
  }
};

struct Relays {
  int ended = 0;
  std::vector<std::error_code> errors;
  std::vector<ringxfer::RelayResult> results;
};

// Starts a relay between a.sock and b.sock; its end is recorded in `r`.
void start_relay(Transfers& t, HalfPair& a, HalfPair& b, Strategy s, Relays& r) {
  ringxfer::RelayOptions o;
  o.strategy = s;
  BOOST_REQUIRE(t.relay(a.sock, b.sock, o, [p = &r](std::error_code ec, const ringxfer::RelayResult& res) {
    ++p->ended;
    p->errors.push_back(ec);
    p->results.push_back(res);
  }));
}

// Runs the driver on its own thread and the engine here until it ends.
void drive(ringxfer::Engine& engine, PingPong& d, std::chrono::milliseconds limit) {
  std::thread driver([&d, limit] { d.run(limit); });
  const bool finished = run_until(engine, [&] { return d.done.load(); }, limit + 5000ms);
  driver.join();
  BOOST_CHECK(finished);
  BOOST_CHECK_MESSAGE(d.ok, d.why);
}

ringxfer::EngineOptions with_pipes(std::uint32_t count) {
  ringxfer::EngineOptions o = variant_options();
  o.pipe_count = count;
  return o;
}

void close_pairs(ringxfer::Engine& engine, std::vector<HalfPair>& a, std::vector<HalfPair>& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    engine.close(a[i].sock, [](std::error_code) {});
    engine.close(b[i].sock, [](std::error_code) {});
  }
  RX_REQUIRE_UNTIL(engine, engine.in_flight() == 0, short_deadline);
}

constexpr auto drive_limit = std::chrono::milliseconds(20000);

}  // namespace

BOOST_AUTO_TEST_SUITE(relay_splice)

// Idle relays, used once each and never, more of them than pipes: a new relay
// still moves its bytes.
BOOST_FIXTURE_TEST_CASE(idle_splice_relays_hold_no_pipe, EngineFixture) {
  for (Strategy s : {Strategy::splice, Strategy::automatic}) {
    BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s)) {
      ringxfer::Engine& e = reset(with_pipes(4));
      Transfers& t = state<Transfers>(e);
      Relays& r = state<Relays>();
      constexpr int used = 4, idle = 8;
      std::vector<HalfPair> a, b;
      for (int i = 0; i < used + idle + 1; ++i) {
        a.push_back(half_pair(e));
        b.push_back(half_pair(e));
        start_relay(t, a.back(), b.back(), s, r);
      }
      run_for(e, 50ms);  // every relay starts and waits
      // `used` relays move two rounds (1 MiB and 64 B, 64 B and 300 KiB, ...)
      // and then stay open, idle.
      PingPong& first = state<PingPong>();
      first.rounds = 2;
      first.half_close = false;
      for (int i = 0; i < used; ++i) first.add(a[std::size_t(i)].peer.get(), b[std::size_t(i)].peer.get());
      drive(e, first, drive_limit);
      BOOST_REQUIRE(first.ok);
      run_for(e, 20ms);
      // The new relay: after `used` relays went idle and `idle` never moved.
      PingPong& last = state<PingPong>();
      last.rounds = int(size_count);
      last.tail_bytes = 3 * MiB + 5;
      last.add(a.back().peer.get(), b.back().peer.get());
      drive(e, last, drive_limit);
      RX_REQUIRE_UNTIL(e, r.ended == 1, short_deadline);
      RX_CHECK_OK(r.errors[0]);
      BOOST_CHECK_EQUAL(r.results[0].a_to_b, last.bytes_each_way);
      BOOST_CHECK_EQUAL(r.results[0].b_to_a, last.bytes_each_way + last.tail_bytes);
      for (std::size_t i = 0; i + 1 < a.size(); ++i) {
        ::shutdown(a[i].peer.get(), SHUT_WR);
        ::shutdown(b[i].peer.get(), SHUT_WR);
      }
      RX_REQUIRE_UNTIL(e, r.ended == int(a.size()), short_deadline);
      for (const std::error_code& ec : r.errors) RX_CHECK_OK(ec);
      close_pairs(e, a, b);
    }
  }
}

// Eight relays in ping-pong through two pipes: all of them finish, every
// byte checked, none with an error.
BOOST_FIXTURE_TEST_CASE(more_active_relays_than_pipes_all_complete, EngineFixture) {
  for (Strategy s : {Strategy::splice, Strategy::automatic}) {
    BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s)) {
      ringxfer::Engine& e = reset(with_pipes(2));
      Transfers& t = state<Transfers>(e);
      Relays& r = state<Relays>();
      constexpr int relays = 8;
      std::vector<HalfPair> a, b;
      PingPong& d = state<PingPong>();
      d.rounds = 6;
      d.lockstep = true;
      d.tail_bytes = 1 * MiB + 1;
      for (int i = 0; i < relays; ++i) {
        a.push_back(half_pair(e));
        b.push_back(half_pair(e));
        start_relay(t, a.back(), b.back(), s, r);
        d.add(a.back().peer.get(), b.back().peer.get());
      }
      drive(e, d, drive_limit);
      RX_REQUIRE_UNTIL(e, r.ended == relays, short_deadline);
      std::size_t up = 0, down = 0;
      for (int i = 0; i < relays; ++i) {
        RX_CHECK_OK(r.errors[std::size_t(i)]);
        up += r.results[std::size_t(i)].a_to_b;
        down += r.results[std::size_t(i)].b_to_a;
      }
      BOOST_CHECK_EQUAL(up, d.bytes_each_way);
      BOOST_CHECK_EQUAL(down, d.bytes_each_way + relays * d.tail_bytes);
      close_pairs(e, a, b);
    }
  }
}

// One relay, many rounds of sizes from 1 B to 1 MiB: under `auto` each
// direction switches between copy and splice on the way (where the backend
// splices: RelayResult::spliced_bytes says so), and no byte moves out of
// order.
BOOST_FIXTURE_TEST_CASE(switching_copy_and_splice_keeps_byte_order, EngineFixture) {
  for (Strategy s : {Strategy::automatic, Strategy::splice, Strategy::copy}) {
    BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s)) {
      Transfers& t = state<Transfers>(engine());
      Relays& r = state<Relays>();
      std::vector<HalfPair> a, b;
      a.push_back(half_pair(engine()));
      b.push_back(half_pair(engine()));
      start_relay(t, a.back(), b.back(), s, r);
      PingPong& d = state<PingPong>();
      d.rounds = 3 * int(size_count);
      d.tail_bytes = 2 * MiB + 3;
      d.add(a.back().peer.get(), b.back().peer.get());
      drive(engine(), d, drive_limit);
      RX_REQUIRE_UNTIL(engine(), r.ended == 1, short_deadline);
      RX_CHECK_OK(r.errors[0]);
      const ringxfer::RelayResult& res = r.results[0];
      BOOST_CHECK_EQUAL(res.a_to_b, d.bytes_each_way);
      BOOST_CHECK_EQUAL(res.b_to_a, d.bytes_each_way + d.tail_bytes);
      const std::size_t total = res.a_to_b + res.b_to_a;
      BOOST_TEST_MESSAGE(ringxfer::to_string(s) << ": " << res.spliced_bytes << " of " << total << " bytes by splice");
      const bool can_splice = engine().features().has(ringxfer::Feature::splice);
      if (s == Strategy::copy || !can_splice) {
        BOOST_CHECK_EQUAL(res.spliced_bytes, 0u);
      } else if (s == Strategy::automatic) {
        BOOST_CHECK_GT(res.spliced_bytes, 0u);      // large messages went by splice
        BOOST_CHECK_LT(res.spliced_bytes, total);   // and small ones by copy
      } else {
        BOOST_CHECK_GT(res.spliced_bytes, total / 2);  // splice, but for turns without a free pipe
      }
      close_pairs(engine(), a, b);
    }
  }
}

// A peer resets in the middle of a splice relay (one pipe in the pool): the
// relay ends with an error, at once, and gives its pipe back: the next relay
// moves its bytes. The same when the client resets.
BOOST_FIXTURE_TEST_CASE(peer_reset_during_a_splice_relay, EngineFixture) {
  for (Strategy s : {Strategy::splice, Strategy::automatic}) {
    for (bool upstream_resets : {true, false}) {
      BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s) << (upstream_resets ? ", upstream" : ", client")
                                     << " resets") {
        ringxfer::Engine& e = reset(with_pipes(1));
        Transfers& t = state<Transfers>(e);
        Relays& r = state<Relays>();
        std::vector<HalfPair> a, b;
        a.push_back(half_pair(e));
        b.push_back(half_pair(e));
        start_relay(t, a.back(), b.back(), s, r);
        // Both ways busy: the client pushes up, the upstream pushes down.
        set_nonblocking(a[0].peer.get());
        set_nonblocking(b[0].peer.get());
        std::vector<std::byte> chunk(256 * KiB, std::byte{0x5a}), sink(256 * KiB);
        std::size_t got_up = 0, got_down = 0;
        const auto deadline = Clock::now() + 10s;
        while ((got_up < 2 * MiB || got_down < 2 * MiB) && Clock::now() < deadline) {
          ::send(a[0].peer.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
          ::send(b[0].peer.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
          ssize_t k = ::recv(b[0].peer.get(), sink.data(), sink.size(), 0);
          if (k > 0) got_up += std::size_t(k);
          k = ::recv(a[0].peer.get(), sink.data(), sink.size(), 0);
          if (k > 0) got_down += std::size_t(k);
          e.run_once(1ms);
        }
        BOOST_REQUIRE(got_up >= 2 * MiB && got_down >= 2 * MiB);
        close_with_reset(upstream_resets ? b[0].peer : a[0].peer);
        RX_REQUIRE_UNTIL(e, r.ended == 1, short_deadline);
        BOOST_CHECK_MESSAGE(r.errors[0] == std::errc::connection_reset || r.errors[0] == std::errc::broken_pipe,
                            "the relay ended with " << describe(r.errors[0]));
        close_pairs(e, a, b);
        // The pipe is back: a new relay moves a checked ping-pong.
        std::vector<HalfPair> a2, b2;
        a2.push_back(half_pair(e));
        b2.push_back(half_pair(e));
        start_relay(t, a2.back(), b2.back(), s, r);
        PingPong& d = state<PingPong>();
        d.rounds = 4;
        d.tail_bytes = 1 * MiB;
        d.add(a2.back().peer.get(), b2.back().peer.get());
        drive(e, d, drive_limit);
        RX_REQUIRE_UNTIL(e, r.ended == 2, short_deadline);
        RX_CHECK_OK(r.errors[1]);
        close_pairs(e, a2, b2);
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
