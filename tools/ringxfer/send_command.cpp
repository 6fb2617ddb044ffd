// `ringxfer send --to ADDR`: a bulk stream — a file (--file), a number of
// bytes (--bytes) or a time (--duration) of a pattern from memory — over one
// or more connections, by any transfer strategy; then a half-close, and the
// receiver's close confirms every byte arrived. Reports Gbit/s, CPU seconds,
// syscalls per GiB and the zero-copy copied ratio (a line, or --json).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <vector>

#include "args.hpp"
#include "bulk_report.hpp"
#include "command.hpp"
#include "ringxfer/probe.hpp"
#include "ringxfer/transfer.hpp"
#include "runner.hpp"

namespace ringxfer::cli {
namespace {

constexpr std::string_view send_usage_head =
    "usage: ringxfer send --to ADDR (--file F | --bytes N | --duration S) [options]\n"
    "\n"
    "Sends a bulk stream and reports Gbit/s, CPU seconds, syscalls per GiB and\n"
    "the zero-copy copied ratio. The run ends when the receiver has closed each\n"
    "connection after our half-close: every byte arrived.\n"
    "\n"
    "options:\n"
    "  --file F            send this file (whole) on every connection\n"
    "  --bytes N           send N bytes of a pattern in all (k/m/g suffixes)\n"
    "  --duration S        send a pattern for S seconds\n"
    "  --size N            bytes per send from memory (default 1m)\n"
    "  --strategy NAME     auto, copy, splice, sendfile or zerocopy (default auto)\n"
    "  --connections N     connections at once (default 1)\n"
    "  --json              the report as JSON\n";

struct SendOptions {
  ClientOptions client;
  std::string file;
  std::uint64_t bytes = 0;
  std::chrono::nanoseconds duration{0};
  std::uint64_t size = 1 << 20;
  Strategy strategy = Strategy::automatic;
  std::uint32_t connections = 1;
  bool json = false;
};

// Sends of one connection in flight at once (memory mode): two keep the
// socket busy while the next one is started.
constexpr int sends_in_flight = 2;

class SendWorker final : public Worker {
 public:
  // `bytes`: memory mode, what each of this worker's connections sends.
  SendWorker(const SendOptions& options, std::vector<std::uint64_t> bytes, const std::vector<std::byte>& pattern)
      : options_(options), bytes_(std::move(bytes)), pattern_(pattern) {}

  std::error_code start(WorkerContext& context, std::string& what) override {
    context_ = &context;
    engine_ = &context.engine();
    transfers_ = std::make_unique<Transfers>(*engine_);
    if (!options_.file.empty()) {
      what = "open " + options_.file;
      if (auto ec = engine_->open(options_.file.c_str(), O_RDONLY, file_)) return ec;
      struct stat st {};
      ::fstat(engine_->native_handle(file_), &st);
      file_size_ = std::uint64_t(st.st_size);
    }
    deadline_ns_ = options_.duration.count() > 0 ? now_ns() + options_.duration.count() : 0;
    conns_.resize(bytes_.size());
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      Conn& c = conns_[i];
      c.left = bytes_[i];
      OpId id = engine_->connect(options_.client.to, [this, c = &c](std::error_code ec, Socket s) { on_connected(c, ec, s); });
      what = "connect " + options_.client.to.to_string();
      if (!id) return id.error();
      ++pending_;
    }
    return {};
  }

  void drain() override {
    draining_ = true;  // no new sends; the ones in flight end, then the half-close
    for (Conn& c : conns_) maybe_half_close(&c);
  }
  void abort() override {
    for (Conn& c : conns_) {
      if (c.socket.valid() && !c.closed) close(&c);
    }
  }
  void read_counters(ToolCounters& out) const override { out = counters_; }
  std::error_code worker_error() const override { return first_error_; }

 private:
  struct Conn {
    Socket socket;
    std::uint64_t left = 0;  // memory mode: bytes still to start
    int in_flight = 0;
    bool file_started = false;
    bool half_closed = false;
    bool closed = false;
  };

