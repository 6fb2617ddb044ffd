// Writes on one socket leave in the order they were started (DESIGN
// invariant 9), and a linked splice pair never crosses a submit boundary
// (a link ends at a submit: its second half alone would wait forever on an
// empty pipe).
#include "support.hpp"

using namespace rxtest;

BOOST_AUTO_TEST_SUITE(write_order)

// 1 000 writes of every kind, started at once on one socket with a 4 KiB
// SO_SNDBUF (so nearly every one is short and continues), then a
// shutdown(SHUT_WR): the peer must see exactly the stream they make, in start
// order, and then eof.
BOOST_FIXTURE_TEST_CASE(a_thousand_writes_started_at_once_arrive_in_order, EngineFixture) {
  constexpr int writes = 1000;
  const Pattern pattern(91);
  Rng rng(7);
  std::vector<std::size_t> sizes;
  std::size_t total = 0;
  for (int i = 0; i < writes; ++i) {
    sizes.push_back(rng.between(1, 12 * KiB));
    total += sizes.back();
  }
  const std::vector<std::byte> stream = pattern.make(0, total);
  TempFile tf(pattern, total);  // the same stream, for the splices
  File file = open_file(engine(), tf.path(), O_RDONLY);

  SocketPair p = engine_pair(engine());
  set_int_sockopt(engine().native_handle(p.a), SOL_SOCKET, SO_SNDBUF, 4096);
  StreamSink& sink = state<StreamSink>(pattern);
  BOOST_REQUIRE(start_sink(engine(), p.b, sink));

  struct Results {
    int done = 0;
    int failed = 0;
    std::size_t bytes = 0;
    void note(std::error_code ec, std::size_t n) {
      ++done;
      if (ec) ++failed;
      bytes += n;
    }
  };
  Results& res = state<Results>();
  auto on_done = [r = &res](std::error_code ec, std::size_t n) { r->note(ec, n); };
  using Piece = std::span<const std::byte>;
  std::vector<std::array<Piece, 2>> gathers(writes);

  std::size_t offset = 0;
  int zc = 0;
  for (int i = 0; i < writes; ++i) {
    const std::size_t n = sizes[std::size_t(i)];
    Piece bytes(stream.data() + offset, n);
    OpId id;
    if (i % 100 == 37) {
      id = engine().splice(file, std::int64_t(offset), p.a, -1, n, on_done);
    } else if (i % 50 == 11 && n <= 64 * KiB && zc < 16) {
      ++zc;
      id = engine().send_zc(p.a, filled(engine(), pattern, offset, n), on_done);
    } else if (i % 10 == 3 && n > 1) {
      gathers[std::size_t(i)] = {bytes.first(n / 2), bytes.subspan(n / 2)};
      id = engine().sendv(p.a, gathers[std::size_t(i)], on_done);
    } else {
      id = engine().send(p.a, bytes, on_done);
    }
    BOOST_REQUIRE_MESSAGE(id, "write " << i << " did not start: " << describe(id.error()));
    offset += n;
  }
  Once& shut = state<Once>();
  BOOST_REQUIRE(engine().shutdown(p.a, SHUT_WR, record(shut)));

  RX_REQUIRE_UNTIL_INFO(engine(), res.done == writes && sink.done(), big_stream_deadline, sink);
  BOOST_CHECK_EQUAL(res.failed, 0);
  BOOST_CHECK_EQUAL(res.bytes, total);
  RX_CHECK_OK(shut.ec);
  check_sink(sink, total);
  close_all(engine(), {p.a, p.b, file});
}

