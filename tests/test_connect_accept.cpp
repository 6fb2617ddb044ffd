// listen, multishot accept, connect (v4 and v6), refused connections.
#include "support.hpp"

using namespace rxtest;

namespace {

Socket listen_loopback(Engine& e, Address& bound, int family = AF_INET) {
  Socket l;
  Address want = family == AF_INET ? Address::loopback_v4(0) : Address::loopback_v6(0);
  std::error_code ec = e.listen(want, l);
  BOOST_REQUIRE_MESSAGE(!ec, "listen: " << describe(ec));
  ec = e.local_address(l, bound);
  BOOST_REQUIRE_MESSAGE(!ec, "local_address: " << describe(ec));
  BOOST_REQUIRE_NE(bound.port(), 0);
  BOOST_CHECK_EQUAL(bound.family(), family);
  return l;
}

boost::test_tools::assertion_result ipv6_loopback_available(boost::unit_test::test_unit_id) {
  UniqueFd fd(::socket(AF_INET6, SOCK_STREAM, 0));
  if (!fd) return boost::test_tools::assertion_result(false);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  boost::test_tools::assertion_result r(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  if (!r) r.message() << "no IPv6 loopback (::1) on this machine";
  return r;
}

// What a multishot accept op's handler saw.
struct AcceptState : FinalCall {
  std::vector<Socket> accepted;
  int calls = 0;
  int invalid_sockets = 0;
  void on_accept(std::error_code ec, Socket s) {
    ++calls;
    if (!note_call(ec)) return;
    if (!s.valid()) ++invalid_sockets;
    accepted.push_back(s);
  }
  auto handler() {
    return [self = this](std::error_code ec, Socket s) { self->on_accept(ec, s); };
  }
};

// What connect handlers saw (one state may serve several connects).
struct ConnectState {
  std::vector<Socket> connected;
  std::vector<std::error_code> errors;
  int calls = 0;
  void on_connect(std::error_code ec, Socket s) {
    ++calls;
    if (ec) errors.push_back(ec);
    else connected.push_back(s);
  }
  auto handler() {
    return [self = this](std::error_code ec, Socket s) { self->on_connect(ec, s); };
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(connect_accept)

BOOST_FIXTURE_TEST_CASE(listen_reports_bound_address, EngineFixture) {
  Address bound;
  Socket l = listen_loopback(engine(), bound);
  BOOST_CHECK(l.valid());
  BOOST_CHECK_GE(engine().native_handle(l), 0);
  BOOST_CHECK_EQUAL(bound.to_string().rfind("127.0.0.1:", 0), 0u);
  // The kernel agrees that it is listening.
  int acceptconn = 0;
  socklen_t len = sizeof acceptconn;
  BOOST_CHECK(::getsockopt(engine().native_handle(l), SOL_SOCKET, SO_ACCEPTCONN, &acceptconn, &len) == 0);
  BOOST_CHECK_EQUAL(acceptconn, 1);
  RX_CHECK_OK(close_and_wait(engine(), l));
}

BOOST_FIXTURE_TEST_CASE(multishot_accept_and_connect, EngineFixture) {
  constexpr int n = 5;
  Address bound;
  Socket l = listen_loopback(engine(), bound);
  AcceptState& acc = state<AcceptState>();
  ConnectState& con = state<ConnectState>();
  OpId accept_id = engine().accept(l, acc.handler());
  BOOST_REQUIRE(accept_id);
  for (int i = 0; i < n; ++i)
    BOOST_REQUIRE(engine().connect(bound, con.handler()));
  BOOST_CHECK_EQUAL(acc.calls + con.calls, 0);  // nothing runs inline
  RX_REQUIRE_UNTIL(engine(), (int)acc.accepted.size() == n && con.calls == n, short_deadline);
  BOOST_CHECK_EQUAL(con.errors.size(), 0u);
  for (auto& ec : con.errors) BOOST_TEST_MESSAGE("connect error " << describe(ec));
  BOOST_CHECK_EQUAL(acc.invalid_sockets, 0);
  BOOST_CHECK_EQUAL(acc.final_calls, 0);  // still armed: one op, many connections
  // Distinct handles.
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) BOOST_CHECK(!(acc.accepted[i] == acc.accepted[j]));

  // Each accepted socket is the peer of some connected socket: check by
  // matching addresses (getpeername of accepted == getsockname of connected).
  for (Socket s : acc.accepted) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    BOOST_REQUIRE(::getpeername(engine().native_handle(s), reinterpret_cast<sockaddr*>(&peer), &len) == 0);
    bool found = false;
    for (Socket c : con.connected) {
      Address local;
      if (engine().local_address(c, local)) continue;
      if (local.port() == ntohs(peer.sin_port)) found = true;
    }
    BOOST_CHECK_MESSAGE(found, "accepted socket with no matching connected socket");
  }

  // The accept op ends with exactly one operation_canceled after cancel().
  BOOST_CHECK(engine().cancel(accept_id));
  RX_REQUIRE_UNTIL(engine(), acc.final_calls > 0, short_deadline);
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(acc.final_calls, 1);
  BOOST_CHECK_EQUAL(acc.calls_after_final, 0);
  BOOST_CHECK_MESSAGE(is_canceled(acc.final_error), "accept ended with " << describe(acc.final_error));
  BOOST_CHECK_EQUAL(acc.calls, n + 1);
  BOOST_CHECK(!engine().cancel(accept_id));

  for (Socket s : acc.accepted) RX_CHECK_OK(close_and_wait(engine(), s));
  for (Socket s : con.connected) RX_CHECK_OK(close_and_wait(engine(), s));
  RX_CHECK_OK(close_and_wait(engine(), l));
}

BOOST_FIXTURE_TEST_CASE(accept_burst_of_plain_clients, EngineFixture) {
  // Clients connect (plain syscalls) before the accept op exists: the backlog
  // is drained by one accept op, one handler call per connection.
  constexpr int n = 8;
  Address bound;
  Socket l = listen_loopback(engine(), bound);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < n; ++i) {
    UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    BOOST_REQUIRE(::connect(c.get(), bound.data(), bound.size()) == 0);
    clients.push_back(std::move(c));
  }
  AcceptState& acc = state<AcceptState>();
  OpId id = engine().accept(l, acc.handler());
  BOOST_REQUIRE(id);
  RX_REQUIRE_UNTIL(engine(), (int)acc.accepted.size() == n, short_deadline);
  BOOST_CHECK_EQUAL(acc.final_calls, 0);
  // One more arriving later is still accepted by the same op.
  UniqueFd late(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  BOOST_REQUIRE(::connect(late.get(), bound.data(), bound.size()) == 0);
  RX_REQUIRE_UNTIL(engine(), (int)acc.accepted.size() == n + 1, short_deadline);
  // The accepted sockets carry data: write on each plain client, read the
  // byte through the engine.
  struct Rx {
    int bytes = 0;
    int finals = 0;
  };
  Rx& rx = state<Rx>();
  for (std::size_t i = 0; i < acc.accepted.size(); ++i) {
    BOOST_REQUIRE(engine().recv(acc.accepted[i], [r = &rx](std::error_code ec, Buffer b) {
      if (ec) ++r->finals;
      else r->bytes += int(b.size());
    }));
  }
  for (auto& c : clients) BOOST_REQUIRE(::write(c.get(), "x", 1) == 1);
  BOOST_REQUIRE(::write(late.get(), "x", 1) == 1);
  RX_REQUIRE_UNTIL(engine(), rx.bytes == n + 1, short_deadline);
  // Plain clients close: each recv ends with eof.
  clients.clear();
  late.reset();
  RX_REQUIRE_UNTIL(engine(), rx.finals == n + 1, short_deadline);
  BOOST_CHECK(engine().cancel(id));
  RX_REQUIRE_UNTIL(engine(), acc.final_calls > 0, short_deadline);
  BOOST_CHECK_MESSAGE(is_canceled(acc.final_error), "accept ended with " << describe(acc.final_error));
  for (Socket s : acc.accepted) RX_CHECK_OK(close_and_wait(engine(), s));
  RX_CHECK_OK(close_and_wait(engine(), l));
}

BOOST_FIXTURE_TEST_CASE(accept_cancel_without_clients, EngineFixture) {
  Address bound;
  Socket l = listen_loopback(engine(), bound);
  AcceptState& acc = state<AcceptState>();
  OpId id = engine().accept(l, acc.handler());
  BOOST_REQUIRE(id);
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(acc.calls, 0);
  BOOST_CHECK(engine().cancel(id));
  RX_REQUIRE_UNTIL(engine(), acc.calls > 0, short_deadline);
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(acc.calls, 1);
  BOOST_CHECK_MESSAGE(is_canceled(acc.final_error), "accept ended with " << describe(acc.final_error));
  BOOST_CHECK(!engine().cancel(id));
  RX_CHECK_OK(close_and_wait(engine(), l));
}

BOOST_FIXTURE_TEST_CASE(close_listener_ends_accept, EngineFixture) {
  Address bound;
  Socket l = listen_loopback(engine(), bound);
  AcceptState& acc = state<AcceptState>();
  BOOST_REQUIRE(engine().accept(l, acc.handler()));
  run_for(engine(), 10ms);
  RX_CHECK_OK(close_and_wait(engine(), l));
  RX_REQUIRE_UNTIL(engine(), acc.final_calls > 0, short_deadline);
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(acc.calls, 1);
  BOOST_CHECK_MESSAGE(is_canceled_or_badf(acc.final_error), "accept ended with " << describe(acc.final_error));
  // The port is really closed: a plain connect is refused.
  UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  BOOST_CHECK(::connect(c.get(), bound.data(), bound.size()) != 0);
}

BOOST_FIXTURE_TEST_CASE(connect_refused_on_closed_port, EngineFixture) {
  RefusingPort port;
  ConnectState& con = state<ConnectState>();
  BOOST_REQUIRE(engine().connect(Address::loopback_v4(port.port), con.handler()));
  RX_REQUIRE_UNTIL(engine(), con.calls > 0, short_deadline);
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(con.calls, 1);
  BOOST_REQUIRE_EQUAL(con.errors.size(), 1u);
  RX_CHECK_EC(con.errors[0], std::errc::connection_refused);
}

BOOST_FIXTURE_TEST_CASE(connect_refused_on_port_1, EngineFixture) {
  ConnectState& con = state<ConnectState>();
  BOOST_REQUIRE(engine().connect(Address::loopback_v4(1), con.handler()));
  RX_REQUIRE_UNTIL(engine(), con.calls > 0, short_deadline);
  BOOST_REQUIRE_EQUAL(con.errors.size(), 1u);
  RX_CHECK_EC(con.errors[0], std::errc::connection_refused);
  for (Socket s : con.connected) close_and_wait(engine(), s);
}

BOOST_FIXTURE_TEST_CASE(connect_cancel_or_complete_once, EngineFixture) {
  // A connect cancelled right away either completes (loopback is fast) or is
  // cancelled; either way its handler runs exactly once.
  Address bound;
  Socket l = listen_loopback(engine(), bound);
  ConnectState& con = state<ConnectState>();
  OpId id = engine().connect(bound, con.handler());
  BOOST_REQUIRE(id);
  engine().cancel(id);
  RX_REQUIRE_UNTIL(engine(), con.calls > 0, short_deadline);
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(con.calls, 1);
  if (!con.errors.empty())
    BOOST_CHECK_MESSAGE(is_canceled(con.errors[0]), "cancelled connect ended with " << describe(con.errors[0]));
  for (Socket s : con.connected) RX_CHECK_OK(close_and_wait(engine(), s));
  RX_CHECK_OK(close_and_wait(engine(), l));
}

BOOST_FIXTURE_TEST_CASE(accept_when_fd_slots_run_out, EngineFixture) {
  // More connections than FdTable slots. Whatever the engine does with a
  // connection it cannot register (refuse it and keep accepting, or end the
  // accept op), the multishot contract holds: the handler's call with an
  // error is the last one — a caller that frees its state on an error call
  // must never be called again.
  ringxfer::EngineOptions o = variant_options();
  o.fd_slots = 3;
  Engine& e = reset(o);
  Address bound;
  Socket l = listen_loopback(e, bound);  // slot 1 of 3
  AcceptState& acc = state<AcceptState>();
  OpId id = e.accept(l, acc.handler());
  BOOST_REQUIRE(id);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 4; ++i) {
    UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    BOOST_REQUIRE(::connect(c.get(), bound.data(), bound.size()) == 0);
    clients.push_back(std::move(c));
  }
  // Two connections fit; the others cannot be registered.
  RX_REQUIRE_UNTIL(e, acc.accepted.size() >= 2 || acc.final_calls > 0, short_deadline);
  run_for(e, 200ms);
  BOOST_CHECK_EQUAL(acc.accepted.size(), 2u);
  BOOST_CHECK_MESSAGE(acc.calls_after_final == 0,
                      "accept handler called " << acc.calls_after_final << " more time(s) after a call with an error ("
                                               << describe(acc.final_error) << ")");
  if (acc.final_calls > 0) {
    BOOST_TEST_MESSAGE("accept ended with " << describe(acc.final_error) << " when fd slots ran out");
    BOOST_CHECK_MESSAGE(acc.final_error == ringxfer::error::no_free_fd_slot, describe(acc.final_error));
  } else {
    BOOST_CHECK(e.cancel(id));
    RX_REQUIRE_UNTIL(e, acc.final_calls > 0, short_deadline);
    BOOST_CHECK_MESSAGE(is_canceled(acc.final_error), describe(acc.final_error));
  }
  run_for(e, 20ms);
  BOOST_CHECK_EQUAL(acc.final_calls, 1);
  for (Socket s : acc.accepted) RX_CHECK_OK(close_and_wait(e, s));
  RX_CHECK_OK(close_and_wait(e, l));
}

BOOST_FIXTURE_TEST_CASE(ipv6_loopback_stream, EngineFixture,
                        *boost::unit_test::precondition(ipv6_loopback_available)) {
  constexpr std::size_t bytes = 4 * MiB;
  Address bound;
  Socket l = listen_loopback(engine(), bound, AF_INET6);
  BOOST_CHECK_EQUAL(bound.to_string().rfind("[::1]:", 0), 0u);
  AcceptState& acc = state<AcceptState>();
  ConnectState& con = state<ConnectState>();
  OpId aid = engine().accept(l, acc.handler());
  BOOST_REQUIRE(aid);
  BOOST_REQUIRE(engine().connect(bound, con.handler()));
  RX_REQUIRE_UNTIL(engine(), acc.accepted.size() == 1 && con.calls == 1, short_deadline);
  BOOST_REQUIRE_EQUAL(con.connected.size(), 1u);
  Address local;
  RX_CHECK_OK(engine().local_address(con.connected[0], local));
  BOOST_CHECK_EQUAL(local.family(), AF_INET6);

  StreamSink& sink = state<StreamSink>();
  BOOST_REQUIRE(start_sink(engine(), acc.accepted[0], sink));
  ChainSender& tx = state<ChainSender>(engine(), con.connected[0], sink.pattern.make(0, bytes));
  tx.start();
  RX_REQUIRE_UNTIL_INFO(engine(), tx.done() && sink.done(), big_stream_deadline, tx << sink);
  BOOST_CHECK(!tx.failed);
  RX_CHECK_OK(tx.error);
  RX_CHECK_OK(tx.shutdown_error);
  check_sink(sink, bytes);

  engine().cancel(aid);
  RX_REQUIRE_UNTIL(engine(), acc.final_calls > 0, short_deadline);
  close_all(engine(), {acc.accepted[0], con.connected[0], l});
}

BOOST_AUTO_TEST_SUITE_END()
