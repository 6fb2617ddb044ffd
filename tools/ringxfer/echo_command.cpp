// `ringxfer echo --listen ADDR`: every byte back, unchanged.
//
// Each connection has one multishot recv into the engine's shared receive
// buffers; every chunk goes straight back with Engine::write on the very
// buffer it arrived in (writes on one socket leave in order, DESIGN
// invariant 9), so the server copies nothing and holds no per-connection
// buffer. Memory stays bounded: a connection with too many chunks still
// being written (a peer that sends but does not read) has its recv
// cancelled, and re-armed once its writes drain. Such a peer still holds up
// to echo_max_writes of the shared receive buffers, so one whose writes make
// no progress for --stall-timeout is closed: a few of them cannot starve
// every other connection for long.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <vector>

#include "args.hpp"
#include "command.hpp"
#include "runner.hpp"

namespace ringxfer::cli {
namespace {

constexpr std::string_view echo_usage_head =
    "usage: ringxfer echo --listen ADDR [options]\n"
    "\n"
    "An echo server: every byte a client sends comes back unchanged, on both\n"
    "backends, so any client that expects its bytes back works (`ringxfer load`,\n"
    "nc, a test harness).\n"
    "\n"
    "options:\n"
    "  --stall-timeout S  close a connection whose echoes make no progress for S\n"
    "                     seconds (a peer that sends but never reads; default 30)\n";

// Chunks of one connection being written back at most; past this its recv is
// cancelled until the writes drain to echo_resume_writes.
constexpr std::uint32_t echo_max_writes = 8;
constexpr std::uint32_t echo_resume_writes = 2;

class EchoWorker final : public Worker {
 public:
  EchoWorker(int listen_fd, std::chrono::nanoseconds stall_timeout)
      : listen_fd_(listen_fd), stall_timeout_ns_(stall_timeout.count()) {}
  ~EchoWorker() override {
    if (listen_fd_ >= 0) ::close(listen_fd_);  // never adopted: its thread did not start
  }

  std::error_code start(WorkerContext& context, std::string& what) override {
    context_ = &context;
    engine_ = &context.engine();
    what = "listener";
    if (auto ec = engine_->adopt(listen_fd_, listener_)) return ec;
    listen_fd_ = -1;
    arm_sweep();
    return arm_accept();
  }

  void drain() override {
    draining_ = true;
    if (listener_.valid()) {
      engine_->close(listener_, [](std::error_code) {});  // the accept ends with it
      listener_ = {};
    }
    maybe_finished();
  }

  void abort() override {
    for (auto& c : conns_) {
      if (c->in_use) close_conn(c.get());
    }
  }

  void read_counters(ToolCounters& out) const override { out = counters_; }

 private:
  struct Conn {
    Socket socket;
    OpId recv;
    std::uint32_t writes = 0;  // chunks being written back
    std::uint32_t ops = 0;     // operations whose handler has yet to run for the last time
    bool recv_active = false;
    bool paused = false;       // recv cancelled for too many writes in flight
    bool closing = false;
    bool in_use = false;
    std::int64_t write_progress_ns = 0;  // last time a write began on an idle connection or completed
  };

