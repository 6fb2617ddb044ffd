// `accept`: connect/close churn. C connection slots (spread over T
// threads, each an epoll loop) each run one cycle after another:
//   connect -> [send --request-size bytes, read them back, check] -> close
// By default a cycle, after connecting, half-closes and waits for the
// server to close too, so every counted cycle passed through the server's
// accept and its read; --no-wait closes right after the handshake (which
// the kernel completes without the server: that measures the kernel and
// the listen backlog, not the server's accept loop).
//
// Source addresses: the client closes first, so TIME_WAIT sockets pile up on
// its side (60 s at ~12k cycles/s: far more than the ephemeral ports), and
// every connect() then searches the ports for a free 4-tuple. `perf record
// -a` of a run against `ringxfer echo` put 48 % of this client's CPU in that
// search (__inet_check_established, __inet_hash_connect, tcp_twsk_unique),
// so every server measured the same 12.2k conns/s. Against a 127.x target
// the cycles therefore take their source address in turn from 127.0.0.2 up
// (--source-addresses), bound with IP_BIND_ADDRESS_NO_PORT: each address has
// its own port space, and the search ends at once.
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <iostream>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "histogram.hpp"
#include "json.hpp"
#include "pattern.hpp"
#include "report.hpp"
#include "sys.hpp"

namespace ringxfer::perf {
namespace {

constexpr std::string_view accept_usage =
    "usage: ringxfer-load-neutral accept --target HOST:PORT [options]\n"
    "\n"
    "Connect/close churn: connections per second. Each slot runs cycles back to back:\n"
    "connect, then either send --request-size bytes and expect them echoed, or (the\n"
    "default) half-close and wait for the server to close; then close.\n"
    "\n"
    "options:\n"
    "  --target HOST:PORT    the server (required)\n"
    "  --concurrency C       connection slots in parallel (default 16)\n"
    "  --request-size BYTES  per connection: send this many bytes and expect them\n"
    "                        back (an echo server), 0 .. 64K (default 0: none)\n"
    "  --no-wait             close as soon as the handshake completes (measures the\n"
    "                        kernel's backlog more than the server)\n"
    "  --duration T          measured time after the warm-up (default 5s)\n"
    "  --warmup T            run this long before measuring (default 0.5s)\n"
    "  --threads T           client threads (default 1)\n"
    "  --source-addresses N  take source addresses 127.0.0.2 .. in turn (a 127.x\n"
    "                        target only; 1: let the kernel choose; default 64)\n"
    "  --json                one JSON object on stdout\n"
    "  -h, --help            this text\n";

struct AcceptOptions {
  Endpoint target;
  std::uint32_t concurrency = 16;
  std::uint64_t request_bytes = 0;
  bool no_wait = false;
  double duration_s = 5;
  double warmup_s = 0.5;
  std::uint32_t threads = 1;
  std::uint32_t source_addresses = 64;  // 127.0.0.2 ..; 1: the kernel's choice
};

struct AcceptControl {
  std::uint64_t warmup_end_ns = 0;
  std::uint64_t end_ns = 0;
};

struct AcceptResult {
  std::uint64_t cycles = 0;  // completed inside the window
  std::uint64_t errors_connect = 0, errors_io = 0, errors_verify = 0, errors_closed = 0;
  std::string first_error;
  LatencyHistogram latency;  // one cycle: connect() to close()
  std::uint64_t errors() const { return errors_connect + errors_io + errors_verify + errors_closed; }
};

class AcceptWorker {
 public:
  AcceptWorker(const AcceptOptions& o, const AcceptControl& control, const SocketAddress& address, const Pattern& pattern,
               std::uint32_t slots, std::uint32_t first_slot_number)
      : o_(o), control_(control), address_(address), pattern_(pattern), slots_(slots) {
    for (std::uint32_t i = 0; i < slots; ++i) slots_[i].seed = Pattern::seed_of(first_slot_number + i);
    restart_.reserve(slots);
  }

