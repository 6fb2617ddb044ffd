#pragma once
// Command-line parsing shared by the load clients and the Asio peers.
//
// Usage errors throw UsageError (the programs exit 2 and name the offending
// word); runtime failures throw RuntimeError (exit 1). Exceptions are used
// only while parsing and setting up, never on an I/O path.
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ringxfer::perf {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct RuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "64", "4K", "4KiB", "1M", "1MiB", "2G" (binary multiples; "B" allowed).
std::uint64_t parse_size_bytes(std::string_view flag, std::string_view text);
// Plain decimal count with optional k/m suffix (decimal: 10k = 10000).
std::uint64_t parse_count(std::string_view flag, std::string_view text);
// "5" or "5s", "500ms", "250us", "2m". Returns seconds.
double parse_duration_s(std::string_view flag, std::string_view text);
// Positive floating point number ("20000", "1.5e5").
double parse_number(std::string_view flag, std::string_view text);

// Walks "--flag value" and "--flag=value" arguments.
class ArgReader {
 public:
  explicit ArgReader(std::span<const std::string_view> args) : args_(args) {}
  // Advances to the next argument; false at the end.
  bool next();
  // The current flag name (without "=value").
  std::string_view flag() const { return flag_; }
  // The value of the current flag: the "=value" part or the next argument.
  std::string_view value();
  // Rejects "--flag=value" for a flag that takes no value.
  void no_value() const;
  [[noreturn]] void unknown() const;

 private:
  std::span<const std::string_view> args_;
  std::size_t index_ = 0;
  bool started_ = false;
  std::string_view flag_;
  std::string_view inline_value_;
  bool has_inline_ = false;
};

// "HOST:PORT" with HOST an IPv4 literal or [IPv6]; "PORT" alone means 127.0.0.1.
struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string text() const;
};
Endpoint parse_endpoint(std::string_view flag, std::string_view text, bool allow_port_zero);

}  // namespace ringxfer::perf
