// Accepted connections as direct descriptors (Feature::accept_direct: the
// kernel puts each connection in a fixed-table slot it picks, the slot is the
// handle's slot, and there is no fd until native_handle() installs one). The
// public behaviour is the same on every variant, so every test runs on all of
// them; on the full io_uring variants they drive the direct path.
#include <poll.h>
#include <sys/resource.h>

#include "support.hpp"

using namespace rxtest;

namespace {

Socket listen_on_loopback(Engine& e, Address& bound) {
  Socket l;
  std::error_code ec = e.listen(Address::loopback_v4(0), l);
  BOOST_REQUIRE_MESSAGE(!ec, "listen: " << describe(ec));
  ec = e.local_address(l, bound);
  BOOST_REQUIRE_MESSAGE(!ec, "local_address: " << describe(ec));
  return l;
}

UniqueFd connect_client(const Address& to) {
  UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  BOOST_REQUIRE(c);
  BOOST_REQUIRE_MESSAGE(::connect(c.get(), to.data(), to.size()) == 0, "connect: " << std::strerror(errno));
  return c;
}

struct Accepted : FinalCall {
  std::vector<Socket> sockets;
  void on_accept(std::error_code ec, Socket s) {
    if (note_call(ec)) sockets.push_back(s);
  }
  auto handler() {
    return [self = this](std::error_code ec, Socket s) { self->on_accept(ec, s); };
  }
};

// Reads exactly want.size() bytes from a client fd within `timeout` while the
// engine runs (the sender is the engine). True if they match.
bool client_reads(Engine& e, int fd, std::string_view want, std::chrono::milliseconds timeout) {
  std::string got;
  const auto deadline = Clock::now() + timeout;
  while (got.size() < want.size() && Clock::now() < deadline) {
    e.run_once(1ms);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) != 1) continue;
    char buf[256];
    ssize_t n = ::recv(fd, buf, std::min(sizeof buf, want.size() - got.size()), MSG_DONTWAIT);
    if (n <= 0) break;
    got.append(buf, std::size_t(n));
  }
  return got == want;
}

// Sends `text` from the engine on `s` (the bytes live in `store`, which must
// outlive the send) and checks that the client `fd` gets exactly it: the
// handle leads to this connection and no other.
void check_route(Engine& e, Socket s, int fd, std::string& store, const std::string& text) {
  store = text;
  bool sent = false;
  std::error_code send_ec;
  BOOST_REQUIRE(e.send(s, std::as_bytes(std::span(store)), [&](std::error_code ec, std::size_t) {
    sent = true;
    send_ec = ec;
  }));
  BOOST_CHECK_MESSAGE(client_reads(e, fd, text, short_deadline), "client did not get \"" << text << "\"");
  RX_REQUIRE_UNTIL(e, sent, short_deadline);
  RX_CHECK_OK(send_ec);
}

