// Transfers and relays (include/ringxfer/transfer.hpp) on every variant:
// each strategy x source x sink byte-exact from 0 B to 64 MiB, a header ahead
// of its body, progress, cancel, and the ways a transfer ends early (peer
// reset, peer gone, a file that shrinks before or during the transfer) — with
// an error and the bytes moved, never a hang.
#include "support.hpp"

using namespace rxtest;
using ringxfer::Sink;
using ringxfer::Source;
using ringxfer::Strategy;
using ringxfer::TransferOptions;
using ringxfer::TransferResult;
using ringxfer::Transfers;

namespace {

struct Outcome {
  int calls = 0;
  std::error_code ec;
  TransferResult result;
  std::size_t last_progress = 0;
  int progress_calls = 0;
  bool done() const { return calls > 0; }
};

auto on_done(Outcome& o) {
  return [p = &o](std::error_code ec, const TransferResult& r) {
    ++p->calls;
    p->ec = ec;
    p->result = r;
  };
}
auto on_progress(Outcome& o) {
  return [p = &o](std::size_t n) {
    ++p->progress_calls;
    p->last_progress = n;
  };
}

constexpr Strategy all_strategies[] = {Strategy::automatic, Strategy::copy, Strategy::splice, Strategy::sendfile,
                                       Strategy::zerocopy};
const std::size_t sizes[] = {0, 1, 4095, 64 * KiB + 3, 1 * MiB + 7};

// A file holding pattern[base, base + n).
void fill_file(TempFile& f, const Pattern& p, std::uint64_t base, std::size_t n) {
  std::vector<std::byte> tmp(4 * MiB);
  for (std::size_t off = 0; off < n;) {
    std::size_t k = std::min(tmp.size(), n - off);
    p.fill(base + off, std::span(tmp.data(), k));
    f.write_at(off, std::span<const std::byte>(tmp.data(), k));
    off += k;
  }
}

// file -> socket (with an optional header of pattern[0, header)), received by
// the engine on the other end and checked byte for byte.
void file_to_socket(EngineFixture& f, Strategy strategy, std::size_t n, std::size_t header_bytes = 0) {
  Engine& e = f.engine();
  Transfers& t = f.state<Transfers>(e);
  const Pattern pattern(201 + n % 7);
  TempFile tf;
  fill_file(tf, pattern, header_bytes, n);
  File file = open_file(e, tf.path(), O_RDONLY);
  SocketPair p = engine_pair(e);
  StreamSink& sink = f.state<StreamSink>(pattern);
  BOOST_REQUIRE(start_sink(e, p.b, sink));
  const std::vector<std::byte> header = pattern.make(0, header_bytes);
  TransferOptions o;
  o.strategy = strategy;
  o.header = header;
  Outcome& out = f.state<Outcome>();
  BOOST_REQUIRE(t.start(Source::file(file, 0, n), Sink::socket(p.a), o, on_done(out), on_progress(out)));
  RX_REQUIRE_UNTIL_INFO(e, out.done(), big_stream_deadline, sink);
  RX_CHECK_OK(out.ec);
  BOOST_CHECK_EQUAL(out.result.bytes, n);
  BOOST_CHECK_EQUAL(out.result.header_bytes, header_bytes);
  if (n > 0) BOOST_CHECK_EQUAL(out.last_progress, n);
  e.shutdown(p.a, SHUT_WR, [](std::error_code) {});
  RX_REQUIRE_UNTIL_INFO(e, sink.done(), big_stream_deadline, sink);
  check_sink(sink, header_bytes + n);
  close_all(e, {p.a, p.b, file});
  BOOST_CHECK_EQUAL(t.active(), 0u);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(transfer)

BOOST_FIXTURE_TEST_CASE(file_to_socket_every_strategy_and_size, EngineFixture) {
  for (Strategy s : all_strategies) {
    for (std::size_t n : sizes) {
      BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s) << ", " << n << " bytes") { file_to_socket(*this, s, n); }
    }
  }
}

