// Edge cases: a tiny ring (full SQ, CQ overflow), op-slot exhaustion, wrong
// handle kinds, many buffers of backpressure.
#include "support.hpp"

using namespace rxtest;

BOOST_AUTO_TEST_SUITE(edge_cases)

namespace {

// 64 timeouts, 64 small sends and a 4 MiB stream started at once on an engine
// with `ring_entries` SQ entries: everything completes correctly.
void full_sq_workload(EngineFixture& fx, std::uint32_t ring_entries) {
  ringxfer::EngineOptions o = variant_options();
  o.ring_entries = ring_entries;
  Engine& e = fx.reset(o);
  constexpr int n = 64;
  struct St {
    int timeouts = 0, timeout_errors = 0;
    int sends = 0, send_errors = 0;
    std::size_t sent_bytes = 0;
    std::vector<std::byte> small = Pattern(81).make(0, 100);
  };
  St& st = fx.state<St>();
  // Timeouts with the same deadline: they complete in one burst (more CQEs
  // than a small CQ holds).
  for (int i = 0; i < n; ++i)
    BOOST_REQUIRE(e.timeout(5ms, [s = &st](std::error_code ec) {
      ++s->timeouts;
      if (ec) ++s->timeout_errors;
    }));
  // Small sends on one connection (order does not matter here: the
  // receiver only counts).
  SocketPair p = engine_pair(e);
  CollectSink& small_rx = fx.state<CollectSink>();
  BOOST_REQUIRE(start_collect(e, p.b, small_rx));
  for (int i = 0; i < n; ++i)
    BOOST_REQUIRE(e.send(p.a, st.small, [s = &st](std::error_code ec, std::size_t k) {
      ++s->sends;
      s->sent_bytes += k;
      if (ec) ++s->send_errors;
    }));
  // And a byte-exact stream on another connection.
  constexpr std::size_t total = 4 * MiB;
  SocketPair q = engine_pair(e);
  StreamSink& sink = fx.state<StreamSink>(Pattern(82));
  BOOST_REQUIRE(start_sink(e, q.b, sink));
  ChainSender& tx = fx.state<ChainSender>(e, q.a, sink.pattern.make(0, total));
  tx.max_chunk = 64 * KiB;
  tx.start();

  RX_REQUIRE_UNTIL(e, st.timeouts == n && st.sends == n && small_rx.bytes.size() == n * 100u && tx.done() &&
                          sink.done(),
                   big_stream_deadline);
  BOOST_CHECK_EQUAL(st.timeout_errors, 0);
  BOOST_CHECK_EQUAL(st.send_errors, 0);
  BOOST_CHECK_EQUAL(st.sent_bytes, n * 100u);
  BOOST_CHECK(!tx.failed);
  check_sink(sink, total);
  const auto& s = e.stats();
  BOOST_TEST_MESSAGE(variant_name() << " ring_entries=" << ring_entries << ": sq_full " << s.sq_full
                                    << ", cq_overflows " << s.cq_overflows << ", enter_calls " << s.enter_calls);
  if (is_uring_variant()) BOOST_CHECK_GT(s.sq_full, 0u);
  close_all(e, {p.a, p.b, q.a, q.b});
  run_for(e, 20ms);
  BOOST_CHECK_EQUAL(st.timeouts, n);
  BOOST_CHECK_EQUAL(st.sends, n);
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(full_sq_ring_of_2, EngineFixture) { full_sq_workload(*this, 2); }

BOOST_FIXTURE_TEST_CASE(full_sq_ring_of_1, EngineFixture) { full_sq_workload(*this, 1); }

BOOST_FIXTURE_TEST_CASE(op_slot_exhaustion, EngineFixture) {
  // With all op slots in use, starting an op returns an empty OpId and its
  // handler never runs; a freed slot can be used again.
  ringxfer::EngineOptions o = variant_options();
  o.op_slots = 4;
  Engine& e = reset(o);
  struct St {
    int calls[6] = {};
    std::error_code ec[6];
  };
  St& st = state<St>();
  std::vector<OpId> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(e.timeout(10s, [s = &st, i](std::error_code ec) {
      ++s->calls[i];
      s->ec[i] = ec;
    }));
    BOOST_CHECK(ids.back());
  }
  OpId fifth = e.timeout(1ms, [s = &st](std::error_code ec) {
    ++s->calls[4];
    s->ec[4] = ec;
  });
  BOOST_CHECK(!fifth);
  run_for(e, 30ms);
  BOOST_CHECK_EQUAL(st.calls[4], 0);
  BOOST_CHECK_EQUAL(e.in_flight(), 4u);
  BOOST_CHECK(e.cancel(ids[0]));
  RX_REQUIRE_UNTIL(e, st.calls[0] > 0, short_deadline);
  OpId sixth = e.timeout(1ms, [s = &st](std::error_code ec) {
    ++s->calls[5];
    s->ec[5] = ec;
  });
  BOOST_CHECK(sixth);
  RX_REQUIRE_UNTIL(e, st.calls[5] > 0, short_deadline);
  RX_CHECK_OK(st.ec[5]);
  for (int i = 1; i < 4; ++i) BOOST_CHECK(e.cancel(ids[std::size_t(i)]));
  RX_REQUIRE_UNTIL(e, e.in_flight() == 0, short_deadline);
  for (int i = 0; i < 4; ++i) {
    BOOST_CHECK_EQUAL(st.calls[i], 1);
    BOOST_CHECK(is_canceled(st.ec[i]));
  }
  BOOST_CHECK_EQUAL(st.calls[4], 0);
  BOOST_CHECK_EQUAL(st.calls[5], 1);
  // Slot reuse with generations: an old id does not cancel the op now in its slot.
  Once& later = state<Once>();
  OpId reused = e.timeout(50ms, record(later));
  BOOST_REQUIRE(reused);
  for (OpId old : ids) BOOST_CHECK(!e.cancel(old));
  BOOST_CHECK(!e.cancel(sixth));
  RX_REQUIRE_UNTIL(e, later.calls > 0, short_deadline);
  RX_CHECK_OK(later.ec);  // fired, not cancelled by a stale id
}

BOOST_FIXTURE_TEST_CASE(send_and_recv_on_a_regular_file_handle, EngineFixture) {
  // A handle of a regular file used where a socket is expected: a clear error
  // (not_a_socket), not a crash or a silent success.
  TempFile tf;
  File f = open_file(engine(), tf.path(), O_RDWR);
  Socket as_socket;
  static_cast<ringxfer::FdRef&>(as_socket) = f;
  Once& snd = state<Once>();
  static const std::byte msg[4] = {};
  BOOST_REQUIRE(engine().send(as_socket, msg, record(snd)));
  CollectSink& rcv = state<CollectSink>();
  BOOST_REQUIRE(start_collect(engine(), as_socket, rcv));
  RX_REQUIRE_UNTIL(engine(), snd.calls > 0 && rcv.done(), short_deadline);
  RX_CHECK_EC(snd.ec, std::errc::not_a_socket);
  RX_CHECK_EC(rcv.final_error, std::errc::not_a_socket);
  BOOST_CHECK_EQUAL(tf.size(), 0u);
  RX_CHECK_OK(close_and_wait(engine(), f));
}

BOOST_FIXTURE_TEST_CASE(accept_on_a_connected_socket_fails, EngineFixture) {
  SocketPair p = engine_pair(engine());
  struct St {
    int calls = 0;
    std::error_code ec;
  };
  St& st = state<St>();
  BOOST_REQUIRE(engine().accept(p.a, [s = &st](std::error_code ec, Socket) {
    ++s->calls;
    s->ec = ec;
  }));
  RX_REQUIRE_UNTIL(engine(), st.calls > 0, short_deadline);
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(st.calls, 1);
  RX_CHECK_EC(st.ec, std::errc::invalid_argument);
  close_all(engine(), {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(shutdown_with_bad_how, EngineFixture) {
  SocketPair p = engine_pair(engine());
  Once& st = state<Once>();
  BOOST_REQUIRE(engine().shutdown(p.a, 42, record(st)));
  RX_REQUIRE_UNTIL(engine(), st.calls > 0, short_deadline);
  RX_CHECK_EC(st.ec, std::errc::invalid_argument);
  close_all(engine(), {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(tiny_buffers_many_recv_completions, EngineFixture) {
  // 1 KiB buffers, 2 receive buffers: a 2 MiB stream becomes thousands of
  // recv completions and constant ring refills.
  Engine& e = reset(pool_options(2, 2, 1 * KiB));
  constexpr std::size_t total = 2 * MiB;
  SocketPair p = engine_pair(e);
  StreamSink& sink = state<StreamSink>(Pattern(83));
  BOOST_REQUIRE(start_sink(e, p.b, sink));
  ChainSender& tx = state<ChainSender>(e, p.a, sink.pattern.make(0, total));
  tx.start();
  RX_REQUIRE_UNTIL_INFO(e, tx.done() && sink.done(), big_stream_deadline, tx << sink);
  BOOST_CHECK(!tx.failed);
  check_sink(sink, total);
  BOOST_CHECK_GE(sink.data_calls, int(total / KiB));
  close_all(e, {p.a, p.b});
}

BOOST_AUTO_TEST_SUITE_END()
