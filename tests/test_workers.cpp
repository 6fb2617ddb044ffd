// Engine::release (a socket out of an engine, fd open) and ringxfer::Workers:
// tasks and sockets between engines on their own threads, the MSG_RING
// doorbell and its eventfd fallback, stop with moves in flight.
//
// Handlers run on the workers' threads: they never call Boost.Test; they
// record into state the test thread checks after join().
#include <dirent.h>

#include <thread>

#include "support.hpp"

using namespace rxtest;
using ringxfer::Workers;
using ringxfer::WorkersOptions;

namespace {

WorkersOptions workers_options(std::uint32_t threads) {
  WorkersOptions o;
  o.threads = threads;
  o.engine = variant_options();
  // Small engines: several exist at once in one test.
  o.engine.fd_slots = 256;
  o.engine.buffer_count = 64;
  o.engine.recv_buffer_count = 32;
  o.engine.buffer_size_bytes = 16 * KiB;
  return o;
}

int open_fd_count() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

bool msg_ring_expected() { return is_full_uring_variant(); }

}  // namespace

// ---- Engine::release ---------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(release, EngineFixture)

// The rule: release() cancels what runs on the socket first. The recv ends
// (after every byte it took) before the release handler runs; bytes it did not
// take are still in the socket: together they are the whole stream, in order.
BOOST_AUTO_TEST_CASE(release_cancels_a_running_recv_first_and_loses_no_byte) {
  Engine& e = engine();
  HalfPair p = half_pair(e);
  auto& sink = state<CollectSink>();
  struct St {
    int calls = 0;
    std::error_code ec;
    int fd = -1;
    bool recv_ended_before = false;
    CollectSink* sink = nullptr;
  };
  auto& st = state<St>();
  st.sink = &sink;
  BOOST_REQUIRE(start_collect(e, p.sock, sink));
  const std::string first = "first part|", second = "second part, maybe still in the socket";
  BOOST_REQUIRE_EQUAL(::write(p.peer.get(), first.data(), first.size()), ssize_t(first.size()));
  RX_REQUIRE_UNTIL(e, sink.bytes.size() == first.size(), short_deadline);
  BOOST_REQUIRE_EQUAL(::write(p.peer.get(), second.data(), second.size()), ssize_t(second.size()));
  OpId id = e.release(p.sock, [s = &st](std::error_code ec, int fd) {
    ++s->calls;
    s->ec = ec;
    s->fd = fd;
    s->recv_ended_before = s->sink->final_calls == 1;
  });
  BOOST_REQUIRE(id);
  BOOST_CHECK_EQUAL(e.native_handle(p.sock), -1);  // stale at once
  RX_REQUIRE_UNTIL(e, st.calls == 1, short_deadline);
  RX_CHECK_OK(st.ec);
  BOOST_CHECK(st.recv_ended_before);
  BOOST_CHECK_MESSAGE(is_canceled(sink.final_error), "recv ended with " << describe(sink.final_error));
  BOOST_REQUIRE_GE(st.fd, 0);
  UniqueFd fd(st.fd);
  BOOST_CHECK(fd_is_open(fd.get()));
  BOOST_CHECK_EQUAL(e.in_flight(), 0u);
  // What the recv did not take is still there, after what it took.
  std::string got(reinterpret_cast<const char*>(sink.bytes.data()), sink.bytes.size());
  set_nonblocking(fd.get());
  char buf[256];
  ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n > 0) got.append(buf, std::size_t(n));
  BOOST_CHECK_EQUAL(got, first + second);
  // The engine no longer owns it: closing the handle's slot did not close the
  // fd, and the fd still talks to the peer.
  BOOST_CHECK_EQUAL(::write(fd.get(), "x", 1), 1);
  char c = 0;
  BOOST_CHECK_EQUAL(::read(p.peer.get(), &c, 1), 1);
  BOOST_CHECK_EQUAL(c, 'x');
}