BOOST_FIXTURE_TEST_CASE(file_to_socket_64mib_every_strategy, EngineFixture) {
  for (Strategy s : all_strategies) {
    BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s)) { file_to_socket(*this, s, big_stream_bytes + 5); }
  }
}

BOOST_FIXTURE_TEST_CASE(header_then_body_every_strategy, EngineFixture) {
  for (Strategy s : all_strategies) {
    for (std::size_t n : {std::size_t(0), std::size_t(100), 70 * KiB, 3 * MiB}) {
      BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s) << ", body " << n) { file_to_socket(*this, s, n, 213); }
    }
  }
}

BOOST_FIXTURE_TEST_CASE(large_body_at_an_unaligned_offset_after_a_header, EngineFixture) {
  // `automatic` sends a large file body from a mapping of the file: the map
  // starts on a page boundary below the offset, and the body must start at
  // the offset itself, right behind its header, every byte in place.
  Transfers& t = state<Transfers>(engine());
  const std::size_t offset = 3 * 4096 + 1234, n = 6 * MiB + 77, header_bytes = 99;
  const Pattern pattern(218);
  TempFile tf(pattern, offset + n + 5000);
  File file = open_file(engine(), tf.path(), O_RDONLY);
  for (Strategy s : all_strategies) {
    BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s)) {
      SocketPair p = engine_pair(engine());
      StreamSink& sink = state<StreamSink>(pattern);
      sink.base = offset - header_bytes;  // the header is the pattern just before the body
      BOOST_REQUIRE(start_sink(engine(), p.b, sink));
      const std::vector<std::byte> header = pattern.make(offset - header_bytes, header_bytes);
      Outcome& out = state<Outcome>();
      TransferOptions o;
      o.strategy = s;
      o.header = header;
      BOOST_REQUIRE(t.start(Source::file(file, std::int64_t(offset), n), Sink::socket(p.a), o, on_done(out),
                            on_progress(out)));
      RX_REQUIRE_UNTIL_INFO(engine(), out.done(), big_stream_deadline, sink);
      RX_CHECK_OK(out.ec);
      BOOST_CHECK_EQUAL(out.result.bytes, n);
      BOOST_CHECK_EQUAL(out.result.header_bytes, header_bytes);
      BOOST_CHECK_EQUAL(out.last_progress, n);
      engine().shutdown(p.a, SHUT_WR, [](std::error_code) {});
      RX_REQUIRE_UNTIL_INFO(engine(), sink.done(), big_stream_deadline, sink);
      check_sink(sink, header_bytes + n);
      close_all(engine(), {p.a, p.b});
      BOOST_CHECK_EQUAL(t.active(), 0u);
    }
  }
  RX_CHECK_OK(close_and_wait(engine(), file));
}

BOOST_FIXTURE_TEST_CASE(memory_to_socket_and_file, EngineFixture) {
  Transfers& t = state<Transfers>(engine());
  const Pattern pattern(211);
  for (Strategy s : {Strategy::automatic, Strategy::copy, Strategy::zerocopy}) {
    for (std::size_t n : {std::size_t(0), std::size_t(1), 200 * KiB + 1, big_stream_bytes + 1}) {
      BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s) << ", " << n << " bytes") {
        const std::vector<std::byte> data = pattern.make(0, n);
        const std::span<const std::byte> all(data);
        const std::span<const std::byte> pieces[] = {all.first(n / 3), all.subspan(n / 3, n / 3), all.subspan(2 * (n / 3))};
        // To a socket.
        SocketPair p = engine_pair(engine());
        StreamSink& sink = state<StreamSink>(pattern);
        BOOST_REQUIRE(start_sink(engine(), p.b, sink));
        Outcome& out = state<Outcome>();
        TransferOptions o;
        o.strategy = s;
        BOOST_REQUIRE(t.start(Source::memory(pieces), Sink::socket(p.a), o, on_done(out)));
        RX_REQUIRE_UNTIL(engine(), out.done(), big_stream_deadline);
        RX_CHECK_OK(out.ec);
        BOOST_CHECK_EQUAL(out.result.bytes, n);
        engine().shutdown(p.a, SHUT_WR, [](std::error_code) {});
        RX_REQUIRE_UNTIL(engine(), sink.done(), big_stream_deadline);
        check_sink(sink, n);
        close_all(engine(), {p.a, p.b});
        // To a file at an offset.
        TempFile tf;
        File file = open_file(engine(), tf.path(), O_RDWR);
        Outcome& fout = state<Outcome>();
        BOOST_REQUIRE(t.start(Source::memory(pieces), Sink::file(file, 0), o, on_done(fout)));
        RX_REQUIRE_UNTIL(engine(), fout.done(), big_stream_deadline);
        RX_CHECK_OK(fout.ec);
        BOOST_CHECK_EQUAL(fout.result.bytes, n);
        BOOST_CHECK(tf.read_all() == data);
        RX_CHECK_OK(close_and_wait(engine(), file));
      }
    }
  }
}