  void note_error(std::error_code ec) {
    ++counters_.errors;
    if (!first_error_) first_error_ = ec;
  }

  void on_connected(Conn* c, std::error_code ec, Socket s) {
    --pending_;
    if (ec) {
      note_error(ec);
      c->closed = true;
      maybe_finished();
      return;
    }
    c->socket = s;
    ++counters_.connections_accepted;
    ++counters_.connections_open;
    pump(c);
  }

  bool more_to_send(const Conn* c) const {
    if (draining_) return false;
    if (!options_.file.empty()) return !c->file_started;
    if (deadline_ns_ != 0) return now_ns() < deadline_ns_;
    return c->left > 0;
  }

  void pump(Conn* c) {
    while (more_to_send(c) && c->in_flight < sends_in_flight) {
      TransferOptions o;
      o.strategy = options_.strategy;
      Source source = Source::file(file_, 0, file_size_);
      if (options_.file.empty()) {
        std::size_t n = pattern_.size();
        if (deadline_ns_ == 0) n = std::size_t(std::min<std::uint64_t>(n, c->left));
        source = Source::memory(std::span(pattern_.data(), n));
        c->left -= deadline_ns_ == 0 ? n : 0;
      } else {
        c->file_started = true;
      }
      TransferId id = transfers_->start(source, Sink::socket(c->socket), o,
                                        [this, c](std::error_code ec, const TransferResult& r) { on_sent(c, ec, r); });
      if (!id) {
        note_error(make_error_code(error::no_free_op_slot));
        break;
      }
      ++c->in_flight;
    }
    maybe_half_close(c);
  }

  void on_sent(Conn* c, std::error_code ec, const TransferResult& r) {
    --c->in_flight;
    counters_.bytes_out += r.bytes;
    ++counters_.messages;
    if (ec) {
      note_error(ec);
      draining_ = true;  // stop this run: an error is the answer
    }
    pump(c);
  }

  void maybe_half_close(Conn* c) {
    if (!c->socket.valid() || c->half_closed || c->in_flight > 0 || more_to_send(c)) return;
    c->half_closed = true;
    engine_->shutdown(c->socket, SHUT_WR, [](std::error_code) {});
    // The receiver closes once it has read everything: wait for that eof.
    OpId id = engine_->recv(c->socket, [this, c](std::error_code ec, Buffer) {
      if (!ec) return;  // a receiver that talks back: ignore the bytes
      if (ec != error::eof && ec != std::errc::operation_canceled) note_error(ec);
      close(c);
    });
    if (!id) close(c);
  }

  void close(Conn* c) {
    if (c->closed) return;
    c->closed = true;
    engine_->close(c->socket, [this](std::error_code) {
      --counters_.connections_open;
      maybe_finished();
    });
  }

  void maybe_finished() {
    if (pending_ > 0) return;
    for (const Conn& c : conns_) {
      if (!c.closed) return;
    }
    if (counters_.connections_open == 0 && !finished_) {
      finished_ = true;
      if (file_.valid()) engine_->close(file_, [](std::error_code) {});
      context_->finished();
    }
  }

  const SendOptions& options_;
  std::vector<std::uint64_t> bytes_;
  const std::vector<std::byte>& pattern_;
  WorkerContext* context_ = nullptr;
  Engine* engine_ = nullptr;
  std::unique_ptr<Transfers> transfers_;
  File file_;
  std::uint64_t file_size_ = 0;
  std::int64_t deadline_ns_ = 0;
  std::vector<Conn> conns_;
  int pending_ = 0;
  bool draining_ = false;
  bool finished_ = false;
  std::error_code first_error_;
  ToolCounters counters_;
};

}  // namespace

