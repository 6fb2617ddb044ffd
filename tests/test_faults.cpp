// Faults in the middle of the work (issue 10, item 1), on every variant: the
// peer resets while a zero-copy send or a splice is under way, or resets while
// its bytes are still arriving; the peer half-closes and the other way keeps
// going; a file is truncated while a transfer is reading it; cancel races the
// completion it cancels, thousands of times. Each ends with one handler call,
// an error that says what happened and the bytes moved — never a hang, a lost
// byte or a SIGPIPE.
#include <thread>

#include "support.hpp"

using namespace rxtest;
using ringxfer::Sink;
using ringxfer::Source;
using ringxfer::Strategy;
using ringxfer::TransferOptions;
using ringxfer::TransferResult;
using ringxfer::Transfers;

namespace {

bool is_dead_peer_error(const std::error_code& ec) {
  return ec == std::errc::connection_reset || ec == std::errc::broken_pipe;
}

// Reads whatever a plain non-blocking socket has; returns the bytes read (0 at
// EAGAIN), sets `eof` at end of stream.
std::size_t drain(int fd, std::vector<std::byte>* keep, bool& eof) {
  std::byte tmp[64 * 1024];
  std::size_t total = 0;
  for (;;) {
    const ssize_t k = ::recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
    if (k > 0) {
      if (keep) keep->insert(keep->end(), tmp, tmp + k);
      total += std::size_t(k);
      continue;
    }
    if (k == 0) eof = true;
    return total;
  }
}

enum class Writer { send_zc, splice_file_offset, splice_file_stream, splice_socket };

const char* name_of(Writer w) {
  switch (w) {
    case Writer::send_zc: return "send_zc chain";
    case Writer::splice_file_offset: return "splice file(offset)->socket";
    case Writer::splice_file_stream: return "splice file(stream)->socket";
    case Writer::splice_socket: return "splice socket->socket";
  }
  return "?";
}

// A chain of send_zc of whole pool buffers, each started from the previous
// result, until one fails or `limit` bytes are sent.
struct ZcChain {
  Engine* engine = nullptr;
  Socket socket;
  Pattern pattern{93};
  std::size_t sent = 0;
  std::size_t limit = 0;
  int results = 0;
  bool ended = false;
  std::error_code error;

