// recv_some and recv_exactly: receives into the caller's memory.
#include "support.hpp"

using namespace rxtest;

namespace {

struct BytesResult {
  bool done = false;
  int calls = 0;
  std::error_code ec;
  std::size_t bytes = 0;
  auto handler() {
    return [self = this](std::error_code ec, std::size_t n) {
      ++self->calls;
      self->done = true;
      self->ec = ec;
      self->bytes = n;
    };
  }
};

void write_all(int fd, std::span<const std::byte> data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    BOOST_REQUIRE_MESSAGE(n > 0, "write: " << std::strerror(errno));
    off += std::size_t(n);
  }
}

std::span<const std::byte> as_bytes(const char* s) { return {reinterpret_cast<const std::byte*>(s), std::strlen(s)}; }

}  // namespace

BOOST_AUTO_TEST_SUITE(recv_into_memory)

BOOST_FIXTURE_TEST_CASE(recv_some_takes_what_is_there, EngineFixture) {
  HalfPair p = half_pair(engine());
  std::array<std::byte, 64> into{};
  BytesResult& r = state<BytesResult>();
  BOOST_REQUIRE(engine().recv_some(p.sock, into, r.handler()));
  run_for(engine(), 20ms);
  BOOST_CHECK(!r.done);  // nothing there yet: it waits
  write_all(p.peer.get(), as_bytes("hello"));
  RX_REQUIRE_UNTIL(engine(), r.done, short_deadline);
  RX_CHECK_OK(r.ec);
  BOOST_REQUIRE_EQUAL(r.bytes, 5u);
  BOOST_CHECK(std::memcmp(into.data(), "hello", 5) == 0);
  BOOST_CHECK_EQUAL(engine().stats().bytes_in, 5u);
  RX_CHECK_OK(close_and_wait(engine(), p.sock));
}

BOOST_FIXTURE_TEST_CASE(recv_some_end_of_stream_is_eof_never_zero_bytes, EngineFixture) {
  HalfPair p = half_pair(engine());
  std::array<std::byte, 16> into{};
  BytesResult& r = state<BytesResult>();
  BOOST_REQUIRE(engine().recv_some(p.sock, into, r.handler()));
  p.peer.reset();
  RX_REQUIRE_UNTIL(engine(), r.done, short_deadline);
  RX_CHECK_EC(r.ec, ringxfer::error::eof);
  BOOST_CHECK_EQUAL(r.bytes, 0u);
  // An empty span is refused, not answered with an ambiguous 0.
  BytesResult& empty = state<BytesResult>();
  BOOST_REQUIRE(engine().recv_some(p.sock, std::span<std::byte>(), empty.handler()));
  RX_REQUIRE_UNTIL(engine(), empty.done, short_deadline);
  RX_CHECK_EC(empty.ec, std::errc::invalid_argument);
  RX_CHECK_OK(close_and_wait(engine(), p.sock));
}

BOOST_FIXTURE_TEST_CASE(recv_exactly_fills_the_span_across_many_sends, EngineFixture) {
  constexpr std::size_t bytes = 3 * MiB + 777;  // several receives, an odd tail
  SocketPair p = engine_pair(engine());
  Pattern pattern;
  ChainSender& tx = state<ChainSender>(engine(), p.a, pattern.make(0, bytes));
  tx.max_chunk = 256 * KiB;
  std::vector<std::byte>& into = state<std::vector<std::byte>>(bytes);
  BytesResult& r = state<BytesResult>();
  BOOST_REQUIRE(engine().recv_exactly(p.b, into, r.handler()));
  tx.start();
  RX_REQUIRE_UNTIL_INFO(engine(), r.done && tx.done(), big_stream_deadline, tx);
  RX_CHECK_OK(r.ec);
  BOOST_CHECK_EQUAL(r.bytes, bytes);
  BOOST_CHECK_EQUAL(r.calls, 1);
  BOOST_CHECK_EQUAL(pattern.first_mismatch(0, into), bytes);
  close_all(engine(), {p.a, p.b});
}

BOOST_FIXTURE_TEST_CASE(recv_exactly_short_stream, EngineFixture) {
  // Some bytes, then the end: transfer_incomplete with those bytes.
  {
    HalfPair p = half_pair(engine());
    std::array<std::byte, 100> into{};
    BytesResult& r = state<BytesResult>();
    BOOST_REQUIRE(engine().recv_exactly(p.sock, into, r.handler()));
    write_all(p.peer.get(), as_bytes("0123456789"));
    run_for(engine(), 20ms);
    BOOST_CHECK(!r.done);  // 10 of 100: still waiting
    p.peer.reset();
    RX_REQUIRE_UNTIL(engine(), r.done, short_deadline);
    RX_CHECK_EC(r.ec, ringxfer::error::transfer_incomplete);
    BOOST_CHECK_EQUAL(r.bytes, 10u);
    BOOST_CHECK(std::memcmp(into.data(), "0123456789", 10) == 0);
    RX_CHECK_OK(close_and_wait(engine(), p.sock));
  }
  // No bytes at all: eof.
  {
    HalfPair p = half_pair(engine());
    std::array<std::byte, 100> into{};
    BytesResult& r = state<BytesResult>();
    BOOST_REQUIRE(engine().recv_exactly(p.sock, into, r.handler()));
    p.peer.reset();
    RX_REQUIRE_UNTIL(engine(), r.done, short_deadline);
    RX_CHECK_EC(r.ec, ringxfer::error::eof);
    BOOST_CHECK_EQUAL(r.bytes, 0u);
    RX_CHECK_OK(close_and_wait(engine(), p.sock));
  }
}