// A send cut short by release() reports the bytes that left; the rest can be
// sent from the fd and the peer sees the stream whole.
BOOST_AUTO_TEST_CASE(release_reports_what_a_cancelled_send_sent) {
  Engine& e = engine();
  HalfPair p = half_pair(e);
  // The peer reads nothing until after the release: the send stalls once the
  // socket buffers (a few MiB on loopback) are full.
  const std::size_t total = 32 * MiB;
  Pattern pattern(7);
  auto& data = state<std::vector<std::byte>>(pattern.make(0, total));
  auto& sent = state<Once>();
  struct St {
    int calls = 0;
    int fd = -1;
    bool send_ended_before = false;
    Once* sent = nullptr;
  };
  auto& st = state<St>();
  st.sent = &sent;
  BOOST_REQUIRE(e.send(p.sock, data, record(sent)));
  run_for(e, 50ms);
  BOOST_REQUIRE(!sent.done());
  BOOST_REQUIRE(e.release(p.sock, [s = &st](std::error_code, int fd) {
    ++s->calls;
    s->fd = fd;
    s->send_ended_before = s->sent->done();
  }));
  RX_REQUIRE_UNTIL(e, st.calls == 1, short_deadline);
  BOOST_CHECK(st.send_ended_before);
  BOOST_CHECK_MESSAGE(is_canceled(sent.ec), "send ended with " << describe(sent.ec));
  BOOST_CHECK_LT(sent.bytes, total);
  BOOST_REQUIRE_GE(st.fd, 0);
  UniqueFd fd(st.fd);
  // Send the rest (blocking) while the peer reads and checks all of it.
  int mode = ::fcntl(fd.get(), F_GETFL);
  ::fcntl(fd.get(), F_SETFL, mode & ~O_NONBLOCK);
  std::size_t resume_at = sent.bytes;
  std::thread writer([&] {
    std::size_t off = resume_at;
    while (off < total) {
      ssize_t w = ::write(fd.get(), data.data() + off, total - off);
      if (w <= 0) break;
      off += std::size_t(w);
    }
    ::shutdown(fd.get(), SHUT_WR);
  });
  std::vector<std::byte> in(256 * KiB);
  std::uint64_t got = 0, mismatch = UINT64_MAX;
  for (;;) {
    ssize_t r = ::read(p.peer.get(), in.data(), in.size());
    if (r <= 0) break;
    std::size_t m = pattern.first_mismatch(got, std::span(in.data(), std::size_t(r)));
    if (m != std::size_t(r) && mismatch == UINT64_MAX) mismatch = got + m;
    got += std::size_t(r);
  }
  writer.join();
  BOOST_CHECK_EQUAL(got, total);
  BOOST_CHECK_MESSAGE(mismatch == UINT64_MAX, "stream differs at " << mismatch);
}

