// send / multishot recv / shutdown over loopback TCP: small messages, a 64 MiB
// byte-exact stream, many connections at once, receive backpressure, short
// sends, peer resets.
#include <thread>

#include "support.hpp"

using namespace rxtest;

namespace {

// One send (or sendv) of `data` whose handler shuts the socket down for
// writing, so that the receiver sees eof.
struct SendThenShutdown {
  Engine* e = nullptr;
  Socket sock;
  std::vector<std::byte> data;  // valid until the send completed
  Once send;
  Once shut;

  SendThenShutdown(Engine& engine, Socket s, std::vector<std::byte> bytes)
      : e(&engine), sock(s), data(std::move(bytes)) {}
  auto handler() {
    return [self = this](std::error_code ec, std::size_t n) {
      self->send.record(ec, n);
      self->e->shutdown(self->sock, SHUT_WR, record(self->shut));
    };
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(stream)

BOOST_FIXTURE_TEST_CASE(small_send_recv_then_eof, EngineFixture) {
  SocketPair p = engine_pair(engine());
  struct St {
    Once send;
    Once shut;
    std::string got;
    int data_calls = 0;
    FinalCall recv;
  };
  St& st = state<St>();
  static const char msg[] = "hello, ringxfer";
  const auto data = std::as_bytes(std::span(msg, sizeof msg - 1));
  OpId rid = engine().recv(p.b, [s = &st](std::error_code ec, Buffer b) {
    if (!s->recv.note_call(ec)) {
      BOOST_CHECK(!b);  // an error carries no buffer
      return;
    }
    ++s->data_calls;
    s->got.append(reinterpret_cast<const char*>(b.data()), b.size());
  });
  BOOST_REQUIRE(rid);
  OpId sid = engine().send(p.a, data, record(st.send));
  BOOST_REQUIRE(sid);
  BOOST_CHECK_EQUAL(st.send.calls, 0);
  RX_REQUIRE_UNTIL(engine(), st.send.calls > 0 && st.got.size() >= data.size(), short_deadline);
  RX_CHECK_OK(st.send.ec);
  BOOST_CHECK_EQUAL(st.send.bytes, data.size());
  BOOST_CHECK_EQUAL(st.got, std::string(msg));
  BOOST_CHECK_EQUAL(st.recv.final_calls, 0);

  // shutdown(SHUT_WR): the receiver's multishot recv ends with exactly one eof.
  BOOST_REQUIRE(engine().shutdown(p.a, SHUT_WR, record(st.shut)));
  RX_REQUIRE_UNTIL(engine(), st.recv.final_calls > 0 && st.shut.calls > 0, short_deadline);
  run_for(engine(), 30ms);
  RX_CHECK_OK(st.shut.ec);
  BOOST_CHECK_EQUAL(st.shut.calls, 1);
  BOOST_CHECK_EQUAL(st.recv.final_calls, 1);
  BOOST_CHECK_EQUAL(st.recv.calls_after_final, 0);
  BOOST_CHECK_MESSAGE(st.recv.final_error == ringxfer::error::eof, "recv ended with " << describe(st.recv.final_error));
  BOOST_CHECK_EQUAL(st.send.calls, 1);
  BOOST_CHECK(!engine().cancel(rid));
  BOOST_CHECK(!engine().cancel(sid));
  // A fresh engine moved exactly these bytes.
  BOOST_CHECK_EQUAL(engine().stats().bytes_out, data.size());
  BOOST_CHECK_EQUAL(engine().stats().bytes_in, data.size());
  close_all(engine(), {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(recv_sees_data_sent_before_it_started, EngineFixture) {
  HalfPair p = half_pair(engine());
  BOOST_REQUIRE(::write(p.peer.get(), "abcdef", 6) == 6);
  ::shutdown(p.peer.get(), SHUT_WR);
  std::this_thread::sleep_for(10ms);
  StreamSink& sink = state<StreamSink>();
  struct St {
    std::string got;
    int finals = 0;
    std::error_code ec;
  };
  St& st = state<St>();
  BOOST_REQUIRE(engine().recv(p.sock, [s = &st](std::error_code ec, Buffer b) {
    if (ec) {
      ++s->finals;
      s->ec = ec;
    } else {
      s->got.append(reinterpret_cast<const char*>(b.data()), b.size());
    }
  }));
  (void)sink;
  RX_REQUIRE_UNTIL(engine(), st.finals > 0, short_deadline);
  BOOST_CHECK_EQUAL(st.got, "abcdef");
  BOOST_CHECK_MESSAGE(st.ec == ringxfer::error::eof, "recv ended with " << describe(st.ec));
  RX_CHECK_OK(close_and_wait(engine(), p.sock));
}

BOOST_FIXTURE_TEST_CASE(send_stream_64mib_byte_exact, EngineFixture) {
  const std::size_t total = big_stream_bytes;
  SocketPair p = engine_pair(engine());
  StreamSink& sink = state<StreamSink>(Pattern(7));
  BOOST_REQUIRE(start_sink(engine(), p.b, sink));
  ChainSender& tx = state<ChainSender>(engine(), p.a, sink.pattern.make(0, total));
  const auto start = Clock::now();
  tx.start();
  RX_REQUIRE_UNTIL_INFO(engine(), (tx.done() && sink.done()) || tx.failed, big_stream_deadline, tx << sink);
  RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  BOOST_TEST_MESSAGE("send stream: " << total / MiB << " MiB in " << ms << " ms with " << tx.sends_started
                                     << " sends, " << sink.data_calls << " recv buffers");
  BOOST_CHECK(!tx.failed);
  RX_CHECK_OK(tx.error);
  RX_CHECK_OK(tx.shutdown_error);
  BOOST_CHECK_EQUAL(tx.offset, total);
  BOOST_CHECK_EQUAL(tx.handler_calls, tx.sends_started);
  check_sink(sink, total);
  const auto& s = engine().stats();
  BOOST_CHECK_GE(s.bytes_out, total);
  BOOST_CHECK_GE(s.bytes_in, total);
  close_all(engine(), {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(many_connections_both_directions, EngineFixture) {
  // 8 connections, each streaming 2 MiB in both directions at once; all share
  // one engine and its receive buffers.
  constexpr int n = 8;
  constexpr std::size_t bytes = 2 * MiB;
  struct Conn {
    SocketPair p;
  };
  std::vector<Conn> conns;
  std::vector<StreamSink*> sinks;
  std::vector<ChainSender*> senders;
  for (int i = 0; i < n; ++i) {
    conns.push_back({engine_pair(engine())});
    for (int dir = 0; dir < 2; ++dir) {
      Socket from = dir == 0 ? conns.back().p.a : conns.back().p.b;
      Socket to = dir == 0 ? conns.back().p.b : conns.back().p.a;
      StreamSink& sink = state<StreamSink>(Pattern(1000 + i * 2 + dir));
      BOOST_REQUIRE(start_sink(engine(), to, sink));
      ChainSender& tx = state<ChainSender>(engine(), from, sink.pattern.make(0, bytes));
      tx.rng = Rng(77 + i * 2 + dir);
      tx.max_chunk = 256 * KiB;
      sinks.push_back(&sink);
      senders.push_back(&tx);
    }
  }
  for (ChainSender* tx : senders) tx->start();
  RX_REQUIRE_UNTIL_INFO(engine(), std::all_of(sinks.begin(), sinks.end(), [](StreamSink* s) { return s->done(); }) &&
                                 std::all_of(senders.begin(), senders.end(), [](ChainSender* t) { return t->done(); }),
                   big_stream_deadline, *senders[0] << *sinks[0]);
  for (std::size_t k = 0; k < sinks.size(); ++k) {
    BOOST_TEST_CONTEXT("direction " << k) {
      BOOST_CHECK(!senders[k]->failed);
      RX_CHECK_OK(senders[k]->error);
      check_sink(*sinks[k], bytes);
    }
  }
  for (auto& c : conns) {
    close_all(engine(), {c.p.a, c.p.b});
  }
}

BOOST_FIXTURE_TEST_CASE(recv_backpressure_when_buffers_are_held, EngineFixture) {
  // Few receive buffers; the receiver keeps every lease. The ring runs dry,
  // recv pauses (no error reaches the handler), and once the leases are
  // dropped the stream continues to the end, byte-exact.
  Engine& e = reset(pool_options(4, 4, 16 * KiB));
  constexpr std::size_t total = 4 * MiB;
  SocketPair p = engine_pair(e);
  struct St {
    EngineFixture* fx = nullptr;
    bool hold = true;
    StreamSink sink{Pattern(99)};
    std::size_t max_held = 0;
  };
  St& st = state<St>();
  st.fx = this;
  BOOST_REQUIRE(e.recv(p.b, [s = &st](std::error_code ec, Buffer b) {
    if (s->hold && !ec && b) {
      // Verify now (in stream order) but keep the lease.
      if (s->sink.final_calls) ++s->sink.calls_after_final;
      ++s->sink.data_calls;
      s->sink.take(b.bytes());
      s->fx->held_.push_back(std::move(b));
      s->max_held = std::max(s->max_held, distinct_buffers(s->fx->held_));
      return;
    }
    s->sink.on_recv(ec, std::move(b));
  }));
  ChainSender& tx = state<ChainSender>(e, p.a, st.sink.pattern.make(0, total));
  tx.start();
  // Run until the receiver holds every receive buffer, then a while longer:
  // nothing more can arrive, and recv must not have ended.
  RX_REQUIRE_UNTIL_INFO(e, (distinct_buffers(held_) >= 4 && e.stats().recv_starved > 0) || st.sink.done(),
                        short_deadline, tx << st.sink);
  run_for(e, 200ms);
  // Memory is bounded by buffers, not leases: with incremental consumption
  // many chunks share a buffer, but no more than the 4 buffers' bytes arrive.
  BOOST_CHECK_EQUAL(distinct_buffers(held_), 4u);
  BOOST_CHECK_LE(st.sink.received, 4 * 16 * KiB);
  BOOST_CHECK_MESSAGE(!st.sink.done(), "recv ended while buffers were held: " << describe(st.sink.final_error));
  BOOST_CHECK_LT(st.sink.received, total);
  BOOST_CHECK_GE(e.stats().recv_starved, 1u);
  // Let go: the stream completes.
  st.hold = false;
  held_.clear();
  RX_REQUIRE_UNTIL_INFO(e, st.sink.done() && tx.done(), big_stream_deadline, tx << st.sink);
  BOOST_CHECK(!tx.failed);
  check_sink(st.sink, total);
  BOOST_CHECK_LE(st.max_held, 4u);
  close_all(e, {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(echo_server_holds_recv_buffers_while_sending, EngineFixture) {
  // An echo server: each received Buffer is sent back as is, one send at a
  // time (FIFO), the lease moved into the send handler so it stays valid
  // until the send completed. The client checks the echoed 8 MiB byte-exact.
  // Exercises sends started from recv handlers, move-only captures, and
  // receive backpressure while the echo side is slow.
  //
  // The client runs on a second engine (as a real client would, elsewhere):
  // on one engine the server could hold every shared receive buffer while
  // the client needs one to drain the echo, a deadlock of the test's making.
  Engine& server = reset(pool_options(16, 8));
  Engine client_engine(variant_options());
  Engine& client = client_engine;
  constexpr std::size_t total = 8 * MiB;
  RawPair raw = raw_tcp_pair();
  Socket cs, ss;
  RX_REQUIRE_OK(client.adopt(raw.client.release(), cs));
  RX_REQUIRE_OK(server.adopt(raw.server.release(), ss));
  struct Echo {
    EngineFixture* fx = nullptr;
    Engine* e = nullptr;
    Socket s;
    bool sending = false;
    bool peer_done = false;
    bool shut = false;
    int recv_finals = 0;
    std::error_code recv_error, send_error;
    std::size_t echoed = 0;
    std::size_t max_queued = 0;
    void pump() {
      if (sending) return;
      if (fx->held_.empty()) {
        if (peer_done && !shut) {
          shut = true;
          e->shutdown(s, SHUT_WR, [](std::error_code) {});
        }
        return;
      }
      Buffer b = std::move(fx->held_.front());
      fx->held_.pop_front();
      sending = true;
      std::span<const std::byte> bytes = b.bytes();
      Echo* self = this;
      static_assert(sizeof(Buffer) + sizeof(Echo*) <= ringxfer::handler_capacity_bytes);
      e->send(s, bytes, [self, lease = std::move(b)](std::error_code ec, std::size_t n) mutable {
        lease.release();  // the send is done with it
        self->sending = false;
        self->echoed += n;
        if (ec && !self->send_error) self->send_error = ec;
        if (!ec) self->pump();
      });
    }
  };
  Echo& echo = state<Echo>();
  echo.fx = this;
  echo.e = &server;
  echo.s = ss;
  BOOST_REQUIRE(server.recv(ss, [x = &echo](std::error_code ec, Buffer b) {
    if (ec) {
      ++x->recv_finals;
      x->recv_error = ec;
      x->peer_done = true;
    } else {
      x->fx->held_.push_back(std::move(b));
      x->max_queued = std::max(x->max_queued, distinct_buffers(x->fx->held_));
    }
    x->pump();
  }));
  StreamSink& sink = state<StreamSink>(Pattern(17));
  BOOST_REQUIRE(start_sink(client, cs, sink));
  ChainSender& tx = state<ChainSender>(client, cs, sink.pattern.make(0, total));
  tx.max_chunk = 512 * KiB;
  tx.start();
  const auto deadline = Clock::now() + big_stream_deadline;
  while (!(sink.done() && tx.done()) && Clock::now() < deadline) {
    server.run_once(1ms);
    client.run_once(1ms);
  }
  BOOST_REQUIRE_MESSAGE(sink.done() && tx.done(), "echo timed out: " << tx << sink << " echoed " << echo.echoed
                                                                     << " queued " << held_.size());
  BOOST_TEST_MESSAGE("echo: at most " << echo.max_queued << " receive buffers queued at the server");
  BOOST_CHECK(!tx.failed);
  RX_CHECK_OK(echo.send_error);
  BOOST_CHECK_EQUAL(echo.recv_finals, 1);
  BOOST_CHECK_MESSAGE(echo.recv_error == ringxfer::error::eof, describe(echo.recv_error));
  BOOST_CHECK_EQUAL(echo.echoed, total);
  check_sink(sink, total);
  BOOST_CHECK_EQUAL(held_.size(), 0u);
  BOOST_CHECK_LE(echo.max_queued, 16u);
  RX_CHECK_OK(close_and_wait(client, cs));
  RX_CHECK_OK(close_and_wait(server, ss));
  BOOST_CHECK_EQUAL(client.in_flight(), 0u);
}

BOOST_FIXTURE_TEST_CASE(close_from_inside_recv_handler, EngineFixture) {
  // The receiver closes its socket from its own recv handler on the first
  // data: the recv still ends with exactly one final call, and the close
  // completes.
  SocketPair p = engine_pair(engine());
  struct St {
    Engine* e = nullptr;
    Socket s;
    int data_calls = 0;
    FinalCall recv;
    Once close;
    bool close_started = false;
  };
  St& st = state<St>();
  st.e = &engine();
  st.s = p.b;
  BOOST_REQUIRE(engine().recv(p.b, [x = &st](std::error_code ec, Buffer) {
    if (!x->recv.note_call(ec)) return;
    ++x->data_calls;
    if (!x->close_started) {
      x->close_started = true;
      x->e->close(x->s, record(x->close));
    }
  }));
  ChainSender& tx = state<ChainSender>(engine(), p.a, Pattern(18).make(0, 4 * MiB));
  tx.do_shutdown = false;
  tx.start();
  RX_REQUIRE_UNTIL(engine(), st.recv.final_calls > 0 && st.close.calls > 0, short_deadline);
  run_for(engine(), 50ms);
  BOOST_CHECK_EQUAL(st.recv.final_calls, 1);
  BOOST_CHECK_EQUAL(st.recv.calls_after_final, 0);
  BOOST_CHECK_MESSAGE(is_canceled_or_badf(st.recv.final_error), describe(st.recv.final_error));
  BOOST_CHECK_EQUAL(st.close.calls, 1);
  RX_CHECK_OK(st.close.ec);
  // The sender sees the connection go away (its send fails) or finished.
  RX_REQUIRE_UNTIL(engine(), tx.done(), short_deadline);
  RX_CHECK_OK(close_and_wait(engine(), p.a));
}

BOOST_FIXTURE_TEST_CASE(cancel_from_inside_own_recv_handler, EngineFixture) {
  SocketPair p = engine_pair(engine());
  struct St {
    Engine* e = nullptr;
    OpId id;
    int data_calls = 0;
    FinalCall recv;
    bool cancel_result = false;
  };
  St& st = state<St>();
  st.e = &engine();
  st.id = engine().recv(p.b, [x = &st](std::error_code ec, Buffer) {
    if (!x->recv.note_call(ec)) return;
    if (x->data_calls++ == 0) x->cancel_result = x->e->cancel(x->id);
  });
  BOOST_REQUIRE(st.id);
  ChainSender& tx = state<ChainSender>(engine(), p.a, Pattern(19).make(0, 1 * MiB));
  tx.start();
  RX_REQUIRE_UNTIL(engine(), st.recv.final_calls > 0, short_deadline);
  run_for(engine(), 50ms);
  BOOST_CHECK(st.cancel_result);
  BOOST_CHECK_EQUAL(st.recv.final_calls, 1);
  BOOST_CHECK_EQUAL(st.recv.calls_after_final, 0);
  // Data already received in the same batch may still be delivered, but the
  // op ends as cancelled (or with eof if the stream ended first).
  BOOST_CHECK_MESSAGE(is_canceled(st.recv.final_error) || st.recv.final_error == ringxfer::error::eof,
                      describe(st.recv.final_error));
  RX_REQUIRE_UNTIL(engine(), tx.done(), big_stream_deadline);
  close_all(engine(), {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(hundred_connections, EngineFixture) {
  // 100 connections at once, 64 KiB each way on each.
  constexpr int n = 100;
  constexpr std::size_t bytes = 64 * KiB;
  std::vector<SocketPair> pairs;
  std::vector<StreamSink*> sinks;
  std::vector<ChainSender*> senders;
  for (int i = 0; i < n; ++i) {
    pairs.push_back(engine_pair(engine()));
    StreamSink& sink = state<StreamSink>(Pattern(5000 + i));
    BOOST_REQUIRE(start_sink(engine(), pairs.back().b, sink));
    ChainSender& tx = state<ChainSender>(engine(), pairs.back().a, sink.pattern.make(0, bytes));
    tx.rng = Rng(9000 + i);
    tx.max_chunk = 16 * KiB;
    sinks.push_back(&sink);
    senders.push_back(&tx);
  }
  for (ChainSender* tx : senders) tx->start();
  RX_REQUIRE_UNTIL(engine(),
                   std::all_of(sinks.begin(), sinks.end(), [](StreamSink* s) { return s->done(); }) &&
                       std::all_of(senders.begin(), senders.end(), [](ChainSender* t) { return t->done(); }),
                   big_stream_deadline);
  for (int i = 0; i < n; ++i) {
    BOOST_TEST_CONTEXT("connection " << i) {
      BOOST_CHECK(!senders[std::size_t(i)]->failed);
      check_sink(*sinks[std::size_t(i)], bytes);
    }
  }
  for (auto& p : pairs) {
    close_all(engine(), {p.a, p.b});
  }
}

BOOST_FIXTURE_TEST_CASE(sqpoll_engine_streams, EngineFixture) {
  // EngineOptions::sqpoll: the io_uring variants must still work (and say
  // whether SQPOLL was taken); epoll ignores it.
  ringxfer::EngineOptions o = variant_options();
  o.sqpoll = true;
  Engine& e = reset(o);
  BOOST_TEST_MESSAGE(variant_name() << " with sqpoll: setup_mode '" << e.features().setup_mode << "', sqpoll "
                                    << e.features().sqpoll);
  constexpr std::size_t total = 16 * MiB;
  SocketPair p = engine_pair(e);
  StreamSink& sink = state<StreamSink>(Pattern(20));
  BOOST_REQUIRE(start_sink(e, p.b, sink));
  ChainSender& tx = state<ChainSender>(e, p.a, sink.pattern.make(0, total));
  tx.start();
  Once& t = state<Once>();
  BOOST_REQUIRE(e.timeout(5ms, record(t)));
  RX_REQUIRE_UNTIL_INFO(e, tx.done() && sink.done() && t.calls > 0, big_stream_deadline, tx << sink);
  BOOST_CHECK(!tx.failed);
  check_sink(sink, total);
  RX_CHECK_OK(t.ec);
  close_all(e, {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(short_sends_are_continued, EngineFixture) {
  // A 4 KiB send buffer and a small receive buffer force the kernel to take
  // the 8 MiB send in many pieces; send() must continue after every short
  // send and report exactly 8 MiB.
  //
  // The receive buffer is 32 KiB, not 4 KiB: on loopback (MSS ~64 KiB) a
  // receive buffer of 8 KiB or less set after the handshake stalls TCP itself
  // — a plain poll()/send()/recv() loop with no engine stops after ~1.6 MB on
  // this kernel (6.18) — so it would test the kernel, not the engine.
  constexpr std::size_t total = 8 * MiB;
  SocketPair p = engine_pair(engine());
  set_int_sockopt(engine().native_handle(p.a), SOL_SOCKET, SO_SNDBUF, 4096);
  set_int_sockopt(engine().native_handle(p.b), SOL_SOCKET, SO_RCVBUF, 32 * 1024);
  StreamSink& sink = state<StreamSink>(Pattern(3));
  BOOST_REQUIRE(start_sink(engine(), p.b, sink));
  SendThenShutdown& st = state<SendThenShutdown>(engine(), p.a, sink.pattern.make(0, total));
  const auto before = engine().stats().short_sends;
  BOOST_REQUIRE(engine().send(p.a, st.data, st.handler()));
  RX_REQUIRE_UNTIL_INFO(engine(), sink.done(), big_stream_deadline, sink << " send calls " << st.send.calls);
  BOOST_CHECK_EQUAL(st.send.calls, 1);
  RX_CHECK_OK(st.send.ec);
  BOOST_CHECK_EQUAL(st.send.bytes, total);
  check_sink(sink, total);
  const auto shorts = engine().stats().short_sends - before;
  BOOST_TEST_MESSAGE(variant_name() << ": short_sends for one 8 MiB send with SO_SNDBUF 4096: " << shorts);
  // A non-blocking send(2) cannot take 8 MiB into a 4 KiB socket buffer, so
  // the epoll backend must see short sends. io_uring's IORING_OP_SEND without
  // MSG_WAITALL also returns short counts, which core continues: observed 256
  // short sends for this 8 MiB on every variant (kernel 6.18). Should the
  // io_uring backend ever send with MSG_WAITALL (the kernel then retries
  // internally), short_sends may legitimately stay 0 there: relax this
  // assertion for the io_uring variants in that case.
  BOOST_CHECK_GT(shorts, 0u);
  close_all(engine(), {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(sendv_gathers_in_order_through_short_sends, EngineFixture) {
  // One sendv of four pieces (one empty) through a 4 KiB send buffer: the
  // bytes arrive in piece order, exactly once, and sendv continues across
  // piece boundaries after short sends.
  constexpr std::size_t total = 8 * MiB + 100;
  SocketPair p = engine_pair(engine());
  set_int_sockopt(engine().native_handle(p.a), SOL_SOCKET, SO_SNDBUF, 4096);
  StreamSink& sink = state<StreamSink>(Pattern(11));
  BOOST_REQUIRE(start_sink(engine(), p.b, sink));
  SendThenShutdown& st = state<SendThenShutdown>(engine(), p.a, sink.pattern.make(0, total));
  const std::span<const std::byte> all(st.data);
  const std::span<const std::byte> pieces[] = {all.subspan(0, 100), all.subspan(100, 3 * MiB), {},
                                               all.subspan(100 + 3 * MiB)};
  const auto before = engine().stats().short_sends;
  BOOST_REQUIRE(engine().sendv(p.a, pieces, st.handler()));
  RX_REQUIRE_UNTIL_INFO(engine(), sink.done(), big_stream_deadline, sink << " sendv calls " << st.send.calls);
  BOOST_CHECK_EQUAL(st.send.calls, 1);
  RX_CHECK_OK(st.send.ec);
  BOOST_CHECK_EQUAL(st.send.bytes, total);
  check_sink(sink, total);
  BOOST_CHECK_GT(engine().stats().short_sends - before, 0u);
  close_all(engine(), {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(sendv_with_too_many_pieces_fails_once, EngineFixture) {
  SocketPair p = engine_pair(engine());
  static const std::byte one[1] = {};
  std::span<const std::byte> pieces[ringxfer::max_gather + 1];
  for (auto& piece : pieces) piece = one;
  Once& r = state<Once>();
  BOOST_REQUIRE(engine().sendv(p.a, pieces, record(r)));
  BOOST_CHECK_EQUAL(r.calls, 0);  // never from inside the starting call
  RX_REQUIRE_UNTIL(engine(), r.done(), 5000ms);
  BOOST_CHECK(r.ec == std::errc::invalid_argument);
  BOOST_CHECK_EQUAL(r.bytes, 0u);
  close_all(engine(), {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(peer_reset_while_receiving, EngineFixture) {
  HalfPair p = half_pair(engine());
  StreamSink& sink = state<StreamSink>();
  BOOST_REQUIRE(start_sink(engine(), p.sock, sink));
  run_for(engine(), 10ms);
  close_with_reset(p.peer);
  RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
  run_for(engine(), 30ms);
  BOOST_CHECK_EQUAL(sink.final_calls, 1);
  BOOST_CHECK_EQUAL(sink.calls_after_final, 0);
  BOOST_CHECK_MESSAGE(sink.final_error == std::errc::connection_reset || sink.final_error == std::errc::broken_pipe,
                      "recv after peer RST ended with " << describe(sink.final_error));
  RX_CHECK_OK(close_and_wait(engine(), p.sock));
}

BOOST_FIXTURE_TEST_CASE(peer_reset_while_sending, EngineFixture) {
  // The peer reads nothing and then resets; a large send in progress fails
  // with connection_reset or broken_pipe, once, without raising SIGPIPE.
  HalfPair p = half_pair(engine());
  struct St {
    std::vector<std::byte> data;
    Once send;
  };
  St& st = state<St>();
  st.data = Pattern(5).make(0, 32 * MiB);
  const int sigpipes_before = sigpipe_count.load();
  BOOST_REQUIRE(engine().send(p.sock, st.data, record(st.send)));
  run_for(engine(), 100ms);  // fill the socket buffers
  BOOST_CHECK_EQUAL(st.send.calls, 0);
  close_with_reset(p.peer);
  RX_REQUIRE_UNTIL(engine(), st.send.calls > 0, short_deadline);
  run_for(engine(), 30ms);
  BOOST_CHECK_EQUAL(st.send.calls, 1);
  BOOST_CHECK_MESSAGE(st.send.ec == std::errc::connection_reset || st.send.ec == std::errc::broken_pipe,
                      "send after peer RST ended with " << describe(st.send.ec));
  BOOST_CHECK_LT(st.send.bytes, st.data.size());
  // A later send fails at once, too.
  Once& again = state<Once>();
  BOOST_REQUIRE(engine().send(p.sock, std::span<const std::byte>(st.data.data(), 1000),
                              record(again)));
  RX_REQUIRE_UNTIL(engine(), again.calls > 0, short_deadline);
  BOOST_CHECK_MESSAGE(again.ec == std::errc::connection_reset || again.ec == std::errc::broken_pipe,
                      "send on a reset connection ended with " << describe(again.ec));
  BOOST_CHECK_MESSAGE(sigpipe_count.load() == sigpipes_before,
                      "sending on a reset connection raised SIGPIPE (the engine should send with MSG_NOSIGNAL)");
  RX_CHECK_OK(close_and_wait(engine(), p.sock));
}

BOOST_FIXTURE_TEST_CASE(shutdown_read_and_write, EngineFixture) {
  SocketPair p = engine_pair(engine());
  StreamSink& sink = state<StreamSink>();
  BOOST_REQUIRE(start_sink(engine(), p.a, sink));
  Once& shut = state<Once>();
  BOOST_REQUIRE(engine().shutdown(p.b, SHUT_RDWR, record(shut)));
  RX_REQUIRE_UNTIL(engine(), shut.calls > 0 && sink.done(), short_deadline);
  RX_CHECK_OK(shut.ec);
  BOOST_CHECK_MESSAGE(sink.final_error == ringxfer::error::eof, "ended with " << describe(sink.final_error));
  // Sending on a socket shut down for writing fails with broken_pipe.
  Once& snd = state<Once>();
  static const std::byte one[1] = {std::byte{1}};
  BOOST_REQUIRE(engine().send(p.b, one, record(snd)));
  RX_REQUIRE_UNTIL(engine(), snd.calls > 0, short_deadline);
  RX_CHECK_EC(snd.ec, std::errc::broken_pipe);
  close_all(engine(), {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(send_of_zero_bytes_completes_once, EngineFixture) {
  SocketPair p = engine_pair(engine());
  Once& st = state<Once>();
  BOOST_REQUIRE(engine().send(p.a, std::span<const std::byte>(), record(st)));
  RX_REQUIRE_UNTIL(engine(), st.calls > 0, short_deadline);
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(st.calls, 1);
  BOOST_CHECK_EQUAL(st.bytes, 0u);
  close_all(engine(), {p.a, p.b});
}

BOOST_AUTO_TEST_SUITE_END()
