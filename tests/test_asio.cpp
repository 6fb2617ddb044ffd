// ringxfer/asio.hpp on each variant: an Asio coroutine server (co_spawn,
// use_awaitable) that echoes through ringxfer sockets and serves a file
// through a ringxfer transfer, driven by plain blocking clients on another
// thread and by a ringxfer client coroutine; the completion tokens
// (callback, use_future, deferred, use_awaitable); cancellation through a
// cancellation_signal; handlers that throw; io_context::run() returning once
// nothing is in flight; an AsioEngine destroyed with operations pending.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <array>
#include <future>
#include <thread>

#include "ringxfer/asio.hpp"
#include "support.hpp"

using namespace rxtest;
namespace net = boost::asio;
using ringxfer::AsioAcceptor;
using ringxfer::AsioEngine;
using ringxfer::Sink;
using ringxfer::Source;
using ringxfer::TransferResult;
using ringxfer::Transfers;

namespace {

// Destroyed in reverse: the AsioEngine, the Transfers, the Engine, the io_context.
struct AsioFixture {
  net::io_context io;
  Engine engine{variant_options()};
  Transfers transfers{engine};
  std::optional<AsioEngine> rx{std::in_place, io, engine};

  // Runs the io_context until it runs out of work or `limit` passes; true if
  // it ran out of work (returned by itself).
  bool run(std::chrono::milliseconds limit = 20s) {
    io.restart();
    const auto deadline = Clock::now() + limit;
    while (!io.stopped()) {
      if (Clock::now() >= deadline) return false;
      io.run_for(100ms);
    }
    return true;
  }
};

Address loopback_any_port() { return Address::loopback_v4(0); }

std::uint16_t port_of(Engine& e, Socket s) {
  Address a;
  RX_REQUIRE_OK(e.local_address(s, a));
  return a.port();
}

UniqueFd blocking_connect(std::uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return UniqueFd();
  timeval tv{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

// Reads until EOF (or an error / the 10 s receive timeout).
std::vector<std::byte> read_all(int fd) {
  std::vector<std::byte> out;
  std::byte buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

bool write_all(int fd, std::span<const std::byte> data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n <= 0) return false;
    data = data.subspan(std::size_t(n));
  }
  return true;
}

// ---- the server under test --------------------------------------------------

struct ServerStats {
  int echoed = 0;
  int served = 0;
  std::size_t file_bytes = 0;
  std::string error;
};

// Echoes one connection until its client shuts down its side, then closes.
net::awaitable<void> echo_one(AsioEngine& rx, Transfers& transfers, Socket peer, ServerStats& stats) {
  auto [ec, result] = co_await rx.async_transfer(transfers, Source::socket(peer), Sink::socket(peer), {},
                                                 net::as_tuple(net::use_awaitable));
  if (ec) stats.error = "echo: " + ec.message();
  co_await rx.async_close(peer, net::use_awaitable);
  ++stats.echoed;
}

// Sends the whole file to one connection, then closes it.
net::awaitable<void> serve_one(AsioEngine& rx, Transfers& transfers, Socket peer, ringxfer::File file,
                               std::size_t size, ServerStats& stats) {
  TransferResult r = co_await rx.async_transfer(transfers, Source::file(file, 0, size), Sink::socket(peer), {},
                                                net::use_awaitable);
  stats.file_bytes += r.bytes;
  co_await rx.async_close(peer, net::use_awaitable);
  ++stats.served;
}

// Accepts `count` connections and hands each to `session`; then stops
// accepting (the acceptor goes out of scope), which lets io_context::run()
// return once the sessions are done.
template <class Session>
net::awaitable<void> accept_loop(AsioEngine& rx, Socket listener, int count, Session session) {
  AsioAcceptor acceptor(rx, listener);
  for (int i = 0; i < count; ++i) {
    Socket peer = co_await acceptor.async_accept(net::use_awaitable);
    net::co_spawn(rx.get_executor(), session(peer), net::detached);
  }
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(asio_adapter, AsioFixture)

BOOST_AUTO_TEST_CASE(coroutine_server_echo_and_file) {
  const Pattern pattern(77);
  constexpr std::size_t file_size = 3 * MiB + 11;
  TempFile tf(pattern, file_size);
  ringxfer::File file = open_file(engine, tf.path(), O_RDONLY);
  Socket echo_listener, file_listener;
  RX_REQUIRE_OK(engine.listen(loopback_any_port(), echo_listener));
  RX_REQUIRE_OK(engine.listen(loopback_any_port(), file_listener));
  const std::uint16_t echo_port = port_of(engine, echo_listener);
  const std::uint16_t file_port = port_of(engine, file_listener);

  constexpr int echo_clients = 4, file_clients = 3;
  ServerStats stats;
  AsioEngine& r = *rx;
  net::co_spawn(io, accept_loop(r, echo_listener, echo_clients, [&](Socket s) {
    return echo_one(r, transfers, s, stats);
  }), net::detached);
  net::co_spawn(io, accept_loop(r, file_listener, file_clients, [&](Socket s) {
    return serve_one(r, transfers, s, file, file_size, stats);
  }), net::detached);

  // Blocking clients on their own threads, all at once.
  std::atomic<int> echo_ok{0}, file_ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < echo_clients; ++i) {
    clients.emplace_back([&, i] {
      UniqueFd fd = blocking_connect(echo_port);
      if (!fd) return;
      const std::vector<std::byte> msg = pattern.make(std::uint64_t(i) * 1000, 200 * KiB + std::size_t(i));
      // Write and read at once: the echo may push back before all is sent.
      std::vector<std::byte> back;
      std::thread reader([&] { back = read_all(fd.get()); });
      const bool sent = write_all(fd.get(), msg);
      ::shutdown(fd.get(), SHUT_WR);
      reader.join();
      if (sent && back == msg) echo_ok.fetch_add(1);
    });
  }
  for (int i = 0; i < file_clients; ++i) {
    clients.emplace_back([&] {
      UniqueFd fd = blocking_connect(file_port);
      if (!fd) return;
      if (read_all(fd.get()) == pattern.make(0, file_size)) file_ok.fetch_add(1);
    });
  }
  const bool returned = run(30s);
  for (auto& t : clients) t.join();
  BOOST_CHECK_MESSAGE(returned, "io_context::run() did not return once the server was done");
  BOOST_CHECK_MESSAGE(stats.error.empty(), stats.error);
  BOOST_CHECK_EQUAL(stats.echoed, echo_clients);
  BOOST_CHECK_EQUAL(stats.served, file_clients);
  BOOST_CHECK_EQUAL(stats.file_bytes, file_size * file_clients);
  BOOST_CHECK_EQUAL(echo_ok.load(), echo_clients);
  BOOST_CHECK_EQUAL(file_ok.load(), file_clients);
  BOOST_CHECK_EQUAL(engine.in_flight(), 0u);
  close_all(engine, {echo_listener, file_listener, file});
}

// A ringxfer client coroutine: async_connect, async_send, async_shutdown,
// and the echo back into a file through a transfer.
BOOST_AUTO_TEST_CASE(coroutine_client_against_the_echo_server) {
  Socket listener;
  RX_REQUIRE_OK(engine.listen(loopback_any_port(), listener));
  const Address to = Address::loopback_v4(port_of(engine, listener));
  ServerStats stats;
  AsioEngine& r = *rx;
  net::co_spawn(io, accept_loop(r, listener, 1, [&](Socket s) { return echo_one(r, transfers, s, stats); }),
                net::detached);

  const Pattern pattern(5);
  const std::vector<std::byte> msg = pattern.make(0, 300 * KiB + 1);
  TempFile out;
  ringxfer::File out_file = open_file(engine, out.path(), O_RDWR);
  std::string client_error;
  std::size_t received = 0;
  net::co_spawn(io, [&]() -> net::awaitable<void> {
    try {
      Socket s = co_await r.async_connect(to, net::use_awaitable);
      // Receive and send at once: the echo comes back while we still send.
      auto back = r.async_transfer(transfers, Source::socket(s), Sink::file(out_file, 0), {}, net::use_awaitable);
      net::co_spawn(io, [&r, s, &msg]() -> net::awaitable<void> {
        co_await r.async_send(s, msg, net::use_awaitable);
        co_await r.async_shutdown(s, SHUT_WR, net::use_awaitable);
      }, net::detached);
      TransferResult got = co_await std::move(back);
      received = got.bytes;
      co_await r.async_close(s, net::use_awaitable);
    } catch (const boost::system::system_error& e) {
      client_error = e.what();
    }
  }, net::detached);
  BOOST_CHECK(run(20s));
  BOOST_CHECK_MESSAGE(client_error.empty(), client_error);
  BOOST_CHECK_EQUAL(received, msg.size());
  BOOST_CHECK_EQUAL(stats.echoed, 1);
  std::vector<std::byte> file_bytes(msg.size());
  BOOST_REQUIRE_EQUAL(::pread(::open(out.path(), O_RDONLY | O_CLOEXEC), file_bytes.data(), file_bytes.size(), 0),
                      ssize_t(msg.size()));
  BOOST_CHECK(file_bytes == msg);
  close_all(engine, {listener, out_file});
}

// A line protocol on recv_some / read_exactly: the client sends a 4-byte
// length and that many bytes; the server answers with the bytes reversed.
BOOST_AUTO_TEST_CASE(recv_some_and_read_exactly_in_coroutines) {
  HalfPair p = half_pair(engine);
  AsioEngine& r = *rx;
  std::string server_error;
  std::size_t answered = 0;
  net::co_spawn(io, [&]() -> net::awaitable<void> {
    try {
      for (;;) {
        std::uint32_t len = 0;
        auto [ec, n] = co_await r.async_read_exactly(p.sock, std::as_writable_bytes(std::span(&len, 1)),
                                                     net::as_tuple(net::use_awaitable));
        if (ec == net::error::eof) break;  // the client is done
        if (ec) throw boost::system::system_error(ec);
        std::vector<std::byte> body(len);
        co_await r.async_read_exactly(p.sock, body, net::use_awaitable);
        std::reverse(body.begin(), body.end());
        co_await r.async_send(p.sock, body, net::use_awaitable);
        ++answered;
      }
      // recv_some after the end: eof again, with 0 bytes.
      std::byte one[1];
      auto [ec, n] = co_await r.async_recv_some(p.sock, one, net::as_tuple(net::use_awaitable));
      if (ec != net::error::eof || n != 0) server_error = "recv_some after eof: " + ec.message();
      co_await r.async_close(p.sock, net::use_awaitable);
    } catch (const boost::system::system_error& e) {
      server_error = e.what();
    }
  }, net::detached);

  const Pattern pattern(9);
  std::atomic<int> good{0};
  std::thread client([&] {
    for (int i = 0; i < 5; ++i) {
      const std::uint32_t len = 1000u * std::uint32_t(i) + 1;
      std::vector<std::byte> msg = pattern.make(std::uint64_t(i) << 20, len);
      // Header and body split over two writes, the body in two pieces.
      if (!write_all(p.peer.get(), std::as_bytes(std::span(&len, 1)))) return;
      if (!write_all(p.peer.get(), std::span(msg).first(len / 2))) return;
      std::this_thread::sleep_for(1ms);
      if (!write_all(p.peer.get(), std::span(msg).subspan(len / 2))) return;
      std::vector<std::byte> back(len);
      std::size_t got = 0;
      while (got < len) {
        ssize_t n = ::read(p.peer.get(), back.data() + got, len - got);
        if (n <= 0) return;
        got += std::size_t(n);
      }
      std::reverse(msg.begin(), msg.end());
      if (back == msg) ++good;
    }
    ::shutdown(p.peer.get(), SHUT_WR);
  });
  const bool returned = run(20s);
  client.join();
  BOOST_CHECK(returned);
  BOOST_CHECK_MESSAGE(server_error.empty(), server_error);
  BOOST_CHECK_EQUAL(answered, 5u);
  BOOST_CHECK_EQUAL(good.load(), 5);
}

// A short stream: read_exactly ends with asio::error::eof and the bytes it got.
BOOST_AUTO_TEST_CASE(read_exactly_short_stream_is_eof) {
  HalfPair p = half_pair(engine);
  BOOST_REQUIRE_EQUAL(::write(p.peer.get(), "abc", 3), 3);
  ::shutdown(p.peer.get(), SHUT_WR);
  std::byte buf[10];
  boost::system::error_code got_ec;
  std::size_t got_n = 0;
  rx->async_read_exactly(p.sock, buf, [&](boost::system::error_code ec, std::size_t n) {
    got_ec = ec;
    got_n = n;
  });
  BOOST_CHECK(run(5s));
  BOOST_CHECK_MESSAGE(got_ec == net::error::eof, got_ec.message());
  BOOST_CHECK_EQUAL(got_n, 3u);
  close_all(engine, {p.sock});
}

// More connections than the acceptor's backlog arrive before anyone
// accepts: the multishot accept pauses at the backlog (the rest wait in the
// kernel) and resumes as async_accept takes them; every one is accepted once.
BOOST_AUTO_TEST_CASE(acceptor_backlog_pauses_and_resumes) {
  Socket listener;
  RX_REQUIRE_OK(engine.listen(loopback_any_port(), listener));
  const std::uint16_t port = port_of(engine, listener);
  auto acceptor = std::make_unique<AsioAcceptor>(*rx, listener, 2);
  std::vector<Socket> accepted;
  // One accept first, so the multishot runs, then 6 connections at once.
  acceptor->async_accept([&](boost::system::error_code ec, Socket s) {
    BOOST_CHECK(!ec);
    accepted.push_back(s);
  });
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 6; ++i) clients.push_back(blocking_connect(port));
  io.restart();
  io.run_for(100ms);  // the multishot takes 1 + up to the backlog, then pauses
  BOOST_CHECK_EQUAL(accepted.size(), 1u);
  BOOST_CHECK_MESSAGE(engine.in_flight() == 0u, "the multishot accept did not pause at the backlog");
  for (int i = 0; i < 5; ++i) {
    acceptor->async_accept([&](boost::system::error_code ec, Socket s) {
      BOOST_CHECK(!ec);
      accepted.push_back(s);
    });
  }
  const auto deadline = Clock::now() + 5s;
  while (accepted.size() < 6 && Clock::now() < deadline) {
    io.restart();
    io.run_for(20ms);
  }
  BOOST_CHECK_EQUAL(accepted.size(), 6u);
  std::sort(accepted.begin(), accepted.end(),
            [](Socket a, Socket b) { return a.slot < b.slot; });
  BOOST_CHECK(std::adjacent_find(accepted.begin(), accepted.end()) == accepted.end());
  acceptor.reset();  // stops the multishot: run() can return
  BOOST_CHECK(run(5s));
  for (Socket s : accepted) RX_CHECK_OK(close_and_wait(engine, s));
  close_all(engine, {listener});
}

// use_awaitable turns an error into an exception in the coroutine.
BOOST_AUTO_TEST_CASE(use_awaitable_throws_the_error) {
  std::string what;
  boost::system::error_code caught;
  net::co_spawn(io, [&]() -> net::awaitable<void> {
    try {
      co_await rx->async_close(Socket{}, net::use_awaitable);  // a stale handle
    } catch (const boost::system::system_error& e) {
      caught = e.code();
    }
  }, net::detached);
  BOOST_CHECK(run(5s));
  BOOST_CHECK_MESSAGE(caught == boost::system::errc::bad_file_descriptor, "caught " << caught.message());
}

// A plain callback bigger than the engine's 64-byte handler capacity; it
// never runs inside the call that starts it.
BOOST_AUTO_TEST_CASE(callback_token) {
  HalfPair p = half_pair(engine);
  static const char msg[] = "ping";
  std::array<char, 256> big{};  // 256 bytes of captured state
  big[0] = 'x';
  int calls = 0;
  bool started = false;
  std::size_t sent = 0;
  rx->async_send(p.sock, std::as_bytes(std::span(msg, 4)),
                 [&, big](boost::system::error_code ec, std::size_t n) {
                   BOOST_CHECK(!ec);
                   BOOST_CHECK(started);  // not inside async_send
                   BOOST_CHECK_EQUAL(big[0], 'x');
                   sent = n;
                   ++calls;
                 });
  started = true;
  BOOST_CHECK(run(5s));
  BOOST_CHECK_EQUAL(calls, 1);
  BOOST_CHECK_EQUAL(sent, 4u);
  char buf[8];
  BOOST_CHECK_EQUAL(::read(p.peer.get(), buf, sizeof buf), 4);
  close_all(engine, {p.sock});
}

BOOST_AUTO_TEST_CASE(use_future_token) {
  HalfPair p = half_pair(engine);
  static const char msg[] = "future";
  std::future<std::size_t> sent = rx->async_send(p.sock, std::as_bytes(std::span(msg, 6)), net::use_future);
  std::future<void> slept = rx->async_wait_for(5ms, net::use_future);
  std::future<void> bad = rx->async_close(Socket{}, net::use_future);
  BOOST_CHECK(run(5s));
  BOOST_REQUIRE(sent.wait_for(0s) == std::future_status::ready);
  BOOST_CHECK_EQUAL(sent.get(), 6u);
  BOOST_CHECK_NO_THROW(slept.get());
  BOOST_CHECK_THROW(bad.get(), boost::system::system_error);
  close_all(engine, {p.sock});
}

// asio::deferred: nothing starts until the deferred operation is launched.
BOOST_AUTO_TEST_CASE(deferred_token) {
  auto later = rx->async_wait_for(5ms, net::deferred);
  BOOST_CHECK_EQUAL(engine.in_flight(), 0u);
  int calls = 0;
  boost::system::error_code got = net::error::fault;
  std::move(later)([&](boost::system::error_code ec) {
    got = ec;
    ++calls;
  });
  BOOST_CHECK_EQUAL(engine.in_flight(), 1u);
  BOOST_CHECK(run(5s));
  BOOST_CHECK_EQUAL(calls, 1);
  BOOST_CHECK(!got);
}

// A cancellation_signal bound to an operation cancels it in the engine: it
// completes with operation_aborted, long before it would have.
BOOST_AUTO_TEST_CASE(cancellation_signal_cancels) {
  net::cancellation_signal timer_signal, transfer_signal, accept_signal;
  boost::system::error_code timer_ec, transfer_ec, accept_ec;
  int calls = 0;
  rx->async_wait_for(30s, net::bind_cancellation_slot(timer_signal.slot(), [&](boost::system::error_code ec) {
    timer_ec = ec;
    ++calls;
  }));
  // A transfer from a socket that never sends.
  HalfPair p = half_pair(engine);
  TempFile sink_file;
  ringxfer::File f = open_file(engine, sink_file.path(), O_RDWR);
  rx->async_transfer(transfers, Source::socket(p.sock), Sink::file(f, 0), {},
                     net::bind_cancellation_slot(transfer_signal.slot(),
                                                 [&](boost::system::error_code ec, TransferResult) {
                                                   transfer_ec = ec;
                                                   ++calls;
                                                 }));
  // An accept nobody connects to.
  Socket listener;
  RX_REQUIRE_OK(engine.listen(loopback_any_port(), listener));
  auto acceptor = std::make_unique<AsioAcceptor>(*rx, listener);
  acceptor->async_accept(net::bind_cancellation_slot(accept_signal.slot(), [&](boost::system::error_code ec, Socket) {
    accept_ec = ec;
    ++calls;
  }));
  io.restart();
  io.run_for(30ms);  // all three are waiting now
  BOOST_CHECK_EQUAL(calls, 0);
  const auto start = Clock::now();
  timer_signal.emit(net::cancellation_type::terminal);
  transfer_signal.emit(net::cancellation_type::terminal);
  accept_signal.emit(net::cancellation_type::terminal);
  acceptor->close();  // its multishot accept ends too: run() can return
  BOOST_CHECK(run(5s));
  BOOST_CHECK_LT(Clock::now() - start, 2s);
  BOOST_CHECK_EQUAL(calls, 3);
  BOOST_CHECK(timer_ec == net::error::operation_aborted);
  BOOST_CHECK(transfer_ec == net::error::operation_aborted);
  BOOST_CHECK(accept_ec == net::error::operation_aborted);
  // Emitting again after completion touches nothing (the hooks are gone).
  timer_signal.emit(net::cancellation_type::terminal);
  acceptor.reset();
  close_all(engine, {p.sock, f, listener});
}

// Cancelling a coroutine's operation through a signal on the co_spawn.
BOOST_AUTO_TEST_CASE(cancellation_of_a_coroutine) {
  net::cancellation_signal signal;
  boost::system::error_code caught;
  net::co_spawn(io, [&]() -> net::awaitable<void> {
    try {
      co_await rx->async_wait_for(30s, net::use_awaitable);
    } catch (const boost::system::system_error& e) {
      caught = e.code();
    }
  }, net::bind_cancellation_slot(signal.slot(), net::detached));
  io.restart();
  io.run_for(20ms);
  signal.emit(net::cancellation_type::terminal);
  BOOST_CHECK(run(5s));
  BOOST_CHECK(caught == net::error::operation_aborted);
}

// An exception from a handler leaves io_context::run(); the completions of
// the same poll that were not yet dispatched are not lost.
BOOST_AUTO_TEST_CASE(throwing_handler_loses_nothing) {
  int first = 0, second = 0;
  rx->async_wait_for(1ms, [&](boost::system::error_code) {
    ++first;
    throw std::runtime_error("from a handler");
  });
  rx->async_wait_for(1ms, [&](boost::system::error_code) { ++second; });
  std::this_thread::sleep_for(5ms);
  bool thrown = false;
  try {
    io.run_for(2s);
  } catch (const std::runtime_error&) {
    thrown = true;
  }
  BOOST_CHECK(thrown);
  BOOST_CHECK(run(5s));
  BOOST_CHECK_EQUAL(first, 1);
  BOOST_CHECK_EQUAL(second, 1);
}

// run() returns once nothing is in flight, and the io_context keeps working
// for its own handlers meanwhile.
BOOST_AUTO_TEST_CASE(run_returns_when_idle) {
  BOOST_CHECK(run(2s));  // nothing started: returns at once
  int asio_timer_fired = 0, engine_timer_fired = 0;
  net::steady_timer t(io, 20ms);
  t.async_wait([&](boost::system::error_code) { ++asio_timer_fired; });
  rx->async_wait_for(40ms, [&](boost::system::error_code) { ++engine_timer_fired; });
  const auto start = Clock::now();
  BOOST_CHECK(run(5s));
  BOOST_CHECK_EQUAL(asio_timer_fired, 1);
  BOOST_CHECK_EQUAL(engine_timer_fired, 1);
  BOOST_CHECK_GE(Clock::now() - start, 35ms);
  BOOST_CHECK_LT(Clock::now() - start, 2s);
}

// Destroying the AsioEngine with operations pending: they are cancelled and
// their handlers posted (not run inline); nothing leaks (ASan).
BOOST_AUTO_TEST_CASE(destroyed_with_operations_pending) {
  int calls = 0;
  boost::system::error_code got;
  std::vector<int> big(100, 7);  // a handler that owns heap memory
  rx->async_wait_for(30s, [&, big](boost::system::error_code ec) {
    got = ec;
    calls += big[99] == 7 ? 1 : 100;
  });
  io.restart();
  io.run_for(10ms);
  rx.reset();
  BOOST_CHECK_EQUAL(calls, 0);  // posted, not run inside the destructor
  run_until(engine, [&] { return engine.in_flight() == 0; }, 5000ms);
  BOOST_CHECK(run(5s));
  BOOST_CHECK_EQUAL(calls, 1);
  BOOST_CHECK(got == net::error::operation_aborted);
}

BOOST_AUTO_TEST_SUITE_END()