BOOST_AUTO_TEST_CASE(release_of_a_stale_handle_fails_and_hands_out_no_fd) {
  Engine& e = engine();
  HalfPair p = half_pair(e);
  RX_REQUIRE_OK(close_and_wait(e, p.sock));
  struct St {
    int calls = 0;
    std::error_code ec;
    int fd = 0;
  };
  auto& st = state<St>();
  BOOST_REQUIRE(e.release(p.sock, [s = &st](std::error_code ec, int fd) {
    ++s->calls;
    s->ec = ec;
    s->fd = fd;
  }));
  RX_REQUIRE_UNTIL(e, st.calls == 1, short_deadline);
  BOOST_CHECK(st.ec == std::errc::bad_file_descriptor);
  BOOST_CHECK_EQUAL(st.fd, -1);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- Workers -------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(workers)

// Chains of tasks bounce between two engines, many at once: every task runs
// once, on the engine it was sent to. On io_uring with msg_ring the wake-ups
// are MSG_RING messages; with it off (io_uring_nofeatures) and on epoll, none.
BOOST_AUTO_TEST_CASE(post_to_across_engines_under_load) {
  static constexpr int chains = 16;
  static constexpr int hops = 1000;  // per chain
  struct Shared {
    Workers* w = nullptr;
    std::atomic<int> ran{0};
    std::atomic<int> wrong_engine{0};
    std::atomic<int> post_errors{0};
    std::atomic<int> chains_done{0};
  } shared;
  struct Hop {
    static void run(Shared* s, std::uint32_t here, int left) {
      if (s->w->current_index() != here) s->wrong_engine.fetch_add(1);
      s->ran.fetch_add(1, std::memory_order_relaxed);
      if (left == 0) {
        if (s->chains_done.fetch_add(1) + 1 == chains) s->w->stop();
        return;
      }
      std::uint32_t next = 1 - here;
      // At most `chains` tasks are queued at once: far below the queue's bound.
      if (s->w->post_to(next, [s, next, left] { run(s, next, left - 1); })) s->post_errors.fetch_add(1);
    }
  };
  Workers w(workers_options(2));
  shared.w = &w;
  RX_REQUIRE_OK(w.start([&shared](Workers& ws, std::uint32_t i) {
    if (i == 0) {
      for (int c = 0; c < chains; ++c) {
        Shared* s = &shared;
        if (ws.post_to(1, [s] { Hop::run(s, 1, hops); })) s->post_errors.fetch_add(1);
      }
    }
    return std::error_code();
  }));
  // Bounded: a lost wake-up would hang here; stop after a deadline instead.
  const auto deadline = Clock::now() + 20s;
  while (shared.chains_done.load() < chains && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  w.stop();
  RX_CHECK_OK(w.join());
  BOOST_CHECK_EQUAL(shared.chains_done.load(), chains);
  BOOST_CHECK_EQUAL(shared.ran.load(), chains * (hops + 1));
  BOOST_CHECK_EQUAL(shared.wrong_engine.load(), 0);
  BOOST_CHECK_EQUAL(shared.post_errors.load(), 0);
  std::uint64_t msg = w.final_stats(0).msg_ring_wakes + w.final_stats(1).msg_ring_wakes;
  BOOST_TEST_MESSAGE("msg_ring wakes: " << msg << " for " << shared.ran.load() << " tasks");
  if (msg_ring_expected()) BOOST_CHECK_GT(msg, 0u);
  else BOOST_CHECK_EQUAL(msg, 0u);
}

// A connection moves between two engines again and again while both
// directions stream: the peer writes a pattern and reads another, the engine
// side checks every byte it receives and sends the other pattern, and every
// 16 KiB received it moves the socket to the other engine -- with a recv
// running and, most of the time, a send in flight.
BOOST_AUTO_TEST_CASE(connection_moves_mid_stream_without_losing_a_byte) {
  static constexpr std::size_t total = 4 * MiB;
  static constexpr std::size_t move_every = 16 * KiB;
  static constexpr std::size_t send_chunk = 48 * KiB;
  const Pattern up(101), down(202);

  struct Conn {
    Workers* w = nullptr;
    Socket sock;
    const Pattern* up = nullptr;
    std::vector<std::byte> out;
    bool moving = false;
    bool send_running = false;
    bool closed = false;
    std::uint64_t received = 0, sent = 0, next_move_at = move_every;
    std::uint64_t mismatch_at = UINT64_MAX;
    int moves = 0, arrivals = 0, sends_cancelled_partway = 0;
    std::string failure;
    std::atomic<bool> done{false};

    Engine& engine() { return w->engine(w->current_index()); }
    void fail(const std::string& what) {
      if (failure.empty()) failure = what;
      finish();
    }
    void finish() {
      if (closed) return;
      closed = true;
      engine().close(sock, [](std::error_code) {});
      done.store(true);
    }
    void start() {
      Conn* c = this;
      if (!engine().recv(sock, [c](std::error_code ec, Buffer b) { c->on_recv(ec, std::move(b)); }))
        fail("recv did not start");
      send_next();
    }
    void on_recv(std::error_code ec, Buffer b) {
      if (ec) {
        if (!(moving && is_canceled(ec)) && !closed) fail("recv ended: " + describe(ec));
        return;
      }
      std::size_t m = up->first_mismatch(received, b.bytes());
      if (m != b.size() && mismatch_at == UINT64_MAX) mismatch_at = received + m;
      received += b.size();
      if (received > total) fail("received more than was sent");
      maybe_done();
      if (!closed && !moving && received >= next_move_at && received < total) move();
    }
    void send_next() {
      if (moving || closed || send_running || sent == out.size()) return;
      std::size_t n = std::min<std::size_t>(send_chunk, out.size() - sent);
      send_running = true;
      Conn* c = this;
      if (!engine().send(sock, std::span<const std::byte>(out.data() + sent, n),
                         [c, n](std::error_code ec, std::size_t k) { c->on_sent(ec, k, n); }))
        fail("send did not start");
    }
    void on_sent(std::error_code ec, std::size_t k, std::size_t asked) {
      send_running = false;
      sent += k;
      if (ec) {
        if (moving && is_canceled(ec)) {
          if (k > 0 && k < asked) ++sends_cancelled_partway;
          return;  // the rest goes from the next engine
        }
        if (!closed) fail("send: " + describe(ec));
        return;
      }
      maybe_done();
      send_next();
    }
    void maybe_done() {
      if (received == total && sent == out.size()) finish();
    }
    void move() {
      moving = true;
      next_move_at = received + move_every;
      std::uint32_t to = 1 - w->current_index();
      Conn* c = this;
      if (auto ec = w->send_socket(to, sock, [c](std::error_code e2, Socket s) { c->arrived(e2, s); })) {
        moving = false;
        fail("send_socket: " + describe(ec));
      }
    }
    void arrived(std::error_code ec, Socket s) {
      ++arrivals;
      if (ec) {
        failure = "move failed: " + describe(ec);
        done.store(true);
        return;
      }
      ++moves;
      sock = s;
      moving = false;
      start();
      maybe_done();
    }
  };

  RawPair raw = raw_tcp_pair();
  // Small buffers: bytes are in flight in the kernel in both directions at
  // every move, and sends are cut short.
  set_int_sockopt(raw.server.get(), SOL_SOCKET, SO_SNDBUF, 32 * 1024);
  set_int_sockopt(raw.client.get(), SOL_SOCKET, SO_SNDBUF, 32 * 1024);
  auto conn = std::make_unique<Conn>();
  conn->up = &up;
  conn->out = down.make(0, total);

  // The peer: one thread writes `up`, one reads and checks `down`.
  std::atomic<std::uint64_t> peer_got{0};
  std::atomic<std::uint64_t> peer_mismatch{UINT64_MAX};
  int peer_fd = raw.client.get();
  timeval tv{20, 0};
  ::setsockopt(peer_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(peer_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::thread peer_writer([&] {
    std::vector<std::byte> chunk(24 * KiB);
    std::uint64_t off = 0;
    while (off < total) {
      std::size_t n = std::min<std::size_t>(chunk.size(), total - off);
      up.fill(off, std::span(chunk.data(), n));
      std::size_t done = 0;
      while (done < n) {
        ssize_t w = ::write(peer_fd, chunk.data() + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        done += std::size_t(w);
      }
      off += n;
    }
  });
  std::thread peer_reader([&] {
    std::vector<std::byte> in(64 * KiB);
    std::uint64_t got = 0;
    while (got < total) {
      ssize_t r = ::read(peer_fd, in.data(), in.size());
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      std::size_t m = down.first_mismatch(got, std::span(in.data(), std::size_t(r)));
      if (m != std::size_t(r) && peer_mismatch.load() == UINT64_MAX) peer_mismatch.store(got + m);
      got += std::size_t(r);
      peer_got.store(got);
    }
  });

  Workers w(workers_options(2));
  conn->w = &w;
  Socket first;
  RX_REQUIRE_OK(w.engine(0).adopt(raw.server.get(), first));
  raw.server.release();
  conn->sock = first;
  Conn* c = conn.get();
  RX_REQUIRE_OK(w.start([c](Workers&, std::uint32_t i) {
    if (i == 0) c->start();
    return std::error_code();
  }));
  const auto deadline = Clock::now() + 60s;
  while (!(conn->done.load() && peer_got.load() == total) && Clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  w.stop();
  RX_CHECK_OK(w.join());
  ::shutdown(peer_fd, SHUT_RDWR);  // ends the peer threads if the test failed
  peer_writer.join();
  peer_reader.join();

  BOOST_CHECK_MESSAGE(conn->failure.empty(), conn->failure);
  BOOST_CHECK_EQUAL(conn->received, total);
  BOOST_CHECK_EQUAL(conn->sent, total);
  BOOST_CHECK_EQUAL(peer_got.load(), total);
  BOOST_CHECK_MESSAGE(conn->mismatch_at == UINT64_MAX, "engine side received a wrong byte at " << conn->mismatch_at);
  BOOST_CHECK_MESSAGE(peer_mismatch.load() == UINT64_MAX, "peer received a wrong byte at " << peer_mismatch.load());
  BOOST_CHECK_EQUAL(conn->arrivals, conn->moves);
  // A move every 16 KiB received at most (bytes keep arriving while one is
  // under way, more of them when the engines are slow, as under SQPOLL on
  // two cores): dozens in all, back and forth.
  BOOST_CHECK_GE(conn->moves, 10);
  BOOST_TEST_MESSAGE("moves " << conn->moves << ", sends cut short by a move " << conn->sends_cancelled_partway
                              << ", msg_ring wakes " << w.final_stats(0).msg_ring_wakes + w.final_stats(1).msg_ring_wakes);
}

// stop() while sockets are on their way between engines: join() returns,
// every move that started ends exactly once (arrived, or shutting_down /
// operation_canceled), and no fd is left open.
BOOST_AUTO_TEST_CASE(stop_with_moves_in_flight_leaks_nothing) {
  constexpr int sockets = 24;
  struct Shared {
    Workers* w = nullptr;
    std::atomic<int> started{0};
    std::atomic<int> arrived{0};
    std::atomic<int> failed{0};
    std::atomic<int> other_errors{0};
  } shared;
  struct Bounce {
    static void send(Shared* s, Socket sock) {
      std::uint32_t to = 1 - s->w->current_index();
      std::error_code ec = s->w->send_socket(to, sock, [s](std::error_code e, Socket moved) {
        if (e) {
          s->failed.fetch_add(1);
          return;
        }
        s->arrived.fetch_add(1);
        send(s, moved);  // and back again, until stop()
      });
      if (!ec) s->started.fetch_add(1);
      else if (ec != ringxfer::error::shutting_down) s->other_errors.fetch_add(1);
    }
  };
  const int fds_before = open_fd_count();
  std::vector<UniqueFd> peers;
  {
    Workers w(workers_options(2));
    shared.w = &w;
    std::vector<Socket> socks;
    for (int i = 0; i < sockets; ++i) {
      RawPair raw = raw_tcp_pair();
      Socket s;
      RX_REQUIRE_OK(w.engine(0).adopt(raw.server.get(), s));
      raw.server.release();
      socks.push_back(s);
      peers.push_back(std::move(raw.client));
    }
    Shared* sp = &shared;
    std::vector<Socket>* list = &socks;
    RX_REQUIRE_OK(w.start([sp, list](Workers&, std::uint32_t i) {
      if (i == 0) {
        for (Socket s : *list) Bounce::send(sp, s);
      }
      return std::error_code();
    }));
    const auto until = Clock::now() + 5s;
    while (shared.arrived.load() < 20 * sockets && Clock::now() < until) std::this_thread::sleep_for(1ms);
    w.stop();
    RX_CHECK_OK(w.join());
    BOOST_CHECK_GE(shared.arrived.load(), 20 * sockets);
  }
  BOOST_CHECK_EQUAL(shared.other_errors.load(), 0);
  // Every started move ended once: arrived or failed.
  BOOST_CHECK_EQUAL(shared.started.load(), shared.arrived.load() + shared.failed.load());
  BOOST_TEST_MESSAGE("moves started " << shared.started.load() << ", arrived " << shared.arrived.load()
                                      << ", ended by stop " << shared.failed.load());
  peers.clear();
  BOOST_CHECK_EQUAL(open_fd_count(), fds_before);
}

// An engine whose start fails stops the set; join() reports that error.
BOOST_AUTO_TEST_CASE(a_start_error_stops_every_engine_and_join_reports_it) {
  Workers w(workers_options(3));
  RX_REQUIRE_OK(w.start([](Workers&, std::uint32_t i) {
    return i == 2 ? std::make_error_code(std::errc::address_in_use) : std::error_code();
  }));
  // No stop() here: the failure must stop the others by itself.
  std::error_code ec = w.join();
  BOOST_CHECK(ec == std::errc::address_in_use);
  BOOST_CHECK(w.error(2) == std::errc::address_in_use);
  BOOST_CHECK(!w.error(0));
}

// Each engine has its own SO_REUSEPORT listener on one port; connections are
// accepted on the engines' threads; send_socket and post_to off an engine
// thread are refused as documented.
BOOST_AUTO_TEST_CASE(reuseport_listeners_accept_on_every_engine_thread) {
  WorkersOptions o = workers_options(2);
  o.listen = Address::loopback_v4(0);
  o.pin = true;
  Workers w(o);
  BOOST_REQUIRE(w.listener(0).valid());
  BOOST_REQUIRE(w.listener(1).valid());
  BOOST_REQUIRE_NE(w.listen_address().port(), 0);
  BOOST_CHECK(w.send_socket(1, w.listener(0), [](std::error_code, Socket) {}) ==
              std::errc::operation_not_permitted);
  BOOST_CHECK(w.post_to(7, [] {}) == std::errc::invalid_argument);
  struct Shared {
    std::atomic<int> accepted{0};
    std::atomic<int> wrong_thread{0};
  } shared;
  Shared* sp = &shared;
  RX_REQUIRE_OK(w.start([sp](Workers& ws, std::uint32_t i) {
    Workers* wp = &ws;
    ws.engine(i).accept(ws.listener(i), [sp, wp, i](std::error_code ec, Socket s) {
      if (ec) return;
      if (wp->current_index() != i) sp->wrong_thread.fetch_add(1);
      sp->accepted.fetch_add(1);
      wp->engine(i).close(s, [](std::error_code) {});
    });
    return std::error_code();
  }));
  constexpr int clients = 32;
  std::vector<UniqueFd> fds;
  for (int k = 0; k < clients; ++k) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    BOOST_REQUIRE(::connect(fd.get(), w.listen_address().data(), w.listen_address().size()) == 0);
    fds.push_back(std::move(fd));
  }
  const auto until = Clock::now() + 10s;
  while (shared.accepted.load() < clients && Clock::now() < until) std::this_thread::sleep_for(1ms);
  w.stop();
  RX_CHECK_OK(w.join());
  BOOST_CHECK_EQUAL(shared.accepted.load(), clients);
  BOOST_CHECK_EQUAL(shared.wrong_thread.load(), 0);
}

BOOST_AUTO_TEST_SUITE_END()
