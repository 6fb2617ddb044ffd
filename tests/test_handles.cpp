// Handles: adopt, native_handle, local_address, stale handles (generation
// checks), slot reuse, fd-slot exhaustion.
#include "support.hpp"

using namespace rxtest;

namespace {

struct Results {
  Once send, recv, shut, close, read, splice;
  int recv_calls = 0;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(handles)

BOOST_FIXTURE_TEST_CASE(adopt_bad_fd, EngineFixture) {
  Socket s;
  File f;
  RX_CHECK_EC(engine().adopt(-1, s), std::errc::bad_file_descriptor);
  RX_CHECK_EC(engine().adopt(-1, f), std::errc::bad_file_descriptor);
  BOOST_CHECK(!s.valid());
  BOOST_CHECK(!f.valid());
  // An fd number that is not open.
  int fd = ::dup(0 <= ::fcntl(0, F_GETFD) ? 0 : 1);
  BOOST_REQUIRE(fd >= 0);
  ::close(fd);
  RX_CHECK_EC(engine().adopt(fd, s), std::errc::bad_file_descriptor);
}

BOOST_FIXTURE_TEST_CASE(adopt_sets_the_backends_fd_mode, EngineFixture) {
  RawPair raw = raw_tcp_pair();
  BOOST_REQUIRE((::fcntl(raw.client.get(), F_GETFL) & O_NONBLOCK) == 0);
  Socket s;
  RX_REQUIRE_OK(engine().adopt(raw.client.release(), s));
  BOOST_CHECK(s.valid());
  int fd = engine().native_handle(s);
  BOOST_REQUIRE_GE(fd, 0);
  // engine.hpp: O_NONBLOCK on epoll, blocking on io_uring. Start from the
  // opposite mode so that either way the engine must have changed it.
  const bool epoll = engine().features().backend == ringxfer::BackendKind::epoll;
  const bool nonblocking = (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
  BOOST_CHECK_MESSAGE(nonblocking == epoll, "adopt() left O_NONBLOCK " << (nonblocking ? "set" : "clear") << " on the "
                                                  << ringxfer::to_string(engine().features().backend) << " backend");
  RawPair raw2 = raw_tcp_pair();
  ::fcntl(raw2.client.get(), F_SETFL, ::fcntl(raw2.client.get(), F_GETFL) | O_NONBLOCK);
  Socket s2;
  RX_REQUIRE_OK(engine().adopt(raw2.client.release(), s2));
  const bool nonblocking2 = (::fcntl(engine().native_handle(s2), F_GETFL) & O_NONBLOCK) != 0;
  BOOST_CHECK_EQUAL(nonblocking2, epoll);
  close_all(engine(), {s2, s});
}

BOOST_FIXTURE_TEST_CASE(local_address_of_sockets, EngineFixture) {
  SocketPair p = engine_pair(engine());
  Address a, b;
  RX_CHECK_OK(engine().local_address(p.a, a));
  RX_CHECK_OK(engine().local_address(p.b, b));
  BOOST_CHECK_EQUAL(a.family(), AF_INET);
  BOOST_CHECK_NE(a.port(), 0);
  BOOST_CHECK_NE(a.port(), b.port());
  BOOST_CHECK(!(p.a == p.b));
  RX_CHECK_OK(close_and_wait(engine(), p.a));
  Address stale;
  RX_CHECK_EC(engine().local_address(p.a, stale), std::errc::bad_file_descriptor);
  RX_CHECK_OK(close_and_wait(engine(), p.b));
}

BOOST_FIXTURE_TEST_CASE(default_handle_is_invalid, EngineFixture) {
  BOOST_CHECK_EQUAL(engine().native_handle(Socket{}), -1);
  BOOST_CHECK_EQUAL(engine().native_handle(File{}), -1);
  Results& r = state<Results>();
  static const std::byte one[1] = {std::byte{7}};
  BOOST_CHECK(engine().send(Socket{}, one, record(r.send)));
  RX_REQUIRE_UNTIL(engine(), r.send.calls > 0, short_deadline);
  RX_CHECK_EC(r.send.ec, std::errc::bad_file_descriptor);
}

BOOST_FIXTURE_TEST_CASE(stale_socket_handle, EngineFixture) {
  ringxfer::EngineOptions o = variant_options();
  o.fd_slots = 8;
  Engine& e = reset(o);
  SocketPair p = engine_pair(e);
  const Socket old = p.a;
  BOOST_REQUIRE_GE(e.native_handle(old), 0);
  RX_CHECK_OK(close_and_wait(e, old));
  BOOST_CHECK_EQUAL(e.native_handle(old), -1);

  auto try_stale_ops = [&](Results& r) {
    static const std::byte msg[5] = {};
    OpId s = e.send(old, msg, record(r.send));
    OpId v = e.recv(old, [x = &r](std::error_code ec, Buffer) {
      ++x->recv_calls;
      if (ec) {
        ++x->recv.calls;
        x->recv.ec = ec;
      }
    });
    OpId h = e.shutdown(old, SHUT_RDWR, record(r.shut));
    OpId c = e.close(old, record(r.close));
    // The ops start (non-empty ids) and fail in their handlers, not inline.
    BOOST_CHECK(s);
    BOOST_CHECK(v);
    BOOST_CHECK(h);
    BOOST_CHECK(c);
    BOOST_CHECK_EQUAL(r.send.calls + r.recv_calls + r.shut.calls + r.close.calls, 0);
    RX_REQUIRE_UNTIL(e, r.send.calls && r.recv.calls && r.shut.calls && r.close.calls, short_deadline);
    run_for(e, 20ms);
    RX_CHECK_EC(r.send.ec, std::errc::bad_file_descriptor);
    BOOST_CHECK_EQUAL(r.send.bytes, 0u);
    RX_CHECK_EC(r.recv.ec, std::errc::bad_file_descriptor);
    RX_CHECK_EC(r.shut.ec, std::errc::bad_file_descriptor);
    RX_CHECK_EC(r.close.ec, std::errc::bad_file_descriptor);
    BOOST_CHECK_EQUAL(r.send.calls, 1);
    BOOST_CHECK_EQUAL(r.recv_calls, 1);
    BOOST_CHECK_EQUAL(r.shut.calls, 1);
    BOOST_CHECK_EQUAL(r.close.calls, 1);
  };
  try_stale_ops(state<Results>());

  // New sockets: with only 8 slots, one of them must land in the old slot,
  // with a new generation.
  std::vector<HalfPair> fresh;
  fresh.reserve(8);
  bool reused = false;
  HalfPair* in_old_slot = nullptr;
  for (int i = 0; i < 6 && !reused; ++i) {
    fresh.push_back(half_pair(e));
    const Socket s = fresh.back().sock;
    BOOST_CHECK(!(s == old));
    if (s.slot == old.slot) {
      reused = true;
      BOOST_CHECK_NE(s.generation, old.generation);
      in_old_slot = &fresh.back();
    }
  }
  BOOST_REQUIRE_MESSAGE(reused, "no new handle reused the closed slot " << old.slot << " of 8");
  BOOST_CHECK_EQUAL(e.native_handle(old), -1);
  BOOST_CHECK_GE(e.native_handle(in_old_slot->sock), 0);

  // The old handle still fails, and does not reach the new socket in its slot.
  try_stale_ops(state<Results>());
  set_nonblocking(in_old_slot->peer.get());
  char c;
  BOOST_CHECK_MESSAGE(::recv(in_old_slot->peer.get(), &c, 1, 0) == -1 && errno == EAGAIN,
                      "a stale handle's send reached the socket now in its slot");
  // The new socket works.
  Once& ok = state<Once>();
  static const std::byte hi[2] = {std::byte{'h'}, std::byte{'i'}};
  BOOST_REQUIRE(e.send(in_old_slot->sock, hi, record(ok)));
  RX_REQUIRE_UNTIL(e, ok.calls > 0, short_deadline);
  RX_CHECK_OK(ok.ec);
  BOOST_CHECK_EQUAL(ok.bytes, 2u);
  char got[2] = {};
  RX_REQUIRE_UNTIL(e, ::recv(in_old_slot->peer.get(), got, 2, MSG_PEEK) == 2, short_deadline);
  BOOST_CHECK(got[0] == 'h' && got[1] == 'i');

  for (auto& h : fresh) RX_CHECK_OK(close_and_wait(e, h.sock));
  RX_CHECK_OK(close_and_wait(e, p.b));
}

BOOST_FIXTURE_TEST_CASE(stale_file_handle, EngineFixture) {
  TempFile tf(Pattern(61), 1000);
  File f = open_file(engine(), tf.path(), O_RDONLY);
  RX_CHECK_OK(close_and_wait(engine(), f));
  BOOST_CHECK_EQUAL(engine().native_handle(f), -1);
  struct R {
    int calls = 0;
    std::error_code ec;
    bool got_buffer = false;
  };
  R& r = state<R>();
  const std::size_t free_before = free_send_buffers(engine());
  Buffer b = engine().acquire_buffer();
  BOOST_REQUIRE(b);
  OpId id = engine().read(f, 0, std::move(b), [x = &r](std::error_code ec, Buffer back) {
    ++x->calls;
    x->ec = ec;
    x->got_buffer = static_cast<bool>(back);
  });
  BOOST_CHECK(id);
  BOOST_CHECK_EQUAL(r.calls, 0);
  RX_REQUIRE_UNTIL(engine(), r.calls > 0, short_deadline);
  RX_CHECK_EC(r.ec, std::errc::bad_file_descriptor);
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(r.calls, 1);
  // The buffer is not leaked (given back in the handler or to the pool).
  BOOST_CHECK_EQUAL(free_send_buffers(engine()), free_before);
}

BOOST_FIXTURE_TEST_CASE(fd_slot_exhaustion, EngineFixture) {
  ringxfer::EngineOptions o = variant_options();
  o.fd_slots = 4;
  Engine& e = reset(o);
  std::vector<Socket> adopted;
  std::error_code last;
  for (int i = 0; i < 10; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd >= 0);
    Socket s;
    last = e.adopt(fd, s);
    if (last) {
      if (fd_is_open(fd)) ::close(fd);  // ownership on failure is not specified
      break;
    }
    adopted.push_back(s);
  }
  BOOST_CHECK_MESSAGE(last == ringxfer::error::no_free_fd_slot, "adopt with all slots used: " << describe(last));
  BOOST_CHECK_LE(adopted.size(), 4u);
  BOOST_CHECK_GE(adopted.size(), 1u);
  // Closing one frees a slot.
  if (!adopted.empty()) {
    RX_CHECK_OK(close_and_wait(e, adopted.back()));
    adopted.pop_back();
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    Socket s;
    std::error_code ec = e.adopt(fd, s);
    RX_CHECK_OK(ec);
    if (!ec) adopted.push_back(s);
    else if (fd_is_open(fd)) ::close(fd);
  }
  for (Socket s : adopted) RX_CHECK_OK(close_and_wait(e, s));
}

BOOST_AUTO_TEST_SUITE_END()
