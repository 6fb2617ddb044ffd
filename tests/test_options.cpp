// ListenOptions (backlog, SO_REUSEPORT, IPV6_V6ONLY, before_listen) and
// ConnectOptions (timeout, before_connect).
#include <dirent.h>
#include <poll.h>

#include "support.hpp"

using namespace rxtest;

namespace {

using ringxfer::ListenOptions;

int open_fd_count() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

int int_sockopt(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  BOOST_REQUIRE(::getsockopt(fd, level, name, &v, &len) == 0);
  return v;
}

bool ipv6_usable() {
  UniqueFd fd(::socket(AF_INET6, SOCK_STREAM, 0));
  if (!fd) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

// Accepted sockets of one listener.
struct Accepted {
  std::vector<Socket> sockets;
  std::error_code final_error;
  bool ended = false;
  auto handler() {
    return [self = this](std::error_code ec, Socket s) {
      if (ec) {
        self->final_error = ec;
        self->ended = true;
      } else {
        self->sockets.push_back(s);
      }
    };
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(listen_options)

BOOST_FIXTURE_TEST_CASE(reuse_port_two_listeners_share_a_port, EngineFixture) {
  ListenOptions o;
  o.reuse_port = true;
  Socket l1;
  RX_REQUIRE_OK(engine().listen(Address::loopback_v4(0), l1, o));
  Address bound;
  RX_REQUIRE_OK(engine().local_address(l1, bound));
  BOOST_CHECK_EQUAL(int_sockopt(engine().native_handle(l1), SOL_SOCKET, SO_REUSEPORT), 1);

  // Without SO_REUSEPORT the port is taken ...
  Socket refused;
  RX_CHECK_EC(engine().listen(bound, refused), std::errc::address_in_use);
  BOOST_CHECK(!refused.valid());
  // ... with it, a second listener shares it.
  Socket l2;
  RX_REQUIRE_OK(engine().listen(bound, l2, o));

  // The kernel spreads connections over both (by 4-tuple hash): with 32
  // connections, all on one listener has odds of 2^-31.
  constexpr int n = 32;
  Accepted& a1 = state<Accepted>();
  Accepted& a2 = state<Accepted>();
  OpId id1 = engine().accept(l1, a1.handler());
  OpId id2 = engine().accept(l2, a2.handler());
  BOOST_REQUIRE(id1 && id2);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < n; ++i) {
    clients.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    BOOST_REQUIRE(::connect(clients.back().get(), bound.data(), bound.size()) == 0);
  }
  RX_REQUIRE_UNTIL(engine(), a1.sockets.size() + a2.sockets.size() == std::size_t(n), short_deadline);
  BOOST_CHECK_GT(a1.sockets.size(), 0u);
  BOOST_CHECK_GT(a2.sockets.size(), 0u);
  engine().cancel(id1);
  engine().cancel(id2);
  RX_REQUIRE_UNTIL(engine(), a1.ended && a2.ended, short_deadline);
  for (Socket s : a1.sockets) RX_CHECK_OK(close_and_wait(engine(), s));
  for (Socket s : a2.sockets) RX_CHECK_OK(close_and_wait(engine(), s));
  close_all(engine(), {l1, l2});
}

BOOST_FIXTURE_TEST_CASE(backlog_is_passed_to_listen, EngineFixture) {
  // A backlog of 1: the kernel completes at most two handshakes (backlog + 1)
  // for a listener nobody accepts on; more SYNs are dropped.
  ListenOptions o;
  o.backlog = 1;
  Socket l;
  RX_REQUIRE_OK(engine().listen(Address::loopback_v4(0), l, o));
  Address bound;
  RX_REQUIRE_OK(engine().local_address(l, bound));
  std::vector<UniqueFd> clients;
  int connected = 0;
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    ::connect(clients.back().get(), bound.data(), bound.size());
  }
  // Let the handshakes happen, then count the ones that completed.
  ::usleep(100'000);
  for (auto& c : clients) {
    pollfd p{c.get(), POLLOUT, 0};
    if (::poll(&p, 1, 0) == 1 && int_sockopt(c.get(), SOL_SOCKET, SO_ERROR) == 0 && (p.revents & POLLOUT)) ++connected;
  }
  BOOST_CHECK_LE(connected, 2);
  BOOST_CHECK_GE(connected, 1);
  RX_CHECK_OK(close_and_wait(engine(), l));
}

BOOST_FIXTURE_TEST_CASE(v6_only, EngineFixture) {
  if (!ipv6_usable()) {
    BOOST_TEST_MESSAGE("no IPv6 loopback: skipped");
    return;
  }
  for (int v6_only : {0, 1}) {
    BOOST_TEST_CONTEXT("v6_only " << v6_only) {
      ListenOptions o;
      o.v6_only = v6_only;
      Socket l;
      RX_REQUIRE_OK(engine().listen(Address::any_v6(0), l, o));
      BOOST_CHECK_EQUAL(int_sockopt(engine().native_handle(l), IPPROTO_IPV6, IPV6_V6ONLY), v6_only);
      Address bound;
      RX_REQUIRE_OK(engine().local_address(l, bound));
      // An IPv4 client reaches a dual-stack listener only.
      UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      Address v4 = Address::loopback_v4(bound.port());
      int rc = ::connect(c.get(), v4.data(), v4.size());
      BOOST_CHECK_EQUAL(rc == 0, v6_only == 0);
      RX_CHECK_OK(close_and_wait(engine(), l));
    }
  }
}

BOOST_FIXTURE_TEST_CASE(before_listen_runs_before_bind, EngineFixture) {
  struct Seen {
    int fd = -1;
    bool was_bound = true;
  };
  Seen& seen = state<Seen>();
  ListenOptions o;
  o.before_listen = [s = &seen](int fd) -> std::error_code {
    s->fd = fd;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    s->was_bound = reinterpret_cast<sockaddr_in*>(&ss)->sin_port != 0;
    int size = 64 * 1024;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) != 0) return {errno, std::system_category()};
    return {};
  };
  Socket l;
  RX_REQUIRE_OK(engine().listen(Address::loopback_v4(0), l, o));
  BOOST_CHECK_EQUAL(seen.fd, engine().native_handle(l));
  BOOST_CHECK(!seen.was_bound);
  BOOST_CHECK_EQUAL(int_sockopt(seen.fd, SOL_SOCKET, SO_RCVBUF), 2 * 64 * 1024);  // the kernel doubles it
  RX_CHECK_OK(close_and_wait(engine(), l));
}

BOOST_FIXTURE_TEST_CASE(before_listen_error_ends_listen_without_a_leak, EngineFixture) {
  ListenOptions o;
  o.before_listen = [](int) { return std::make_error_code(std::errc::permission_denied); };
  const int fds_before = open_fd_count();
  const auto slots_before = engine().slot_usage().fd_slots_in_use;
  Socket l;
  RX_CHECK_EC(engine().listen(Address::loopback_v4(0), l, o), std::errc::permission_denied);
  BOOST_CHECK(!l.valid());
  BOOST_CHECK_EQUAL(open_fd_count(), fds_before);
  BOOST_CHECK_EQUAL(engine().slot_usage().fd_slots_in_use, slots_before);
  // A bind error too (the port is taken, no SO_REUSEPORT on the first).
  Socket first;
  RX_REQUIRE_OK(engine().listen(Address::loopback_v4(0), first));
  Address bound;
  RX_REQUIRE_OK(engine().local_address(first, bound));
  ListenOptions shared;
  shared.reuse_port = true;
  const int fds_mid = open_fd_count();
  RX_CHECK_EC(engine().listen(bound, l, shared), std::errc::address_in_use);
  BOOST_CHECK_EQUAL(open_fd_count(), fds_mid);
  RX_CHECK_OK(close_and_wait(engine(), first));
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

using ringxfer::ConnectOptions;

struct Connected {
  bool done = false;
  int calls = 0;
  std::error_code ec;
  Socket socket;
  Clock::time_point at;
  auto handler() {
    return [self = this](std::error_code ec, Socket s) {
      ++self->calls;
      self->done = true;
      self->ec = ec;
      self->socket = s;
      self->at = Clock::now();
    };
  }
};

// A loopback listener that answers no SYN: backlog 0, never accepted, and
// filled up with plain connects until one hangs (the kernel drops SYNs to a
// listener whose accept queue is full; the client retries after 1 s).
struct DeafListener {
  UniqueFd listener;
  std::vector<UniqueFd> fillers;
  Address address;
  bool ok = false;
  DeafListener() {
    listener = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    Address any = Address::loopback_v4(0);
    BOOST_REQUIRE(::bind(listener.get(), any.data(), any.size()) == 0);
    BOOST_REQUIRE(::listen(listener.get(), 0) == 0);
    socklen_t len = sizeof(sockaddr_storage);
    BOOST_REQUIRE(::getsockname(listener.get(), address.data(), &len) == 0);
    address.set_size(len);
    for (int i = 0; i < 8 && !ok; ++i) {
      fillers.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      int rc = ::connect(fillers.back().get(), address.data(), address.size());
      if (rc == 0) continue;
      pollfd p{fillers.back().get(), POLLOUT, 0};
      if (::poll(&p, 1, 100) == 0) ok = true;  // this one hangs: the queue is full
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(connect_options)

BOOST_FIXTURE_TEST_CASE(timeout_to_a_non_answering_listener, EngineFixture) {
  DeafListener deaf;
  BOOST_REQUIRE_MESSAGE(deaf.ok, "could not fill the accept queue of a backlog-0 listener");
  const int fds_before = open_fd_count();
  Connected& c = state<Connected>();
  ConnectOptions o;
  o.timeout = 150ms;
  const auto start = Clock::now();
  BOOST_REQUIRE(engine().connect(deaf.address, std::move(o), c.handler()));
  RX_REQUIRE_UNTIL(engine(), c.done, short_deadline);
  RX_CHECK_EC(c.ec, std::errc::timed_out);
  BOOST_CHECK(!c.socket.valid());
  const auto took = c.at - start;
  BOOST_CHECK_GE(took, 140ms);
  BOOST_CHECK_LT(took, 900ms);  // before the kernel's first SYN retry (1 s)
  // The deadline is gone too and the socket closed.
  RX_REQUIRE_UNTIL(engine(), engine().in_flight() == 0 && open_fd_count() == fds_before, short_deadline);
  BOOST_CHECK_EQUAL(c.calls, 1);
}

BOOST_FIXTURE_TEST_CASE(timeout_not_reached, EngineFixture) {
  Socket l;
  RX_REQUIRE_OK(engine().listen(Address::loopback_v4(0), l));
  Address bound;
  RX_REQUIRE_OK(engine().local_address(l, bound));
  Connected& c = state<Connected>();
  ConnectOptions o;
  o.timeout = 10s;
  BOOST_REQUIRE(engine().connect(bound, std::move(o), c.handler()));
  // The deadline must not hold the op (and its handler) for 10 s.
  RX_REQUIRE_UNTIL(engine(), c.done, short_deadline);
  RX_REQUIRE_OK(c.ec);
  BOOST_CHECK(c.socket.valid());
  RX_REQUIRE_UNTIL(engine(), engine().in_flight() == 0, 2s);
  // A refused connect with a deadline reports the refusal, not a timeout.
  RefusingPort refusing;
  Connected& r = state<Connected>();
  ConnectOptions o2;
  o2.timeout = 10s;
  BOOST_REQUIRE(engine().connect(Address::loopback_v4(refusing.port), std::move(o2), r.handler()));
  RX_REQUIRE_UNTIL(engine(), r.done, short_deadline);
  RX_CHECK_EC(r.ec, std::errc::connection_refused);
  close_all(engine(), {c.socket, l});
}

BOOST_FIXTURE_TEST_CASE(cancel_a_connect_with_a_deadline, EngineFixture) {
  DeafListener deaf;
  BOOST_REQUIRE(deaf.ok);
  Connected& c = state<Connected>();
  ConnectOptions o;
  o.timeout = 5s;
  OpId id = engine().connect(deaf.address, std::move(o), c.handler());
  BOOST_REQUIRE(id);
  run_for(engine(), 20ms);
  BOOST_CHECK(engine().cancel(id));
  RX_REQUIRE_UNTIL(engine(), c.done, short_deadline);
  BOOST_CHECK_MESSAGE(is_canceled(c.ec), describe(c.ec));
  RX_REQUIRE_UNTIL(engine(), engine().in_flight() == 0, short_deadline);
}

BOOST_FIXTURE_TEST_CASE(before_connect_binds_a_local_port, EngineFixture) {
  Socket l;
  RX_REQUIRE_OK(engine().listen(Address::loopback_v4(0), l));
  Address bound;
  RX_REQUIRE_OK(engine().local_address(l, bound));
  // A free port to bind the client to.
  std::uint16_t local_port = 0;
  {
    UniqueFd probe(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    Address any = Address::loopback_v4(0);
    BOOST_REQUIRE(::bind(probe.get(), any.data(), any.size()) == 0);
    Address got;
    socklen_t len = sizeof(sockaddr_storage);
    BOOST_REQUIRE(::getsockname(probe.get(), got.data(), &len) == 0);
    local_port = got.port();
  }
  Connected& c = state<Connected>();
  ConnectOptions o;
  o.before_connect = [local_port](int fd) -> std::error_code {
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    Address local = Address::loopback_v4(local_port);
    if (::bind(fd, local.data(), local.size()) != 0) return {errno, std::system_category()};
    int mark = 42;  // SO_MARK needs CAP_NET_ADMIN: best effort, checked below if it took
    ::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark);
    return {};
  };
  Accepted& acc = state<Accepted>();
  OpId aid = engine().accept(l, acc.handler());
  BOOST_REQUIRE(engine().connect(bound, std::move(o), c.handler()));
  RX_REQUIRE_UNTIL(engine(), c.done && acc.sockets.size() == 1, short_deadline);
  RX_REQUIRE_OK(c.ec);
  Address local;
  RX_CHECK_OK(engine().local_address(c.socket, local));
  BOOST_CHECK_EQUAL(local.port(), local_port);
  // The server sees the same source port.
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  BOOST_REQUIRE(::getpeername(engine().native_handle(acc.sockets[0]), reinterpret_cast<sockaddr*>(&peer), &len) == 0);
  BOOST_CHECK_EQUAL(ntohs(peer.sin_port), local_port);
  int mark = int_sockopt(engine().native_handle(c.socket), SOL_SOCKET, SO_MARK);
  BOOST_CHECK(mark == 42 || (mark == 0 && ::geteuid() != 0));
  engine().cancel(aid);
  RX_REQUIRE_UNTIL(engine(), acc.ended, short_deadline);
  close_all(engine(), {c.socket, acc.sockets[0], l});
}

BOOST_FIXTURE_TEST_CASE(before_connect_error_ends_the_connect, EngineFixture) {
  const int fds_before = open_fd_count();
  Connected& c = state<Connected>();
  ConnectOptions o;
  o.before_connect = [](int) { return std::make_error_code(std::errc::address_not_available); };
  BOOST_REQUIRE(engine().connect(Address::loopback_v4(9), std::move(o), c.handler()));
  BOOST_CHECK(!c.done);  // never inside the starting call
  RX_REQUIRE_UNTIL(engine(), c.done, short_deadline);
  RX_CHECK_EC(c.ec, std::errc::address_not_available);
  BOOST_CHECK_EQUAL(open_fd_count(), fds_before);
}

BOOST_AUTO_TEST_SUITE_END()
