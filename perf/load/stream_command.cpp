// `stream`: bulk throughput on C connections (default 1), one blocking
// thread each. `--mode sink` reads everything the server sends; `--mode
// source` writes as fast as the socket takes it, then half-closes.
// `--listen-fd N` turns the roles round for senders that connect (ringxfer
// send, iperf3 -c): the connections are accepted from an inherited listener.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <iostream>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "json.hpp"
#include "pattern.hpp"
#include "report.hpp"
#include "sys.hpp"

namespace ringxfer::perf {
namespace {

constexpr std::string_view stream_usage =
    "usage: ringxfer-load-neutral stream (--target HOST:PORT | --listen-fd N) --mode sink|source [options]\n"
    "\n"
    "Bulk throughput. sink: read everything the server sends (until the end of the\n"
    "run, --bytes, or the server closes); source: write as fast as the socket takes\n"
    "it, then half-close.\n"
    "\n"
    "options:\n"
    "  --target HOST:PORT    the server (required)\n"
    "  --listen-fd N         instead of --target: accept the connections from this\n"
    "                        inherited listening socket (for clients that connect);\n"
    "                        a sink then drains each connection to its end after the\n"
    "                        window (uncounted), so the sender sees its bytes read\n"
    "  --mode sink|source    read from or write to the server (required)\n"
    "  --connections N       parallel connections, one thread each, 1 .. 64 (default 1)\n"
    "  --chunk BYTES         read/write size per call (default 128K)\n"
    "  --duration T          measured time after the warm-up (default 5s)\n"
    "  --bytes N             instead of --duration: stop after N bytes per connection\n"
    "                        (sink: the server must send at least that many)\n"
    "  --max-time T          with --bytes: give up after this long (default 60s)\n"
    "  --warmup T            run this long before measuring (default 0.5s; use 0 when\n"
    "                        the server sends a fixed amount that may end sooner)\n"
    "  --connect-timeout T   (default 5s)\n"
    "  --json                one JSON object on stdout\n"
    "  -h, --help            this text\n";

struct StreamOptions {
  Endpoint target;
  bool sink = true;
  std::uint32_t connections = 1;
  std::uint64_t chunk_bytes = 128 * 1024;
  double duration_s = 5;
  std::uint64_t bytes = 0;
  double max_time_s = 60;
  double warmup_s = 0.5;
  double connect_timeout_s = 5;
  int listen_fd = -1;
};

struct StreamShared {
  std::uint64_t warmup_end_ns = 0;
  std::uint64_t end_ns = 0;
};

struct StreamResult {
  std::uint64_t measured_bytes = 0;
  std::uint64_t total_bytes = 0;
  std::uint64_t last_byte_ns = 0;  // when the connection stopped moving bytes
  bool eof = false;                // sink: the server closed
  bool short_count = false;        // --bytes not reached
  std::string error;
};

void run_stream_connection(int fd, const StreamOptions& o, const StreamShared& shared, const std::vector<char>& chunk,
                           StreamResult& r) {
  // Blocking calls with a short timeout: the thread notices the deadline.
  timeval tick{0, 20'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tick, sizeof tick);
  std::vector<char> buffer(o.sink ? o.chunk_bytes : 0);
  for (;;) {
    std::uint64_t now = monotonic_ns();
    if (now >= shared.end_ns) break;
    if (o.bytes > 0 && r.total_bytes >= o.bytes) break;
    std::size_t want = static_cast<std::size_t>(o.bytes > 0 ? std::min(o.chunk_bytes, o.bytes - r.total_bytes) : o.chunk_bytes);
    ssize_t n = o.sink ? ::recv(fd, buffer.data(), want, 0) : ::send(fd, chunk.data(), want, MSG_NOSIGNAL);
    if (n > 0) {
      now = monotonic_ns();
      r.total_bytes += static_cast<std::uint64_t>(n);
      if (now >= shared.warmup_end_ns && now < shared.end_ns) {
        r.measured_bytes += static_cast<std::uint64_t>(n);
        r.last_byte_ns = now;
      }
      continue;
    }
    if (n == 0 && o.sink) {
      r.eof = true;
      break;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    r.error = std::string(o.sink ? "recv: " : "send: ") + errno_text(errno);
    break;
  }
  if (o.bytes > 0 && r.total_bytes < o.bytes && r.error.empty()) r.short_count = true;
  // An accepted sink reads on to the sender's half-close (bounded by
  // --max-time), so a sender that waits for its bytes to be read ends cleanly.
  if (o.sink && o.listen_fd >= 0 && !r.eof && r.error.empty()) {
    const std::uint64_t drain_end_ns = monotonic_ns() + static_cast<std::uint64_t>(o.max_time_s * 1e9);
    while (monotonic_ns() < drain_end_ns) {
      ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (n == 0) break;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
    }
  }
  if (!o.sink) ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

// Accepts o.connections connections from the inherited listener, each within
// --connect-timeout of the one before.
std::vector<int> accept_connections(const StreamOptions& o) {
  std::vector<int> fds;
  while (fds.size() < o.connections) {
    pollfd p{o.listen_fd, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(o.connect_timeout_s * 1000));
    if (ready < 0 && errno == EINTR) continue;
    int fd = ready > 0 ? ::accept4(o.listen_fd, nullptr, nullptr, SOCK_CLOEXEC) : -1;
    if (fd < 0) {
      for (int f : fds) ::close(f);
      throw RuntimeError(ready == 0 ? "accept: no connection within --connect-timeout"
                                          : "accept: " + errno_text(errno));
    }
    set_blocking(fd);
    fds.push_back(fd);
  }
  return fds;
}

}  // namespace

int stream_command(std::span<const std::string_view> args) {
  StreamOptions o;
  bool json = false, target_given = false, mode_given = false;
  ArgReader reader(args);
  while (reader.next()) {
    std::string_view f = reader.flag();
    if (f == "-h" || f == "--help") {
      std::cout << stream_usage;
      return exit_ok;
    } else if (f == "--target") {
      o.target = parse_endpoint(f, reader.value(), false);
      target_given = true;
    } else if (f == "--listen-fd") {
      o.listen_fd = static_cast<int>(std::min<std::uint64_t>(parse_count(f, reader.value()), 1 << 20));
    } else if (f == "--mode") {
      std::string_view m = reader.value();
      if (m != "sink" && m != "source") throw UsageError("--mode: bad value '" + std::string(m) + "' (expected sink or source)");
      o.sink = m == "sink";
      mode_given = true;
    } else if (f == "--connections") {
      o.connections = static_cast<std::uint32_t>(std::min<std::uint64_t>(parse_count(f, reader.value()), 1000));
    } else if (f == "--chunk") {
      o.chunk_bytes = parse_size_bytes(f, reader.value());
    } else if (f == "--duration") {
      o.duration_s = parse_duration_s(f, reader.value());
    } else if (f == "--bytes") {
      o.bytes = parse_size_bytes(f, reader.value());
      if (o.bytes == 0) throw UsageError("--bytes: must be more than 0");
    } else if (f == "--max-time") {
      o.max_time_s = parse_duration_s(f, reader.value());
    } else if (f == "--warmup") {
      o.warmup_s = parse_duration_s(f, reader.value());
    } else if (f == "--connect-timeout") {
      o.connect_timeout_s = parse_duration_s(f, reader.value());
    } else if (f == "--json") {
      reader.no_value();
      json = true;
    } else {
      reader.unknown();
    }
  }
  if (target_given == (o.listen_fd >= 0)) throw UsageError("give exactly one of --target HOST:PORT and --listen-fd N");
  if (!mode_given) throw UsageError("--mode sink|source is required");
  if (o.connections < 1 || o.connections > 64) throw UsageError("--connections: must be 1 .. 64");
  if (o.chunk_bytes < 1 || o.chunk_bytes > 64 * 1024 * 1024) throw UsageError("--chunk: must be 1 B .. 64 MiB");
  if (o.bytes == 0 && o.duration_s <= 0) throw UsageError("--duration: must be more than 0");
  if (o.duration_s > 3600 || o.warmup_s > 3600 || o.max_time_s > 3600 || o.max_time_s <= 0) {
    throw UsageError("--duration, --warmup and --max-time must be more than 0 and at most 1 hour");
  }
  if (o.connect_timeout_s <= 0) throw UsageError("--connect-timeout: must be more than 0");

  std::vector<int> fds;
  if (o.listen_fd >= 0) {
    fds = accept_connections(o);
  } else {
    SocketAddress address = resolve(o.target);
    try {
      for (std::uint32_t i = 0; i < o.connections; ++i) {
        int fd = connect_tcp(address, o.target, o.connect_timeout_s);
        // Blocking from here on: one thread per connection.
        set_blocking(fd);
        fds.push_back(fd);
      }
    } catch (...) {
      for (int fd : fds) ::close(fd);
      throw;
    }
  }

  // The source's data: the pattern, repeated to the chunk size.
  std::vector<char> chunk;
  if (!o.sink) {
    Pattern pattern;
    chunk.resize(o.chunk_bytes);
    for (std::uint64_t at = 0; at < o.chunk_bytes;) {
      auto w = pattern.window(0, at, o.chunk_bytes - at);
      std::copy(w.begin(), w.end(), chunk.begin() + static_cast<std::ptrdiff_t>(at));
      at += w.size();
    }
  }

  StreamShared shared;
  std::uint64_t start_ns = monotonic_ns();
  shared.warmup_end_ns = start_ns + static_cast<std::uint64_t>(o.warmup_s * 1e9);
  shared.end_ns = shared.warmup_end_ns + static_cast<std::uint64_t>((o.bytes > 0 ? o.max_time_s : o.duration_s) * 1e9);
  std::vector<StreamResult> results(o.connections);
  std::vector<std::thread> threads;
  for (std::uint32_t i = 0; i < o.connections; ++i) {
    threads.emplace_back([&, i] { run_stream_connection(fds[i], o, shared, chunk, results[i]); });
  }
  sleep_until_ns(shared.warmup_end_ns);
  CpuTimes cpu_start = process_cpu_times();
  for (auto& t : threads) t.join();
  CpuTimes cpu = process_cpu_times() - cpu_start;

  std::uint64_t measured = 0, total = 0, window_end_ns = shared.warmup_end_ns;
  bool eof = false, short_count = false;
  std::string first_error;
  std::uint64_t errors = 0;
  for (auto& r : results) {
    measured += r.measured_bytes;
    total += r.total_bytes;
    window_end_ns = std::max(window_end_ns, r.last_byte_ns);
    eof = eof || r.eof;
    short_count = short_count || r.short_count;
    if (!r.error.empty()) {
      ++errors;
      if (first_error.empty()) first_error = r.error;
    }
  }
  if (o.bytes == 0 && !eof) window_end_ns = std::max(window_end_ns, std::min(monotonic_ns(), shared.end_ns));
  double measured_s = static_cast<double>(window_end_ns - shared.warmup_end_ns) / 1e9;
  double bytes_per_s = measured_s > 0 ? static_cast<double>(measured) / measured_s : 0.0;
  ClientCpu client = client_cpu(cpu, measured_s, o.connections);
  if (short_count && first_error.empty()) first_error = "--bytes not reached (the server closed early or --max-time passed)";

  if (json) {
    JsonObject out;
    out.field("tool", "ringxfer-load-neutral")
        .field("mode", "stream")
        .field("direction", o.sink ? "sink" : "source")
        .field("target", o.listen_fd >= 0 ? std::string("accepted") : o.target.text())
        .field("connections", o.connections)
        .field("chunk_bytes", o.chunk_bytes)
        .field("warmup_s", o.warmup_s)
        .field("measured_s", measured_s)
        .field("bytes", measured)
        .field("total_bytes", total)
        .field("bytes_per_s", bytes_per_s)
        .field("gbit_per_s", bytes_per_s * 8 / 1e9)
        .field("eof", eof)
        .field("errors", errors + (short_count ? 1 : 0))
        .field("first_error", first_error);
    add_cpu_fields(out, client);
    out.field("cpu_s_per_gb", measured > 0 ? cpu.total_s() / (static_cast<double>(measured) / 1e9) : 0.0);
    std::cout << out.finish();
  } else {
    char line[256];
    std::snprintf(line, sizeof line, "stream %s %s: %u connection(s), %llu B chunks, %.2f s measured%s\n",
                  o.sink ? "sink from" : "source to", o.target.text().c_str(), o.connections,
                  static_cast<unsigned long long>(o.chunk_bytes), measured_s, eof ? " (server closed)" : "");
    std::cout << line;
    std::snprintf(line, sizeof line, "rate       %.3f Gbit/s  (%.1f MiB/s, %llu bytes measured, %llu total)\n",
                  bytes_per_s * 8 / 1e9, bytes_per_s / (1024 * 1024), static_cast<unsigned long long>(measured),
                  static_cast<unsigned long long>(total));
    std::cout << line;
    std::cout << "errors     " << errors + (short_count ? 1 : 0) << (first_error.empty() ? "" : "; first: ") << first_error << '\n';
    print_cpu(std::cout, client, o.connections);
  }
  if (errors > 0 || short_count) {
    std::cerr << "ringxfer-load-neutral stream: " << first_error << '\n';
    return exit_failure;
  }
  if (measured == 0) {
    std::cerr << "ringxfer-load-neutral stream: no byte moved inside the measured window\n";
    return exit_failure;
  }
  return exit_ok;
}

}  // namespace ringxfer::perf