  void run() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
      error(result_.errors_io, "epoll_create1: " + errno_text(errno));
      return;
    }
    std::uint64_t now = monotonic_ns();
    for (std::uint32_t i = 0; i < slots_.size(); ++i) start(i, now);
    epoll_event events[256];
    char buffer[65536];
    while (now < control_.end_ns) {
      // Slots whose connect failed at once wait a tick instead of spinning.
      int timeout_ms = restart_.empty() ? 10 : 1;
      int ready = epoll_wait(epoll_fd_, events, 256, timeout_ms);
      now = monotonic_ns();
      for (int e = 0; e < ready; ++e) handle(events[e].data.u32, events[e].events, now, buffer, sizeof buffer);
      // Restart only after the batch: a new socket may reuse a closed fd
      // number that still has an event further down the batch.
      for (std::uint32_t i : restart_) start(i, now);
      restart_.clear();
      for (std::uint32_t i : retry_) restart_.push_back(i);
      retry_.clear();
    }
    for (auto& s : slots_) {
      if (s.fd >= 0) ::close(s.fd);
    }
    ::close(epoll_fd_);
  }

  AcceptResult& result() { return result_; }

 private:
  enum class Phase : std::uint8_t { connecting, receiving, awaiting_close };
  struct Slot {
    int fd = -1;
    Phase phase = Phase::connecting;
    std::uint32_t seed = 0;
    std::uint64_t received = 0;
    std::uint64_t started_ns = 0;
  };

  bool in_window(std::uint64_t now) const { return now >= control_.warmup_end_ns && now < control_.end_ns; }

  void error(std::uint64_t& counter, std::string why) {
    ++counter;
    if (result_.first_error.empty()) result_.first_error = std::move(why);
  }

  void start(std::uint32_t i, std::uint64_t now) {
    if (now >= control_.end_ns) return;
    Slot& s = slots_[i];
    s = Slot{-1, Phase::connecting, s.seed, 0, now};
    s.fd = ::socket(address_.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s.fd < 0) {
      error(result_.errors_connect, "socket: " + errno_text(errno));
      retry_.push_back(i);
      return;
    }
    set_nodelay(s.fd);
    if (!bind_source(s.fd)) {
      error(result_.errors_connect, "bind source address: " + errno_text(errno));
      ::close(s.fd);
      s.fd = -1;
      retry_.push_back(i);
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u32 = i;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, s.fd, &ev);
    int rc = ::connect(s.fd, reinterpret_cast<const sockaddr*>(&address_.storage), address_.length);
    if (rc != 0 && errno != EINPROGRESS) {
      int e = errno;
      ::close(s.fd);
      s.fd = -1;
      error(result_.errors_connect, "connect to " + o_.target.text() + ": " + errno_text(e));
      retry_.push_back(i);
    }
    // Either way (connected at once or in progress), EPOLLOUT reports it.
  }

