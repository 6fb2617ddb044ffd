// cancel(), close() with operations pending, exactly-once completion over a
// mix of operations, engine destruction with operations pending.
#include <thread>

#include "support.hpp"

using namespace rxtest;

namespace {

// Per-operation bookkeeping for the exactly-once checks.
struct Tracker {
  struct Rec {
    const char* kind = "";
    bool multishot = false;
    int calls = 0;
    int finals = 0;       // single-shot: every call; multishot: calls with an error
    int after_final = 0;  // calls after the final one
    std::error_code last;
    std::size_t bytes = 0;
    std::size_t expect_bytes = SIZE_MAX;  // checked if set
  };
  std::vector<Rec> recs;
  std::vector<Socket> sockets;  // from accept/connect, to close at the end
  int started = 0;              // non-empty OpIds returned

  int add(const char* kind, bool multishot = false) {
    recs.push_back(Rec{kind, multishot});
    return int(recs.size() - 1);
  }
  void hit(int i, std::error_code ec, std::size_t bytes = 0) {
    Rec& r = recs[std::size_t(i)];
    if (r.finals > 0) ++r.after_final;
    ++r.calls;
    r.last = ec;
    r.bytes += bytes;
    if (!r.multishot || ec) ++r.finals;
  }
  std::string pending() const {
    std::string out = "[not final:";
    for (std::size_t i = 0; i < recs.size(); ++i)
      if (recs[i].finals == 0) out += " #" + std::to_string(i) + " " + recs[i].kind + " (" + std::to_string(recs[i].calls) + " calls)";
    return out + "]";
  }
  bool all_final() const {
    return std::all_of(recs.begin(), recs.end(), [](const Rec& r) { return r.finals > 0; });
  }
  OpId note(OpId id, int i) {
    if (id) ++started;
    else BOOST_ERROR("op " << i << " (" << recs[std::size_t(i)].kind << ") did not start");
    return id;
  }

