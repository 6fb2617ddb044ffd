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
