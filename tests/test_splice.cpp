// splice through the engine's pipe pool: file -> socket (with offsets, 64 MiB),
// socket -> socket (proxy, 64 MiB), file -> file, pipe -> socket, sources that
// end early (transfer_incomplete).
#include "support.hpp"

using namespace rxtest;

namespace {

void shutdown_write(Engine& e, Socket s) {
  e.shutdown(s, SHUT_WR, [](std::error_code) {});
}

// Two splices from a file into a socket, the second started from the first's
// handler (so they move their bytes one after the other).
struct TwoSplices {
  Engine* e = nullptr;
  File f;
  Socket s;
  std::int64_t second_offset = 0;
  std::size_t second_length = 0;
  Once first, second;

  OpId start(Engine& engine, File file, Socket sock, std::int64_t first_offset, std::size_t first_length,
             std::int64_t second_off, std::size_t second_len) {
    e = &engine;
    f = file;
    s = sock;
    second_offset = second_off;
    second_length = second_len;
    return e->splice(f, first_offset, s, -1, first_length, [self = this](std::error_code ec, std::size_t n) {
      self->first.record(ec, n);
      self->e->splice(self->f, self->second_offset, self->s, -1, self->second_length, record(self->second));
    });
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(splicing)

BOOST_FIXTURE_TEST_CASE(file_to_socket_with_offsets, EngineFixture) {
  const Pattern pat(41);
  TempFile tf(pat, 1 * MiB);
  File f = open_file(engine(), tf.path(), O_RDONLY);
  SocketPair p = engine_pair(engine());
  CollectSink& sink = state<CollectSink>();
  BOOST_REQUIRE(start_collect(engine(), p.b, sink));
  // Two splices from the same file at explicit offsets, one after the other:
  // explicit offsets do not depend on (or move) a file position.
  TwoSplices& st = state<TwoSplices>();
  BOOST_REQUIRE(st.start(engine(), f, p.a, 12345, 500000, 0, 1000));
  BOOST_CHECK_EQUAL(st.first.calls, 0);
  RX_REQUIRE_UNTIL(engine(), st.second.calls > 0, short_deadline);
  RX_CHECK_OK(st.first.ec);
  BOOST_CHECK_EQUAL(st.first.bytes, 500000u);
  RX_CHECK_OK(st.second.ec);
  BOOST_CHECK_EQUAL(st.second.bytes, 1000u);
  shutdown_write(engine(), p.a);
  RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
  BOOST_CHECK(sink.final_error == ringxfer::error::eof);
  std::vector<std::byte> expected = pat.make(12345, 500000);
  std::vector<std::byte> tail = pat.make(0, 1000);
  expected.insert(expected.end(), tail.begin(), tail.end());
  BOOST_REQUIRE_EQUAL(sink.bytes.size(), expected.size());
  BOOST_CHECK(sink.bytes == expected);
  BOOST_CHECK_EQUAL(st.first.calls, 1);
  BOOST_CHECK_EQUAL(st.second.calls, 1);
  close_all(engine(), {f, p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(file_to_socket_64mib_byte_exact, EngineFixture) {
  const std::size_t total = big_stream_bytes;
  const Pattern pat(42);
  TempFile tf(pat, total);
  File f = open_file(engine(), tf.path(), O_RDONLY);
  SocketPair p = engine_pair(engine());
  StreamSink& sink = state<StreamSink>(pat);
  BOOST_REQUIRE(start_sink(engine(), p.b, sink));
  Once& r = state<Once>();
  const auto before = engine().stats();
  const auto start = Clock::now();
  BOOST_REQUIRE(engine().splice(f, 0, p.a, -1, total, record(r)));
  RX_REQUIRE_UNTIL(engine(), r.calls > 0, big_stream_deadline);
  shutdown_write(engine(), p.a);
  RX_REQUIRE_UNTIL_INFO(engine(), sink.done(), big_stream_deadline, sink);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  const auto& s = engine().stats();
  BOOST_TEST_MESSAGE("splice file->socket: " << total / MiB << " MiB in " << ms << " ms; short_sends "
                                             << s.short_sends - before.short_sends << ", fallbacks "
                                             << s.fallbacks - before.fallbacks);
  RX_CHECK_OK(r.ec);
  BOOST_CHECK_EQUAL(r.bytes, total);
  BOOST_CHECK_EQUAL(r.calls, 1);
  check_sink(sink, total);
  BOOST_CHECK_GE(s.bytes_out - before.bytes_out, total);
  if (variant() == Variant::io_uring_nofeatures) BOOST_CHECK_GT(s.fallbacks, before.fallbacks);
  close_all(engine(), {f, p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(socket_to_socket_proxy_64mib_byte_exact, EngineFixture) {
  // client --(pair 1)--> proxy_in  ==splice==>  proxy_out --(pair 2)--> sink
  const std::size_t total = big_stream_bytes;
  SocketPair p1 = engine_pair(engine());
  SocketPair p2 = engine_pair(engine());
  StreamSink& sink = state<StreamSink>(Pattern(43));
  BOOST_REQUIRE(start_sink(engine(), p2.b, sink));
  struct St {
    Engine* e = nullptr;
    Socket out;
    Once r;
  };
  St& st = state<St>();
  st.e = &engine();
  st.out = p2.a;
  BOOST_REQUIRE(engine().splice(p1.b, -1, p2.a, -1, total, [s = &st](std::error_code ec, std::size_t n) {
    s->r.record(ec, n);
    shutdown_write(*s->e, s->out);  // pass the end of stream on
  }));
  ChainSender& tx = state<ChainSender>(engine(), p1.a, sink.pattern.make(0, total));
  const auto start = Clock::now();
  tx.start();
  RX_REQUIRE_UNTIL_INFO(engine(), (st.r.calls > 0 && sink.done()) || tx.failed, big_stream_deadline, tx << sink);
  RX_REQUIRE_UNTIL(engine(), sink.done() && tx.done(), short_deadline);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  BOOST_TEST_MESSAGE("splice socket->socket: " << total / MiB << " MiB in " << ms << " ms");
  BOOST_CHECK(!tx.failed);
  RX_CHECK_OK(tx.error);
  BOOST_CHECK_EQUAL(st.r.calls, 1);
  RX_CHECK_OK(st.r.ec);
  BOOST_CHECK_EQUAL(st.r.bytes, total);
  check_sink(sink, total);
  close_all(engine(), {p1.a, p1.b, p2.a, p2.b});
}

BOOST_FIXTURE_TEST_CASE(file_source_ends_early, EngineFixture) {
  const Pattern pat(44);
  TempFile tf(pat, 1000);
  File f = open_file(engine(), tf.path(), O_RDONLY);
  SocketPair p = engine_pair(engine());
  CollectSink& sink = state<CollectSink>();
  BOOST_REQUIRE(start_collect(engine(), p.b, sink));
  Once& r = state<Once>();
  BOOST_REQUIRE(engine().splice(f, 0, p.a, -1, 5000, record(r)));
  RX_REQUIRE_UNTIL(engine(), r.calls > 0, short_deadline);
  BOOST_CHECK_MESSAGE(r.ec == ringxfer::error::transfer_incomplete,
                      "splice past end of file ended with " << describe(r.ec));
  BOOST_CHECK_EQUAL(r.bytes, 1000u);
  shutdown_write(engine(), p.a);
  RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
  BOOST_CHECK(sink.bytes == pat.make(0, 1000));
  // Starting at the end of the file: nothing to move.
  Once& r2 = state<Once>();
  BOOST_REQUIRE(engine().splice(f, 1000, p.a, -1, 10, record(r2)));
  RX_REQUIRE_UNTIL(engine(), r2.calls > 0, short_deadline);
  BOOST_CHECK_EQUAL(r2.bytes, 0u);
  BOOST_CHECK_MESSAGE(r2.ec == ringxfer::error::transfer_incomplete,
                      "splice of 10 bytes at end of file ended with " << describe(r2.ec));
  close_all(engine(), {f, p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(socket_source_ends_early, EngineFixture) {
  SocketPair p1 = engine_pair(engine());
  SocketPair p2 = engine_pair(engine());
  CollectSink& sink = state<CollectSink>();
  BOOST_REQUIRE(start_collect(engine(), p2.b, sink));
  ChainSender& tx = state<ChainSender>(engine(), p1.a, Pattern(45).make(0, 3000));
  tx.start();
  Once& r = state<Once>();
  BOOST_REQUIRE(engine().splice(p1.b, -1, p2.a, -1, 100000, record(r)));
  RX_REQUIRE_UNTIL(engine(), r.calls > 0, short_deadline);
  BOOST_CHECK_MESSAGE(r.ec == ringxfer::error::transfer_incomplete,
                      "splice from a socket that closed early ended with " << describe(r.ec));
  BOOST_CHECK_EQUAL(r.bytes, 3000u);
  shutdown_write(engine(), p2.a);
  RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
  BOOST_CHECK(sink.bytes == tx.data);
  close_all(engine(), {p1.a, p1.b, p2.a, p2.b});
}

BOOST_FIXTURE_TEST_CASE(file_to_file_with_offsets, EngineFixture) {
  const Pattern pat(46);
  TempFile src(pat, 300000), dst;
  File fs = open_file(engine(), src.path(), O_RDONLY);
  File fd = open_file(engine(), dst.path(), O_RDWR);
  Once& r = state<Once>();
  BOOST_REQUIRE(engine().splice(fs, 100, fd, 200, 100000, record(r)));
  RX_REQUIRE_UNTIL(engine(), r.calls > 0, short_deadline);
  RX_CHECK_OK(r.ec);
  BOOST_CHECK_EQUAL(r.bytes, 100000u);
  std::vector<std::byte> got = dst.read_all();
  BOOST_REQUIRE_EQUAL(got.size(), 200u + 100000u);
  BOOST_CHECK(std::all_of(got.begin(), got.begin() + 200, [](std::byte b) { return b == std::byte{0}; }));
  BOOST_CHECK(std::vector<std::byte>(got.begin() + 200, got.end()) == pat.make(100, 100000));
  close_all(engine(), {fs, fd});
}

BOOST_FIXTURE_TEST_CASE(pipe_to_socket, EngineFixture) {
  EnginePipe pipe = engine_pipe(engine());
  const std::vector<std::byte> data = Pattern(47).make(0, 20000);
  BOOST_REQUIRE(::write(pipe.wr.get(), data.data(), data.size()) == ssize_t(data.size()));
  SocketPair p = engine_pair(engine());
  CollectSink& sink = state<CollectSink>();
  BOOST_REQUIRE(start_collect(engine(), p.b, sink));
  Once& r = state<Once>();
  BOOST_REQUIRE(engine().splice(pipe.rd, -1, p.a, -1, data.size(), record(r)));
  RX_REQUIRE_UNTIL(engine(), r.calls > 0, short_deadline);
  RX_CHECK_OK(r.ec);
  BOOST_CHECK_EQUAL(r.bytes, data.size());
  shutdown_write(engine(), p.a);
  RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
  BOOST_CHECK(sink.bytes == data);
  close_all(engine(), {pipe.rd, p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(file_to_socket_at_file_position, EngineFixture) {
  // src_offset -1 on a file: the file position, which the splice advances.
  const Pattern pat(51);
  TempFile tf(pat, 100000);
  File f = open_file(engine(), tf.path(), O_RDONLY);
  SocketPair p = engine_pair(engine());
  CollectSink& sink = state<CollectSink>();
  BOOST_REQUIRE(start_collect(engine(), p.b, sink));
  TwoSplices& st = state<TwoSplices>();
  BOOST_REQUIRE(st.start(engine(), f, p.a, -1, 30000, -1, 20000));
  RX_REQUIRE_UNTIL(engine(), st.second.calls > 0, short_deadline);
  RX_CHECK_OK(st.first.ec);
  RX_CHECK_OK(st.second.ec);
  BOOST_CHECK_EQUAL(st.first.bytes, 30000u);
  BOOST_CHECK_EQUAL(st.second.bytes, 20000u);
  shutdown_write(engine(), p.a);
  RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
  BOOST_CHECK(sink.bytes == pat.make(0, 50000));
  close_all(engine(), {f, p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(failed_splice_leaves_no_bytes_in_the_pipe_pool, EngineFixture) {
  // One pipe in the pool. A splice into a connection whose peer resets fails
  // part-way, possibly with bytes left in its pipe; the next splice that gets
  // the pipe must deliver exactly its own bytes (no leftovers from before).
  ringxfer::EngineOptions o = variant_options();
  o.pipe_count = 1;
  Engine& e = reset(o);
  const Pattern junk(52), good(53);
  TempFile jf(junk, 16 * MiB), gf(good, 1 * MiB);
  File jfile = open_file(e, jf.path(), O_RDONLY);
  File gfile = open_file(e, gf.path(), O_RDONLY);
  HalfPair victim = half_pair(e);  // the peer never reads, then resets
  Once& r1 = state<Once>();
  BOOST_REQUIRE(e.splice(jfile, 0, victim.sock, -1, 16 * MiB, record(r1)));
  run_for(e, 100ms);
  BOOST_CHECK_EQUAL(r1.calls, 0);
  close_with_reset(victim.peer);
  RX_REQUIRE_UNTIL(e, r1.calls > 0, short_deadline);
  BOOST_CHECK_MESSAGE(r1.ec, "splice into a reset connection succeeded");
  BOOST_CHECK_LT(r1.bytes, 16 * MiB);
  BOOST_TEST_MESSAGE("splice into reset peer: " << describe(r1.ec) << " after " << r1.bytes << " bytes");

  SocketPair p = engine_pair(e);
  StreamSink& sink = state<StreamSink>(good);
  BOOST_REQUIRE(start_sink(e, p.b, sink));
  Once& r2 = state<Once>();
  BOOST_REQUIRE(e.splice(gfile, 0, p.a, -1, 1 * MiB, record(r2)));
  RX_REQUIRE_UNTIL(e, r2.calls > 0, short_deadline);
  RX_CHECK_OK(r2.ec);
  BOOST_CHECK_EQUAL(r2.bytes, 1 * MiB);
  shutdown_write(e, p.a);
  RX_REQUIRE_UNTIL(e, sink.done(), short_deadline);
  check_sink(sink, 1 * MiB);
  close_all(e, {jfile, gfile, victim.sock, p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(splice_of_zero_bytes, EngineFixture) {
  TempFile tf(Pattern(50), 1000);
  File f = open_file(engine(), tf.path(), O_RDONLY);
  SocketPair p = engine_pair(engine());
  Once& r = state<Once>();
  BOOST_REQUIRE(engine().splice(f, 0, p.a, -1, 0, record(r)));
  BOOST_CHECK_EQUAL(r.calls, 0);
  RX_REQUIRE_UNTIL(engine(), r.calls > 0, short_deadline);
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(r.calls, 1);
  RX_CHECK_OK(r.ec);
  BOOST_CHECK_EQUAL(r.bytes, 0u);
  close_all(engine(), {f, p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(splice_with_stale_handles, EngineFixture) {
  TempFile tf(Pattern(48), 10000);
  File f = open_file(engine(), tf.path(), O_RDONLY);
  SocketPair p = engine_pair(engine());
  RX_CHECK_OK(close_and_wait(engine(), p.a));
  Once& r1 = state<Once>();
  BOOST_CHECK(engine().splice(f, 0, p.a, -1, 10000, record(r1)));  // stale destination
  RX_CHECK_OK(close_and_wait(engine(), f));
  Once& r2 = state<Once>();
  BOOST_CHECK(engine().splice(f, 0, p.b, -1, 10000, record(r2)));  // stale source
  RX_REQUIRE_UNTIL(engine(), r1.calls > 0 && r2.calls > 0, short_deadline);
  RX_CHECK_EC(r1.ec, std::errc::bad_file_descriptor);
  RX_CHECK_EC(r2.ec, std::errc::bad_file_descriptor);
  BOOST_CHECK_EQUAL(r1.bytes, 0u);
  BOOST_CHECK_EQUAL(r2.bytes, 0u);
  RX_CHECK_OK(close_and_wait(engine(), p.b));
}

BOOST_FIXTURE_TEST_CASE(splice_pipe_pool_reuse, EngineFixture) {
  // More splices one after another than the pool has pipes: pipes return to
  // the pool (and come back empty) after each splice.
  ringxfer::EngineOptions o = variant_options();
  o.pipe_count = 2;
  Engine& e = reset(o);
  const Pattern pat(49);
  TempFile tf(pat, 128 * KiB);  // the 20 splices read 79000 bytes
  File f = open_file(e, tf.path(), O_RDONLY);
  SocketPair p = engine_pair(e);
  StreamSink& sink = state<StreamSink>(pat);
  BOOST_REQUIRE(start_sink(e, p.b, sink));
  struct St {
    Engine* e = nullptr;
    File f;
    Socket s;
    int done = 0;
    int errors = 0;
    std::size_t offset = 0;
    void next() {
      if (done == 20) return;
      St* self = this;
      std::size_t len = 3000 + std::size_t(done) * 100;
      e->splice(f, std::int64_t(offset), s, -1, len, [self, len](std::error_code ec, std::size_t n) {
        if (ec || n != len) ++self->errors;
        self->offset += len;
        ++self->done;
        self->next();
      });
    }
  };
  St& st = state<St>();
  st.e = &e;
  st.f = f;
  st.s = p.a;
  st.next();
  RX_REQUIRE_UNTIL(e, st.done == 20, short_deadline);
  BOOST_CHECK_EQUAL(st.errors, 0);
  shutdown_write(e, p.a);
  RX_REQUIRE_UNTIL(e, sink.done(), short_deadline);
  check_sink(sink, st.offset);
  close_all(e, {f, p.a, p.b});
}

BOOST_AUTO_TEST_SUITE_END()