  // A handler that hits record i: fits every op's handler signature (bytes
  // and buffer sizes are added up; accepted and connected sockets are kept
  // in `sockets`).
  struct Hit {
    Tracker* t;
    int i;
    void operator()(std::error_code ec, std::size_t n = 0) const { t->hit(i, ec, n); }
    void operator()(std::error_code ec, Buffer b) const { t->hit(i, ec, b.size()); }
    void operator()(std::error_code ec, Socket s) const {
      t->hit(i, ec);
      if (!ec) t->sockets.push_back(s);
    }
  };
  Hit on(int i) { return Hit{this, i}; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(cancel_close)

BOOST_FIXTURE_TEST_CASE(cancel_idle_recv_then_recv_again, EngineFixture) {
  SocketPair p = engine_pair(engine());
  StreamSink& sink = state<StreamSink>();
  OpId id = start_sink(engine(), p.b, sink);
  BOOST_REQUIRE(id);
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(sink.data_calls + sink.final_calls, 0);
  BOOST_CHECK(engine().cancel(id));
  RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
  run_for(engine(), 30ms);
  BOOST_CHECK_EQUAL(sink.final_calls, 1);
  BOOST_CHECK_EQUAL(sink.calls_after_final, 0);
  BOOST_CHECK_MESSAGE(is_canceled(sink.final_error), "cancelled recv ended with " << describe(sink.final_error));
  BOOST_CHECK(!engine().cancel(id));
  BOOST_CHECK_EQUAL(engine().in_flight(), 0u);

  // The socket is still fine: a new recv gets new data.
  CollectSink& again = state<CollectSink>();
  BOOST_REQUIRE(start_collect(engine(), p.b, again));
  Once& snd = state<Once>();
  static const std::byte msg[3] = {std::byte{1}, std::byte{2}, std::byte{3}};
  BOOST_REQUIRE(engine().send(p.a, msg, record(snd)));
  RX_REQUIRE_UNTIL(engine(), again.bytes.size() == 3, short_deadline);
  BOOST_CHECK(again.bytes == std::vector<std::byte>(msg, msg + 3));
  RX_CHECK_OK(close_and_wait(engine(), p.a));
  RX_REQUIRE_UNTIL(engine(), again.done(), short_deadline);
  BOOST_CHECK(again.final_error == ringxfer::error::eof);
  RX_CHECK_OK(close_and_wait(engine(), p.b));
}

BOOST_FIXTURE_TEST_CASE(cancel_recv_during_a_stream, EngineFixture) {
  // Cancelling a multishot recv while data flows: what arrived before the
  // final call is an exact prefix of the stream; then exactly one final call
  // (operation_canceled), nothing after it.
  SocketPair p = engine_pair(engine());
  StreamSink& sink = state<StreamSink>(Pattern(76));
  OpId rid = start_sink(engine(), p.b, sink);
  BOOST_REQUIRE(rid);
  ChainSender& tx = state<ChainSender>(engine(), p.a, sink.pattern.make(0, 16 * MiB));
  tx.max_chunk = 256 * KiB;
  tx.start();
  RX_REQUIRE_UNTIL_INFO(engine(), sink.received >= 1 * MiB, short_deadline, tx << sink);
  BOOST_CHECK(engine().cancel(rid));
  RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
  run_for(engine(), 50ms);
  BOOST_CHECK_EQUAL(sink.final_calls, 1);
  BOOST_CHECK_EQUAL(sink.calls_after_final, 0);
  BOOST_CHECK_MESSAGE(is_canceled(sink.final_error), "ended with " << describe(sink.final_error));
  BOOST_CHECK_MESSAGE(sink.mismatch_at == UINT64_MAX, "gap or corruption at stream offset " << sink.mismatch_at);
  // The rest of the stream is still in the socket: a new recv continues
  // exactly where the cancelled one stopped.
  StreamSink& rest = state<StreamSink>(Pattern(76));
  rest.base = sink.received;
  BOOST_REQUIRE(start_sink(engine(), p.b, rest));
  RX_REQUIRE_UNTIL_INFO(engine(), rest.done() && tx.done(), big_stream_deadline, tx << rest);
  BOOST_CHECK(!tx.failed);
  check_sink(rest, 16 * MiB - sink.received);
  close_all(engine(), {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(cancel_blocked_send, EngineFixture) {
  HalfPair p = half_pair(engine());  // the peer never reads
  struct St {
    std::vector<std::byte> data;
    Once send;
  };
  St& st = state<St>();
  st.data = Pattern(71).make(0, 32 * MiB);
  OpId id = engine().send(p.sock, st.data, record(st.send));
  BOOST_REQUIRE(id);
  run_for(engine(), 100ms);
  BOOST_REQUIRE_EQUAL(st.send.calls, 0);
  BOOST_CHECK(engine().cancel(id));
  RX_REQUIRE_UNTIL(engine(), st.send.calls > 0, short_deadline);
  run_for(engine(), 30ms);
  BOOST_CHECK_EQUAL(st.send.calls, 1);
  BOOST_CHECK_MESSAGE(is_canceled(st.send.ec), "cancelled send ended with " << describe(st.send.ec));
  BOOST_CHECK_LT(st.send.bytes, st.data.size());
  BOOST_TEST_MESSAGE("cancelled send had moved " << st.send.bytes << " bytes");
  RX_CHECK_OK(close_and_wait(engine(), p.sock));
}

BOOST_FIXTURE_TEST_CASE(close_with_recv_pending, EngineFixture) {
  SocketPair p = engine_pair(engine());
  StreamSink& sink = state<StreamSink>();
  BOOST_REQUIRE(start_sink(engine(), p.b, sink));
  run_for(engine(), 20ms);
  Once& cl = state<Once>();
  BOOST_REQUIRE(engine().close(p.b, record(cl)));
  // The handle is stale at once.
  BOOST_CHECK_EQUAL(engine().native_handle(p.b), -1);
  RX_REQUIRE_UNTIL(engine(), cl.calls > 0 && sink.done(), short_deadline);
  run_for(engine(), 30ms);
  RX_CHECK_OK(cl.ec);
  BOOST_CHECK_EQUAL(cl.calls, 1);
  BOOST_CHECK_EQUAL(sink.final_calls, 1);
  BOOST_CHECK_EQUAL(sink.calls_after_final, 0);
  BOOST_CHECK_MESSAGE(is_canceled_or_badf(sink.final_error), "recv on a closed handle ended with "
                                                                 << describe(sink.final_error));
  // The peer sees the connection closed.
  CollectSink& peer = state<CollectSink>();
  BOOST_REQUIRE(start_collect(engine(), p.a, peer));
  RX_REQUIRE_UNTIL(engine(), peer.done(), short_deadline);
  BOOST_CHECK_MESSAGE(peer.final_error == ringxfer::error::eof || peer.final_error == std::errc::connection_reset,
                      "peer of a closed socket saw " << describe(peer.final_error));
  RX_CHECK_OK(close_and_wait(engine(), p.a));
}

BOOST_FIXTURE_TEST_CASE(close_with_many_ops_pending, EngineFixture) {
  // A blocked send, a recv, a read on an empty pipe and a splice from an idle
  // socket; closing each handle ends its ops exactly once with an error.
  HalfPair hp = half_pair(engine());  // peer never reads, never writes
  SocketPair sp = engine_pair(engine());
  EnginePipe pipe = engine_pipe(engine());  // nothing is ever written
  Tracker& t = state<Tracker>();
  struct Data {
    std::vector<std::byte> bytes;
  };
  Data& d = state<Data>();
  d.bytes = Pattern(72).make(0, 32 * MiB);
  int i_send = t.add("send");
  t.note(engine().send(hp.sock, d.bytes, t.on(i_send)), i_send);
  int i_recv = t.add("recv", true);
  t.note(engine().recv(hp.sock, t.on(i_recv)), i_recv);
  int i_read = t.add("read");
  t.note(engine().read(pipe.rd, -1, engine().acquire_buffer(), t.on(i_read)), i_read);
  int i_splice = t.add("splice");
  t.note(engine().splice(sp.b, -1, sp.a, -1, 100000, t.on(i_splice)), i_splice);
  run_for(engine(), 100ms);
  for (auto& r : t.recs) BOOST_CHECK_MESSAGE(r.calls == 0, r.kind << " completed early: " << describe(r.last));
  int i_c1 = t.add("close socket");
  int i_c2 = t.add("close pipe");
  int i_c3 = t.add("close splice source");
  t.note(engine().close(hp.sock, t.on(i_c1)), i_c1);
  t.note(engine().close(pipe.rd, t.on(i_c2)), i_c2);
  t.note(engine().close(sp.b, t.on(i_c3)), i_c3);
  RX_REQUIRE_UNTIL_INFO(engine(), t.all_final(), short_deadline, t.pending());
  run_for(engine(), 30ms);
  for (int i : {i_send, i_recv, i_read, i_splice}) {
    auto& r = t.recs[std::size_t(i)];
    BOOST_TEST_CONTEXT(r.kind) {
      BOOST_CHECK_EQUAL(r.finals, 1);
      BOOST_CHECK_EQUAL(r.after_final, 0);
      BOOST_CHECK_MESSAGE(is_canceled_or_badf(r.last), r.kind << " on a closed handle ended with " << describe(r.last));
    }
  }
  for (int i : {i_c1, i_c2, i_c3}) {
    BOOST_CHECK_EQUAL(t.recs[std::size_t(i)].calls, 1);
    RX_CHECK_OK(t.recs[std::size_t(i)].last);
  }
  // The buffer of the cancelled read is back.
  BOOST_CHECK_EQUAL(free_send_buffers(engine()), send_buffer_count());
  RX_CHECK_OK(close_and_wait(engine(), sp.a));
}

BOOST_FIXTURE_TEST_CASE(exactly_once_over_mixed_operations, EngineFixture) {
  Engine& e = engine();
  Tracker& t = state<Tracker>();
  const auto stats0 = e.stats();
  struct Env {
    std::vector<std::byte> payload = Pattern(73).make(0, 1000);
  };
  Env& env = state<Env>();
  TempFile tf(Pattern(74), 100000);
  File file = open_file(e, tf.path(), O_RDONLY);
  std::vector<SocketPair> pairs;
  for (int i = 0; i < 4; ++i) pairs.push_back(engine_pair(e));
  SocketPair stale_pair = engine_pair(e);
  RX_CHECK_OK(close_and_wait(e, stale_pair.a));
  Socket listener;
  RX_REQUIRE_OK(e.listen(Address::loopback_v4(0), listener));
  Address bound;
  RX_REQUIRE_OK(e.local_address(listener, bound));
  RefusingPort refusing;
  // Ops counted from here (the setup closes above were ops too).
  const auto started0 = e.stats().ops_started;
  (void)stats0;

  // Timeouts: 10 that fire, 10 that are cancelled (5 before any loop turn).
  std::vector<OpId> long_timeouts;
  for (int k = 0; k < 10; ++k) {
    int i = t.add("timeout");
    t.note(e.timeout(std::chrono::milliseconds(1 + k), t.on(i)), i);
  }
  for (int k = 0; k < 10; ++k) {
    int i = t.add("cancelled timeout");
    long_timeouts.push_back(t.note(e.timeout(10s, t.on(i)), i));
  }
  for (int k = 0; k < 5; ++k) BOOST_CHECK(e.cancel(long_timeouts[std::size_t(k)]));
  // Multishot recvs on each pair's b side; the one on pair 3 gets cancelled.
  std::vector<OpId> recv_ids;
  std::vector<int> recv_recs;
  for (auto& p : pairs) {
    int i = t.add("recv", true);
    recv_recs.push_back(i);
    t.recs[std::size_t(i)].expect_bytes = recv_recs.size() <= 3 ? 5000 : 10000;
    recv_ids.push_back(t.note(e.recv(p.b, t.on(i)), i));
  }
  // Sends: 5 each on pairs 0..2.
  for (int pi = 0; pi < 3; ++pi)
    for (int k = 0; k < 5; ++k) {
      int i = t.add("send");
      t.recs[std::size_t(i)].expect_bytes = 1000;
      t.note(e.send(pairs[std::size_t(pi)].a, env.payload, t.on(i)), i);
    }
  // Reads, each ending at end of file within one buffer: 50000 .. 10000 bytes.
  for (int k = 0; k < 5; ++k) {
    int i = t.add("read");
    t.recs[std::size_t(i)].expect_bytes = std::size_t(50000 - k * 10000);
    t.note(e.read(file, 50000 + k * 10000, e.acquire_buffer(), t.on(i)), i);
  }
  // Stale-handle ops.
  for (int k = 0; k < 3; ++k) {
    int i = t.add("stale send");
    t.note(e.send(stale_pair.a, env.payload, t.on(i)), i);
  }
  // Accept (multishot) with 2 connects, and a refused connect.
  int i_accept = t.add("accept", true);
  OpId accept_id = t.note(e.accept(listener, t.on(i_accept)), i_accept);
  for (int k = 0; k < 2; ++k) {
    int i = t.add("connect");
    t.note(e.connect(bound, t.on(i)), i);
  }
  int i_refused = t.add("refused connect");
  t.note(e.connect(Address::loopback_v4(refusing.port), t.on(i_refused)), i_refused);
  // A splice from the file into pair 3.
  int i_splice = t.add("splice");
  t.recs[std::size_t(i_splice)].expect_bytes = 10000;
  t.note(e.splice(file, 0, pairs[3].a, -1, 10000, t.on(i_splice)), i_splice);

  e.poll();
  for (int k = 5; k < 10; ++k) BOOST_CHECK(e.cancel(long_timeouts[std::size_t(k)]));

  // Everything single-shot completes; 2 connections accepted.
  RX_REQUIRE_UNTIL(e, std::all_of(t.recs.begin(), t.recs.end(), [](const Tracker::Rec& r) {
    return r.multishot || r.finals > 0;
  }) && t.recs[std::size_t(i_accept)].calls >= 2 && t.recs[std::size_t(recv_recs[3])].bytes >= 10000,
                   short_deadline);
  // Now end the multishot ops: eof on pairs 0..2, cancel on pair 3 and accept.
  for (int pi = 0; pi < 3; ++pi) {
    int i = t.add("shutdown");
    t.note(e.shutdown(pairs[std::size_t(pi)].a, SHUT_WR, t.on(i)), i);
  }
  BOOST_CHECK(e.cancel(recv_ids[3]));
  BOOST_CHECK(e.cancel(accept_id));
  RX_REQUIRE_UNTIL_INFO(e, t.all_final(), short_deadline, t.pending());
  // Close everything (tracked too).
  std::vector<ringxfer::FdRef> to_close;
  for (auto& p : pairs) {
    to_close.push_back(p.a);
    to_close.push_back(p.b);
  }
  to_close.push_back(stale_pair.b);
  to_close.push_back(listener);
  to_close.push_back(file);
  for (Socket s : t.sockets) to_close.push_back(s);
  for (auto h : to_close) {
    int i = t.add("close");
    t.note(e.close(h, t.on(i)), i);
  }
  RX_REQUIRE_UNTIL_INFO(e, t.all_final() && e.in_flight() == 0, short_deadline, t.pending());
  run_for(e, 50ms);

  // Exactly once.
  for (std::size_t i = 0; i < t.recs.size(); ++i) {
    const auto& r = t.recs[i];
    BOOST_TEST_CONTEXT("op " << i << " (" << r.kind << ")") {
      BOOST_CHECK_EQUAL(r.finals, 1);
      BOOST_CHECK_EQUAL(r.after_final, 0);
      if (!r.multishot) BOOST_CHECK_EQUAL(r.calls, 1);
    }
  }
  // Outcomes by kind.
  for (const auto& r : t.recs) {
    std::string k = r.kind;
    BOOST_TEST_CONTEXT(k) {
      if (k == "timeout" || k == "send" || k == "read" || k == "connect" || k == "shutdown" || k == "close" ||
          k == "splice")
        RX_CHECK_OK(r.last);
      if (k == "cancelled timeout") BOOST_CHECK_MESSAGE(is_canceled(r.last), describe(r.last));
      if (k == "stale send") RX_CHECK_EC(r.last, std::errc::bad_file_descriptor);
      if (k == "refused connect") RX_CHECK_EC(r.last, std::errc::connection_refused);
      if (r.expect_bytes != SIZE_MAX) BOOST_CHECK_EQUAL(r.bytes, r.expect_bytes);
      if (k == "accept") BOOST_CHECK_MESSAGE(is_canceled(r.last), describe(r.last));
    }
  }
  for (int pi = 0; pi < 3; ++pi) {
    const auto& r = t.recs[std::size_t(recv_recs[std::size_t(pi)])];
    BOOST_CHECK_MESSAGE(r.last == ringxfer::error::eof, "recv " << pi << " ended with " << describe(r.last));
  }
  const auto& r3 = t.recs[std::size_t(recv_recs[3])];
  BOOST_CHECK_MESSAGE(is_canceled(r3.last), "cancelled recv ended with " << describe(r3.last));

  // The engine's own accounting agrees.
  BOOST_CHECK_EQUAL(e.in_flight(), 0u);
  const auto& s = e.stats();
  BOOST_CHECK_EQUAL(s.ops_started, s.ops_completed);
  BOOST_CHECK_EQUAL(s.ops_started - started0, std::uint64_t(t.started));
}

BOOST_FIXTURE_TEST_CASE(engine_destruction_completes_pending_ops, EngineFixture) {
  // Handlers' state lives in the fixture; the engine is destroyed with six
  // kinds of ops pending. Each handler runs exactly once, with
  // operation_canceled.
  Engine& e = engine();
  Tracker& t = state<Tracker>();
  struct Data {
    std::vector<std::byte> bytes;
  };
  Data& d = state<Data>();
  d.bytes = Pattern(75).make(0, 32 * MiB);
  HalfPair idle = half_pair(e);     // nothing ever arrives
  HalfPair blocked = half_pair(e);  // the peer never reads
  SocketPair sp = engine_pair(e);
  EnginePipe pipe = engine_pipe(e);  // nothing is ever written
  Socket listener;
  RX_REQUIRE_OK(e.listen(Address::loopback_v4(0), listener));

  int i_recv = t.add("recv", true);
  t.note(e.recv(idle.sock, [t = &t, i_recv](std::error_code ec, Buffer b) {
    BOOST_CHECK(!b || !ec);
    t->hit(i_recv, ec);
  }), i_recv);
  int i_timeout = t.add("timeout");
  t.note(e.timeout(10s, t.on(i_timeout)), i_timeout);
  int i_accept = t.add("accept", true);
  t.note(e.accept(listener, t.on(i_accept)), i_accept);
  int i_send = t.add("send");
  t.note(e.send(blocked.sock, d.bytes, t.on(i_send)), i_send);
  int i_read = t.add("read");
  t.note(e.read(pipe.rd, -1, e.acquire_buffer(), t.on(i_read)), i_read);
  int i_splice = t.add("splice");
  t.note(e.splice(sp.b, -1, sp.a, -1, 100000, t.on(i_splice)), i_splice);
  run_for(e, 100ms);
  for (auto& r : t.recs) BOOST_REQUIRE_MESSAGE(r.calls == 0, r.kind << " completed early: " << describe(r.last));
  BOOST_CHECK_EQUAL(e.in_flight(), 6u);

  destroy_engine();

  for (const auto& r : t.recs) {
    BOOST_TEST_CONTEXT(r.kind) {
      BOOST_CHECK_EQUAL(r.calls, 1);
      BOOST_CHECK_EQUAL(r.finals, 1);
      BOOST_CHECK_MESSAGE(is_canceled(r.last), r.kind << " at engine destruction ended with " << describe(r.last));
    }
  }
  // The engine closed the fds it owned: the plain peers see the end.
  set_nonblocking(idle.peer.get());
  char c;
  BOOST_CHECK_EQUAL(::recv(idle.peer.get(), &c, 1, 0), 0);
}

BOOST_FIXTURE_TEST_CASE(engine_destruction_with_zero_copy_notification_pending, EngineFixture) {
  // Destroy the engine right after a send_zc's handler ran: its buffer may
  // still wait for the notification. Destruction must wait for it (or reclaim
  // the buffer safely) — no leak, no use after free (run this under ASan).
  for (int round = 0; round < 20; ++round) {
    Engine& e = reset(variant_options());
    SocketPair p = engine_pair(e);
    CollectSink& sink = state<CollectSink>();
    BOOST_REQUIRE(start_collect(e, p.b, sink));
    Once& st = state<Once>();
    BOOST_REQUIRE(e.send_zc(p.a, filled(e, Pattern(77)), record(st)));
    RX_REQUIRE_UNTIL(e, st.calls > 0, short_deadline);
    RX_CHECK_OK(st.ec);
    destroy_engine();
    BOOST_CHECK_EQUAL(st.calls, 1);
    BOOST_CHECK_EQUAL(sink.final_calls, 1);  // the recv ended at destruction
  }
}

BOOST_FIXTURE_TEST_CASE(ops_started_from_handlers_during_destruction, EngineFixture) {
  // A handler run by ~Engine (operation_canceled) tries to start a new op.
  // Either it does not start (empty OpId, handler never called) or it
  // completes before the destructor returns — never a handler call later.
  struct St {
    Engine* e = nullptr;
    Once first;
    OpId second_id;
    bool second_tried = false;
    Once second;
  };
  St& st = state<St>();
  st.e = &engine();
  BOOST_REQUIRE(engine().timeout(10s, [x = &st](std::error_code ec) {
    x->first.record(ec);
    x->second_tried = true;
    x->second_id = x->e->timeout(1ms, record(x->second));
  }));
  run_for(engine(), 20ms);
  destroy_engine();
  BOOST_CHECK_EQUAL(st.first.calls, 1);
  BOOST_CHECK(is_canceled(st.first.ec));
  BOOST_CHECK(st.second_tried);
  if (st.second_id) BOOST_CHECK_EQUAL(st.second.calls, 1);
  else BOOST_CHECK_EQUAL(st.second.calls, 0);
}

BOOST_FIXTURE_TEST_CASE(close_while_zero_copy_notification_pending, EngineFixture) {
  // Close the socket right after send_zc's handler ran (its buffer may still
  // wait for the notification): the buffer still comes back to the pool.
  Engine& e = reset(pool_options(8, 1));  // one send buffer
  for (int round = 0; round < 20; ++round) {
    SocketPair p = engine_pair(e);
    CollectSink& sink = state<CollectSink>();
    BOOST_REQUIRE(start_collect(e, p.b, sink));
    Buffer b = e.acquire_buffer();
    BOOST_REQUIRE(b);
    b.resize(b.capacity());
    struct St {
      Engine* e = nullptr;
      Socket s;
      Once send, close;
    };
    St& st = state<St>();
    st.e = &e;
    st.s = p.a;
    BOOST_REQUIRE(e.send_zc(p.a, std::move(b), [x = &st](std::error_code ec, std::size_t n) {
      x->send.record(ec, n);
      x->e->close(x->s, record(x->close));
    }));
    RX_REQUIRE_UNTIL(e, st.send.calls > 0 && st.close.calls > 0, short_deadline);
    RX_CHECK_OK(st.send.ec);
    RX_CHECK_OK(st.close.ec);
    RX_REQUIRE_UNTIL(e, free_send_buffers(e) == 1, short_deadline);
    RX_REQUIRE_UNTIL(e, sink.done(), short_deadline);
    RX_CHECK_OK(close_and_wait(e, p.b));
  }
}

BOOST_AUTO_TEST_CASE(one_engine_per_thread) {
  // Two engines on two threads at once, each streaming 16 MiB over its own
  // connection: engines share no state. Boost.Test is not thread-safe, so
  // the workers use no test macros: the main thread makes the connections
  // and checks what the workers recorded.
  struct Result {
    bool ok = false;
    std::string what;
  };
  auto worker = [](std::uint64_t seed, RawPair* raw, Result* out) {
    try {
      Engine e(variant_options());
      Socket a, b;
      if (e.adopt(raw->client.release(), a) || e.adopt(raw->server.release(), b)) {
        out->what = "adopt failed";
        return;
      }
      StreamSink sink{Pattern(seed)};
      ChainSender tx(e, a, sink.pattern.make(0, 16 * MiB));
      tx.rng = Rng(seed);
      start_sink(e, b, sink);
      tx.start();
      bool done = run_until(e, [&] { return tx.done() && sink.done(); }, 30000ms);
      out->ok = done && !tx.failed && sink.received == 16 * MiB && sink.mismatch_at == UINT64_MAX &&
                sink.final_error == ringxfer::error::eof;
      std::ostringstream m;
      m << "seed " << seed << ": done " << done << " " << tx << sink;
      out->what = m.str();
      // Leave nothing pending when the engine goes.
      bool closed_a = false, closed_b = false;
      e.close(a, [&closed_a](std::error_code) { closed_a = true; });
      e.close(b, [&closed_b](std::error_code) { closed_b = true; });
      run_until(e, [&] { return closed_a && closed_b; }, 5000ms);
    } catch (const std::exception& ex) {
      out->what = ex.what();
    }
  };
  RawPair raw1 = raw_tcp_pair();
  RawPair raw2 = raw_tcp_pair();
  Result r1, r2;
  std::thread t1(worker, 101, &raw1, &r1);
  std::thread t2(worker, 202, &raw2, &r2);
  t1.join();
  t2.join();
  BOOST_CHECK_MESSAGE(r1.ok, r1.what);
  BOOST_CHECK_MESSAGE(r2.ok, r2.what);
}

BOOST_AUTO_TEST_SUITE_END()