BOOST_FIXTURE_TEST_CASE(cancel_and_close_report_the_bytes_so_far, EngineFixture) {
  HalfPair p = half_pair(engine());
  std::array<std::byte, 100> into{};
  BytesResult& r = state<BytesResult>();
  OpId id = engine().recv_exactly(p.sock, into, r.handler());
  BOOST_REQUIRE(id);
  write_all(p.peer.get(), as_bytes("abc"));
  run_for(engine(), 30ms);
  BOOST_CHECK(engine().cancel(id));
  RX_REQUIRE_UNTIL(engine(), r.done, short_deadline);
  BOOST_CHECK_MESSAGE(is_canceled(r.ec), describe(r.ec));
  BOOST_CHECK_EQUAL(r.bytes, 3u);

  BytesResult& r2 = state<BytesResult>();
  BOOST_REQUIRE(engine().recv_some(p.sock, into, r2.handler()));
  RX_CHECK_OK(close_and_wait(engine(), p.sock));
  RX_REQUIRE_UNTIL(engine(), r2.done, short_deadline);
  BOOST_CHECK_MESSAGE(is_canceled(r2.ec), describe(r2.ec));
  BOOST_CHECK_EQUAL(r2.calls, 1);
}

BOOST_FIXTURE_TEST_CASE(recv_some_refused_while_a_multishot_recv_runs, EngineFixture) {
  HalfPair p = half_pair(engine());
  CollectSink& sink = state<CollectSink>();
  OpId rid = start_collect(engine(), p.sock, sink);
  BOOST_REQUIRE(rid);
  std::array<std::byte, 16> into{};
  BytesResult& r = state<BytesResult>();
  BOOST_REQUIRE(engine().recv_some(p.sock, into, r.handler()));
  RX_REQUIRE_UNTIL(engine(), r.done, short_deadline);
  RX_CHECK_EC(r.ec, ringxfer::error::receive_in_progress);
  engine().cancel(rid);
  RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
  RX_CHECK_OK(close_and_wait(engine(), p.sock));
}

// Adversarial: a multishot recv takes part of a stream and is cancelled while
// bytes keep arriving; recv_exactly then takes the rest. Every byte arrives
// once, in order: what the multishot recv handed out plus what stayed in the
// socket is the whole stream.
BOOST_FIXTURE_TEST_CASE(recv_some_after_a_cancelled_multishot_recv_loses_nothing, EngineFixture) {
  constexpr std::size_t bytes = 4 * MiB;
  SocketPair p = engine_pair(engine());
  Pattern pattern;
  StreamSink& sink = state<StreamSink>(pattern);
  OpId rid = start_sink(engine(), p.b, sink);
  BOOST_REQUIRE(rid);
  ChainSender& tx = state<ChainSender>(engine(), p.a, pattern.make(0, bytes));
  tx.max_chunk = 64 * KiB;
  tx.do_shutdown = false;
  tx.start();
  // Cancel in the middle of the stream.
  RX_REQUIRE_UNTIL(engine(), sink.received >= bytes / 4, big_stream_deadline);
  BOOST_CHECK(engine().cancel(rid));
  RX_REQUIRE_UNTIL(engine(), sink.done(), short_deadline);
  BOOST_CHECK_MESSAGE(is_canceled(sink.final_error), describe(sink.final_error));
  BOOST_CHECK_EQUAL(sink.mismatch_at, UINT64_MAX);
  const std::size_t taken = sink.received;
  BOOST_REQUIRE_LT(taken, bytes);

  std::vector<std::byte>& rest = state<std::vector<std::byte>>(bytes - taken);
  BytesResult& r = state<BytesResult>();
  BOOST_REQUIRE(engine().recv_exactly(p.b, rest, r.handler()));
  RX_REQUIRE_UNTIL_INFO(engine(), r.done && tx.done(), big_stream_deadline, tx << " taken " << taken);
  RX_CHECK_OK(r.ec);
  BOOST_CHECK_EQUAL(r.bytes, bytes - taken);
  BOOST_CHECK_EQUAL(pattern.first_mismatch(taken, rest), rest.size());
  close_all(engine(), {p.a, p.b});
}

BOOST_AUTO_TEST_SUITE_END()
