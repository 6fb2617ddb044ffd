// No SIGPIPE, ever: every operation that writes to a socket whose write side
// is dead (peer reset, peer gone, or our own shutdown(SHUT_WR)) completes with
// broken_pipe or connection_reset, and the process gets no signal. send-type
// ops use MSG_NOSIGNAL; splice(2) and sendfile(2) have no such flag, so the
// epoll backend keeps SIGPIPE from being delivered itself.
#include <sys/wait.h>

#include "support.hpp"

using namespace rxtest;

namespace {

enum class WriteKind {
  send,
  sendv,
  send_zc,
  write,                // write() of a pool buffer on a socket
  splice_file_offset,   // file (explicit offset) -> socket: sendfile(2) on epoll
  splice_file_stream,   // file (file position) -> pipe -> socket
  splice_socket,        // socket -> pipe -> socket
};

const char* name_of(WriteKind k) {
  switch (k) {
    case WriteKind::send: return "send";
    case WriteKind::sendv: return "sendv";
    case WriteKind::send_zc: return "send_zc";
    case WriteKind::write: return "write";
    case WriteKind::splice_file_offset: return "splice file(offset)->socket";
    case WriteKind::splice_file_stream: return "splice file(stream)->socket";
    case WriteKind::splice_socket: return "splice socket->socket";
  }
  return "?";
}

enum class Death { own_shutdown, peer_reset, peer_shut_rd_and_closed };

const char* name_of(Death d) {
  switch (d) {
    case Death::own_shutdown: return "own shutdown(SHUT_WR)";
    case Death::peer_reset: return "peer reset";
    case Death::peer_shut_rd_and_closed: return "peer shutdown(SHUT_RD) and close";
  }
  return "?";
}

constexpr std::size_t chunk_bytes = 64 * KiB;
constexpr int max_attempts = 8;

bool is_dead_socket_error(const std::error_code& ec) {
  return ec == std::errc::broken_pipe || ec == std::errc::connection_reset;
}

// Writes to a socket made dead by `death`, one op at a time, until an op has
// failed with broken_pipe (the error that comes with SIGPIPE) — at most
// max_attempts ops. Every op must succeed or fail with broken_pipe or
// connection_reset, and no SIGPIPE may arrive.
void write_to_dead_socket(EngineFixture& fx, WriteKind kind, Death death) {
  BOOST_TEST_CONTEXT(name_of(kind) << " after " << name_of(death)) {
    Engine& e = fx.engine();
    const Pattern pattern(77);
    struct St {
      std::vector<std::byte> data;
      std::span<const std::byte> pieces[2];
      Once op;
    };
    St& st = fx.state<St>();
    st.data = pattern.make(0, chunk_bytes);
    st.pieces[0] = std::span<const std::byte>(st.data).first(100);
    st.pieces[1] = std::span<const std::byte>(st.data).subspan(100);

    TempFile file(pattern, 2 * MiB);
    ringxfer::File f = open_file(e, file.path(), O_RDONLY);
    HalfPair src = half_pair(e);  // the source of splice socket->socket
    set_nonblocking(src.peer.get());
    HalfPair dst = half_pair(e);  // the socket that dies

    switch (death) {
      case Death::own_shutdown: {
        Once& shut = fx.state<Once>();
        BOOST_REQUIRE(e.shutdown(dst.sock, SHUT_WR, record(shut)));
        RX_REQUIRE_UNTIL(e, shut.done(), short_deadline);
        RX_REQUIRE_OK(shut.ec);
        break;
      }
      case Death::peer_reset:
        close_with_reset(dst.peer);
        break;
      case Death::peer_shut_rd_and_closed:
        ::shutdown(dst.peer.get(), SHUT_RD);
        dst.peer.reset();
        break;
    }
    run_for(e, 10ms);  // let the RST / FIN arrive

    const int sigpipes_before = sigpipe_count.load();
    bool saw_broken_pipe = false;
    std::string results;
    for (int attempt = 0; attempt < max_attempts && !saw_broken_pipe; ++attempt) {
      st.op = Once();
      OpId id;
      switch (kind) {
        case WriteKind::send: id = e.send(dst.sock, st.data, record(st.op)); break;
        case WriteKind::sendv: id = e.sendv(dst.sock, st.pieces, record(st.op)); break;
        case WriteKind::send_zc:
          id = e.send_zc(dst.sock, filled(e, pattern, 0, chunk_bytes), record(st.op));
          break;
        case WriteKind::write:
          id = e.write(dst.sock, -1, filled(e, pattern, 0, chunk_bytes),
                       [o = &st.op](std::error_code ec, Buffer) { o->record(ec); });
          break;
        case WriteKind::splice_file_offset:
          id = e.splice(f, 0, dst.sock, -1, chunk_bytes, record(st.op));
          break;
        case WriteKind::splice_file_stream:
          id = e.splice(f, -1, dst.sock, -1, chunk_bytes, record(st.op));
          break;
        case WriteKind::splice_socket: {
          // Fresh bytes in the source for every attempt (a full source
          // buffer is fine: there are bytes to move either way).
          const ssize_t w = ::write(src.peer.get(), st.data.data(), st.data.size());
          BOOST_REQUIRE_MESSAGE(w > 0 || errno == EAGAIN, "write to the source: " << std::strerror(errno));
          id = e.splice(src.sock, -1, dst.sock, -1, chunk_bytes, record(st.op));
          break;
        }
      }
      BOOST_REQUIRE(id);
      RX_REQUIRE_UNTIL(e, st.op.done(), short_deadline);
      results += " " + describe(st.op.ec);
      BOOST_CHECK_MESSAGE(!st.op.ec || is_dead_socket_error(st.op.ec),
                          "attempt " << attempt << " ended with " << describe(st.op.ec));
      saw_broken_pipe = st.op.ec == std::errc::broken_pipe;
      if (!st.op.ec) run_for(e, 5ms);  // the peer's RST answers what we sent
    }
    BOOST_CHECK_MESSAGE(saw_broken_pipe, "no attempt failed with broken_pipe; results:" << results);
    BOOST_CHECK_MESSAGE(sigpipe_count.load() == sigpipes_before,
                        sigpipe_count.load() - sigpipes_before << " SIGPIPE(s) raised; results:" << results);
    close_all(e, {f, src.sock, dst.sock});
  }
}

void every_death(EngineFixture& fx, WriteKind kind) {
  for (Death d : {Death::own_shutdown, Death::peer_reset, Death::peer_shut_rd_and_closed}) {
    write_to_dead_socket(fx, kind, d);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sigpipe)

BOOST_FIXTURE_TEST_CASE(send_raises_no_sigpipe, EngineFixture) { every_death(*this, WriteKind::send); }
BOOST_FIXTURE_TEST_CASE(sendv_raises_no_sigpipe, EngineFixture) { every_death(*this, WriteKind::sendv); }
BOOST_FIXTURE_TEST_CASE(send_zc_raises_no_sigpipe, EngineFixture) { every_death(*this, WriteKind::send_zc); }
BOOST_FIXTURE_TEST_CASE(write_on_socket_raises_no_sigpipe, EngineFixture) {
  every_death(*this, WriteKind::write);
}
BOOST_FIXTURE_TEST_CASE(splice_file_offset_raises_no_sigpipe, EngineFixture) {
  every_death(*this, WriteKind::splice_file_offset);
}
BOOST_FIXTURE_TEST_CASE(splice_file_stream_raises_no_sigpipe, EngineFixture) {
  every_death(*this, WriteKind::splice_file_stream);
}
BOOST_FIXTURE_TEST_CASE(splice_socket_raises_no_sigpipe, EngineFixture) {
  every_death(*this, WriteKind::splice_socket);
}

BOOST_FIXTURE_TEST_CASE(splice_copy_fallback_raises_no_sigpipe, EngineFixture) {
  ringxfer::EngineOptions o = variant_options();
  o.disabled.add(ringxfer::Feature::splice);
  reset(o);
  every_death(*this, WriteKind::splice_file_offset);
  every_death(*this, WriteKind::splice_socket);
}

// On io_uring, IORING_OP_WRITE into a pipe without a reader was tried inline,
// in the engine thread's io_uring_enter, and pipe_write() sent that thread
// SIGPIPE (this test failed there). Writes into FIFOs now go with IOSQE_ASYNC:
// io-wq issues them, and its SIGPIPE is harmless.
BOOST_FIXTURE_TEST_CASE(write_to_a_pipe_without_reader_raises_no_sigpipe, EngineFixture) {
  // A pipe's write end adopted as a File: with its reader gone, write() and
  // splice into it fail with broken_pipe, without SIGPIPE.
  int fds[2];
  BOOST_REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  ::close(fds[0]);
  ringxfer::File wr;
  const std::error_code adopted = engine().adopt(fds[1], wr);
  if (adopted) ::close(fds[1]);
  RX_REQUIRE_OK(adopted);
  TempFile file(Pattern(4), 64 * KiB);
  ringxfer::File f = open_file(engine(), file.path(), O_RDONLY);
  const int sigpipes_before = sigpipe_count.load();
  Once& w = state<Once>();
  BOOST_REQUIRE(engine().write(wr, -1, filled(engine(), Pattern(4), 0, 4096),
                               [o = &w](std::error_code ec, Buffer) { o->record(ec); }));
  RX_REQUIRE_UNTIL(engine(), w.done(), short_deadline);
  RX_CHECK_EC(w.ec, std::errc::broken_pipe);
  Once& sp = state<Once>();
  BOOST_REQUIRE(engine().splice(f, 0, wr, -1, 64 * KiB, record(sp)));
  RX_REQUIRE_UNTIL(engine(), sp.done(), short_deadline);
  RX_CHECK_EC(sp.ec, std::errc::broken_pipe);
  BOOST_CHECK_MESSAGE(sigpipe_count.load() == sigpipes_before,
                      sigpipe_count.load() - sigpipes_before << " SIGPIPE(s) raised");
  close_all(engine(), {f, wr});
}

BOOST_FIXTURE_TEST_CASE(sigpipe_already_pending_is_kept, EngineFixture) {
  // A thread that blocks SIGPIPE and has one pending (raised by the program
  // itself) still has it after the engine hit EPIPE: the engine consumes only
  // the signal its own call raised, and none when one was already pending.
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t old;
  BOOST_REQUIRE(::pthread_sigmask(SIG_BLOCK, &pipe_only, &old) == 0);
  ::raise(SIGPIPE);  // the program's own, pending because blocked
  HalfPair dst = half_pair(engine());
  TempFile file(Pattern(3), 256 * KiB);
  ringxfer::File f = open_file(engine(), file.path(), O_RDONLY);
  Once& shut = state<Once>();
  BOOST_REQUIRE(engine().shutdown(dst.sock, SHUT_WR, record(shut)));
  RX_REQUIRE_UNTIL(engine(), shut.done(), short_deadline);
  Once& a = state<Once>();
  BOOST_REQUIRE(engine().splice(f, 0, dst.sock, -1, 64 * KiB, record(a)));
  RX_REQUIRE_UNTIL(engine(), a.done(), short_deadline);
  RX_CHECK_EC(a.ec, std::errc::broken_pipe);
  sigset_t pending;
  sigpending(&pending);
  const bool still_pending = sigismember(&pending, SIGPIPE) == 1;
  // Take it before unblocking, whatever happened, so the process goes on.
  timespec zero{};
  while (::sigtimedwait(&pipe_only, nullptr, &zero) == SIGPIPE) {
  }
  // And without one pending, the engine leaves none behind.
  Once& b = state<Once>();
  BOOST_REQUIRE(engine().splice(f, 0, dst.sock, -1, 64 * KiB, record(b)));
  RX_REQUIRE_UNTIL(engine(), b.done(), short_deadline);
  RX_CHECK_EC(b.ec, std::errc::broken_pipe);
  sigpending(&pending);
  const bool left_behind = sigismember(&pending, SIGPIPE) == 1;
  while (::sigtimedwait(&pipe_only, nullptr, &zero) == SIGPIPE) {
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  BOOST_CHECK_MESSAGE(still_pending, "the program's pending SIGPIPE was consumed by the engine");
  BOOST_CHECK_MESSAGE(!left_behind, "the engine left its own SIGPIPE pending in a thread that blocks it");
  close_all(engine(), {f, dst.sock});
}

BOOST_AUTO_TEST_CASE(default_sigpipe_disposition_survives_splice) {
  // With SIGPIPE at its default (terminate), splicing into a shut-down socket
  // must not kill the process — on io_uring too, where the splice may run on
  // an io-wq worker thread of this process. Run in a child so the default
  // disposition cannot take the test binary down.
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::signal(SIGPIPE, SIG_DFL);
    ::alarm(20);  // never hang the suite
    int code = 0;
    try {
      Engine e(variant_options());
      TempFile file(Pattern(9), 256 * KiB);
      ringxfer::File f;
      if (e.open(file.path(), O_RDONLY, f)) ::_exit(3);
      HalfPair dst = half_pair(e);
      Once shut;
      e.shutdown(dst.sock, SHUT_WR, record(shut));
      if (!run_until(e, [&] { return shut.done(); }, 5000ms)) ::_exit(4);
      for (std::int64_t offset : {std::int64_t(0), std::int64_t(-1)}) {
        Once r;
        e.splice(f, offset, dst.sock, -1, 64 * KiB, record(r));
        if (!run_until(e, [&] { return r.done(); }, 5000ms)) ::_exit(5);
        if (r.ec != std::errc::broken_pipe) code = 6;
      }
    } catch (...) {
      ::_exit(7);
    }
    ::_exit(code);
  }
  int status = 0;
  BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  BOOST_CHECK_MESSAGE(!WIFSIGNALED(status), "the child was killed by signal " << WTERMSIG(status));
  BOOST_CHECK_MESSAGE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the child exited with " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1));
}

BOOST_AUTO_TEST_SUITE_END()
