// ringxfer: the command-line front end of the ringxfer engine.
//
//   ringxfer probe [--json] [--backend auto|io_uring|epoll] [--disable LIST]
//   ringxfer echo --listen ADDR [--metrics ADDR] [--threads N] ...
//   ringxfer load --to ADDR [--connections N] [--size B] [--pipeline K] ...
//   ringxfer serve DIR --listen ADDR [--access-log FILE|-] [--threads N] ...
//
// Exit codes: 0 success, 1 runtime failure, 2 usage error (unknown command or
// flag, bad value) — the message names the offending word.
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "command.hpp"
#include "ringxfer/version.hpp"

namespace ringxfer::cli {
namespace {

constexpr std::string_view main_usage =
    "usage: ringxfer <command> [options]\n"
    "       ringxfer --help | --version\n"
    "\n"
    "commands:\n"
    "  echo     echo server: every byte back unchanged\n"
    "  load     echo load generator: msgs/s and latency, every byte verified\n"
    "  probe    show what this kernel offers io_uring and which backend the engine would pick\n"
    "  serve    HTTP/1.1 static file server for a directory\n"
    "\n"
    "Run `ringxfer <command> --help` for a command's options.\n";

}  // namespace

void usage_error(std::string_view message, std::string_view usage) {
  std::cerr << "ringxfer: " << message << '\n';
  if (!usage.empty()) std::cerr << '\n' << usage;
}

}  // namespace ringxfer::cli

int main(int argc, char** argv) {
  using namespace ringxfer::cli;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cout << main_usage;
    return exit_ok;
  }
  std::string_view command = args.front();
  std::span<const std::string_view> rest(args.data() + 1, args.size() - 1);

  if (command == "-h" || command == "--help" || command == "help") {
    std::cout << main_usage;
    return exit_ok;
  }
  if (command == "--version" || command == "-V") {
    std::cout << "ringxfer " << ringxfer::version_string << '\n';
    return exit_ok;
  }
  if (command == "probe") return probe_command(rest);
  if (command == "serve") return serve_command(rest);
  if (command == "echo") return echo_command(rest);
  if (command == "load") return load_command(rest);
  if (command == "proxy") return proxy_command(rest);
  if (command == "send") return send_command(rest);
  if (command == "recv") return recv_command(rest);

  if (command.starts_with('-')) {
    usage_error("unknown option '" + std::string(command) + "'", main_usage);
  } else {
    usage_error("unknown command '" + std::string(command) + "'", main_usage);
  }
  return exit_usage;
}