// A write queued behind another can be cancelled; the ones after it still go
// out in order, and closing the socket ends every queued write.
BOOST_FIXTURE_TEST_CASE(queued_writes_cancel_and_close, EngineFixture) {
  const Pattern pattern(92);
  const std::vector<std::byte> big = pattern.make(0, 8 * MiB);
  HalfPair h = half_pair(engine());
  set_int_sockopt(engine().native_handle(h.sock), SOL_SOCKET, SO_SNDBUF, 4096);
  set_int_sockopt(h.peer.get(), SOL_SOCKET, SO_RCVBUF, 4096);
  Once& first = state<Once>();
  Once& second = state<Once>();
  Once& third = state<Once>();
  BOOST_REQUIRE(engine().send(h.sock, big, record(first)));  // blocks: the peer does not read
  OpId id2 = engine().send(h.sock, std::span(big).first(100), record(second));
  BOOST_REQUIRE(id2);
  BOOST_REQUIRE(engine().send(h.sock, std::span(big).first(100), record(third)));
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(second.calls + third.calls, 0);  // queued behind the first
  BOOST_CHECK(engine().cancel(id2));
  RX_REQUIRE_UNTIL(engine(), second.calls > 0, short_deadline);
  BOOST_CHECK(is_canceled(second.ec));
  BOOST_CHECK_EQUAL(third.calls, 0);
  RX_CHECK_OK(close_and_wait(engine(), h.sock));
  RX_REQUIRE_UNTIL(engine(), first.calls > 0 && third.calls > 0, short_deadline);
  BOOST_CHECK_MESSAGE(is_canceled_or_badf(first.ec), describe(first.ec));
  BOOST_CHECK_MESSAGE(is_canceled(third.ec), describe(third.ec));
  BOOST_CHECK_EQUAL(third.bytes, 0u);
}

// Several until_eof splices started together on rings of 1, 2, 4 and 8
// entries: each linked pair must go to the kernel in one submit.
BOOST_FIXTURE_TEST_CASE(linked_splices_on_tiny_rings_all_complete, EngineFixture) {
  if (!is_uring_variant()) {
    BOOST_TEST_MESSAGE("ring sizes apply to io_uring; the epoll variant runs the same splices once");
  }
  // Sources whose last round reads nothing: an empty file, and one that ends
  // exactly at a pipe-sized chunk. If such a round's pair is split by a
  // submit, its second half waits forever on an empty pipe.
  constexpr int streams = 6;
  const std::size_t sizes[3] = {0, 8 * 64 * KiB, 3 * MiB + 777};
  const Pattern pattern(93);
  TempFile files[3];
  for (int k = 0; k < 3; ++k) files[k].fill(pattern, sizes[k]);
  for (std::uint32_t entries : {1u, 2u, 4u, 8u}) {
    BOOST_TEST_CONTEXT("ring_entries " << entries) {
      ringxfer::EngineOptions o = variant_options();
      o.ring_entries = entries;
      o.pipe_size_bytes = 64 * KiB;  // many rounds per stream
      Engine& e = reset(o);
      File file[3];
      for (int k = 0; k < 3; ++k) file[k] = open_file(e, files[k].path(), O_RDONLY);
      std::vector<SocketPair> pairs;
      std::vector<StreamSink*> sinks;
      std::vector<Once*> done;
      for (int i = 0; i < streams; ++i) {
        pairs.push_back(engine_pair(e));
        sinks.push_back(&state<StreamSink>(pattern));
        BOOST_REQUIRE(start_sink(e, pairs.back().b, *sinks.back()));
        done.push_back(&state<Once>());
      }
      for (int i = 0; i < streams; ++i) {
        BOOST_REQUIRE(e.splice(file[i % 3], 0, pairs[std::size_t(i)].a, -1, ringxfer::until_eof,
                               record(*done[std::size_t(i)])));
      }
      auto all_done = [&] {
        return std::all_of(done.begin(), done.end(), [](Once* d) { return d->calls > 0; });
      };
      RX_REQUIRE_UNTIL_INFO(e, all_done(), 20s, *sinks[0]);
      for (int i = 0; i < streams; ++i) {
        RX_CHECK_OK(done[std::size_t(i)]->ec);
        BOOST_CHECK_EQUAL(done[std::size_t(i)]->bytes, sizes[i % 3]);
        e.shutdown(pairs[std::size_t(i)].a, SHUT_WR, [](std::error_code) {});
      }
      RX_REQUIRE_UNTIL(e, std::all_of(sinks.begin(), sinks.end(), [](StreamSink* s) { return s->done(); }),
                       short_deadline);
      for (int i = 0; i < streams; ++i) check_sink(*sinks[std::size_t(i)], sizes[i % 3]);
      for (auto& pr : pairs) close_all(e, {pr.a, pr.b});
      for (File f : file) RX_CHECK_OK(close_and_wait(e, f));
      if (!is_uring_variant()) break;
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