BOOST_FIXTURE_TEST_CASE(socket_to_file_and_file_to_file, EngineFixture) {
  Transfers& t = state<Transfers>(engine());
  const Pattern pattern(212);
  for (Strategy s : {Strategy::automatic, Strategy::copy, Strategy::splice}) {
    for (std::size_t n : {std::size_t(0), std::size_t(10), 1 * MiB + 1, big_stream_bytes + 3}) {
      BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s) << ", " << n << " bytes") {
        const std::vector<std::byte> data = pattern.make(0, n);
        // socket -> file until the peer shuts down.
        HalfPair h = half_pair(engine());
        TempFile tf;
        File file = open_file(engine(), tf.path(), O_RDWR);
        Outcome& out = state<Outcome>();
        TransferOptions o;
        o.strategy = s;
        BOOST_REQUIRE(t.start(Source::socket(h.sock), Sink::file(file, 0), o, on_done(out)));
        std::size_t sent = 0;
        set_nonblocking(h.peer.get());
        RX_REQUIRE_UNTIL(engine(), [&] {
          while (sent < n) {
            ssize_t k = ::send(h.peer.get(), data.data() + sent, n - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k <= 0) break;
            sent += std::size_t(k);
          }
          if (sent == n && h.peer) ::shutdown(h.peer.get(), SHUT_WR);
          return out.done();
        }(), big_stream_deadline);
        RX_CHECK_OK(out.ec);
        BOOST_CHECK_EQUAL(out.result.bytes, n);
        BOOST_CHECK(tf.read_all() == data);
        // file -> file.
        TempFile copy;
        File dst = open_file(engine(), copy.path(), O_RDWR);
        Outcome& fout = state<Outcome>();
        BOOST_REQUIRE(t.start(Source::file(file, 0, n), Sink::file(dst, 0), o, on_done(fout)));
        RX_REQUIRE_UNTIL(engine(), fout.done(), big_stream_deadline);
        RX_CHECK_OK(fout.ec);
        BOOST_CHECK(copy.read_all() == data);
        close_all(engine(), {h.sock, file, dst});
      }
    }
  }
}

BOOST_FIXTURE_TEST_CASE(a_shrinking_file_ends_with_transfer_incomplete, EngineFixture) {
  Transfers& t = state<Transfers>(engine());
  for (Strategy s : all_strategies) {
    BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s)) {
      const std::size_t n = 8 * MiB;
      TempFile tf(Pattern(213), n);
      File file = open_file(engine(), tf.path(), O_RDONLY);
      SocketPair p = engine_pair(engine());
      StreamSink& sink = state<StreamSink>(Pattern(213));
      BOOST_REQUIRE(start_sink(engine(), p.b, sink));
      BOOST_REQUIRE(::ftruncate(tf.fd(), off_t(1 * MiB)) == 0);  // shrinks before the transfer reads it
      Outcome& out = state<Outcome>();
      TransferOptions o;
      o.strategy = s;
      BOOST_REQUIRE(t.start(Source::file(file, 0, n), Sink::socket(p.a), o, on_done(out)));
      RX_REQUIRE_UNTIL(engine(), out.done(), big_stream_deadline);
      BOOST_CHECK_MESSAGE(out.ec == ringxfer::error::transfer_incomplete, describe(out.ec));
      BOOST_CHECK_EQUAL(out.result.bytes, 1 * MiB);
      engine().shutdown(p.a, SHUT_WR, [](std::error_code) {});
      RX_REQUIRE_UNTIL(engine(), sink.done(), big_stream_deadline);
      check_sink(sink, 1 * MiB);
      close_all(engine(), {p.a, p.b, file});
    }
  }
}

