// `ringxfer recv --listen ADDR`: receives bulk streams, to a file (--out F:
// socket -> pipe -> file by splice, or a copy) or discarded (/dev/null as the
// sink, so the same transfer paths run), closes each connection at its eof
// (which tells the sender every byte arrived) and reports Gbit/s, CPU
// seconds, syscalls per GiB. With --out, or with --count N, it exits after
// that many streams; otherwise at SIGINT/SIGTERM.
#include <fcntl.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <vector>

#include "args.hpp"
#include "bulk_report.hpp"
#include "command.hpp"
#include "ringxfer/probe.hpp"
#include "ringxfer/transfer.hpp"
#include "runner.hpp"
#include "server_main.hpp"

namespace ringxfer::cli {
namespace {

constexpr std::string_view recv_usage_head =
    "usage: ringxfer recv --listen ADDR [--out FILE] [options]\n"
    "\n"
    "Receives bulk streams (from `ringxfer send`, iperf-style senders, nc) and\n"
    "reports Gbit/s, CPU seconds and syscalls per GiB.\n"
    "\n"
    "options:\n"
    "  --out FILE         write the stream to FILE (created or truncated; one\n"
    "                     connection, then exit); default: discard\n"
    "  --count N          exit after N streams have ended (default: 1 with --out,\n"
    "                     else run until SIGINT/SIGTERM)\n"
    "  --strategy NAME    auto, copy or splice (default auto)\n"
    "  --json             the report as JSON\n";

struct RecvOptions {
  std::string out;
  std::uint32_t count = 0;
  Strategy strategy = Strategy::automatic;
  bool json = false;
};

class RecvWorker final : public Worker {
 public:
  explicit RecvWorker(const RecvOptions& options) : options_(options) {}

  std::error_code start(WorkerContext& context, std::string& what) override {
    context_ = &context;
    engine_ = &context.engine();
    transfers_ = std::make_unique<Transfers>(*engine_);
    const bool to_file = !options_.out.empty();
    what = to_file ? "open " + options_.out : "open /dev/null";
    if (auto ec = engine_->open(to_file ? options_.out.c_str() : "/dev/null", O_WRONLY | (to_file ? O_CREAT | O_TRUNC : 0),
                                sink_, 0644)) {
      return ec;
    }
    what = "listener";
    if (auto ec = listener_.take(context)) return ec;
    OpId id = engine_->accept(listener_.socket(), [this](std::error_code ec, Socket s) { on_accept(ec, s); });
    if (!id) return id.error();
    accepting_ = true;
    return {};
  }

  void drain() override {
    draining_ = true;
    stop_accepting();
    maybe_finished();
  }
  void abort() override {
    for (auto& [id, s] : running_) transfers_->cancel(id);
  }
  void read_counters(ToolCounters& out) const override { out = counters_; }
  std::int64_t first_ns() const { return first_ns_; }
  std::int64_t last_ns() const { return last_ns_; }
  std::error_code worker_error() const override { return first_error_; }

 private:
  void stop_accepting() {
    listener_.close(*engine_);  // the accept ends with it
  }

  void on_accept(std::error_code ec, Socket s) {
    if (ec) {
      accepting_ = false;
      maybe_finished();
      return;
    }
    // --out takes one stream: a file cannot interleave two.
    if (draining_ || (!options_.out.empty() && started_ > 0)) {
      engine_->close(s, [](std::error_code) {});
      return;
    }
    ++started_;
    ++counters_.connections_accepted;
    ++counters_.connections_open;
    if (first_ns_ == 0) first_ns_ = now_ns();
    TransferOptions o;
    o.strategy = options_.strategy;
    const std::int64_t at = options_.out.empty() ? -1 : 0;
    auto* slot = &running_.emplace_back(TransferId{}, s);
    TransferId id = transfers_->start(Source::socket(s), Sink::file(sink_, at), o,
                                      [this, s](std::error_code tec, const TransferResult& r) { on_done(s, tec, r); });
    if (!id) {
      running_.pop_back();
      note_error(make_error_code(error::no_free_op_slot));
      close(s);
      return;
    }
    slot->first = id;
    if (options_.count != 0 && started_ >= options_.count) stop_accepting();
  }

  void on_done(Socket s, std::error_code ec, const TransferResult& r) {
    counters_.bytes_in += r.bytes;
    ++counters_.messages;
    last_ns_ = now_ns();
    if (ec && ec != std::errc::operation_canceled) note_error(ec);
    std::erase_if(running_, [s](const auto& e) { return e.second == s; });
    ++ended_;
    close(s);  // at eof: tells the sender every byte arrived
  }

