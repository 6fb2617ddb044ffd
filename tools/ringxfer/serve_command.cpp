// `ringxfer serve DIR --listen ADDR`: HTTP/1.1 static files from DIR.
//
// The flags, the root, the MIME table and the access-log file are set up
// here; each engine thread runs a ServeWorker (serve_worker.cpp) on the
// shared runner (runner.hpp): SO_REUSEPORT listeners, SIGINT/SIGTERM drain,
// /metrics.
#include <fcntl.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "args.hpp"
#include "command.hpp"
#include "runner.hpp"
#include "serve_worker.hpp"
#include "server_main.hpp"

namespace ringxfer::cli {
namespace {

constexpr std::string_view serve_usage_head =
    "usage: ringxfer serve DIR --listen ADDR [options]\n"
    "\n"
    "An HTTP/1.1 static file server for the files below DIR: GET and HEAD,\n"
    "keep-alive and pipelining, single byte ranges, ETag/Last-Modified\n"
    "conditionals, index.html for a directory. Paths are confined to DIR with\n"
    "openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): \"..\" and symlinks that\n"
    "leave DIR are refused (403). Plain HTTP only.\n"
    "\n"
    "options:\n"
    "  --mime-types FILE     Content-Type by extension from FILE (/etc/mime.types\n"
    "                        format), over the built-in table\n"
    "  --access-log FILE|-   combined log format, buffered (written at least once a\n"
    "                        second and at exit); off by default\n"
    "  --header-timeout S    a request head must be complete S seconds after it began\n"
    "                        (the accept, or its first byte on a kept-alive connection),\n"
    "                        else 408 and close; a connection that sent nothing is\n"
    "                        closed without a response (default 10)\n"
    "  --idle-timeout S      close a keep-alive connection idle for S seconds (default 60)\n"
    "  --send-timeout S      close a connection whose response made no progress for S\n"
    "                        seconds: the client acknowledged no byte of it (TCP_INFO)\n"
    "                        since the last check (default 60)\n"
    "  --max-connections N   open connections at most, shared evenly by the threads;\n"
    "                        more wait in the listen backlog (default 0: no limit)\n"
    "  --open-file-cache N   open files kept per thread, each checked against its path\n"
    "                        (one fstatat) on every request: a changed, replaced or\n"
    "                        deleted file is seen at once; 0 turns the cache off\n"
    "                        (default 1000, at most a quarter of the fd slots)\n"
    "  --open-file-inactive S  close a cached file unused for S seconds (default 10)\n"
    "  --open-file-bytes N   keep the bytes of cached files up to N bytes in memory\n"
    "                        (those below the splice band, which are read and sent):\n"
    "                        a hit is then one send, no read (default 64K; 0: off)\n"
    "  --open-file-bytes-total N  bytes kept per thread at most (default 16M)\n"
    "  --open-file-bytes-settle S  keep no bytes of a file changed (ctime) less than\n"
    "                        S seconds ago: on a file system with coarser timestamps,\n"
    "                        a rewrite within one tick would go unseen (default 1)\n"
    "  --max-uri-bytes N     request-target longer than N: 414 (default 8192)\n"
    "  --max-header-bytes N  header fields over N bytes: 431 (default 16384)\n"
    "  --max-headers N       more than N header fields: 431 (default 64, at most 100)\n";

std::string parse_timeout(std::string_view text, std::chrono::nanoseconds& out) {
  std::chrono::nanoseconds v{};
  if (std::string why = parse_seconds(text, v); !why.empty()) return why;
  if (v.count() <= 0) return "expected a time above 0";
  out = v;
  return {};
}

}  // namespace

int serve_command(std::span<const std::string_view> args) {
  CommonOptions common;
  ServerOptions server;
  serve::ServeConfig config;
  std::string root;
  std::string mime_types;
  std::string access_log;
  std::uint32_t max_connections = 0;
  static const std::string usage = std::string(serve_usage_head) + std::string(server_flags_usage) +
                                   std::string(common_flags_usage);
  FlagParser parser("serve", usage);
  add_server_flags(parser, server);
  add_common_flags(parser, common);
  parser.positional([&root](std::string_view word) -> std::string {
    if (!root.empty()) return "one DIR only, got a second: '" + std::string(word) + "'";
    root = std::string(word);
    return {};
  });
  parser.option("--mime-types", [&](std::string_view v) { mime_types = std::string(v); return std::string(); });
  parser.option("--access-log", [&](std::string_view v) { access_log = std::string(v); return std::string(); });
  parser.option("--header-timeout", [&](std::string_view v) { return parse_timeout(v, config.header_timeout); });
  parser.option("--idle-timeout", [&](std::string_view v) { return parse_timeout(v, config.idle_timeout); });
  parser.option("--send-timeout", [&](std::string_view v) { return parse_timeout(v, config.send_timeout); });
  parser.option("--max-connections",
                [&](std::string_view v) { return parse_uint(v, std::uint32_t(0), std::uint32_t(1u << 24), max_connections); });
  parser.option("--open-file-cache", [&](std::string_view v) {
    return parse_uint(v, std::uint32_t(0), std::uint32_t(1u << 20), config.open_file_cache);
  });
  parser.option("--open-file-inactive", [&](std::string_view v) { return parse_timeout(v, config.open_file_inactive); });
  parser.option("--open-file-bytes", [&](std::string_view v) {
    return parse_bytes(v, 0, std::uint64_t(1) << 30, config.open_file_bytes.body_max_bytes);
  });
  parser.option("--open-file-bytes-total", [&](std::string_view v) {
    return parse_bytes(v, 0, std::uint64_t(1) << 40, config.open_file_bytes.body_total_bytes);
  });
  std::chrono::nanoseconds settle{config.open_file_bytes.settle_ns};
  parser.option("--open-file-bytes-settle", [&](std::string_view v) { return parse_seconds(v, settle); });
  std::uint64_t uri = config.limits.max_uri_bytes;
  std::uint64_t head = config.limits.max_head_bytes;
  std::uint64_t count = config.limits.max_header_count;
  parser.option("--max-uri-bytes", [&](std::string_view v) { return parse_bytes(v, 16, 1u << 20, uri); });
  parser.option("--max-header-bytes", [&](std::string_view v) { return parse_bytes(v, 64, 1u << 20, head); });
  parser.option("--max-headers",
                [&](std::string_view v) { return parse_uint(v, std::uint64_t(1), std::uint64_t(http::max_header_slots), count); });
  if (int code = parser.parse(args); code >= 0) return code;
  if (root.empty()) return parser.fail("DIR is required");
  config.limits.max_uri_bytes = uri;
  config.open_file_bytes.settle_ns = settle.count();
  config.limits.max_head_bytes = head;
  config.limits.max_header_count = count;
  if (max_connections != 0) {
    // Each thread holds its share; SO_REUSEPORT spreads connections evenly.
    config.max_connections = (max_connections + common.threads - 1) / common.threads;
  }

  const int root_fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) {
    std::cerr << "ringxfer serve: " << root << ": " << std::error_code(errno, std::system_category()).message()
              << '\n';
    return exit_failure;
  }
  struct RootCloser {
    int fd;
    ~RootCloser() { ::close(fd); }
  } root_closer{root_fd};
  if (!serve::openat2_available(root_fd)) {
    std::cerr << "ringxfer serve: openat2(2) is not available (kernel < 5.6 or a seccomp filter): "
                 "refusing to serve without RESOLVE_BENEATH\n";
    return exit_failure;
  }
  config.root_fd = root_fd;

