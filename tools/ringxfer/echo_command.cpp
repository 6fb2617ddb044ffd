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
#include "server_main.hpp"

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
  explicit EchoWorker(std::chrono::nanoseconds stall_timeout) : stall_timeout_ns_(stall_timeout.count()) {}

  std::error_code start(WorkerContext& context, std::string& what) override {
    context_ = &context;
    engine_ = &context.engine();
    what = "listener";
    if (auto ec = listener_.take(context)) return ec;
    arm_sweep();
    return arm_accept();
  }

  void drain() override {
    draining_ = true;
    listener_.close(*engine_);  // the accept ends with it
    maybe_finished();
  }

  void abort() override {
    conns_.for_each_in_use([this](Conn* c) { close_conn(c); });
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
      conns_.for_each_in_use([this, now](Conn* c) {
        if (!c->closing && c->writes > 0 && now - c->write_progress_ns > stall_timeout_ns_) {
          ++counters_.errors;
          close_conn(c);
        }
      });
      arm_sweep();
    });
  }

  std::error_code arm_accept() {
    OpId id = engine_->accept(listener_.socket(), [this](std::error_code ec, Socket s) { on_accept(ec, s); });
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
    Conn* c = conns_.take();
    c->socket = s;
    ++counters_.connections_accepted;
    ++counters_.connections_open;
    // TCP_NODELAY comes from the listener (Listener::adopt).
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
    --counters_.connections_open;
    conns_.give_back(c);
    maybe_finished();
  }


  void maybe_finished() {
    if (draining_ && !accepting_ && counters_.connections_open == 0) context_->finished();
  }

  std::int64_t stall_timeout_ns_;
  WorkerContext* context_ = nullptr;
  Engine* engine_ = nullptr;
  Listener listener_;
  bool accepting_ = false;
  bool draining_ = false;
  ConnPool<Conn> conns_;
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

  ServerRun run;
  run.command = "echo";
  run.vocabulary = {"echo", "messages", "Chunks received and echoed.",
                    "Time from a chunk's arrival to the end of its echo write."};
  run.make_worker = [&] { return std::make_unique<EchoWorker>(stall_timeout); };
  std::vector<std::unique_ptr<Worker>> workers;
  RunResult result;
  return run_server(run, common, server, workers, result);
}

}  // namespace ringxfer::cli