struct RaisedNofile {
  rlimit saved{};
  RaisedNofile() {
    ::getrlimit(RLIMIT_NOFILE, &saved);
    rlimit raised = saved;
    raised.rlim_cur = saved.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &raised);
  }
  ~RaisedNofile() { ::setrlimit(RLIMIT_NOFILE, &saved); }
  rlim_t soft() const {
    rlimit now{};
    ::getrlimit(RLIMIT_NOFILE, &now);
    return now.rlim_cur;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(accept_direct)

BOOST_FIXTURE_TEST_CASE(feature_follows_the_variant, EngineFixture) {
  const ringxfer::Features& f = engine().features();
  if (variant() == Variant::epoll || variant() == Variant::io_uring_nofeatures) {
    BOOST_CHECK(!f.has(ringxfer::Feature::accept_direct));
  } else {
    BOOST_TEST_MESSAGE(variant_name() << ": accept_direct " << (f.has(ringxfer::Feature::accept_direct) ? "on" : "off")
                                      );
  }
  ringxfer::EngineOptions o = variant_options();
  o.disabled.add(ringxfer::Feature::accept_direct);
  BOOST_CHECK(!reset(o).features().has(ringxfer::Feature::accept_direct));
}

BOOST_FIXTURE_TEST_CASE(native_handle_of_an_accepted_socket, EngineFixture) {
  Engine& e = engine();
  Address bound;
  Socket l = listen_on_loopback(e, bound);
  Accepted& acc = state<Accepted>();
  OpId id = e.accept(l, acc.handler());
  BOOST_REQUIRE(id);
  UniqueFd client = connect_client(bound);
  RX_REQUIRE_UNTIL(e, !acc.sockets.empty(), short_deadline);
  Socket s = acc.sockets[0];

  const int fd = e.native_handle(s);
  BOOST_REQUIRE_GE(fd, 0);
  BOOST_CHECK_EQUAL(e.native_handle(s), fd);  // installed once, then cached
  // It is this connection: its peer is the client's local address.
  sockaddr_storage peer{}, client_local{};
  socklen_t plen = sizeof peer, clen = sizeof client_local;
  BOOST_REQUIRE(::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0);
  BOOST_REQUIRE(::getsockname(client.get(), reinterpret_cast<sockaddr*>(&client_local), &clen) == 0);
  BOOST_CHECK(plen == clen && std::memcmp(&peer, &client_local, plen) == 0);
  // Socket options through it.
  int one = 1, got = 0;
  socklen_t glen = sizeof got;
  BOOST_CHECK(::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0);
  BOOST_CHECK(::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &got, &glen) == 0 && got != 0);
  BOOST_CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  Address local;
  RX_CHECK_OK(e.local_address(s, local));
  BOOST_CHECK_EQUAL(local.port(), bound.port());
  // The engine's own requests still reach it.
  std::string store;
  check_route(e, s, client.get(), store, "after native_handle");

  RX_CHECK_OK(close_and_wait(e, s));
  BOOST_CHECK_EQUAL(e.native_handle(s), -1);
  // The installed fd went with the socket: the client sees the end.
  char c;
  pollfd p{client.get(), POLLIN, 0};
  BOOST_CHECK(::poll(&p, 1, 2000) == 1 && ::recv(client.get(), &c, 1, 0) == 0);
  BOOST_CHECK(e.cancel(id));
  RX_REQUIRE_UNTIL(e, acc.done(), short_deadline);
  RX_CHECK_OK(close_and_wait(e, l));
}

BOOST_FIXTURE_TEST_CASE(slot_reuse_while_connections_arrive, EngineFixture) {
  // A small table: the kernel has 4 slots (io_uring, direct) and hands a
  // slot out again as soon as its close ran -- in the same io_uring_enter
  // that also accepts the next connection. Every new handle must lead to its
  // own connection, every old one must be stale, and no slot may leak.
  ringxfer::EngineOptions o = variant_options();
  o.fd_slots = 8;
  Engine& e = reset(o);
  Address bound;
  Socket l = listen_on_loopback(e, bound);
  Accepted& acc = state<Accepted>();
  OpId id = e.accept(l, acc.handler());
  BOOST_REQUIRE(id);
  std::deque<std::pair<Socket, UniqueFd>> open;
  std::vector<Socket> closed;
  std::string store;
  int closes_done = 0;
  constexpr int rounds = 200;
  for (int i = 0; i < rounds; ++i) {
    UniqueFd client = connect_client(bound);  // waits in the backlog
    if (open.size() >= 2) {
      // Closed in the same loop turn as the accept of the new connection.
      Socket old = open.front().first;
      BOOST_REQUIRE(e.close(old, [&closes_done](std::error_code ec) {
        BOOST_CHECK_MESSAGE(!ec, "close: " << describe(ec));
        ++closes_done;
      }));
      closed.push_back(old);
      open.pop_front();
    }
    RX_REQUIRE_UNTIL_INFO(e, acc.sockets.size() == std::size_t(i + 1) || acc.done(), short_deadline, "round " << i);
    BOOST_REQUIRE(!acc.done());
    Socket s = acc.sockets.back();
    check_route(e, s, client.get(), store, "round " + std::to_string(i));
    open.emplace_back(s, std::move(client));
  }
  RX_REQUIRE_UNTIL(e, closes_done == int(closed.size()), short_deadline);
  for (Socket old : closed) BOOST_CHECK_EQUAL(e.native_handle(old), -1);
  // The open ones are still theirs.
  for (auto& [s, fd] : open) check_route(e, s, fd.get(), store, "still mine");
  for (auto& [s, fd] : open) RX_CHECK_OK(close_and_wait(e, s));
  BOOST_CHECK(e.cancel(id));
  RX_REQUIRE_UNTIL(e, acc.done(), short_deadline);
  RX_CHECK_OK(close_and_wait(e, l));
  BOOST_CHECK_EQUAL(e.slot_usage().fd_slots_in_use, 0u);
}