BOOST_FIXTURE_TEST_CASE(a_file_cut_mid_transfer_sends_every_byte_before_the_cut, EngineFixture) {
  // The file shrinks while its transfer runs (once 2 MiB have moved), to a
  // size off a page boundary and past whatever is in flight (a copy reads at
  // most a window of buffers ahead, a splice holds at most one pipe): every
  // byte below the cut arrives as it was, the transfer ends with
  // transfer_incomplete, and it reports exactly what the peer received.
  Transfers& t = state<Transfers>(engine());
  for (Strategy s : all_strategies) {
    BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s)) {
      const std::size_t n = 16 * MiB;
      TempFile tf(Pattern(216), n);
      File file = open_file(engine(), tf.path(), O_RDONLY);
      SocketPair p = engine_pair(engine());
      StreamSink& sink = state<StreamSink>(Pattern(216));
      BOOST_REQUIRE(start_sink(engine(), p.b, sink));
      Outcome& out = state<Outcome>();
      std::size_t cut = 0;
      int truncate_rc = 0;
      auto cut_the_file = [&cut, &truncate_rc, fd = tf.fd()](std::size_t moved) {
        if (cut != 0 || moved < 2 * MiB) return;
        cut = moved + 3 * MiB + 1234;
        truncate_rc = ::ftruncate(fd, off_t(cut));
      };
      TransferOptions o;
      o.strategy = s;
      o.progress_step_bytes = 512 * KiB;  // else a splice or sendfile reports once, at its end
      BOOST_REQUIRE(t.start(Source::file(file, 0, n), Sink::socket(p.a), o, on_done(out), cut_the_file));
      RX_REQUIRE_UNTIL_INFO(engine(), out.done(), big_stream_deadline, sink);
      BOOST_REQUIRE_MESSAGE(cut != 0 && cut < n, "the transfer moved " << out.result.bytes << " bytes without a cut");
      BOOST_REQUIRE_EQUAL(truncate_rc, 0);
      BOOST_CHECK_MESSAGE(out.ec == ringxfer::error::transfer_incomplete, describe(out.ec));
      BOOST_CHECK_GE(out.result.bytes, cut);
      BOOST_CHECK_LT(out.result.bytes, n);
      engine().shutdown(p.a, SHUT_WR, [](std::error_code) {});
      RX_REQUIRE_UNTIL_INFO(engine(), sink.done(), big_stream_deadline, sink);
      BOOST_CHECK_EQUAL(sink.received, out.result.bytes);
      BOOST_CHECK_MESSAGE(sink.mismatch_at >= cut, "byte " << sink.mismatch_at << " below the cut at " << cut
                                                              << " differs from the file");
      close_all(engine(), {p.a, p.b, file});
      BOOST_CHECK_EQUAL(t.active(), 0u);
    }
  }
}

