// send_zc: pool buffers, the two-step (result, then notification) ownership,
// a 64 MiB byte-exact stream, fallbacks.
#include "support.hpp"

using namespace rxtest;
using ringxfer::Feature;

namespace {

// Whether this engine does zero-copy sends natively (otherwise core falls back
// to a plain send and returns the buffer at once).
bool zc_active(Engine& e) { return e.features().has(Feature::send_zc); }

// Streams [0, total) of a pattern with send_zc from pool buffers. One send is
// in flight on the socket at a time (stream order), but buffers stay with the
// engine until their notifications, so acquire_buffer() runs dry and pump()
// waits for them to come back.
struct ZcSender {
  Engine* e = nullptr;
  Socket socket;
  Pattern pattern;
  std::size_t total = 0;
  std::size_t offset = 0;
  std::size_t current = 0;
  bool sending = false;
  bool vary_sizes = true;
  Rng rng{9};
  int started = 0;
  int results = 0;
  int waits_for_buffer = 0;
  bool failed = false;
  std::error_code error;
  bool shut_started = false;
  bool shut_done = false;
  std::error_code shut_error;

  void pump() {
    if (failed || sending) return;
    if (offset == total) {
      if (!shut_started) {
        shut_started = true;
        ZcSender* self = this;
        e->shutdown(socket, SHUT_WR, [self](std::error_code ec) {
          self->shut_done = true;
          self->shut_error = ec;
        });
      }
      return;
    }
    Buffer b = e->acquire_buffer();
    if (!b) {
      ++waits_for_buffer;  // all buffers await notifications: wait for one
      return;
    }
    std::size_t n = std::min(b.capacity(), total - offset);
    if (vary_sizes && rng.next() % 5 == 0) n = std::min(n, rng.between(1, b.capacity()));
    pattern.fill(offset, b.storage().first(n));
    b.resize(n);
    BOOST_REQUIRE_EQUAL(b.size(), n);
    current = n;
    sending = true;
    ++started;
    ZcSender* self = this;
    OpId id = e->send_zc(socket, std::move(b), [self](std::error_code ec, std::size_t sent) { self->on_sent(ec, sent); });
    if (!id) {
      failed = true;
      error = ringxfer::error::no_free_op_slot;
    }
  }
  void on_sent(std::error_code ec, std::size_t sent) {
    ++results;
    sending = false;
    if (ec) {
      failed = true;
      error = ec;
      return;
    }
    if (sent != current) {
      BOOST_ERROR("send_zc handler reported " << sent << " bytes for a " << current << "-byte buffer");
    }
    offset += current;
    pump();
  }
  bool done() const { return failed || shut_done; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(zerocopy)

BOOST_FIXTURE_TEST_CASE(send_zc_one_buffer, EngineFixture) {
  SocketPair p = engine_pair(engine());
  StreamSink& sink = state<StreamSink>(Pattern(11));
  BOOST_REQUIRE(start_sink(engine(), p.b, sink));
  Buffer b = engine().acquire_buffer();
  BOOST_REQUIRE(b);
  BOOST_CHECK_EQUAL(b.capacity(), variant_options().buffer_size_bytes);
  BOOST_CHECK_EQUAL(b.size(), 0u);
  sink.pattern.fill(0, b.storage());
  b.resize(b.capacity());
  const std::size_t n = b.size();
  const auto before = engine().stats();
  Once& st = state<Once>();
  OpId id = engine().send_zc(p.a, std::move(b), record(st));
  BOOST_REQUIRE(id);
  BOOST_CHECK(!b);  // moved into the engine
  BOOST_CHECK_EQUAL(st.calls, 0);
  RX_REQUIRE_UNTIL(engine(), st.calls > 0 && sink.received >= n, short_deadline);
  RX_CHECK_OK(st.ec);
  BOOST_CHECK_EQUAL(st.bytes, n);
  BOOST_CHECK_EQUAL(sink.received, n);
  BOOST_CHECK(sink.mismatch_at == UINT64_MAX);
  const auto& after = engine().stats();
  if (zc_active(engine())) {
    BOOST_CHECK_GE(after.zc_sends, before.zc_sends + 1);
  } else {
    BOOST_CHECK_GT(after.fallbacks, before.fallbacks);
  }
  close_all(engine(), {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(buffer_belongs_to_engine_until_notification, EngineFixture) {
  // The send pool has exactly one buffer. Inside the send handler the buffer
  // must not be back yet (the notification always follows the result, and
  // the engine releases the buffer only when it dispatches the notification);
  // running the loop a little longer brings it back.
  Engine& e = reset(pool_options(8, 1));
  SocketPair p = engine_pair(e);
  StreamSink& sink = state<StreamSink>(Pattern(12));
  BOOST_REQUIRE(start_sink(e, p.b, sink));

  Buffer b = filled(e, sink.pattern);
  BOOST_CHECK(!e.acquire_buffer());  // exactly one send buffer
  const std::size_t n = b.size();
  struct St {
    Engine* e = nullptr;
    Once send;
    bool available_in_handler = false;
    std::uint64_t zc_sends_in_handler = 0;
  };
  St& st = state<St>();
  st.e = &e;
  const auto before = e.stats();
  BOOST_REQUIRE(e.send_zc(p.a, std::move(b), [s = &st](std::error_code ec, std::size_t sent) {
    s->send.record(ec, sent);
    Buffer probe = s->e->acquire_buffer();
    s->available_in_handler = static_cast<bool>(probe);
    s->zc_sends_in_handler = s->e->stats().zc_sends;
  }));
  BOOST_CHECK(!e.acquire_buffer());  // the engine has it now
  RX_REQUIRE_UNTIL(e, st.send.calls > 0, short_deadline);
  RX_CHECK_OK(st.send.ec);
  BOOST_CHECK_EQUAL(st.send.bytes, n);
  if (zc_active(e)) {
    BOOST_CHECK_MESSAGE(!st.available_in_handler,
                        "the zero-copy buffer was back in the pool when the send handler ran "
                        "(released before its notification)");
  }
  // (b) it comes back.
  bool back = false;
  RX_REQUIRE_UNTIL(e, (back = static_cast<bool>(e.acquire_buffer())), short_deadline);
  BOOST_CHECK(back);
  RX_REQUIRE_UNTIL(e, sink.received >= n, short_deadline);
  BOOST_CHECK(sink.mismatch_at == UINT64_MAX);
  // (c) counters.
  const auto& s = e.stats();
  if (zc_active(e)) {
    BOOST_CHECK_GE(s.zc_sends, before.zc_sends + 1);
    // Over loopback the kernel copies and says so (REPORT_USAGE / SO_EE_CODE_ZEROCOPY_COPIED).
    BOOST_CHECK_GE(s.zc_copied, before.zc_copied + 1);
  } else {
    BOOST_CHECK_GT(s.fallbacks, before.fallbacks);
  }
  if (is_full_uring_variant()) BOOST_CHECK(zc_active(e));
  if (variant() == Variant::io_uring_nofeatures) BOOST_CHECK(!zc_active(e));
  close_all(e, {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(send_zc_stream_64mib_byte_exact, EngineFixture) {
  Engine& e = reset(pool_options(64, 4));  // at most 4 buffers with the engine
  const std::size_t total = big_stream_bytes;
  SocketPair p = engine_pair(e);
  StreamSink& sink = state<StreamSink>(Pattern(21));
  BOOST_REQUIRE(start_sink(e, p.b, sink));
  ZcSender& tx = state<ZcSender>();
  tx.e = &e;
  tx.socket = p.a;
  tx.pattern = sink.pattern;
  tx.total = total;
  const auto before = e.stats();
  const auto start = Clock::now();
  RX_REQUIRE_UNTIL(e, (tx.pump(), (tx.done() && sink.done()) || tx.failed), big_stream_deadline);
  RX_REQUIRE_UNTIL(e, sink.done(), short_deadline);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  const auto& s = e.stats();
  BOOST_TEST_MESSAGE("send_zc stream: " << total / MiB << " MiB in " << ms << " ms, " << tx.started
                                        << " sends, waited for a buffer " << tx.waits_for_buffer
                                        << " times; zc_sends " << s.zc_sends - before.zc_sends << ", zc_copied "
                                        << s.zc_copied - before.zc_copied << ", fallbacks "
                                        << s.fallbacks - before.fallbacks);
  BOOST_CHECK(!tx.failed);
  RX_CHECK_OK(tx.error);
  RX_CHECK_OK(tx.shut_error);
  BOOST_CHECK_EQUAL(tx.offset, total);
  BOOST_CHECK_EQUAL(tx.results, tx.started);
  check_sink(sink, total);
  if (zc_active(e)) {
    BOOST_CHECK_GE(s.zc_sends - before.zc_sends, std::uint64_t(tx.started));
  } else {
    BOOST_CHECK_GE(s.fallbacks - before.fallbacks, std::uint64_t(tx.started));
  }
  // Every buffer comes home.
  RX_REQUIRE_UNTIL(e, free_send_buffers(e) == 4, short_deadline);
  close_all(e, {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(headers_copied_bodies_zero_copy, EngineFixture) {
  // Alternating plain send (16-byte header) and send_zc (body) on one socket,
  // each started from the previous handler: one continuous byte-exact stream.
  constexpr int messages = 200;
  SocketPair p = engine_pair(engine());
  StreamSink& sink = state<StreamSink>(Pattern(31));
  BOOST_REQUIRE(start_sink(engine(), p.b, sink));
  struct St {
    Engine* e = nullptr;
    Socket s;
    Pattern pat{31};
    std::vector<std::byte> headers;  // all headers, stable storage
    std::size_t offset = 0;          // stream offset
    int message = 0;
    bool header_next = true;
    bool waiting_buffer = false;
    int errors = 0;
    bool finished = false;
    std::size_t body_size(int m) const { return 1000 + std::size_t(m) * 157 % 30000; }
    void step() {
      if (message == messages) {
        finished = true;
        return;
      }
      St* self = this;
      if (header_next) {
        std::byte* h = headers.data() + std::size_t(message) * 16;
        pat.fill(offset, std::span(h, 16));
        e->send(s, std::span<const std::byte>(h, 16), [self](std::error_code ec, std::size_t n) {
          if (ec || n != 16) ++self->errors;
          self->offset += 16;
          self->header_next = false;
          self->step();
        });
      } else {
        Buffer b = e->acquire_buffer();
        if (!b) {
          waiting_buffer = true;  // resumed from the loop
          return;
        }
        waiting_buffer = false;
        std::size_t n = body_size(message);
        pat.fill(offset, b.storage().first(n));
        b.resize(n);
        e->send_zc(s, std::move(b), [self, n](std::error_code ec, std::size_t sent) {
          if (ec || sent != n) ++self->errors;
          self->offset += n;
          self->header_next = true;
          ++self->message;
          self->step();
        });
      }
    }
  };
  St& st = state<St>();
  st.e = &engine();
  st.s = p.a;
  st.headers.resize(messages * 16);
  std::size_t total = 0;
  for (int m = 0; m < messages; ++m) total += 16 + st.body_size(m);
  st.step();
  RX_REQUIRE_UNTIL(engine(), ((st.waiting_buffer ? st.step() : void()), st.finished && sink.received >= total),
                   big_stream_deadline);
  BOOST_CHECK_EQUAL(st.errors, 0);
  BOOST_CHECK_EQUAL(sink.received, total);
  BOOST_CHECK(sink.mismatch_at == UINT64_MAX);
  close_all(engine(), {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(send_zc_on_stale_socket_returns_buffer, EngineFixture) {
  Engine& e = reset(pool_options(8, 1));
  SocketPair p = engine_pair(e);
  RX_CHECK_OK(close_and_wait(e, p.a));
  Buffer b = e.acquire_buffer();
  BOOST_REQUIRE(b);
  b.resize(100);
  Once& st = state<Once>();
  OpId id = e.send_zc(p.a, std::move(b), record(st));
  BOOST_CHECK(id);
  BOOST_CHECK_EQUAL(st.calls, 0);
  RX_REQUIRE_UNTIL(e, st.calls > 0, short_deadline);
  RX_CHECK_EC(st.ec, std::errc::bad_file_descriptor);
  // The buffer is not leaked.
  RX_REQUIRE_UNTIL(e, free_send_buffers(e) == 1, short_deadline);
  run_for(e, 20ms);
  BOOST_CHECK_EQUAL(st.calls, 1);
  RX_CHECK_OK(close_and_wait(e, p.b));
}

BOOST_FIXTURE_TEST_CASE(send_zc_of_empty_buffer_fails_once, EngineFixture, *boost::unit_test::label("empty_buffer")) {
  // An empty Buffer is no lease: send_zc gives std::errc::invalid_argument
  // (engine.hpp). It must not send some other pool buffer (e.g. index 0, a
  // receive buffer) or take one from the pool.
  Engine& e = reset(pool_options(4, 2));
  SocketPair p = engine_pair(e);
  CollectSink& sink = state<CollectSink>();
  BOOST_REQUIRE(start_collect(e, p.b, sink));
  Once& st = state<Once>();
  OpId id = e.send_zc(p.a, Buffer(), record(st));
  if (id) {
    RX_REQUIRE_UNTIL(e, st.calls > 0, short_deadline);
    run_for(e, 50ms);
    BOOST_CHECK_EQUAL(st.calls, 1);
    RX_CHECK_EC(st.ec, std::errc::invalid_argument);
    BOOST_CHECK_EQUAL(st.bytes, 0u);
  } else {
    BOOST_CHECK_EQUAL(st.calls, 0);
  }
  BOOST_CHECK(sink.bytes.empty());
  BOOST_CHECK_EQUAL(free_send_buffers(e), 2u);
  close_all(e, {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(acquire_buffer_pool_bounds, EngineFixture) {
  const ringxfer::EngineOptions o = pool_options(16, 4, 8 * KiB);
  Engine& e = reset(o);
  std::vector<Buffer> got;
  for (;;) {
    Buffer b = e.acquire_buffer();
    if (!b) break;
    got.push_back(std::move(b));
    if (got.size() > 100) break;
  }
  BOOST_CHECK_EQUAL(got.size(), 4u);
  std::vector<std::uint32_t> idx;
  for (auto& b : got) {
    BOOST_CHECK_EQUAL(b.capacity(), 8 * KiB);
    BOOST_CHECK_EQUAL(b.size(), 0u);
    b.resize(b.capacity() + 100);  // clamps
    BOOST_CHECK_EQUAL(b.size(), b.capacity());
    idx.push_back(b.index());
    // Send buffers are not receive buffers: index >= recv_buffer_count.
    BOOST_CHECK_GE(b.index(), o.recv_buffer_count);
    BOOST_CHECK_LT(b.index(), o.buffer_count);
    std::memset(b.data(), 0xab, b.capacity());  // writable
  }
  std::sort(idx.begin(), idx.end());
  BOOST_CHECK(std::adjacent_find(idx.begin(), idx.end()) == idx.end());
  // Buffers do not overlap.
  for (std::size_t i = 0; i < got.size(); ++i)
    for (std::size_t j = i + 1; j < got.size(); ++j)
      BOOST_CHECK(got[i].data() + got[i].capacity() <= got[j].data() ||
                  got[j].data() + got[j].capacity() <= got[i].data());
  got.pop_back();
  BOOST_CHECK(e.acquire_buffer());
  Buffer moved = std::move(got.front());
  BOOST_CHECK(!got.front());
  BOOST_CHECK(moved);
  moved.release();
  BOOST_CHECK(!moved);
  got.clear();
  BOOST_CHECK_EQUAL(free_send_buffers(e), 4u);
}

BOOST_AUTO_TEST_SUITE_END()
