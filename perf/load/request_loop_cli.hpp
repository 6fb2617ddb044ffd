#pragma once
// Flags and report fields common to the request/response subcommands (echo,
// get), so the two read and report alike.
#include <iosfwd>
#include <string_view>

#include "cli.hpp"
#include "json.hpp"
#include "request_loop.hpp"

namespace ringxfer::perf {

inline constexpr std::string_view request_loop_flags_help =
    "  --target HOST:PORT    the server (required)\n"
    "  --connections N       connections (default 64); RLIMIT_NOFILE is raised to its hard\n"
    "                        limit (20000 here: 10000 connections work)\n"
    "  --in-flight K         requests in flight per connection, pipelined (default 1)\n"
    "  --duration T          measured time after the warm-up (default 5s)\n"
    "  --requests N          instead of --duration: stop after N measured responses\n"
    "  --max-time T          with --requests: give up after this long (default 60s)\n"
    "  --warmup T            run this long before measuring (default 1s)\n"
    "  --rate R              open loop: R requests/s in total, spread evenly over the\n"
    "                        connections; latency counts from the intended send time\n"
    "  --threads T           client threads, each an epoll loop over its share (default 1)\n"
    "  --connect-timeout T   per connection (default 5s)\n"
    "  --json                one JSON object on stdout\n"
    "  -h, --help            this text\n";

// Takes the current flag if it is one of the above; false otherwise.
bool take_request_loop_flag(ArgReader& reader, RequestLoopOptions& options, bool& json);
// Checks ranges and required flags after parsing; throws UsageError.
void check_request_loop_options(const RequestLoopOptions& options, bool target_given);

void add_request_loop_fields(JsonObject& json, const RequestLoopOptions& options, const RequestLoopResult& result,
                             double bytes_per_response);
void print_request_loop(std::ostream& out, const char* what, const RequestLoopOptions& options,
                        const RequestLoopResult& result);
// 0 if the run measured something and saw no error, else 1 (with a message).
int request_loop_exit_code(const char* program, const RequestLoopResult& result);

}  // namespace ringxfer::perf