BOOST_FIXTURE_TEST_CASE(peer_reset_or_gone_ends_with_an_error_and_the_bytes_moved, EngineFixture) {
  Transfers& t = state<Transfers>(engine());
  const std::size_t n = 32 * MiB;
  TempFile tf(Pattern(214), n);
  File file = open_file(engine(), tf.path(), O_RDONLY);
  for (Strategy s : all_strategies) {
    for (bool reset : {true, false}) {
      BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s) << (reset ? ", peer resets" : ", peer closes")) {
        HalfPair h = half_pair(engine());
        Outcome& out = state<Outcome>();
        TransferOptions o;
        o.strategy = s;
        BOOST_REQUIRE(t.start(Source::file(file, 0, n), Sink::socket(h.sock), o, on_done(out)));
        run_for(engine(), 20ms);
        if (reset) close_with_reset(h.peer);
        else h.peer.reset();
        RX_REQUIRE_UNTIL(engine(), out.done(), big_stream_deadline);
        BOOST_CHECK_MESSAGE(out.ec == std::errc::connection_reset || out.ec == std::errc::broken_pipe,
                            describe(out.ec));
        BOOST_CHECK_LT(out.result.bytes, n);
        RX_CHECK_OK(close_and_wait(engine(), h.sock));
      }
    }
  }
  RX_CHECK_OK(close_and_wait(engine(), file));
  BOOST_CHECK_EQUAL(sigpipe_count.load(), 0);
}

BOOST_FIXTURE_TEST_CASE(cancel_ends_with_the_bytes_moved, EngineFixture) {
  Transfers& t = state<Transfers>(engine());
  const std::size_t n = 64 * MiB;
  TempFile tf(Pattern(215), n);
  File file = open_file(engine(), tf.path(), O_RDONLY);
  for (Strategy s : all_strategies) {
    BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s)) {
      HalfPair h = half_pair(engine());  // the peer never reads: the transfer stalls
      Outcome& out = state<Outcome>();
      TransferOptions o;
      o.strategy = s;
      ringxfer::TransferId id = t.start(Source::file(file, 0, n), Sink::socket(h.sock), o, on_done(out));
      BOOST_REQUIRE(id);
      run_for(engine(), 30ms);
      BOOST_CHECK(!out.done());
      BOOST_CHECK(t.cancel(id));
      RX_REQUIRE_UNTIL(engine(), out.done(), short_deadline);
      BOOST_CHECK(is_canceled(out.ec));
      BOOST_CHECK_LT(out.result.bytes, n);
      BOOST_CHECK(!t.cancel(id));
      RX_CHECK_OK(close_and_wait(engine(), h.sock));
    }
  }
  RX_CHECK_OK(close_and_wait(engine(), file));
}

BOOST_FIXTURE_TEST_CASE(cancel_stops_a_memory_body_stalled_in_its_send, EngineFixture) {
  // A memory body to a socket goes out in one gathered sendmsg; a peer that
  // never reads stalls it. cancel() must stop that send too.
  Transfers& t = state<Transfers>(engine());
  const std::vector<std::byte> body = Pattern(217).make(0, 64 * MiB);
  for (Strategy s : {Strategy::automatic, Strategy::copy}) {
    BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s)) {
      HalfPair h = half_pair(engine());
      Outcome& out = state<Outcome>();
      TransferOptions o;
      o.strategy = s;
      ringxfer::TransferId id = t.start(Source::memory(body), Sink::socket(h.sock), o, on_done(out));
      BOOST_REQUIRE(id);
      run_for(engine(), 30ms);
      BOOST_CHECK(!out.done());
      BOOST_CHECK(t.cancel(id));
      RX_REQUIRE_UNTIL(engine(), out.done(), short_deadline);
      BOOST_CHECK(is_canceled(out.ec));
      BOOST_CHECK_LT(out.result.bytes, body.size());
      RX_CHECK_OK(close_and_wait(engine(), h.sock));
    }
  }
}