  // The next source address in turn (see the file comment); true when the
  // kernel chooses (not a 127.x target, or --source-addresses 1).
  bool bind_source(int fd) {
    if (!loopback_v4_ || o_.source_addresses <= 1) return true;
    int on = 1;
    if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof on) != 0) return false;
    sockaddr_in source{};
    source.sin_family = AF_INET;
    source.sin_addr.s_addr = htonl((127u << 24) + 2 + next_source_++ % o_.source_addresses);
    return ::bind(fd, reinterpret_cast<const sockaddr*>(&source), sizeof source) == 0;
  }

  void finish(std::uint32_t i, std::uint64_t now) {
    Slot& s = slots_[i];
    ::close(s.fd);
    s.fd = -1;
    if (in_window(now)) {
      ++result_.cycles;
      result_.latency.record(now - s.started_ns);
    }
    restart_.push_back(i);
  }

  void drop(std::uint32_t i, std::uint64_t now, std::uint64_t& counter, std::string why) {
    Slot& s = slots_[i];
    ::close(s.fd);
    s.fd = -1;
    if (now < control_.end_ns) error(counter, std::move(why));
    restart_.push_back(i);
  }

  void handle(std::uint32_t i, std::uint32_t events, std::uint64_t now, char* buffer, std::size_t buffer_size) {
    Slot& s = slots_[i];
    if (s.fd < 0) return;
    if (s.phase == Phase::connecting) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return drop(i, now, result_.errors_connect, "connect to " + o_.target.text() + ": " + errno_text(err));
      if (o_.no_wait) return finish(i, now);
      if (o_.request_bytes > 0) {
        // Small (<= 64 KiB) on a fresh socket: one send takes it all.
        auto w = pattern_.window(s.seed, 0, o_.request_bytes);
        ssize_t n = ::send(s.fd, w.data(), w.size(), MSG_NOSIGNAL);
        if (n != static_cast<ssize_t>(w.size())) {
          return drop(i, now, result_.errors_io, n < 0 ? "send: " + errno_text(errno) : std::string("short send of the request"));
        }
        s.phase = Phase::receiving;
      } else {
        ::shutdown(s.fd, SHUT_WR);
        s.phase = Phase::awaiting_close;
      }
    }
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    for (;;) {
      ssize_t n = ::recv(s.fd, buffer, buffer_size, 0);
      if (n > 0) {
        if (s.phase == Phase::receiving) {
          if (s.received + static_cast<std::uint64_t>(n) > o_.request_bytes ||
              !pattern_.matches(s.seed, s.received, buffer, static_cast<std::size_t>(n))) {
            return drop(i, now, result_.errors_verify, "the echoed request differs from the one sent");
          }
          s.received += static_cast<std::uint64_t>(n);
          if (s.received == o_.request_bytes) return finish(i, now);
        }
        continue;  // awaiting_close: whatever the server sends is ignored
      }
      if (n == 0) {
        if (s.phase == Phase::awaiting_close) return finish(i, now);
        return drop(i, now, result_.errors_closed, "the server closed before echoing the request");
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      return drop(i, now, result_.errors_io, "recv: " + errno_text(errno));
    }
  }

  const AcceptOptions& o_;
  const AcceptControl& control_;
  const SocketAddress& address_;
  const Pattern& pattern_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> restart_;
  std::vector<std::uint32_t> retry_;
  int epoll_fd_ = -1;
  std::uint32_t next_source_ = 0;
  bool loopback_v4_ = address_.family == AF_INET &&
                      (ntohl(reinterpret_cast<const sockaddr_in&>(address_.storage).sin_addr.s_addr) >> 24) == 127;
  AcceptResult result_;
};

}  // namespace