  void next() {
    if (sent >= limit) {
      ended = true;
      return;
    }
    Buffer b = engine->acquire_buffer();
    if (!b) {  // every buffer waits for its notification: try again next turn
      engine->timeout(std::chrono::milliseconds(1), [self = this](std::error_code) { self->next(); });
      return;
    }
    b.resize(b.capacity());
    pattern.fill(sent, b.storage().first(b.size()));
    engine->send_zc(socket, std::move(b), [self = this](std::error_code ec, std::size_t n) {
      ++self->results;
      self->sent += n;
      if (ec) {
        self->ended = true;
        self->error = ec;
        return;
      }
      self->next();
    });
  }
};

// The peer of `dst` reads nothing (tiny receive buffer), the writer fills
// every buffer on the way, and then the peer resets. The writer must end once,
// with connection_reset or broken_pipe, having moved less than it was asked.
void reset_mid_write(EngineFixture& fx, Writer w) {
  BOOST_TEST_CONTEXT(name_of(w)) {
    Engine& e = fx.engine();
    const std::size_t n = 64 * MiB;
    const Pattern pattern(93);
    TempFile tf(pattern, 8 * MiB);  // the splice reads wrap nowhere: n is never reached
    File file = open_file(e, tf.path(), O_RDONLY);
    HalfPair src = half_pair(e);
    HalfPair dst = half_pair(e);
    set_int_sockopt(dst.peer.get(), SOL_SOCKET, SO_RCVBUF, 4096);
    set_nonblocking(src.peer.get());
    const std::vector<std::byte> fill = pattern.make(0, 256 * KiB);
    const int sigpipes_before = sigpipe_count.load();

    Once& op = fx.state<Once>();
    ZcChain& chain = fx.state<ZcChain>();
    switch (w) {
      case Writer::send_zc:
        chain.engine = &e;
        chain.socket = dst.sock;
        chain.limit = n;
        chain.next();
        break;
      case Writer::splice_file_offset:
        BOOST_REQUIRE(e.splice(file, 0, dst.sock, -1, 8 * MiB, record(op)));
        break;
      case Writer::splice_file_stream:
        BOOST_REQUIRE(e.splice(file, -1, dst.sock, -1, 8 * MiB, record(op)));
        break;
      case Writer::splice_socket:
        BOOST_REQUIRE(e.splice(src.sock, -1, dst.sock, -1, n, record(op)));
        break;
    }
    auto ended = [&] { return w == Writer::send_zc ? chain.ended : op.done(); };
    // Fill every buffer on the way (for socket -> socket, keep the source full).
    for (int i = 0; i < 40; ++i) {
      if (w == Writer::splice_socket) (void)::send(src.peer.get(), fill.data(), fill.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      e.run_once(2ms);
    }
    BOOST_REQUIRE_MESSAGE(!ended(), "the write ended before the reset: " << describe(op.ec) << " / "
                                                                         << describe(chain.error));
    close_with_reset(dst.peer);
    RX_REQUIRE_UNTIL_INFO(e, ended(), short_deadline,
                          "zc results " << chain.results << ", sent " << chain.sent << "; splice moved " << op.bytes);
    run_for(e, 20ms);
    if (w == Writer::send_zc) {
      BOOST_CHECK_MESSAGE(is_dead_peer_error(chain.error), describe(chain.error));
      BOOST_CHECK_LT(chain.sent, n);
    } else {
      BOOST_CHECK_EQUAL(op.calls, 1);
      BOOST_CHECK_MESSAGE(is_dead_peer_error(op.ec), describe(op.ec));
      BOOST_CHECK_LT(op.bytes, 8 * MiB);
    }
    BOOST_CHECK_EQUAL(sigpipe_count.load(), sigpipes_before);
    close_all(e, {file, src.sock, dst.sock});
    // Every zero-copy buffer came back (its notification arrived).
    RX_REQUIRE_UNTIL(e, free_send_buffers(e) == send_buffer_count(), short_deadline);
  }
}

struct TransferOutcome {
  int calls = 0;
  std::error_code ec;
  TransferResult result;
  std::size_t progress = 0;
  bool done() const { return calls > 0; }
};

// The plain peer reads everything until eof; once the transfer has ended,
// our side shuts down its write side so that eof comes.
void read_until_eof(Engine& e, HalfPair& p, const TransferOutcome& out, std::vector<std::byte>& got) {
  bool eof = false;
  bool shut = false;
  auto step = [&] {
    drain(p.peer.get(), &got, eof);
    if (out.done() && !shut) {
      shut = true;
      e.shutdown(p.sock, SHUT_WR, [](std::error_code) {});
    }
    return eof;
  };
  RX_REQUIRE_UNTIL_INFO(e, step(), big_stream_deadline,
                        "peer got " << got.size() << ", transfer done " << out.done() << " (" << describe(out.ec) << ")");
}

constexpr Strategy all_strategies[] = {Strategy::automatic, Strategy::copy, Strategy::splice, Strategy::sendfile,
                                       Strategy::zerocopy};

}  // namespace

BOOST_AUTO_TEST_SUITE(faults)

BOOST_FIXTURE_TEST_CASE(peer_reset_mid_send_zc, EngineFixture) { reset_mid_write(*this, Writer::send_zc); }
BOOST_FIXTURE_TEST_CASE(peer_reset_mid_splice_file_offset, EngineFixture) {
  reset_mid_write(*this, Writer::splice_file_offset);
}
BOOST_FIXTURE_TEST_CASE(peer_reset_mid_splice_file_stream, EngineFixture) {
  reset_mid_write(*this, Writer::splice_file_stream);
}
BOOST_FIXTURE_TEST_CASE(peer_reset_mid_splice_socket, EngineFixture) { reset_mid_write(*this, Writer::splice_socket); }

// Bytes are still arriving when the peer resets: the recv delivers a prefix
// of the stream, byte-exact, then ends once with connection_reset.
BOOST_FIXTURE_TEST_CASE(peer_reset_while_bytes_arrive, EngineFixture) {
  for (int round = 0; round < 5; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      HalfPair p = half_pair(engine());
      set_nonblocking(p.peer.get());
      StreamSink& sink = state<StreamSink>(Pattern(94));
      BOOST_REQUIRE(start_sink(engine(), p.sock, sink));
      const std::vector<std::byte> data = sink.pattern.make(0, 4 * MiB);
      std::size_t pushed = 0;
      for (int i = 0; i < 10 + round * 7 && pushed < data.size(); ++i) {
        const ssize_t k = ::send(p.peer.get(), data.data() + pushed, std::min<std::size_t>(data.size() - pushed, 96 * KiB),
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k > 0) pushed += std::size_t(k);
        engine().run_once(1ms);
      }
      close_with_reset(p.peer);
      RX_REQUIRE_UNTIL_INFO(engine(), sink.done(), short_deadline, sink);
      run_for(engine(), 20ms);
      BOOST_CHECK_EQUAL(sink.final_calls, 1);
      BOOST_CHECK_EQUAL(sink.calls_after_final, 0);
      BOOST_CHECK_MESSAGE(is_dead_peer_error(sink.final_error), describe(sink.final_error));
      BOOST_CHECK_LE(sink.received, pushed);
      BOOST_CHECK_MESSAGE(sink.mismatch_at == UINT64_MAX, "stream differs at " << sink.mismatch_at);
      RX_CHECK_OK(close_and_wait(engine(), p.sock));
    }
  }
}