int send_command(std::span<const std::string_view> args) {
  CommonOptions common;
  SendOptions options;
  static const std::string usage =
      std::string(send_usage_head) + std::string(client_flags_usage) + std::string(common_flags_usage);
  FlagParser parser("send", usage);
  parser.option("--file", [&](std::string_view v) -> std::string {
    options.file = std::string(v);
    return v.empty() ? "expected a file name" : "";
  });
  parser.option("--bytes", [&](std::string_view v) { return parse_bytes(v, 1, std::uint64_t(1) << 50, options.bytes); });
  parser.option("--duration", [&](std::string_view v) {
    std::string why = parse_seconds(v, options.duration);
    if (why.empty() && options.duration.count() <= 0) why = "expected a duration above 0";
    return why;
  });
  parser.option("--size", [&](std::string_view v) { return parse_bytes(v, 1, 1 << 30, options.size); });
  parser.option("--strategy", [&](std::string_view v) -> std::string {
    return parse_strategy(v, options.strategy) ? "" : "expected auto, copy, splice, sendfile or zerocopy";
  });
  parser.option("--connections", [&](std::string_view v) { return parse_uint(v, 1u, 100000u, options.connections); });
  parser.flag("--json", options.json);
  add_client_flags(parser, options.client);
  add_common_flags(parser, common);
  if (int code = parser.parse(args); code >= 0) return code;
  int sources = int(!options.file.empty()) + int(parser.given("--bytes")) + int(parser.given("--duration"));
  if (sources != 1) return parser.fail("give exactly one of --file, --bytes and --duration");
  if (!options.file.empty() && ::access(options.file.c_str(), R_OK) != 0) {
    std::cerr << "ringxfer send: " << options.file << ": " << std::strerror(errno) << '\n';
    return exit_failure;
  }

  block_signals();
  raise_fd_limit();
  std::vector<std::byte> pattern(options.file.empty() ? options.size : 0);
  for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = std::byte((i * 131 + 7) & 0xff);

  // Connections go round-robin over the threads; --bytes is split evenly,
  // the remainder with the first connection.
  std::uint32_t threads = std::min(common.threads, options.connections);
  std::vector<std::vector<std::uint64_t>> per_thread(threads);
  for (std::uint32_t i = 0; i < options.connections; ++i) {
    std::uint64_t n = options.bytes / options.connections + (i == 0 ? options.bytes % options.connections : 0);
    per_thread[i % threads].push_back(n);
  }
  std::vector<std::unique_ptr<SendWorker>> workers;
  std::vector<Worker*> pointers;
  for (auto& bytes : per_thread) {
    workers.push_back(std::make_unique<SendWorker>(options, std::move(bytes), pattern));
    pointers.push_back(workers.back().get());
  }
  RunConfig config;
  config.command = "send";
  config.common = common;
  config.common.threads = threads;
  config.vocabulary = {"send", "transfers", "Transfers completed.", "Unused."};
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  if (tty) {
    config.on_progress = [](const std::vector<ThreadSnapshot>& snaps, double seconds) {
      std::uint64_t bytes = 0;
      for (const auto& s : snaps) bytes += s.tool.bytes_out;
      std::cerr << bulk_progress("send", bytes, seconds) << std::flush;
    };
  }
  const std::int64_t t0 = now_ns();
  RunResult result = run_workers(config, pointers);
  const double seconds = double(now_ns() - t0) / 1e9;
  if (tty) std::cerr << '\n';
  ToolCounters total;
  for (const auto& s : result.final) total.add(s.tool);
  BulkReport report;
  report.tool = "send";
  report.strategy = to_string(options.strategy);
  report.bytes = total.bytes_out;
  report.seconds = seconds;
  report.connections = options.connections;
  report.errors = total.errors;
  report.engine = sum_stats(result.final);
  Features f = probe_features(EngineOptions{.backend = common.backend});
  report.backend = to_string(f.backend);
  std::cout << (options.json ? bulk_json(report) : bulk_line(report));
  if (common.stats) print_stats(result.final);
  if (std::error_code ec = first_worker_error(workers)) {
    std::cerr << "ringxfer send: " << ec.message() << '\n';
    return exit_failure;
  }
  if (result.exit_code != 0 || total.errors > 0) return exit_failure;
  if (!options.file.empty() || options.bytes == 0) return exit_ok;
  return total.bytes_out == options.bytes ? exit_ok : exit_failure;
}

}  // namespace ringxfer::cli