BOOST_FIXTURE_TEST_CASE(more_than_1024_connections, EngineFixture) {
  // Past the first slab of the table (1 024 slots), with kernel-picked slots.
  constexpr int clients = 1100;
  RaisedNofile limit;
  if (limit.soft() < rlim_t(2 * clients + 100)) {
    BOOST_TEST_MESSAGE("RLIMIT_NOFILE " << limit.soft() << " too low for " << clients << " connections: skipped");
    return;
  }
  ringxfer::EngineOptions o = variant_options();
  o.fd_slots = 4096;
  Engine& e = reset(o);
  Address bound;
  Socket l = listen_on_loopback(e, bound);
  Accepted& acc = state<Accepted>();
  OpId id = e.accept(l, acc.handler());
  BOOST_REQUIRE(id);
  std::vector<UniqueFd> fds;
  for (int i = 0; i < clients; ++i) {
    fds.push_back(connect_client(bound));
    if (i % 100 == 99) RX_REQUIRE_UNTIL(e, acc.sockets.size() == fds.size(), short_deadline);
  }
  RX_REQUIRE_UNTIL_INFO(e, acc.sockets.size() == std::size_t(clients), 10s, "accepted " << acc.sockets.size());
  BOOST_CHECK_EQUAL(e.slot_usage().fd_slots_in_use, std::uint32_t(clients + 1));
  // Each handle leads to its own connection (accept order is connect order
  // on one listener: the backlog is a queue).
  std::string store;
  for (int i : {0, 1023, 1024, 1025, clients - 1}) {
    check_route(e, acc.sockets[std::size_t(i)], fds[std::size_t(i)].get(), store, "client " + std::to_string(i));
  }
  BOOST_CHECK_GE(e.native_handle(acc.sockets.back()), 0);
  int closed = 0;
  for (Socket s : acc.sockets) e.close(s, [&closed](std::error_code) { ++closed; });
  RX_REQUIRE_UNTIL(e, closed == clients, 10s);
  BOOST_CHECK(e.cancel(id));
  RX_REQUIRE_UNTIL(e, acc.done(), short_deadline);
  RX_CHECK_OK(close_and_wait(e, l));
  BOOST_CHECK_EQUAL(e.slot_usage().fd_slots_in_use, 0u);
}