// The peer sends, then shuts down its write side: our recv ends with eof
// after every byte, and a transfer the other way (every strategy, file and
// memory sources) still delivers all of its bytes to the half-closed peer.
BOOST_FIXTURE_TEST_CASE(peer_half_close_keeps_the_other_way, EngineFixture) {
  Transfers& t = state<Transfers>(engine());
  const Pattern up(95), down(96);
  const std::size_t up_bytes = 256 * KiB + 5, down_bytes = 2 * MiB + 11;
  TempFile tf(down, down_bytes);
  File file = open_file(engine(), tf.path(), O_RDONLY);
  const std::vector<std::byte> down_data = down.make(0, down_bytes);
  for (Strategy s : all_strategies) {
    for (bool from_file : {true, false}) {
      if (!from_file && (s == Strategy::splice || s == Strategy::sendfile)) continue;
      BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s) << (from_file ? ", file" : ", memory")) {
        HalfPair p = half_pair(engine());
        StreamSink& sink = state<StreamSink>(up);
        BOOST_REQUIRE(start_sink(engine(), p.sock, sink));
        const std::vector<std::byte> data = up.make(0, up_bytes);
        std::thread writer([&] {
          std::size_t off = 0;
          while (off < data.size()) {
            const ssize_t k = ::send(p.peer.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL);
            if (k <= 0) break;
            off += std::size_t(k);
          }
          ::shutdown(p.peer.get(), SHUT_WR);
        });
        RX_REQUIRE_UNTIL_INFO(engine(), sink.done(), short_deadline, sink);
        writer.join();
        check_sink(sink, up_bytes);  // ended with eof, every byte there

        TransferOutcome& out = state<TransferOutcome>();
        TransferOptions o;
        o.strategy = s;
        const Source source = from_file ? Source::file(file, 0, down_bytes) : Source::memory(down_data);
        BOOST_REQUIRE(t.start(source, Sink::socket(p.sock), o,
                              [q = &out](std::error_code ec, const TransferResult& r) {
                                ++q->calls;
                                q->ec = ec;
                                q->result = r;
                              }));
        set_nonblocking(p.peer.get());
        std::vector<std::byte> got;
        read_until_eof(engine(), p, out, got);
        RX_CHECK_OK(out.ec);
        BOOST_CHECK_EQUAL(out.result.bytes, down_bytes);
        BOOST_CHECK_EQUAL(got.size(), down_bytes);
        BOOST_CHECK(got == down_data);
        RX_CHECK_OK(close_and_wait(engine(), p.sock));
      }
    }
  }
  RX_CHECK_OK(close_and_wait(engine(), file));
}