  void close(Socket s) {
    engine_->close(s, [this](std::error_code) {
      --counters_.connections_open;
      maybe_finished();
    });
  }

  void note_error(std::error_code ec) {
    ++counters_.errors;
    if (!first_error_) first_error_ = ec;
  }

  void maybe_finished() {
    const bool enough = options_.count != 0 && ended_ >= options_.count;
    if ((draining_ || enough) && counters_.connections_open == 0 && !finished_) {
      finished_ = true;
      stop_accepting();
      engine_->close(sink_, [](std::error_code) {});
      context_->finished();
    }
  }

  const RecvOptions& options_;
  WorkerContext* context_ = nullptr;
  Engine* engine_ = nullptr;
  std::unique_ptr<Transfers> transfers_;
  Listener listener_;
  File sink_;
  std::vector<std::pair<TransferId, Socket>> running_;
  std::uint32_t started_ = 0;
  std::uint32_t ended_ = 0;
  bool accepting_ = false;
  bool draining_ = false;
  bool finished_ = false;
  std::int64_t first_ns_ = 0;
  std::int64_t last_ns_ = 0;
  std::error_code first_error_;
  ToolCounters counters_;
};

}  // namespace

int recv_command(std::span<const std::string_view> args) {
  CommonOptions common;
  ServerOptions server;
  RecvOptions options;
  static const std::string usage =
      std::string(recv_usage_head) + std::string(server_flags_usage) + std::string(common_flags_usage);
  FlagParser parser("recv", usage);
  parser.option("--out", [&](std::string_view v) -> std::string {
    options.out = std::string(v);
    return v.empty() ? "expected a file name" : "";
  });
  parser.option("--count", [&](std::string_view v) { return parse_uint(v, 1u, 1u << 30, options.count); });
  parser.option("--strategy", [&](std::string_view v) -> std::string {
    if (!parse_strategy(v, options.strategy) ||
        (options.strategy != Strategy::automatic && options.strategy != Strategy::splice &&
         options.strategy != Strategy::copy)) {
      return "expected auto, copy or splice";
    }
    return "";
  });
  parser.flag("--json", options.json);
  add_server_flags(parser, server);
  add_common_flags(parser, common);
  if (int code = parser.parse(args); code >= 0) return code;
  if (!options.out.empty()) {
    if (common.threads != 1) return parser.fail("--out takes one stream: use --threads 1");
    if (options.count == 0) options.count = 1;
  }

  ServerRun run;
  run.command = "recv";
  run.vocabulary = {"recv", "streams", "Streams received to their end.", "Unused."};
  if (::isatty(STDERR_FILENO) == 1) {
    run.on_progress = [](const std::vector<ThreadSnapshot>& snaps, double seconds) {
      std::uint64_t bytes = 0;
      for (const auto& s : snaps) bytes += s.engine.bytes_in;
      std::cerr << bulk_progress("recv", bytes, seconds) << std::flush;
    };
  }
  run.make_worker = [&] { return std::make_unique<RecvWorker>(options); };
  std::vector<std::unique_ptr<Worker>> workers;
  RunResult result;
  if (run_server(run, common, server, workers, result) != exit_ok && result.final.empty()) return exit_failure;
  const bool tty = bool(run.on_progress);
  if (tty) std::cerr << '\n';
  ToolCounters total;
  for (const auto& s : result.final) total.add(s.tool);
  std::int64_t first = 0, last = 0;
  for (const auto& worker : workers) {
    const auto* w = static_cast<const RecvWorker*>(worker.get());
    if (w->first_ns() != 0 && (first == 0 || w->first_ns() < first)) first = w->first_ns();
    last = std::max(last, w->last_ns());
  }
  BulkReport report;
  report.tool = "recv";
  report.strategy = to_string(options.strategy);
  report.bytes = total.bytes_in;
  report.seconds = first != 0 && last > first ? double(last - first) / 1e9 : 0;
  report.connections = std::uint32_t(total.connections_accepted);
  report.errors = total.errors;
  report.engine = sum_stats(result.final);
  Features f = probe_features(EngineOptions{.backend = common.backend});
  report.backend = to_string(f.backend);
  std::cout << (options.json ? bulk_json(report) : bulk_line(report));
  if (std::error_code ec = first_worker_error(workers)) {
    std::cerr << "ringxfer recv: " << ec.message() << '\n';
    return exit_failure;
  }
  return result.exit_code != 0 || total.errors > 0 ? exit_failure : exit_ok;
}

}  // namespace ringxfer::cli