int accept_command(std::span<const std::string_view> args) {
  AcceptOptions o;
  bool json = false, target_given = false;
  ArgReader reader(args);
  while (reader.next()) {
    std::string_view f = reader.flag();
    if (f == "-h" || f == "--help") {
      std::cout << accept_usage;
      return exit_ok;
    } else if (f == "--target") {
      o.target = parse_endpoint(f, reader.value(), false);
      target_given = true;
    } else if (f == "--concurrency") {
      o.concurrency = static_cast<std::uint32_t>(std::min<std::uint64_t>(parse_count(f, reader.value()), UINT32_MAX));
    } else if (f == "--request-size") {
      o.request_bytes = parse_size_bytes(f, reader.value());
    } else if (f == "--no-wait") {
      reader.no_value();
      o.no_wait = true;
    } else if (f == "--duration") {
      o.duration_s = parse_duration_s(f, reader.value());
    } else if (f == "--warmup") {
      o.warmup_s = parse_duration_s(f, reader.value());
    } else if (f == "--threads") {
      o.threads = static_cast<std::uint32_t>(std::min<std::uint64_t>(parse_count(f, reader.value()), UINT32_MAX));
    } else if (f == "--source-addresses") {
      o.source_addresses = static_cast<std::uint32_t>(std::min<std::uint64_t>(parse_count(f, reader.value()), UINT32_MAX));
    } else if (f == "--json") {
      reader.no_value();
      json = true;
    } else {
      reader.unknown();
    }
  }
  if (!target_given) throw UsageError("--target HOST:PORT is required");
  if (o.source_addresses < 1 || o.source_addresses > 65000) throw UsageError("--source-addresses: must be 1 .. 65000");
  if (o.concurrency < 1 || o.concurrency > 10000) throw UsageError("--concurrency: must be 1 .. 10000");
  if (o.request_bytes > Pattern::period) throw UsageError("--request-size: must be 0 .. 65521 bytes");
  if (o.no_wait && o.request_bytes > 0) throw UsageError("--no-wait and --request-size exclude each other");
  if (o.duration_s <= 0 || o.duration_s > 3600 || o.warmup_s > 3600) throw UsageError("--duration: must be more than 0 and at most 1 hour");
  if (o.threads < 1 || o.threads > 256) throw UsageError("--threads: must be 1 .. 256");
  o.threads = std::min(o.threads, o.concurrency);
  raise_fd_limit();
  SocketAddress address = resolve(o.target);
  // One blocking connect first: a server that is not there is a clear exit 1,
  // not a run full of connect errors.
  ::close(connect_tcp(address, o.target, 5));

  Pattern pattern;
  AcceptControl control;
  std::uint64_t start_ns = monotonic_ns();
  control.warmup_end_ns = start_ns + static_cast<std::uint64_t>(o.warmup_s * 1e9);
  control.end_ns = control.warmup_end_ns + static_cast<std::uint64_t>(o.duration_s * 1e9);
  std::vector<std::unique_ptr<AcceptWorker>> workers;
  for (std::uint32_t t = 0, first = 0; t < o.threads; ++t) {
    std::uint32_t slots = o.concurrency / o.threads + (t < o.concurrency % o.threads ? 1 : 0);
    workers.push_back(std::make_unique<AcceptWorker>(o, control, address, pattern, slots, first));
    first += slots;
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&worker = *w] { worker.run(); });
  sleep_until_ns(control.warmup_end_ns);
  CpuTimes cpu_start = process_cpu_times();
  sleep_until_ns(control.end_ns);
  CpuTimes cpu = process_cpu_times() - cpu_start;
  for (auto& t : threads) t.join();

  AcceptResult r;
  for (auto& w : workers) {
    auto& x = w->result();
    r.cycles += x.cycles;
    r.errors_connect += x.errors_connect;
    r.errors_io += x.errors_io;
    r.errors_verify += x.errors_verify;
    r.errors_closed += x.errors_closed;
    r.latency.merge(x.latency);
    if (r.first_error.empty()) r.first_error = x.first_error;
  }
  double measured_s = o.duration_s;
  double per_s = static_cast<double>(r.cycles) / measured_s;
  ClientCpu client = client_cpu(cpu, measured_s, o.threads);
  const char* cycle = o.no_wait ? "connect-close" : o.request_bytes > 0 ? "connect-request-response-close" : "connect-halfclose-await-close";
  if (json) {
    JsonObject out;
    out.field("tool", "ringxfer-load-neutral")
        .field("mode", "accept")
        .field("target", o.target.text())
        .field("cycle", cycle)
        .field("concurrency", o.concurrency)
        .field("request_bytes", o.request_bytes)
        .field("threads", o.threads)
        .field("source_addresses", o.source_addresses)
        .field("warmup_s", o.warmup_s)
        .field("measured_s", measured_s)
        .field("connections", r.cycles)
        .field("connections_per_s", per_s);
    add_latency_fields(out, r.latency);
    out.field("errors", r.errors())
        .field("errors_connect", r.errors_connect)
        .field("errors_io", r.errors_io)
        .field("errors_verify", r.errors_verify)
        .field("errors_closed", r.errors_closed)
        .field("first_error", r.first_error);
    add_cpu_fields(out, client);
    std::cout << out.finish();
  } else {
    char line[256];
    std::snprintf(line, sizeof line, "accept %s: %u concurrent, cycle %s, %u thread(s), %.2f s measured\n",
                  o.target.text().c_str(), o.concurrency, cycle, o.threads, measured_s);
    std::cout << line << "rate       " << format_rate(per_s, "connections/s") << '\n';
    print_latency(std::cout, r.latency);
    std::cout << "errors     " << r.errors() << (r.first_error.empty() ? "" : "; first: ") << r.first_error << '\n';
    print_cpu(std::cout, client, o.threads);
  }
  if (r.errors() > 0) {
    std::cerr << "ringxfer-load-neutral accept: " << r.errors() << " error(s); first: " << r.first_error << '\n';
    return exit_failure;
  }
  if (r.cycles == 0) {
    std::cerr << "ringxfer-load-neutral accept: no connection completed inside the measured window\n";
    return exit_failure;
  }
  return exit_ok;
}

}  // namespace ringxfer::perf