// The file is truncated while the transfer is stalled on a peer that does
// not read. When the peer reads again the transfer ends — never hangs — with
// transfer_incomplete and exactly the bytes the peer got: to 0 (the end is
// already behind the transfer) and to a length still ahead of it (every byte
// up to it arrives, byte-exact).
BOOST_FIXTURE_TEST_CASE(file_truncated_during_a_transfer, EngineFixture) {
  Transfers& t = state<Transfers>(engine());
  const std::size_t n = 8 * MiB;
  const Pattern pattern(97);
  for (Strategy s : all_strategies) {
    for (std::size_t cut : {std::size_t(0), 4 * MiB + 1}) {
      BOOST_TEST_CONTEXT("strategy " << ringxfer::to_string(s) << ", truncated to " << cut) {
        TempFile tf(pattern, n);
        File file = open_file(engine(), tf.path(), O_RDONLY);
        // (The peer keeps its default receive buffer: with a tiny one, the
        // window would open again only on TCP's persist timer.)
        HalfPair p = half_pair(engine());
        // A small send buffer keeps what moves before the cut well below it.
        set_int_sockopt(engine().native_handle(p.sock), SOL_SOCKET, SO_SNDBUF, 256 * 1024);
        TransferOutcome& out = state<TransferOutcome>();
        TransferOptions o;
        o.strategy = s;
        BOOST_REQUIRE(t.start(
            Source::file(file, 0, n), Sink::socket(p.sock), o,
            [q = &out](std::error_code ec, const TransferResult& r) {
              ++q->calls;
              q->ec = ec;
              q->result = r;
            },
            [q = &out](std::size_t b) { q->progress = b; }));
        run_for(engine(), 40ms);
        BOOST_REQUIRE(!out.done());
        const std::size_t before = out.progress;
        BOOST_REQUIRE_MESSAGE(before < 4 * MiB, "moved " << before << " bytes into a stalled peer");
        BOOST_REQUIRE(::ftruncate(tf.fd(), off_t(cut)) == 0);
        set_nonblocking(p.peer.get());
        std::vector<std::byte> got;
        read_until_eof(engine(), p, out, got);
        BOOST_CHECK_MESSAGE(out.ec == ringxfer::error::transfer_incomplete, describe(out.ec));
        BOOST_CHECK_EQUAL(got.size(), out.result.bytes);
        BOOST_CHECK_LT(out.result.bytes, n);
        if (cut > before) {
          BOOST_CHECK_EQUAL(out.result.bytes, cut);
          BOOST_CHECK_EQUAL(pattern.first_mismatch(0, got), got.size());
        }
        close_all(engine(), {p.sock, file});
      }
    }
  }
}

// cancel() against completions that are due at the same moment: a 0 s
// timeout, a send of up to 4 MiB to a peer that reads only after the cancel
// (so it may be cut anywhere: before it starts, part-way, or after it
// ended), a recv with bytes waiting; cancelled after 0..2 loop turns. Each
// handler runs exactly once; a cancel that returned false found nothing in
// flight; the bytes the sends report are exactly the bytes the peer read.
BOOST_FIXTURE_TEST_CASE(cancel_racing_completion, EngineFixture) {
  Engine& e = engine();
  HalfPair out = half_pair(e);
  HalfPair in = half_pair(e);
  set_nonblocking(in.peer.get());
  set_nonblocking(out.peer.get());
  // Small socket buffers: most sends are still going when the cancel comes.
  set_int_sockopt(e.native_handle(out.sock), SOL_SOCKET, SO_SNDBUF, 64 * 1024);
  struct Round {
    Once timer, send, recv_end;
    std::size_t recv_bytes = 0;
    int recv_calls = 0;
  };
  const std::vector<std::byte> data = Pattern(98).make(0, 4 * MiB);
  Rng rng(99);
  std::size_t reported = 0, peer_read = 0;
  int canceled = 0, partial = 0, completed = 0;
  bool eof = false;
  const int rounds = 200;
  const auto t0 = Clock::now();
  for (int i = 0; i < rounds; ++i) {
    Round& r = state<Round>();
    OpId timer = e.timeout(0ns, record(r.timer));
    OpId send = e.send(out.sock, std::span<const std::byte>(data).first(rng.between(1, data.size())), record(r.send));
    (void)::send(in.peer.get(), data.data(), 1000, MSG_DONTWAIT | MSG_NOSIGNAL);
    OpId recv = e.recv(in.sock, [q = &r](std::error_code ec, Buffer b) {
      ++q->recv_calls;
      if (ec) q->recv_end.record(ec);
      else q->recv_bytes += b.size();
    });
    BOOST_REQUIRE(timer && send && recv);
    const int turns = int(rng.next() % 3);
    for (int k = 0; k < turns; ++k) e.poll();
    const bool c_timer = e.cancel(timer), c_send = e.cancel(send), c_recv = e.cancel(recv);
    if (!c_timer) BOOST_CHECK_EQUAL(r.timer.calls, 1);
    if (!c_send) BOOST_CHECK_EQUAL(r.send.calls, 1);
    if (!c_recv) BOOST_CHECK_EQUAL(r.recv_end.calls, 1);
    RX_REQUIRE_UNTIL(e, (peer_read += drain(out.peer.get(), nullptr, eof),
                         r.timer.done() && r.send.done() && r.recv_end.done()),
                     short_deadline);
    e.poll();
    BOOST_CHECK_EQUAL(r.timer.calls, 1);
    BOOST_CHECK_EQUAL(r.send.calls, 1);
    BOOST_CHECK_EQUAL(r.recv_end.calls, 1);
    BOOST_CHECK(!r.timer.ec || is_canceled(r.timer.ec));
    BOOST_CHECK_MESSAGE(!r.send.ec || is_canceled(r.send.ec), describe(r.send.ec));
    BOOST_CHECK_MESSAGE(is_canceled(r.recv_end.ec), describe(r.recv_end.ec));
    if (!r.send.ec) ++completed;
    else if (r.send.bytes > 0) ++partial;
    else ++canceled;
    reported += r.send.bytes;
    // What the cancelled recv did not take is still in the socket: read it
    // with plain recv so the next round starts empty (the engine's recv owns
    // the socket only until its final call).
    std::byte junk[4096];
    while (::recv(e.native_handle(in.sock), junk, sizeof junk, MSG_DONTWAIT) > 0) {
    }
  }
  e.shutdown(out.sock, SHUT_WR, [](std::error_code) {});
  RX_REQUIRE_UNTIL(e, (peer_read += drain(out.peer.get(), nullptr, eof), eof), short_deadline);
  BOOST_TEST_MESSAGE(variant_name() << ": " << rounds << " rounds in "
                                    << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()
                                    << " ms; sends cancelled before a byte " << canceled << ", part-way " << partial
                                    << ", completed " << completed);
  BOOST_CHECK_EQUAL(peer_read, reported);
  close_all(e, {out.sock, in.sock});
}

