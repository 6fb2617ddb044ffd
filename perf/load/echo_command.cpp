// `echo`: request/response load against an echo server. Every connection
// sends its own deterministic byte stream (Pattern) in messages of --size
// bytes and checks every echoed byte against it.
#include <iostream>
#include <span>
#include <string_view>

#include "commands.hpp"
#include "pattern.hpp"
#include "request_loop_cli.hpp"

namespace ringxfer::perf {
namespace {

constexpr std::string_view echo_usage_head =
    "usage: ringxfer-load-neutral echo --target HOST:PORT [options]\n"
    "\n"
    "Sends --size byte messages on every connection and waits for each to come back;\n"
    "every echoed byte is compared with what was sent.\n"
    "\n"
    "options:\n"
    "  --size BYTES          message size, 1 .. 64 MiB (default 64; 4K, 1M ... accepted)\n";

class EchoProtocol {
 public:
  struct State {
    std::uint32_t seed;
    std::uint64_t received = 0;
  };

  EchoProtocol(const Pattern& pattern, std::uint64_t message_bytes) : pattern_(pattern), message_bytes_(message_bytes) {}

  State make_state(std::uint32_t connection) const { return State{Pattern::seed_of(connection)}; }
  std::uint64_t request_size_bytes() const { return message_bytes_; }
  std::span<const char> send_window(const State& s, std::uint64_t offset, std::uint64_t max) const {
    return pattern_.window(s.seed, offset, max);
  }
  template <class OnResponse>
  bool consume(State& s, const char* data, std::size_t size, OnResponse&& on_response) const {
    if (!pattern_.matches(s.seed, s.received, data, size)) return false;
    std::uint64_t before = s.received / message_bytes_;
    s.received += size;
    for (std::uint64_t n = s.received / message_bytes_ - before; n > 0; --n) on_response();
    return true;
  }
  const char* error_text(const State&) const { return "an echoed byte differs from the byte sent"; }

 private:
  const Pattern& pattern_;
  std::uint64_t message_bytes_;
};

}  // namespace

int echo_command(std::span<const std::string_view> args) {
  RequestLoopOptions options;
  std::uint64_t message_bytes = 64;
  bool json = false;
  bool target_given = false;
  ArgReader reader(args);
  while (reader.next()) {
    std::string_view f = reader.flag();
    if (f == "-h" || f == "--help") {
      std::cout << echo_usage_head << request_loop_flags_help;
      return exit_ok;
    }
    if (f == "--size") {
      message_bytes = parse_size_bytes(f, reader.value());
      if (message_bytes < 1 || message_bytes > 64 * 1024 * 1024) throw UsageError("--size: must be 1 B .. 64 MiB");
      continue;
    }
    if (f == "--target") target_given = true;
    if (!take_request_loop_flag(reader, options, json)) reader.unknown();
  }
  check_request_loop_options(options, target_given);

  Pattern pattern;
  EchoProtocol protocol(pattern, message_bytes);
  RequestLoopResult result = run_request_loop(protocol, options);

  if (json) {
    JsonObject out;
    out.field("tool", "ringxfer-load-neutral").field("mode", "echo").field("message_size_bytes", message_bytes);
    double per_s = result.measured_s > 0 ? static_cast<double>(result.responses) / result.measured_s : 0.0;
    out.field("messages", result.responses).field("msgs_per_s", per_s).field("bytes_per_s", per_s * static_cast<double>(message_bytes));
    add_request_loop_fields(out, options, result, static_cast<double>(message_bytes));
    std::cout << out.finish();
  } else {
    print_request_loop(std::cout, "echo", options, result);
  }
  return request_loop_exit_code("ringxfer-load-neutral echo", result);
}

}  // namespace ringxfer::perf
