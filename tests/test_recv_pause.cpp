// pause() and resume() of a multishot recv: no byte lost, order kept, no
// handler call while paused.
#include <sys/ioctl.h>

#include "support.hpp"

using namespace rxtest;

namespace {

// A StreamSink that pauses its own recv every `pause_every` chunks (from
// inside the handler, so completions already reaped in the same batch must be
// held) and counts calls that come while it is paused.
struct PausingSink : StreamSink {
  Engine* engine = nullptr;
  OpId id;
  int pause_every = 3;
  bool paused = false;
  int pauses = 0;
  int calls_while_paused = 0;
  explicit PausingSink(Pattern p) : StreamSink(p) {}
  auto handler() {
    return [self = this](std::error_code ec, Buffer b) {
      if (self->paused) ++self->calls_while_paused;
      self->on_recv(ec, std::move(b));
      if (!ec && self->data_calls % self->pause_every == 0) {
        BOOST_CHECK(self->engine->pause(self->id));
        self->paused = true;
        ++self->pauses;
      }
    };
  }
};

void write_text(int fd, const char* s) {
  BOOST_REQUIRE_EQUAL(::write(fd, s, std::strlen(s)), ssize_t(std::strlen(s)));
}

std::string text_of(const CollectSink& s) {
  return std::string(reinterpret_cast<const char*>(s.bytes.data()), s.bytes.size());
}

int unread_bytes(int fd) {
  int n = -1;
  ::ioctl(fd, FIONREAD, &n);
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(recv_pause)

BOOST_FIXTURE_TEST_CASE(pause_with_data_arriving_loses_no_byte, EngineFixture) {
  constexpr std::size_t bytes = 8 * MiB;
  SocketPair p = engine_pair(engine());
  Pattern pattern;
  PausingSink& sink = state<PausingSink>(pattern);
  sink.engine = &engine();
  sink.id = engine().recv(p.b, sink.handler());
  BOOST_REQUIRE(sink.id);
  ChainSender& tx = state<ChainSender>(engine(), p.a, pattern.make(0, bytes));
  tx.max_chunk = 512 * KiB;
  tx.start();
  const auto deadline = Clock::now() + big_stream_deadline;
  while (!sink.done() && Clock::now() < deadline) {
    engine().run_once(5ms);
    if (sink.paused) {
      run_for(engine(), 3ms);  // the sender goes on; the receiver must stay quiet
      sink.paused = false;
      BOOST_REQUIRE(engine().resume(sink.id));
    }
  }
  RX_REQUIRE_UNTIL_INFO(engine(), sink.done() && tx.done(), 1s, tx << sink);
  check_sink(sink, bytes);
  BOOST_CHECK_EQUAL(sink.calls_while_paused, 0);
  BOOST_CHECK_GT(sink.pauses, 3);
  BOOST_TEST_MESSAGE("pauses: " << sink.pauses << " in " << sink.data_calls << " chunks");
  close_all(engine(), {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(paused_bytes_stay_in_the_socket, EngineFixture) {
  HalfPair p = half_pair(engine());
  CollectSink& sink = state<CollectSink>();
  OpId id = start_collect(engine(), p.sock, sink);
  BOOST_REQUIRE(id);
  write_text(p.peer.get(), "abc");
  RX_REQUIRE_UNTIL(engine(), sink.bytes.size() == 3, short_deadline);
  BOOST_CHECK(engine().pause(id));
  BOOST_CHECK(engine().pause(id));  // again: still true, nothing changes
  run_for(engine(), 20ms);
  write_text(p.peer.get(), "defgh");
  run_for(engine(), 50ms);
  BOOST_CHECK_EQUAL(text_of(sink), "abc");  // no call while paused
  BOOST_CHECK_EQUAL(unread_bytes(engine().native_handle(p.sock)), 5);  // the kernel has them
  // The read side stays claimed while paused.
  std::array<std::byte, 8> into{};
  struct R {
    bool done = false;
    std::error_code ec;
  };
  R& r = state<R>();
  engine().recv_some(p.sock, into, [rr = &r](std::error_code ec, std::size_t) {
    rr->done = true;
    rr->ec = ec;
  });
  RX_REQUIRE_UNTIL(engine(), r.done, short_deadline);
  RX_CHECK_EC(r.ec, ringxfer::error::receive_in_progress);
  BOOST_CHECK(engine().resume(id));
  BOOST_CHECK(!engine().resume(id));  // not paused any more
  RX_REQUIRE_UNTIL(engine(), sink.bytes.size() == 8, short_deadline);
  BOOST_CHECK_EQUAL(text_of(sink), "abcdefgh");
  BOOST_CHECK(!sink.done());
  engine().cancel(id);
  RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
  RX_CHECK_OK(close_and_wait(engine(), p.sock));
}

BOOST_FIXTURE_TEST_CASE(resume_after_the_peer_closed, EngineFixture) {
  HalfPair p = half_pair(engine());
  CollectSink& sink = state<CollectSink>();
  OpId id = start_collect(engine(), p.sock, sink);
  BOOST_REQUIRE(id);
  BOOST_CHECK(engine().pause(id));
  run_for(engine(), 10ms);
  write_text(p.peer.get(), "xyz");
  p.peer.reset();  // FIN after the data
  run_for(engine(), 50ms);
  BOOST_CHECK(sink.bytes.empty());
  BOOST_CHECK(!sink.done());  // the end is not reported while paused either
  BOOST_CHECK(engine().resume(id));
  BOOST_CHECK(!sink.done());  // never inside resume()
  RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
  BOOST_CHECK_EQUAL(text_of(sink), "xyz");
  RX_CHECK_EC(sink.final_error, ringxfer::error::eof);
  BOOST_CHECK_EQUAL(sink.final_calls, 1);
  RX_CHECK_OK(close_and_wait(engine(), p.sock));
}

BOOST_FIXTURE_TEST_CASE(pause_from_the_handler_holds_the_rest_of_the_batch, EngineFixture) {
  // Small receive buffers, data written before the recv starts: one reap
  // brings several chunks; the handler pauses at the first.
  ringxfer::EngineOptions o = pool_options(16, 4, 4 * KiB);
  Engine& e = reset(o);
  HalfPair p = half_pair(e);
  Pattern pattern;
  const std::vector<std::byte> data = pattern.make(0, 40 * KiB);
  BOOST_REQUIRE_EQUAL(::write(p.peer.get(), data.data(), data.size()), ssize_t(data.size()));
  PausingSink& sink = state<PausingSink>(pattern);
  sink.engine = &e;
  sink.pause_every = 1;
  sink.id = e.recv(p.sock, sink.handler());
  BOOST_REQUIRE(sink.id);
  p.peer.reset();
  const auto deadline = Clock::now() + short_deadline;
  while (!sink.done() && Clock::now() < deadline) {
    e.run_once(5ms);
    if (sink.paused) {
      run_for(e, 2ms);
      sink.paused = false;
      BOOST_REQUIRE(e.resume(sink.id));
    }
  }
  BOOST_REQUIRE(sink.done());
  check_sink(sink, data.size());
  BOOST_CHECK_EQUAL(sink.calls_while_paused, 0);
  RX_CHECK_OK(close_and_wait(e, p.sock));
}

BOOST_FIXTURE_TEST_CASE(resume_then_pause_before_the_loop_runs, EngineFixture) {
  // Held chunks, resume() and at once pause() again: none may be handed out.
  ringxfer::EngineOptions o = pool_options(16, 4, 4 * KiB);
  Engine& e = reset(o);
  HalfPair p = half_pair(e);
  Pattern pattern;
  const std::vector<std::byte> data = pattern.make(0, 40 * KiB);
  BOOST_REQUIRE_EQUAL(::write(p.peer.get(), data.data(), data.size()), ssize_t(data.size()));
  PausingSink& sink = state<PausingSink>(pattern);
  sink.engine = &e;
  sink.pause_every = 1;
  sink.id = e.recv(p.sock, sink.handler());
  BOOST_REQUIRE(sink.id);
  p.peer.reset();
  RX_REQUIRE_UNTIL(e, sink.paused, short_deadline);
  run_for(e, 10ms);
  BOOST_REQUIRE(e.resume(sink.id));
  BOOST_REQUIRE(e.pause(sink.id));
  run_for(e, 20ms);
  BOOST_CHECK_EQUAL(sink.calls_while_paused, 0);
  const auto deadline = Clock::now() + short_deadline;
  while (!sink.done() && Clock::now() < deadline) {
    if (sink.paused) {
      sink.paused = false;
      BOOST_REQUIRE(e.resume(sink.id));
    }
    e.run_once(5ms);
  }
  BOOST_REQUIRE(sink.done());
  check_sink(sink, data.size());
  BOOST_CHECK_EQUAL(sink.calls_while_paused, 0);
  RX_CHECK_OK(close_and_wait(e, p.sock));
}

BOOST_FIXTURE_TEST_CASE(cancel_close_and_destruction_end_a_paused_recv, EngineFixture) {
  // cancel()
  {
    HalfPair p = half_pair(engine());
    CollectSink& sink = state<CollectSink>();
    OpId id = start_collect(engine(), p.sock, sink);
    BOOST_REQUIRE(engine().pause(id));
    run_for(engine(), 10ms);
    BOOST_CHECK(engine().cancel(id));
    RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
    BOOST_CHECK_MESSAGE(is_canceled(sink.final_error), describe(sink.final_error));
    BOOST_CHECK(!engine().resume(id));
    RX_CHECK_OK(close_and_wait(engine(), p.sock));
  }
  // close()
  {
    HalfPair p = half_pair(engine());
    CollectSink& sink = state<CollectSink>();
    OpId id = start_collect(engine(), p.sock, sink);
    BOOST_REQUIRE(engine().pause(id));
    run_for(engine(), 10ms);
    RX_CHECK_OK(close_and_wait(engine(), p.sock));
    RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
    BOOST_CHECK_MESSAGE(is_canceled(sink.final_error), describe(sink.final_error));
  }
  // ~Engine, held bytes and all: they come first, then the end.
  {
    HalfPair p = half_pair(engine());
    CollectSink& sink = state<CollectSink>();
    OpId id = start_collect(engine(), p.sock, sink);
    write_text(p.peer.get(), "q");
    BOOST_REQUIRE(engine().pause(id));
    run_for(engine(), 10ms);
    const auto start = Clock::now();
    destroy_engine();
    BOOST_CHECK_LT(Clock::now() - start, 2s);  // not the 10 s drain timeout
    BOOST_CHECK(sink.done());
    BOOST_CHECK_MESSAGE(is_canceled(sink.final_error), describe(sink.final_error));
    BOOST_CHECK_EQUAL(sink.final_calls, 1);
    reset(variant_options());
  }
}

BOOST_FIXTURE_TEST_CASE(pause_and_resume_refuse_other_ops, EngineFixture) {
  OpId t = engine().timeout(1s, [](std::error_code) {});
  BOOST_CHECK(!engine().pause(t));
  BOOST_CHECK(!engine().resume(t));
  engine().cancel(t);
  BOOST_CHECK(!engine().pause(OpId{}));
}

BOOST_AUTO_TEST_SUITE_END()
