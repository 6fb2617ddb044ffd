#pragma once
// The subcommands of ringxfer-load-neutral. Each returns the exit code:
// 0 success, 1 runtime failure (connection failed, errors during the run,
// nothing measured), 2 usage error (thrown as UsageError).
#include <span>
#include <string_view>

namespace ringxfer::perf {

int echo_command(std::span<const std::string_view> args);
int get_command(std::span<const std::string_view> args);
int stream_command(std::span<const std::string_view> args);
int accept_command(std::span<const std::string_view> args);

}  // namespace ringxfer::perf
