#pragma once
// Subcommands of the ringxfer CLI. Each takes the arguments after its name and
// returns the process exit code: 0 success, 1 runtime failure, 2 usage error.
#include <span>
#include <string_view>

namespace ringxfer::cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

int probe_command(std::span<const std::string_view> args);
int echo_command(std::span<const std::string_view> args);
int load_command(std::span<const std::string_view> args);
int proxy_command(std::span<const std::string_view> args);
int send_command(std::span<const std::string_view> args);
int recv_command(std::span<const std::string_view> args);
int serve_command(std::span<const std::string_view> args);

// Prints "ringxfer: <message>" to stderr; with `usage`, the command's usage follows.
void usage_error(std::string_view message, std::string_view usage);

}  // namespace ringxfer::cli
