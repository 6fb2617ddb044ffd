// Unit tests of the CLI framework's pure parts: flag and value parsing, the
// log-linear histogram, the Prometheus exposition.
#define BOOST_TEST_MODULE ringxfer_cli_unit
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "args.hpp"
#include "command.hpp"
#include "histogram.hpp"
#include "metrics.hpp"

using namespace ringxfer::cli;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(bytes_with_suffixes) {
  std::uint64_t v = 0;
  BOOST_TEST(parse_bytes("64", 1, 1 << 30, v).empty());
  BOOST_TEST(v == 64u);
  BOOST_TEST(parse_bytes("1k", 1, 1 << 30, v).empty());
  BOOST_TEST(v == 1024u);
  BOOST_TEST(parse_bytes("1.5M", 1, 1 << 30, v).empty());
  BOOST_TEST(v == 1572864u);
  BOOST_TEST(parse_bytes("2MiB", 1, 1 << 30, v).empty());
  BOOST_TEST(v == 2097152u);
  for (std::string_view bad : {"0", "12q", "", "k", "1e3", "-1", "0.5", "2g"}) {
    BOOST_TEST(!parse_bytes(bad, 1, 1 << 30, v).empty(), bad);
  }
}

BOOST_AUTO_TEST_CASE(seconds_with_units) {
  std::chrono::nanoseconds d{};
  BOOST_TEST(parse_seconds("0.5", d).empty());
  BOOST_TEST((d == 500ms));
  BOOST_TEST(parse_seconds("250ms", d).empty());
  BOOST_TEST((d == 250ms));
  BOOST_TEST(parse_seconds("2s", d).empty());
  BOOST_TEST((d == 2s));
  for (std::string_view bad : {"", "soon", "5m", "1..2", "-1"}) BOOST_TEST(!parse_seconds(bad, d).empty(), bad);
}

BOOST_AUTO_TEST_CASE(cpu_lists) {
  std::vector<int> cpus;
  BOOST_TEST(parse_cpu_list("0-3", cpus).empty());
  BOOST_TEST((cpus == std::vector<int>{0, 1, 2, 3}));
  BOOST_TEST(parse_cpu_list("0,2,5", cpus).empty());
  BOOST_TEST((cpus == std::vector<int>{0, 2, 5}));
  BOOST_TEST(parse_cpu_list("none", cpus).empty());
  BOOST_TEST(cpus.empty());
  for (std::string_view bad : {"1-", "3-1", "a", "0,", ",0", ""}) BOOST_TEST(!parse_cpu_list(bad, cpus).empty(), bad);
}

BOOST_AUTO_TEST_CASE(uints_and_addresses) {
  std::uint32_t n = 0;
  BOOST_TEST(parse_uint("7", 1u, 10u, n).empty());
  BOOST_TEST(n == 7u);
  for (std::string_view bad : {"0", "11", "", "7x", "-1", "99999999999"}) BOOST_TEST(!parse_uint(bad, 1u, 10u, n).empty(), bad);
  ringxfer::Address a;
  BOOST_TEST(parse_address("127.0.0.1:80", a).empty());
  BOOST_TEST(a.port() == 80);
  BOOST_TEST(parse_address("[::1]:8080", a).empty());
  BOOST_TEST(a.port() == 8080);
  for (std::string_view bad : {"localhost:80", "127.0.0.1", "::1:80", "1.2.3.4:65536"}) {
    BOOST_TEST(!parse_address(bad, a).empty(), bad);
  }
}

BOOST_AUTO_TEST_CASE(flag_parser) {
  auto parse = [](std::vector<std::string_view> args, CommonOptions& common, ServerOptions& server) {
    FlagParser p("test", "usage: test\n");
    add_server_flags(p, server);
    add_common_flags(p, common);
    return p.parse(args);
  };
  CommonOptions c;
  ServerOptions s;
  BOOST_TEST(parse({"--listen=127.0.0.1:1", "--threads", "3", "--stats", "--backend=epoll", "--drain-timeout", "1.5"},
                   c, s) == -1);
  BOOST_TEST(c.threads == 3u);
  BOOST_TEST(c.stats);
  BOOST_TEST((c.backend == ringxfer::BackendKind::epoll));
  BOOST_TEST(s.listen.port() == 1);
  BOOST_TEST((s.drain_timeout == 1500ms));
  BOOST_TEST(!s.metrics.has_value());
  BOOST_TEST(parse({"--help"}, c, s) == exit_ok);                       // before the required check
  BOOST_TEST(parse({"--threads", "2"}, c, s) == exit_usage);            // --listen missing
  BOOST_TEST(parse({"--listen"}, c, s) == exit_usage);                  // value missing
  BOOST_TEST(parse({"--listen", "127.0.0.1:1", "--stats=1"}, c, s) == exit_usage);
  BOOST_TEST(parse({"--listen", "127.0.0.1:1", "-x"}, c, s) == exit_usage);
  BOOST_TEST(parse({"--listen", "127.0.0.1:1", "word"}, c, s) == exit_usage);
}