  http::MimeTable mime;
  if (!mime_types.empty()) {
    std::string error;
    if (!mime.load_mime_types(mime_types, error)) {
      std::cerr << "ringxfer serve: --mime-types: " << error << '\n';
      return exit_failure;
    }
  }
  config.mime = &mime;

  serve::AccessLogFile log_file;
  if (!access_log.empty()) {
    if (auto ec = log_file.open(access_log)) {
      std::cerr << "ringxfer serve: --access-log " << access_log << ": " << ec.message() << '\n';
      return exit_failure;
    }
    config.access_log = &log_file;
  }

  block_signals();
  raise_fd_limit();
  std::string what;
  RunConfig run;
  run.command = "serve";
  run.common = common;
  run.drain_timeout = server.drain_timeout;
  run.vocabulary = {"serve", "requests", "HTTP requests answered.",
                    "Time from a request's complete head to the end of its response."};
  if (server.metrics) {
    std::vector<int> metrics_fds;
    Address metrics_bound;
    if (auto ec = open_listeners(*server.metrics, 1, metrics_fds, metrics_bound, what)) {
      std::cerr << "ringxfer serve: metrics: " << what << ": " << ec.message() << '\n';
      return exit_failure;
    }
    run.metrics_fd = metrics_fds.front();
    std::cerr << "ringxfer serve: metrics at http://" << metrics_bound.to_string() << "/metrics\n";
  }
  // One engine per thread, each with its own SO_REUSEPORT listener.
  std::unique_ptr<Workers> set = make_server_engines(run, server.listen);
  if (!set) {
    if (run.metrics_fd >= 0) ::close(run.metrics_fd);
    return exit_failure;
  }
  const Address bound = set->listen_address();
  std::cerr << "ringxfer serve: " << root << " listening on " << bound.to_string() << " (" << common.threads
            << " thread" << (common.threads == 1 ? "" : "s") << ")\n";

  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<Worker*> pointers;
  for (std::uint32_t i = 0; i < set->size(); ++i) {
    workers.push_back(serve::make_serve_worker(config));
    pointers.push_back(workers.back().get());
  }
  RunResult result = run_workers(run, *set, pointers);
  for (auto& w : workers) serve::flush_serve_worker(*w);
  if (common.stats) print_stats(result.final);
  return result.exit_code;
}

}  // namespace ringxfer::cli
