#pragma once
// Flag parsing shared by every subcommand.
//
// A command declares its flags on a FlagParser (each with a parse function
// that stores the value or returns why it is bad), adds the shared groups
// (add_common_flags, add_server_flags, add_client_flags), then calls parse().
// Both "--flag value" and "--flag=value" work. A usage error prints one line,
// "ringxfer <command>: <reason naming the bad word> (see ...--help)", and
// parse() returns exit_usage; --help prints the usage text and returns exit_ok.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ringxfer/address.hpp"
#include "ringxfer/features.hpp"

namespace ringxfer::cli {

// Returns "" when the value was taken, else the reason it is bad.
using ValueParser = std::function<std::string(std::string_view value)>;

class FlagParser {
 public:
  FlagParser(std::string_view command, std::string_view usage);
  // A flag without a value.
  void flag(std::string_view name, bool& out);
  // A flag with a value.
  void option(std::string_view name, ValueParser parse);
  // parse() fails unless this flag was given.
  void require(std::string_view name);
  // Words that are not flags go here (in order); without a sink they are errors.
  void positional(std::function<std::string(std::string_view)> sink);
  // -1: go on; exit_ok: --help was printed; exit_usage: an error was printed.
  int parse(std::span<const std::string_view> args);
  bool given(std::string_view name) const;
  // Prints "ringxfer <command>: message (see ...)" and returns exit_usage;
  // for checks between flags after parse().
  int fail(std::string_view message) const;

 private:
  struct Flag {
    std::string name;
    bool* out = nullptr;
    ValueParser parse;
    bool required = false;
    bool given = false;
  };
  Flag* find(std::string_view name);
  std::string command_;
  std::string_view usage_;
  std::vector<Flag> flags_;
  std::function<std::string(std::string_view)> positional_;
};

// Value parsers: each stores into `out` and returns "" or the reason.
std::string parse_uint(std::string_view text, std::uint64_t min, std::uint64_t max, std::uint64_t& out);
std::string parse_uint(std::string_view text, std::uint32_t min, std::uint32_t max, std::uint32_t& out);
// Bytes with an optional suffix: k/K = 1024, m/M, g/G (also KiB, MiB, GiB).
std::string parse_bytes(std::string_view text, std::uint64_t min, std::uint64_t max, std::uint64_t& out);
// Seconds, fractions allowed ("0.5"), or with a unit: "250ms", "2s".
std::string parse_seconds(std::string_view text, std::chrono::nanoseconds& out);
std::string parse_positive_number(std::string_view text, double& out);
std::string parse_address(std::string_view text, Address& out);
// "0,2,5" or "0-3"; "none" gives an empty list that means "do not pin".
std::string parse_cpu_list(std::string_view text, std::vector<int>& out);

// Flags every subcommand takes.
struct CommonOptions {
  BackendKind backend = BackendKind::automatic;
  std::uint32_t threads = 1;
  bool stats = false;
  // CPUs the engine threads are pinned to, thread i on cpus[i % size]. Unset:
  // pin only with more than one thread, over the CPUs this process may use
  // (pinning a lone thread would put two single-threaded tools on one core).
  std::optional<std::vector<int>> cpus;
};
void add_common_flags(FlagParser& parser, CommonOptions& options);
inline constexpr std::string_view common_flags_usage =
    "  --backend NAME     auto, io_uring or epoll (default auto; overrides RINGXFER_BACKEND)\n"
    "  --threads N        engine threads, one Engine each (default 1)\n"
    "  --cpus LIST        pin thread i to the i-th CPU of LIST (\"0,2\", \"0-3\", \"none\");\n"
    "                     default: pinned over all allowed CPUs when --threads > 1\n"
    "  --stats            print each engine's Stats on stderr at exit\n"
    "  -h, --help         this text\n";

struct ServerOptions {
  Address listen;
  std::optional<Address> metrics;
  std::chrono::nanoseconds drain_timeout = std::chrono::seconds(5);
};
// --listen (required), --metrics, --drain-timeout.
void add_server_flags(FlagParser& parser, ServerOptions& options);
inline constexpr std::string_view server_flags_usage =
    "  --listen ADDR      listen on ADDR: host:port or [v6]:port (required)\n"
    "  --metrics ADDR     serve Prometheus metrics at http://ADDR/metrics\n"
    "  --drain-timeout S  on SIGINT/SIGTERM, wait up to S seconds for connections\n"
    "                     to finish before closing them (default 5); a second\n"
    "                     signal exits at once\n";

struct ClientOptions {
  Address to;
};
// --to (required).
void add_client_flags(FlagParser& parser, ClientOptions& options);
inline constexpr std::string_view client_flags_usage =
    "  --to ADDR          connect to ADDR: host:port or [v6]:port (required)\n";

}  // namespace ringxfer::cli