BOOST_FIXTURE_TEST_CASE(relay_passes_a_fin_one_way_and_keeps_the_other, EngineFixture) {
  Transfers& t = state<Transfers>(engine());
  for (Strategy s : {Strategy::automatic, Strategy::copy, Strategy::splice}) {
    BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s)) {
      // client.a <-> client.b =relay= server.a <-> server.b
      SocketPair client = engine_pair(engine());
      SocketPair server = engine_pair(engine());
      struct RelayDone {
        int calls = 0;
        std::error_code ec;
        ringxfer::RelayResult r;
      };
      RelayDone& rd = state<RelayDone>();
      ringxfer::RelayOptions o;
      o.strategy = s;
      BOOST_REQUIRE(t.relay(client.b, server.a, o, [p = &rd](std::error_code ec, const ringxfer::RelayResult& r) {
        ++p->calls;
        p->ec = ec;
        p->r = r;
      }));
      const Pattern up(216), down(217);
      const std::size_t up_bytes = 6 * MiB + 1, down_bytes = 9 * MiB + 3;
      StreamSink& at_server = state<StreamSink>(up);
      StreamSink& at_client = state<StreamSink>(down);
      BOOST_REQUIRE(start_sink(engine(), server.b, at_server));
      BOOST_REQUIRE(start_sink(engine(), client.a, at_client));
      // Upstream first, then its FIN; downstream keeps flowing after it.
      ChainSender& tx_up = state<ChainSender>(engine(), client.a, up.make(0, up_bytes));
      tx_up.start();
      RX_REQUIRE_UNTIL_INFO(engine(), at_server.done(), big_stream_deadline, at_server);
      check_sink(at_server, up_bytes);  // eof arrived: the FIN was passed on
      BOOST_CHECK_EQUAL(rd.calls, 0);   // ... and the other way still runs
      ChainSender& tx_down = state<ChainSender>(engine(), server.b, down.make(0, down_bytes));
      tx_down.start();
      RX_REQUIRE_UNTIL_INFO(engine(), at_client.done() && rd.calls > 0, big_stream_deadline, at_client);
      check_sink(at_client, down_bytes);
      RX_CHECK_OK(rd.ec);
      BOOST_CHECK_EQUAL(rd.r.a_to_b, up_bytes);
      BOOST_CHECK_EQUAL(rd.r.b_to_a, down_bytes);
      close_all(engine(), {client.a, client.b, server.a, server.b});
    }
  }
}

BOOST_FIXTURE_TEST_CASE(relay_with_a_stalled_sink_holds_bounded_memory, EngineFixture) {
  Transfers& t = state<Transfers>(engine());
  for (Strategy s : {Strategy::copy, Strategy::splice}) {
    BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s)) {
      HalfPair client = half_pair(engine());
      HalfPair server = half_pair(engine());  // server.peer never reads
      int calls = 0;
      ringxfer::RelayOptions o;
      o.strategy = s;
      ringxfer::TransferId id = t.relay(client.sock, server.sock, o,
                                        [c = &calls](std::error_code, const ringxfer::RelayResult&) { ++*c; });
      BOOST_REQUIRE(id);
      set_nonblocking(client.peer.get());
      std::vector<std::byte> chunk(256 * KiB);
      std::size_t pushed = 0;
      const std::uint32_t ops_before = engine().slot_usage().op_slots_in_use;
      for (int i = 0; i < 200; ++i) {
        ssize_t k = ::send(client.peer.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) pushed += std::size_t(k);
        engine().run_once(2ms);
      }
      const std::uint32_t ops_during = engine().slot_usage().op_slots_in_use;
      BOOST_TEST_MESSAGE(ringxfer::to_string(s) << ": pushed " << pushed << " bytes into a stalled relay; ops "
                                                << ops_before << " -> " << ops_during);
      // The relay holds its window, not everything the client can push.
      BOOST_CHECK_LE(ops_during, ops_before + 8);
      BOOST_CHECK_LT(pushed, 64 * MiB);
      BOOST_CHECK(t.cancel(id));
      RX_REQUIRE_UNTIL(engine(), calls == 1, short_deadline);
      close_all(engine(), {client.sock, server.sock});
    }
  }
}

BOOST_AUTO_TEST_CASE(strategy_names_round_trip) {
  for (Strategy s : all_strategies) {
    Strategy back{};
    BOOST_CHECK(ringxfer::parse_strategy(ringxfer::to_string(s), back));
    BOOST_CHECK(back == s);
  }
  Strategy x{};
  BOOST_CHECK(!ringxfer::parse_strategy("fast", x));
}

BOOST_AUTO_TEST_SUITE_END()
