// ringxfer-unit: things that do not depend on a backend (InlineFunction,
// FeatureSet, BackendKind, Address, errors), plus the suite `auto_fallback`
// (io_uring "unavailable" -> auto picks epoll), registered as its own ctest.
#define BOOST_TEST_MODULE ringxfer_unit
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>

#include "ringxfer/ringxfer.hpp"

using namespace ringxfer;

namespace {

struct Counted {
  static inline int alive = 0;
  static inline int calls = 0;
  Counted() noexcept { ++alive; }
  Counted(const Counted&) noexcept { ++alive; }
  Counted(Counted&&) noexcept { ++alive; }
  ~Counted() { --alive; }
};

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(inline_function)

BOOST_AUTO_TEST_CASE(empty_and_call) {
  InlineFunction<int(int)> f;
  BOOST_CHECK(!f);
  f = [](int x) { return x * 2; };
  BOOST_CHECK(static_cast<bool>(f));
  BOOST_CHECK_EQUAL(f(21), 42);
  f.reset();
  BOOST_CHECK(!f);
}

BOOST_AUTO_TEST_CASE(captures_up_to_capacity) {
  struct Big {
    std::array<char, 56> pad{};
    int* out;
  };
  static_assert(sizeof(Big) == 64);
  int out = 0;
  Big b{};
  b.pad[55] = 7;
  b.out = &out;
  InlineFunction<void(), 64> f([b] { *b.out = b.pad[55]; });
  f();
  BOOST_CHECK_EQUAL(out, 7);
  // The engine's handler type has 64 bytes of capacity too.
  Handler h([b](Outcome&) { *b.out = 9; });
  Outcome o;
  h(o);
  BOOST_CHECK_EQUAL(out, 9);
}

BOOST_AUTO_TEST_CASE(move_only_capture_and_arguments) {
  auto p = std::make_unique<int>(5);
  InlineFunction<int(std::unique_ptr<int>)> f([q = std::move(p)](std::unique_ptr<int> a) { return *q + *a; });
  BOOST_CHECK_EQUAL(f(std::make_unique<int>(3)), 8);
  InlineFunction<int(std::unique_ptr<int>)> g(std::move(f));
  BOOST_CHECK(!f);
  BOOST_CHECK(static_cast<bool>(g));
  BOOST_CHECK_EQUAL(g(std::make_unique<int>(1)), 6);
  InlineFunction<int(std::unique_ptr<int>)> h;
  h = std::move(g);
  BOOST_CHECK(!g);
  BOOST_CHECK_EQUAL(h(std::make_unique<int>(0)), 5);
}

BOOST_AUTO_TEST_CASE(reference_arguments) {
  InlineFunction<void(int&)> f([](int& x) { x += 1; });
  int v = 1;
  f(v);
  BOOST_CHECK_EQUAL(v, 2);
}

BOOST_AUTO_TEST_CASE(destroys_captures_exactly_once) {
  Counted::alive = 0;
  {
    InlineFunction<void()> f([c = Counted()] { ++Counted::calls; });
    BOOST_CHECK_EQUAL(Counted::alive, 1);
    InlineFunction<void()> g(std::move(f));
    BOOST_CHECK_EQUAL(Counted::alive, 1);  // moved-from storage destroyed
    InlineFunction<void()> h([c = Counted()] {});
    BOOST_CHECK_EQUAL(Counted::alive, 2);
    h = std::move(g);  // h's old capture destroyed, g's moved in
    BOOST_CHECK_EQUAL(Counted::alive, 1);
    h();
    h = std::move(h);  // self-move is harmless
    BOOST_CHECK_EQUAL(Counted::alive, 1);
    h.reset();
    BOOST_CHECK_EQUAL(Counted::alive, 0);
    h.reset();
    BOOST_CHECK_EQUAL(Counted::alive, 0);
  }
  BOOST_CHECK_EQUAL(Counted::alive, 0);
  BOOST_CHECK_EQUAL(Counted::calls, 1);
}

BOOST_AUTO_TEST_CASE(state_persists_between_calls) {
  InlineFunction<int()> f([n = 0]() mutable { return ++n; });
  BOOST_CHECK_EQUAL(f(), 1);
  BOOST_CHECK_EQUAL(f(), 2);
  InlineFunction<int()> g(std::move(f));
  BOOST_CHECK_EQUAL(g(), 3);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(features)

BOOST_AUTO_TEST_CASE(feature_set_bits) {
  FeatureSet s;
  BOOST_CHECK(s.empty());
  for (int i = 0; i < feature_count; ++i) BOOST_CHECK(!s.has(Feature(i)));
  s.add(Feature::splice).add(Feature::send_zc);
  BOOST_CHECK(s.has(Feature::splice));
  BOOST_CHECK(s.has(Feature::send_zc));
  BOOST_CHECK(!s.has(Feature::buf_ring));
  s.remove(Feature::splice);
  BOOST_CHECK(!s.has(Feature::splice));
  BOOST_CHECK(!s.empty());
  FeatureSet all = FeatureSet::all();
  for (int i = 0; i < feature_count; ++i) BOOST_CHECK(all.has(Feature(i)));
  BOOST_CHECK(!all.empty());
  BOOST_CHECK(!(all == s));
  FeatureSet t;
  t.add(Feature::send_zc);
  BOOST_CHECK(t == s);
}

BOOST_AUTO_TEST_CASE(feature_names) {
  BOOST_CHECK_EQUAL(to_string(Feature::send_zc), "send_zc");
  BOOST_CHECK_EQUAL(to_string(Feature::multishot_accept), "multishot_accept");
  BOOST_CHECK_EQUAL(to_string(Feature::multishot_recv), "multishot_recv");
  BOOST_CHECK_EQUAL(to_string(Feature::buf_ring), "buf_ring");
  BOOST_CHECK_EQUAL(to_string(Feature::fixed_files), "fixed_files");
  BOOST_CHECK_EQUAL(to_string(Feature::fixed_buffers), "fixed_buffers");
  BOOST_CHECK_EQUAL(to_string(Feature::defer_taskrun), "defer_taskrun");
  BOOST_CHECK_EQUAL(to_string(Feature::splice), "splice");
}

BOOST_AUTO_TEST_CASE(parse_feature_lists) {
  FeatureSet s;
  BOOST_CHECK(!parse_features("send_zc,splice", s));
  FeatureSet want;
  want.add(Feature::send_zc).add(Feature::splice);
  BOOST_CHECK(s == want);

  FeatureSet e;
  e.add(Feature::buf_ring);
  BOOST_CHECK(!parse_features("", e));
  BOOST_CHECK(e.empty());

  FeatureSet a;
  BOOST_CHECK(!parse_features("all", a));
  BOOST_CHECK(a == FeatureSet::all());

  // Each name on its own.
  for (int i = 0; i < feature_count; ++i) {
    FeatureSet one;
    BOOST_TEST_CONTEXT(to_string(Feature(i))) {
      BOOST_CHECK(!parse_features(to_string(Feature(i)), one));
      BOOST_CHECK(one == FeatureSet().add(Feature(i)));
    }
  }
}

BOOST_AUTO_TEST_CASE(parse_features_reports_bad_word) {
  FeatureSet s;
  std::string bad;
  std::error_code ec = parse_features("send_zc,bogus,splice", s, &bad);
  BOOST_CHECK(static_cast<bool>(ec));
  BOOST_CHECK_EQUAL(bad, "bogus");
  bad.clear();
  ec = parse_features("sendzc", s, &bad);
  BOOST_CHECK(static_cast<bool>(ec));
  BOOST_CHECK_EQUAL(bad, "sendzc");
  // Without a bad_word pointer it still fails.
  BOOST_CHECK(static_cast<bool>(parse_features("nope", s)));
}

BOOST_AUTO_TEST_CASE(print_and_parse_round_trip) {
  const FeatureSet sets[] = {
      FeatureSet(),
      FeatureSet::all(),
      FeatureSet().add(Feature::send_zc),
      FeatureSet().add(Feature::splice).add(Feature::fixed_files).add(Feature::defer_taskrun),
      FeatureSet::all().remove(Feature::buf_ring),
  };
  for (const FeatureSet& s : sets) {
    std::string text = to_string(s);
    FeatureSet back;
    std::string bad;
    BOOST_TEST_CONTEXT("'" << text << "'") {
      BOOST_CHECK(!parse_features(text, back, &bad));
      BOOST_CHECK(back == s);
    }
  }
  // A set's text names its members.
  std::string text = to_string(FeatureSet().add(Feature::send_zc).add(Feature::splice));
  BOOST_CHECK(text.find("send_zc") != std::string::npos);
  BOOST_CHECK(text.find("splice") != std::string::npos);
  BOOST_CHECK(text.find("buf_ring") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(backend_names) {
  BackendKind k = BackendKind::epoll;
  BOOST_CHECK(!parse_backend("auto", k));
  BOOST_CHECK(k == BackendKind::automatic);
  BOOST_CHECK(!parse_backend("io_uring", k));
  BOOST_CHECK(k == BackendKind::io_uring);
  k = BackendKind::automatic;
  BOOST_CHECK(!parse_backend("uring", k));
  BOOST_CHECK(k == BackendKind::io_uring);
  BOOST_CHECK(!parse_backend("epoll", k));
  BOOST_CHECK(k == BackendKind::epoll);
  k = BackendKind::io_uring;
  BOOST_CHECK(static_cast<bool>(parse_backend("kqueue", k)));
  BOOST_CHECK(static_cast<bool>(parse_backend("", k)));
  BOOST_CHECK(static_cast<bool>(parse_backend("EPOLLX", k)));
  for (BackendKind b : {BackendKind::automatic, BackendKind::io_uring, BackendKind::epoll}) {
    BackendKind back = BackendKind::automatic;
    BOOST_CHECK(!parse_backend(to_string(b), back));
    BOOST_CHECK(back == b);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(address)

BOOST_AUTO_TEST_CASE(parse_ipv4) {
  Address a;
  BOOST_REQUIRE(!Address::parse("127.0.0.1:80", a));
  BOOST_CHECK_EQUAL(a.family(), AF_INET);
  BOOST_CHECK_EQUAL(a.port(), 80);
  BOOST_CHECK_EQUAL(a.size(), sizeof(sockaddr_in));
  BOOST_CHECK_EQUAL(a.to_string(), "127.0.0.1:80");
  const auto* in = reinterpret_cast<const sockaddr_in*>(a.data());
  BOOST_CHECK_EQUAL(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
  BOOST_REQUIRE(!Address::parse("0.0.0.0:65535", a));
  BOOST_CHECK_EQUAL(a.port(), 65535);
  BOOST_CHECK_EQUAL(a.to_string(), "0.0.0.0:65535");
  BOOST_REQUIRE(!Address::parse("10.1.2.3:0", a));
  BOOST_CHECK_EQUAL(a.port(), 0);
}

BOOST_AUTO_TEST_CASE(parse_ipv6) {
  Address a;
  BOOST_REQUIRE(!Address::parse("[::1]:8080", a));
  BOOST_CHECK_EQUAL(a.family(), AF_INET6);
  BOOST_CHECK_EQUAL(a.port(), 8080);
  BOOST_CHECK_EQUAL(a.size(), sizeof(sockaddr_in6));
  BOOST_CHECK_EQUAL(a.to_string(), "[::1]:8080");
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a.data());
  BOOST_CHECK(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
  BOOST_REQUIRE(!Address::parse("[fe80::1:2]:1", a));
  BOOST_CHECK_EQUAL(a.port(), 1);
}

BOOST_AUTO_TEST_CASE(parse_rejects_bad_input) {
  const char* bad[] = {
      "1.2.3.4",        // no port
      "x:1",            // not numeric (no name lookup)
      "1.2.3.4:99999",  // port out of range
      "1.2.3.4:65536",
      "",
      ":80",
      "1.2.3.4:",
      "1.2.3.4:-1",
      "1.2.3.4:80x",
      "256.1.1.1:80",
      "[::1]",
      "[::1:80",
      "[zz::1]:80",
      "localhost:80",
      "::1:80",          // IPv6 without brackets
      "[::1]80",         // no colon after the bracket
      "[::1]:",          // empty port
      "[::1]:80:",       // trailing junk
      "[1.2.3.4]:80",    // IPv4 in brackets
      "[fe80::1%lo]:80", // scope ids are not parsed
      " 1.2.3.4:80",     // no whitespace anywhere
      "1.2.3.4:80 ",
      "1.2.3.4: 80",
      "1.2.3.4:+80",
      "1.2.3.4:0x50",
      "[]:80",
      "[[::1]]:80",
      "1.2.3.4.5:80",
      "1111:2222:3333:4444:5555:6666:7777:8888:9999:80",
      "[1111:2222:3333:4444:5555:6666:7777:8888:9999]:80",  // longer than any IPv6 text
      "[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]:80",
  };
  for (const char* text : bad) {
    Address a = Address::loopback_v4(7);
    BOOST_TEST_CONTEXT("'" << text << "'") {
      BOOST_CHECK(Address::parse(text, a) == std::errc::invalid_argument);
      BOOST_CHECK_EQUAL(a.to_string(), "127.0.0.1:7");  // untouched on error
    }
  }
  // Embedded NUL: the host must not be cut short at it.
  Address a;
  BOOST_CHECK(static_cast<bool>(Address::parse(std::string_view("1.2.3.4\0junk:80", 15), a)));
}

BOOST_AUTO_TEST_CASE(parse_accepts_edge_forms) {
  Address a;
  BOOST_REQUIRE(!Address::parse("[::ffff:10.0.0.1]:443", a));  // v4-mapped IPv6
  BOOST_CHECK_EQUAL(a.family(), AF_INET6);
  BOOST_CHECK_EQUAL(a.port(), 443);
  BOOST_REQUIRE(!Address::parse("[::]:0", a));
  BOOST_CHECK_EQUAL(a.to_string(), "[::]:0");
  BOOST_REQUIRE(!Address::parse("[2001:db8::1]:65535", a));
  BOOST_CHECK_EQUAL(a.to_string(), "[2001:db8::1]:65535");
  // to_string() and parse() round-trip.
  for (const Address& x : {Address::loopback_v4(1), Address::loopback_v6(2), Address::any_v4(3), Address::any_v6(4)}) {
    Address y;
    BOOST_REQUIRE(!Address::parse(x.to_string(), y));
    BOOST_CHECK_EQUAL(y.to_string(), x.to_string());
    BOOST_CHECK_EQUAL(y.size(), x.size());
  }
}

BOOST_AUTO_TEST_CASE(any_helpers) {
  Address a = Address::any_v4(8080);
  BOOST_CHECK_EQUAL(a.family(), AF_INET);
  BOOST_CHECK_EQUAL(a.port(), 8080);
  BOOST_CHECK_EQUAL(a.size(), sizeof(sockaddr_in));
  BOOST_CHECK_EQUAL(a.to_string(), "0.0.0.0:8080");
  BOOST_CHECK_EQUAL(reinterpret_cast<const sockaddr_in*>(a.data())->sin_addr.s_addr, htonl(INADDR_ANY));
  Address b = Address::any_v6(9090);
  BOOST_CHECK_EQUAL(b.family(), AF_INET6);
  BOOST_CHECK_EQUAL(b.port(), 9090);
  BOOST_CHECK_EQUAL(b.size(), sizeof(sockaddr_in6));
  BOOST_CHECK_EQUAL(b.to_string(), "[::]:9090");
  BOOST_CHECK(IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(b.data())->sin6_addr));
}

BOOST_AUTO_TEST_CASE(loopback_helpers) {
  Address a = Address::loopback_v4(5);
  BOOST_CHECK_EQUAL(a.family(), AF_INET);
  BOOST_CHECK_EQUAL(a.port(), 5);
  BOOST_CHECK_EQUAL(a.to_string(), "127.0.0.1:5");
  Address b = Address::loopback_v6(6);
  BOOST_CHECK_EQUAL(b.family(), AF_INET6);
  BOOST_CHECK_EQUAL(b.port(), 6);
  BOOST_CHECK_EQUAL(b.to_string(), "[::1]:6");
  Address c;
  BOOST_CHECK_EQUAL(c.size(), 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(errors)

BOOST_AUTO_TEST_CASE(engine_error_codes) {
  for (error e : {error::eof, error::no_free_op_slot, error::no_free_fd_slot, error::no_free_buffer,
                  error::no_free_pipe, error::post_queue_full, error::transfer_incomplete}) {
    std::error_code ec = e;  // is_error_code_enum
    BOOST_CHECK(static_cast<bool>(ec));
    BOOST_CHECK(ec == e);
    BOOST_CHECK(&ec.category() == &error_category());
    BOOST_CHECK(!ec.message().empty());
  }
  BOOST_CHECK(std::string(error_category().name()).size() > 0);
  BOOST_CHECK(std::error_code(error::eof) != std::error_code(error::transfer_incomplete));
}

BOOST_AUTO_TEST_CASE(kernel_results) {
  BOOST_CHECK(!from_result(0));
  BOOST_CHECK(!from_result(4096));
  BOOST_CHECK(from_result(-EBADF) == std::errc::bad_file_descriptor);
  BOOST_CHECK(from_result(-ECANCELED) == std::errc::operation_canceled);
  BOOST_CHECK(from_result(-ECONNREFUSED) == std::errc::connection_refused);
}

BOOST_AUTO_TEST_CASE(printing) {
  std::ostringstream a, b;
  Stats s;
  s.syscalls = 123;
  a << s;
  BOOST_CHECK(a.str().find("123") != std::string::npos);
  Features f;
  b << f;
  BOOST_CHECK(!b.str().empty());
  BOOST_CHECK(std::string(version_string).size() > 0);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- auto_fallback: its own ctest ---------------------------------------------------

BOOST_AUTO_TEST_SUITE(auto_fallback)

BOOST_AUTO_TEST_CASE(auto_picks_epoll_when_uring_setup_fails) {
  EngineOptions o;
  o.backend = BackendKind::automatic;
  o.read_environment = false;
  o.simulate_uring_setup_errno = EPERM;
  Engine e(o);
  const Features& f = e.features();
  BOOST_CHECK(f.backend == BackendKind::epoll);
  BOOST_CHECK_MESSAGE(!f.why.empty(), "features().why is empty");
  const std::string why = lower(f.why);
  BOOST_CHECK_MESSAGE(why.find("eperm") != std::string::npos || why.find("permit") != std::string::npos ||
                          why.find("uring") != std::string::npos,
                      "features().why does not mention the io_uring failure: '" << f.why << "'");
  BOOST_TEST_MESSAGE("why: " << f.why);
  // And the engine works.
  int fired = 0;
  std::error_code got;
  BOOST_REQUIRE(e.timeout(std::chrono::milliseconds(1), [&fired, &got](std::error_code ec) {
    ++fired;
    got = ec;
  }));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (fired == 0 && std::chrono::steady_clock::now() < deadline) e.run_once(std::chrono::milliseconds(10));
  BOOST_CHECK_EQUAL(fired, 1);
  BOOST_CHECK(!got);
}

BOOST_AUTO_TEST_CASE(forced_uring_throws_when_setup_fails) {
  EngineOptions o;
  o.backend = BackendKind::io_uring;
  o.read_environment = false;
  o.simulate_uring_setup_errno = EPERM;
  bool threw = false;
  try {
    Engine e(o);
  } catch (const std::system_error& ex) {
    threw = true;
    BOOST_TEST_MESSAGE("Engine(io_uring, EPERM) threw: " << ex.what());
    BOOST_CHECK_MESSAGE(ex.code() == std::errc::operation_not_permitted,
                        "error is " << ex.code().message() << ", expected the simulated EPERM");
  }
  BOOST_CHECK_MESSAGE(threw, "Engine with backend=io_uring did not throw std::system_error");
}

BOOST_AUTO_TEST_CASE(other_errnos_fall_back_too) {
  for (int err : {ENOSYS, ENOMEM, EINVAL}) {
    EngineOptions o;
    o.read_environment = false;
    o.simulate_uring_setup_errno = err;
    Engine e(o);
    BOOST_TEST_CONTEXT("errno " << err) {
      BOOST_CHECK(e.features().backend == BackendKind::epoll);
      BOOST_CHECK(!e.features().why.empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(explicit_epoll_ignores_uring_failure) {
  EngineOptions o;
  o.backend = BackendKind::epoll;
  o.read_environment = false;
  o.simulate_uring_setup_errno = EPERM;
  Engine e(o);
  BOOST_CHECK(e.features().backend == BackendKind::epoll);
}

BOOST_AUTO_TEST_CASE(probe_reports_the_same_choice) {
  EngineOptions o;
  o.read_environment = false;
  o.simulate_uring_setup_errno = EPERM;
  Features f = probe_features(o);
  BOOST_CHECK(f.backend == BackendKind::epoll);
  BOOST_TEST_MESSAGE("probe under simulated EPERM: usable=" << f.io_uring_usable << " error='" << f.io_uring_error
                                                             << "' why='" << f.why << "'");
}

BOOST_AUTO_TEST_SUITE_END()

// RINGXFER_BACKEND / RINGXFER_DISABLE reach every Engine that reads the
// environment (the default), and a malformed value is an error naming it.
BOOST_AUTO_TEST_SUITE(environment)

namespace {
// Sets an environment variable for one scope, then removes it.
struct ScopedEnv {
  const char* name;
  ScopedEnv(const char* n, const char* value) : name(n) { ::setenv(n, value, 1); }
  ~ScopedEnv() { ::unsetenv(name); }
};
}  // namespace

BOOST_AUTO_TEST_CASE(backend_variable_picks_the_backend) {
  ScopedEnv env("RINGXFER_BACKEND", "epoll");
  Engine e;  // options say auto; the variable wins
  BOOST_CHECK(e.features().backend == BackendKind::epoll);
  BOOST_CHECK_EQUAL(e.features().why, "epoll asked for");
}

BOOST_AUTO_TEST_CASE(disable_variable_turns_features_off) {
  ScopedEnv env("RINGXFER_DISABLE", "send_zc, splice");
  Engine e;
  BOOST_CHECK(e.features().disabled.has(Feature::send_zc));
  BOOST_CHECK(e.features().disabled.has(Feature::splice));
  BOOST_CHECK(!e.features().disabled.has(Feature::fixed_files));
  BOOST_CHECK(!e.features().has(Feature::send_zc));
  BOOST_CHECK(!e.features().has(Feature::splice));
}

BOOST_AUTO_TEST_CASE(disable_variable_adds_to_the_options) {
  ScopedEnv env("RINGXFER_DISABLE", "splice");
  EngineOptions o;
  o.disabled.add(Feature::send_zc);
  Engine e(o);
  BOOST_CHECK(e.features().disabled.has(Feature::send_zc));
  BOOST_CHECK(e.features().disabled.has(Feature::splice));
}

BOOST_AUTO_TEST_CASE(read_environment_false_ignores_them) {
  ScopedEnv backend("RINGXFER_BACKEND", "epoll");
  ScopedEnv disable("RINGXFER_DISABLE", "all");
  EngineOptions o;
  o.read_environment = false;
  o.backend = BackendKind::epoll;  // so the check holds where io_uring is unusable too
  Engine e(o);
  BOOST_CHECK(e.features().disabled == EngineOptions{}.disabled);  // the defaults only (recv_bundle is opt-in)
}

BOOST_AUTO_TEST_CASE(malformed_values_are_clear_errors) {
  {
    ScopedEnv env("RINGXFER_BACKEND", "kqueue");
    try {
      Engine e;
      BOOST_ERROR("Engine started with RINGXFER_BACKEND=kqueue");
    } catch (const std::system_error& ex) {
      const std::string what = ex.what();
      BOOST_CHECK_MESSAGE(what.find("RINGXFER_BACKEND") != std::string::npos && what.find("kqueue") != std::string::npos,
                          "error does not name the variable and the value: " << what);
    }
  }
  {
    ScopedEnv env("RINGXFER_DISABLE", "send_zc,nope");
    try {
      Engine e;
      BOOST_ERROR("Engine started with RINGXFER_DISABLE=send_zc,nope");
    } catch (const std::system_error& ex) {
      const std::string what = ex.what();
      BOOST_CHECK_MESSAGE(what.find("RINGXFER_DISABLE") != std::string::npos && what.find("'nope'") != std::string::npos,
                          "error does not name the variable and the bad word: " << what);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
