// ringxfer-load-neutral: load clients that are not built on ringxfer (plain
// epoll and threads), so that every server under test - ringxfer on either
// backend, the Asio peers, nginx - gets exactly the same load.
//
//   ringxfer-load-neutral echo|stream|accept|get [options]
//
// Exit codes: 0 success, 1 runtime failure (cannot connect, errors during the
// run, nothing measured), 2 usage error; the message names the offending word.
#include <exception>
#include <iostream>
#include <span>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"

namespace {

constexpr std::string_view main_usage =
    "usage: ringxfer-load-neutral <command> [options]\n"
    "\n"
    "commands:\n"
    "  echo     request/response on N connections, K in flight, every byte verified\n"
    "  stream   bulk throughput: read (sink) or write (source) as fast as possible\n"
    "  accept   connect/close churn: connections per second\n"
    "  get      HTTP/1.1 keep-alive GET load\n"
    "\n"
    "Run `ringxfer-load-neutral <command> --help` for a command's options.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace ringxfer::perf;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::cout << main_usage;
    return args.empty() ? exit_usage : exit_ok;
  }
  std::string_view command = args[0];
  std::span<const std::string_view> rest(args.data() + 1, args.size() - 1);
  try {
    if (command == "echo") return echo_command(rest);
    if (command == "stream") return stream_command(rest);
    if (command == "accept") return accept_command(rest);
    if (command == "get") return get_command(rest);
    std::cerr << "ringxfer-load-neutral: unknown command '" << command << "'\n\n" << main_usage;
    return exit_usage;
  } catch (const UsageError& e) {
    std::cerr << "ringxfer-load-neutral " << command << ": " << e.what() << "\n(see `ringxfer-load-neutral "
              << command << " --help`)\n";
    return exit_usage;
  } catch (const RuntimeError& e) {
    std::cerr << "ringxfer-load-neutral: " << e.what() << '\n';
    return exit_failure;
  } catch (const std::exception& e) {
    std::cerr << "ringxfer-load-neutral: " << e.what() << '\n';
    return exit_failure;
  }
}