// Transfers cancelled while they run or just as they end: every strategy,
// file and memory sources of 1 B to 512 KiB, cancel after 0..3 loop turns.
// Each handler runs once, with success or operation_canceled, and the bytes
// the transfers report are exactly the bytes the other end received.
BOOST_FIXTURE_TEST_CASE(transfer_cancel_racing_its_end, EngineFixture) {
  Engine& e = engine();
  Transfers& t = state<Transfers>(e);
  const Pattern pattern(100);
  const std::size_t max_bytes = 512 * KiB;
  TempFile tf(pattern, max_bytes);
  File file = open_file(e, tf.path(), O_RDONLY);
  const std::vector<std::byte> data = pattern.make(0, max_bytes);
  SocketPair p = engine_pair(e);
  StreamSink& sink = state<StreamSink>();
  sink.mismatch_at = 0;  // holes where transfers were cancelled: count bytes only
  BOOST_REQUIRE(start_sink(e, p.b, sink));
  Rng rng(101);
  std::size_t reported = 0;
  int canceled = 0, completed = 0;
  const int rounds = 300;
  for (int i = 0; i < rounds; ++i) {
    const Strategy s = all_strategies[std::size_t(i) % std::size(all_strategies)];
    const bool from_file = (i / 5) % 2 == 0;
    const std::size_t n = rng.between(1, max_bytes);
    TransferOutcome& out = state<TransferOutcome>();
    TransferOptions o;
    o.strategy = s;
    const Source source = from_file ? Source::file(file, 0, n) : Source::memory(std::span(data).first(n));
    ringxfer::TransferId id = t.start(source, Sink::socket(p.a), o, [q = &out](std::error_code ec, const TransferResult& r) {
      ++q->calls;
      q->ec = ec;
      q->result = r;
    });
    BOOST_REQUIRE(id);
    const int turns = int(rng.next() % 4);
    for (int k = 0; k < turns; ++k) e.poll();
    const bool was_running = t.cancel(id);
    if (!was_running) BOOST_CHECK_EQUAL(out.calls, 1);
    RX_REQUIRE_UNTIL(e, out.done(), short_deadline);
    e.poll();
    BOOST_TEST_CONTEXT("round " << i << ", strategy " << ringxfer::to_string(s) << ", " << n << " bytes") {
      BOOST_CHECK_EQUAL(out.calls, 1);
      BOOST_CHECK_MESSAGE(!out.ec || is_canceled(out.ec), describe(out.ec));
      if (!out.ec) BOOST_CHECK_EQUAL(out.result.bytes, n);
      BOOST_CHECK_LE(out.result.bytes, n);
    }
    (out.ec ? canceled : completed) += 1;
    reported += out.result.bytes;
  }
  BOOST_CHECK_EQUAL(t.active(), 0u);
  e.shutdown(p.a, SHUT_WR, [](std::error_code) {});
  RX_REQUIRE_UNTIL_INFO(e, sink.done(), short_deadline, sink);
  BOOST_TEST_MESSAGE(variant_name() << ": " << rounds << " transfers: cancelled " << canceled << ", completed "
                                    << completed);
  BOOST_CHECK_EQUAL(sink.received, reported);
  BOOST_CHECK_MESSAGE(sink.final_error == ringxfer::error::eof, describe(sink.final_error));
  close_all(e, {p.a, p.b, file});
}

BOOST_AUTO_TEST_SUITE_END()