  // Closes connections whose writes have been stuck for the stall timeout.
  void arm_sweep() {
    auto period = std::chrono::nanoseconds(std::clamp<std::int64_t>(stall_timeout_ns_ / 4, 50'000'000, 1'000'000'000));
    engine_->timeout(period, [this](std::error_code ec) {
      if (ec) return;
      std::int64_t now = now_ns();
      for (auto& c : conns_) {
        if (c->in_use && !c->closing && c->writes > 0 && now - c->write_progress_ns > stall_timeout_ns_) {
          ++counters_.errors;
          close_conn(c.get());
        }
      }
      arm_sweep();
    });
  }

  std::error_code arm_accept() {
    OpId id = engine_->accept(listener_, [this](std::error_code ec, Socket s) { on_accept(ec, s); });
    if (!id) return id.error();
    accepting_ = true;
    return {};
  }

  void on_accept(std::error_code ec, Socket s) {
    if (ec) {
      accepting_ = false;
      if (!draining_ && ec != std::errc::operation_canceled) {
        // Multishot accept ended on an error (the engine already pauses on
        // EMFILE and friends): count it and take the next connection.
        ++counters_.errors;
        if (auto again = arm_accept()) {
          std::cerr << "ringxfer echo: accept stopped: " << ec.message() << "; " << again.message() << '\n';
        }
      }
      maybe_finished();
      return;
    }
    if (draining_) {
      engine_->close(s, [](std::error_code) {});
      return;
    }
    Conn* c = take_conn();
    c->socket = s;
    ++counters_.connections_accepted;
    ++counters_.connections_open;
    // Small echoes go out at once instead of waiting for the previous ACK.
    int one = 1;
    ::setsockopt(engine_->native_handle(s), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    arm_recv(c);
  }

  void arm_recv(Conn* c) {
    c->recv = engine_->recv(c->socket, [this, c](std::error_code ec, Buffer b) { on_recv(c, ec, std::move(b)); });
    if (!c->recv) {
      ++counters_.errors;
      close_conn(c);
      return;
    }
    c->recv_active = true;
    ++c->ops;
  }

  void on_recv(Conn* c, std::error_code ec, Buffer b) {
    if (!ec) {
      counters_.bytes_in += b.size();
      ++counters_.messages;
      if (c->closing) return;
      std::int64_t received_ns = now_ns();
      OpId w = engine_->write(c->socket, -1, std::move(b), [this, c, received_ns](std::error_code wec, Buffer sent) {
        on_written(c, wec, sent.size(), received_ns);
      });
      if (!w) {
        ++counters_.errors;
        close_conn(c);
        return;
      }
      if (c->writes == 0) c->write_progress_ns = received_ns;
      ++c->writes;
      ++c->ops;
      if (c->writes >= echo_max_writes && !c->paused && c->recv_active) {
        c->paused = true;
        engine_->cancel(c->recv);
      }
      return;
    }
    // The recv's last call.
    c->recv_active = false;
    --c->ops;
    if (c->closing) {
      release_if_done(c);
    } else if (ec == std::errc::operation_canceled && c->paused) {
      if (c->writes <= echo_resume_writes) resume(c);
    } else if (ec == error::eof) {
      // The peer is done sending: after the last echo (writes leave in
      // order, the shutdown after them), pass the FIN on, then close.
      OpId id = engine_->shutdown(c->socket, SHUT_WR, [this, c](std::error_code) {
        --c->ops;
        close_conn(c);
      });
      if (id) ++c->ops;
      else close_conn(c);
    } else {
      ++counters_.errors;
      close_conn(c);
    }
  }

  void on_written(Conn* c, std::error_code ec, std::size_t bytes, std::int64_t received_ns) {
    --c->writes;
    --c->ops;
    c->write_progress_ns = now_ns();
    if (!ec) {
      counters_.bytes_out += bytes;
      counters_.latency.record(std::uint64_t(c->write_progress_ns - received_ns));
    } else if (!c->closing) {
      ++counters_.errors;
      close_conn(c);
    }
    if (c->paused && !c->recv_active && !c->closing && c->writes <= echo_resume_writes) resume(c);
    release_if_done(c);
  }

  void resume(Conn* c) {
    c->paused = false;
    arm_recv(c);
  }

  void close_conn(Conn* c) {
    if (c->closing) return;
    c->closing = true;
    OpId id = engine_->close(c->socket, [this, c](std::error_code) {
      --c->ops;
      release_if_done(c);
    });
    if (id) ++c->ops;
    release_if_done(c);
  }

  void release_if_done(Conn* c) {
    if (!c->closing || c->ops > 0 || !c->in_use) return;
    c->in_use = false;
    --counters_.connections_open;
    free_.push_back(c);
    maybe_finished();
  }

  Conn* take_conn() {
    Conn* c = nullptr;
    if (free_.empty()) {
      conns_.push_back(std::make_unique<Conn>());  // per connection, never per operation
      c = conns_.back().get();
    } else {
      c = free_.back();
      free_.pop_back();
    }
    *c = Conn{};
    c->in_use = true;
    return c;
  }

  void maybe_finished() {
    if (draining_ && !accepting_ && counters_.connections_open == 0) context_->finished();
  }

  int listen_fd_;
  std::int64_t stall_timeout_ns_;
  WorkerContext* context_ = nullptr;
  Engine* engine_ = nullptr;
  Socket listener_;
  bool accepting_ = false;
  bool draining_ = false;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> free_;
  ToolCounters counters_;
};

}  // namespace

int echo_command(std::span<const std::string_view> args) {
  CommonOptions common;
  ServerOptions server;
  static const std::string usage = std::string(echo_usage_head) + std::string(server_flags_usage) +
                                   std::string(common_flags_usage);
  FlagParser parser("echo", usage);
  std::chrono::nanoseconds stall_timeout = std::chrono::seconds(30);
  parser.option("--stall-timeout", [&](std::string_view v) {
    std::string why = parse_seconds(v, stall_timeout);
    if (why.empty() && stall_timeout.count() <= 0) why = "expected a duration above 0";
    return why;
  });
  add_server_flags(parser, server);
  add_common_flags(parser, common);
  if (int code = parser.parse(args); code >= 0) return code;

  block_signals();
  raise_fd_limit();
  std::vector<int> fds;
  Address bound;
  std::string what;
  if (auto ec = open_listeners(server.listen, common.threads, fds, bound, what)) {
    std::cerr << "ringxfer echo: " << what << ": " << ec.message() << '\n';
    return exit_failure;
  }
  RunConfig config;
  config.command = "echo";
  config.common = common;
  config.drain_timeout = server.drain_timeout;
  config.vocabulary = {"echo", "messages", "Chunks received and echoed.",
                       "Time from a chunk's arrival to the end of its echo write."};
  if (server.metrics) {
    std::vector<int> metrics_fds;
    Address metrics_bound;
    if (auto ec = open_listeners(*server.metrics, 1, metrics_fds, metrics_bound, what)) {
      std::cerr << "ringxfer echo: metrics: " << what << ": " << ec.message() << '\n';
      for (int fd : fds) ::close(fd);
      return exit_failure;
    }
    config.metrics_fd = metrics_fds.front();
    std::cerr << "ringxfer echo: metrics at http://" << metrics_bound.to_string() << "/metrics\n";
  }
  std::cerr << "ringxfer echo: listening on " << bound.to_string() << " (" << common.threads << " thread"
            << (common.threads == 1 ? "" : "s") << ")\n";

  std::vector<std::unique_ptr<EchoWorker>> workers;
  std::vector<Worker*> pointers;
  for (int fd : fds) {
    workers.push_back(std::make_unique<EchoWorker>(fd, stall_timeout));
    pointers.push_back(workers.back().get());
  }
  RunResult result = run_workers(config, pointers);
  if (common.stats) print_stats(result.final);
  return result.exit_code;
}

}  // namespace ringxfer::cli