BOOST_FIXTURE_TEST_CASE(accept_pauses_when_the_slots_are_full_and_recovers, EngineFixture) {
  // fd_slots = 8: 4 for accepted connections with accept_direct, 7 without.
  // More clients than that: the accept pauses (as on EMFILE), never ends,
  // and takes connections again once some are closed.
  ringxfer::EngineOptions o = variant_options();
  o.fd_slots = 8;
  Engine& e = reset(o);
  Address bound;
  Socket l = listen_on_loopback(e, bound);
  Accepted& acc = state<Accepted>();
  OpId id = e.accept(l, acc.handler());
  BOOST_REQUIRE(id);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 10; ++i) clients.push_back(connect_client(bound));
  run_for(e, 300ms);
  const std::size_t full = acc.sockets.size();
  BOOST_TEST_MESSAGE(variant_name() << ": " << full << " accepted into a full table; " << e.stats());
  BOOST_CHECK_GE(full, 4u);
  BOOST_CHECK_LT(full, 10u);
  BOOST_CHECK(!acc.done());
  BOOST_CHECK_GE(e.stats().accept_pauses, 1u);
  BOOST_REQUIRE_GE(full, 2u);
  // Room for two more.
  RX_CHECK_OK(close_and_wait(e, acc.sockets[0]));
  RX_CHECK_OK(close_and_wait(e, acc.sockets[1]));
  for (int i = 0; i < 2; ++i) clients.push_back(connect_client(bound));
  RX_REQUIRE_UNTIL_INFO(e, acc.sockets.size() >= full + 2 || acc.done(), 5s, "accepted " << acc.sockets.size());
  BOOST_CHECK(!acc.done());
  // The new ones work.
  std::string store;
  Socket newest = acc.sockets.back();
  BOOST_CHECK_GE(e.native_handle(newest), 0);
  BOOST_CHECK(e.cancel(id));
  RX_REQUIRE_UNTIL(e, acc.done(), short_deadline);
  for (std::size_t i = 2; i < acc.sockets.size(); ++i) e.close(acc.sockets[i], [](std::error_code) {});
  RX_CHECK_OK(close_and_wait(e, l));
  RX_REQUIRE_UNTIL(e, e.slot_usage().fd_slots_in_use == 0, short_deadline);
}

// native_handle() waits in place for its FIXED_FD_INSTALL; completions that
// arrive meanwhile are parked for the next loop turn. Receives on another
// connection land in that window here (with incremental buffer rings they
// must go through the receive ring's split, in order): every byte arrives
// once, in order.
struct Collected : FinalCall {
  std::string bytes;
  auto handler() {
    return [self = this](std::error_code ec, Buffer b) {
      if (!ec) self->bytes.append(reinterpret_cast<const char*>(b.data()), b.size());
      self->note_call(ec);
    };
  }
};

BOOST_FIXTURE_TEST_CASE(native_handle_while_another_connection_receives, EngineFixture) {
  Engine& e = engine();
  Address bound;
  Socket l = listen_on_loopback(e, bound);
  Accepted& acc = state<Accepted>();
  BOOST_REQUIRE(e.accept(l, acc.handler()));
  UniqueFd sender = connect_client(bound);
  RX_REQUIRE_UNTIL(e, acc.sockets.size() == 1, short_deadline);
  Collected& got = state<Collected>();
  BOOST_REQUIRE(e.recv(acc.sockets[0], got.handler()));
  std::string want;
  for (int round = 0; round < 20; ++round) {
    UniqueFd other = connect_client(bound);
    RX_REQUIRE_UNTIL(e, acc.sockets.size() == std::size_t(round) + 2, short_deadline);
    // Small messages already on their way when native_handle() enters.
    for (int m = 0; m < 50; ++m) {
      std::string msg = "r" + std::to_string(round) + "m" + std::to_string(m) + ";";
      BOOST_REQUIRE(::send(sender.get(), msg.data(), msg.size(), 0) == ssize_t(msg.size()));
      want += msg;
    }
    BOOST_REQUIRE_GE(e.native_handle(acc.sockets.back()), 0);
  }
  RX_REQUIRE_UNTIL(e, got.bytes.size() >= want.size(), short_deadline);
  BOOST_CHECK(got.bytes == want);
  for (Socket s : acc.sockets) RX_CHECK_OK(close_and_wait(e, s));
  RX_CHECK_OK(close_and_wait(e, l));
}

BOOST_AUTO_TEST_SUITE_END()