BOOST_AUTO_TEST_CASE(histogram_buckets_bound_every_value) {
  using H = LogLinearHistogram;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    std::uint64_t v = rng() >> (rng() % 64);
    std::size_t index = H::index_of(v);
    BOOST_REQUIRE_LT(index, H::bucket_count);
    std::uint64_t edge = H::upper_edge(index);
    BOOST_REQUIRE_GE(edge, v);
    if (index > 0) BOOST_REQUIRE_LT(H::upper_edge(index - 1), v);  // the bucket is the first that holds v
    if (v >= H::exact_below) BOOST_REQUIRE_LE(double(edge - v) / double(v), 1.0 / 32);
  }
  BOOST_TEST(H::index_of(~std::uint64_t(0)) == H::bucket_count - 1);
}

BOOST_AUTO_TEST_CASE(histogram_quantiles) {
  static LogLinearHistogram h;  // 15 KiB: not on the stack
  BOOST_TEST(h.quantile(0.5) == 0u);
  for (std::uint64_t i = 1; i <= 100000; ++i) h.record(i * 1000);  // 1 us .. 100 ms
  auto near = [](std::uint64_t got, double want) { return got >= want && double(got) <= want * (1 + 1.0 / 32); };
  BOOST_TEST(near(h.quantile(0.5), 50e6), h.quantile(0.5));
  BOOST_TEST(near(h.quantile(0.99), 99e6), h.quantile(0.99));
  BOOST_TEST(near(h.quantile(0.999), 99.9e6), h.quantile(0.999));
  BOOST_TEST(h.quantile(1.0) == 100'000'000u);  // capped at the true max
  BOOST_TEST(h.max() == 100'000'000u);
  BOOST_TEST(h.count() == 100000u);
  static LogLinearHistogram other;
  other.record(5);
  other.add(h);
  BOOST_TEST(other.count() == 100001u);
  BOOST_TEST(other.quantile(0) == 5u);
}

BOOST_AUTO_TEST_CASE(metrics_exposition) {
  std::vector<ThreadSnapshot> threads(2);
  threads[0].engine.syscalls = 10;
  threads[1].engine.syscalls = 20;
  threads[0].tool.messages = 3;
  threads[1].tool.messages = 4;
  threads[1].tool.connections_open = 2;
  threads[0].tool.latency.record(3'000);          // <= 5 us
  threads[1].tool.latency.record(7'000);          // <= 10 us
  threads[1].tool.latency.record(20'000'000'000); // +Inf
  std::string text = metrics_text({"echo", "messages", "Messages.", "Latency."}, threads);
  auto has = [&text](std::string_view line) { return text.find(std::string(line) + "\n") != std::string::npos; };
  BOOST_TEST(has("ringxfer_engine_syscalls_total{thread=\"0\"} 10"));
  BOOST_TEST(has("ringxfer_engine_syscalls_total{thread=\"1\"} 20"));
  BOOST_TEST(has("# TYPE ringxfer_engine_syscalls_total counter"));
  BOOST_TEST(has("ringxfer_echo_messages_total 7"));
  BOOST_TEST(has("# TYPE ringxfer_echo_open_connections gauge"));
  BOOST_TEST(has("ringxfer_echo_open_connections 2"));
  BOOST_TEST(has("# TYPE ringxfer_echo_latency_seconds histogram"));
  BOOST_TEST(has("ringxfer_echo_latency_seconds_bucket{le=\"0.000005\"} 1"));
  BOOST_TEST(has("ringxfer_echo_latency_seconds_bucket{le=\"0.00001\"} 2"));
  BOOST_TEST(has("ringxfer_echo_latency_seconds_bucket{le=\"10\"} 2"));
  BOOST_TEST(has("ringxfer_echo_latency_seconds_bucket{le=\"+Inf\"} 3"));
  BOOST_TEST(has("ringxfer_echo_latency_seconds_sum 20.00001"));
  BOOST_TEST(has("ringxfer_echo_latency_seconds_count 3"));
}
