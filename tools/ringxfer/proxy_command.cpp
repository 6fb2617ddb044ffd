// `ringxfer proxy --listen A --to B`: an L4 TCP relay.
//
// Each accepted client gets an upstream connection to B (bounded by
// --connect-timeout); then Transfers::relay() moves bytes both ways at once —
// each direction in turns: a turn waits until its source is readable, then
// moves what is there by copy (pool buffers) or by splice (a pipe of the
// engine's pool for that turn only); auto starts by copy and splices once
// reads come large, --strategy splice splices every turn that finds a pipe — a
// FIN one way is passed on without ending the other way, and a slow side
// pauses the other. A connect error or timeout closes the client (counted).
// A relay that moves no byte for --idle-timeout is cancelled and both sockets
// closed; --max-connections refuses clients beyond the limit at once.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <vector>

#include "args.hpp"
#include "command.hpp"
#include "ringxfer/transfer.hpp"
#include "runner.hpp"
#include "server_main.hpp"

namespace ringxfer::cli {
namespace {

constexpr std::string_view proxy_usage_head =
    "usage: ringxfer proxy --listen ADDR --to ADDR [options]\n"
    "\n"
    "An L4 TCP relay: every client connection is relayed to --to, both ways at\n"
    "once; a half-close is passed on.\n"
    "\n"
    "options:\n"
    "  --to ADDR             the upstream: host:port or [v6]:port (required)\n"
    "  --strategy NAME       auto, splice or copy (default auto: copy, then splice\n"
    "                        while reads come large; an idle relay holds no pipe)\n"
    "  --pipe-size BYTES     each splice pipe (F_SETPIPE_SZ, e.g. 64K; default 1M)\n"
    "  --connect-timeout S   give up on an upstream connect after S seconds and close\n"
    "                        the client (default 5)\n"
    "  --idle-timeout S      close a relay that moved no byte for S seconds (default 300)\n"
    "  --max-connections N   relays at once at most, per thread; more clients are\n"
    "                        closed at once (default 10000)\n";

struct ProxyOptions {
  Address to;
  Strategy strategy = Strategy::automatic;
  std::chrono::nanoseconds connect_timeout = std::chrono::seconds(5);
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(300);
  std::uint32_t max_connections = 10000;
  std::uint64_t pipe_size_bytes = EngineOptions().pipe_size_bytes;
};

class ProxyWorker final : public Worker {
 public:
  explicit ProxyWorker(const ProxyOptions& options) : options_(options) {}

  std::error_code start(WorkerContext& context, std::string& what) override {
    context_ = &context;
    engine_ = &context.engine();
    transfers_ = std::make_unique<Transfers>(*engine_);
    what = "listener";
    if (auto ec = listener_.take(context)) return ec;
    OpId id = engine_->accept(listener_.socket(), [this](std::error_code ec, Socket s) { on_accept(ec, s); });
    if (!id) return id.error();
    accepting_ = true;
    arm_sweep();
    return {};
  }

  void drain() override {
    draining_ = true;
    listener_.close(*engine_);  // the accept ends with it
    maybe_finished();
  }

  void abort() override {
    conns_.for_each_in_use([this](Conn* c) { end(c); });
  }

  void read_counters(ToolCounters& out) const override { out = counters_; }

 private:
  struct Conn {
    Socket client;
    Socket upstream;
    OpId connect;
    OpId connect_timer;
    TransferId relay;
    std::size_t last_bytes = 0;
    std::int64_t last_progress_ns = 0;
    std::int64_t accepted_ns = 0;
    std::uint32_t ops = 0;  // engine operations and the relay still to call back
    bool in_use = false;
    bool ending = false;
  };

  void on_accept(std::error_code ec, Socket s) {
    if (ec) {
      accepting_ = false;
      if (!draining_ && ec != std::errc::operation_canceled) ++counters_.errors;
      maybe_finished();
      return;
    }
    if (draining_ || counters_.connections_open >= options_.max_connections) {
      if (!draining_) ++counters_.errors;  // over --max-connections: refused
      engine_->close(s, [](std::error_code) {});
      return;
    }
    Conn* c = conns_.take();
    c->client = s;
    c->accepted_ns = now_ns();
    ++counters_.connections_accepted;
    ++counters_.connections_open;
    c->connect = engine_->connect(options_.to, [this, c](std::error_code cec, Socket up) { on_connected(c, cec, up); });
    if (!c->connect) {
      ++counters_.errors;
      end(c);
      return;
    }
    ++c->ops;
    c->connect_timer = engine_->timeout(options_.connect_timeout, [this, c](std::error_code tec) {
      --c->ops;
      if (!tec && !c->upstream.valid() && !c->ending) engine_->cancel(c->connect);  // too slow: give up
      release_if_done(c);
    });
    if (c->connect_timer) ++c->ops;
  }

  void on_connected(Conn* c, std::error_code ec, Socket up) {
    --c->ops;
    if (c->connect_timer) engine_->cancel(c->connect_timer);
    if (ec || c->ending) {
      if (!ec) engine_->close(up, [](std::error_code) {});
      if (ec) {
        ++counters_.errors;
        if (ec == std::errc::operation_canceled) ec = std::make_error_code(std::errc::timed_out);
        if (!reported_connect_error_) {
          std::cerr << "ringxfer proxy: connect " << options_.to.to_string() << ": " << ec.message()
                    << " (the client is closed; further connect errors are counted only)\n";
          reported_connect_error_ = true;
        }
      }
      end(c);
      return;
    }
    c->upstream = up;
    // Bytes go on as they come, as HAProxy does: no Nagle delay (40 ms with a
    // delayed ACK) on small request/response traffic through the relay. The
    // client side has TCP_NODELAY from the listener (Listener::adopt).
    const int one = 1;
    ::setsockopt(engine_->native_handle(c->upstream), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    counters_.latency.record(std::uint64_t(now_ns() - c->accepted_ns));  // time to a ready relay
    RelayOptions o;
    o.strategy = options_.strategy;
    c->relay = transfers_->relay(c->client, c->upstream, o, [this, c](std::error_code rec, const RelayResult& r) {
      on_relay_done(c, rec, r);
    });
    if (!c->relay) {
      ++counters_.errors;
      end(c);
      return;
    }
    ++c->ops;
    c->last_progress_ns = now_ns();
  }

  void on_relay_done(Conn* c, std::error_code ec, const RelayResult& r) {
    --c->ops;
    c->relay = {};
    counters_.bytes_in += r.a_to_b;
    counters_.bytes_out += r.b_to_a;
    ++counters_.messages;
    if (ec && ec != std::errc::operation_canceled && ec != std::errc::connection_reset &&
        ec != std::errc::broken_pipe) {
      ++counters_.errors;
    }
    end(c);
  }

  // Cancels idle relays: a periodic sweep, not a timer per connection.
  void arm_sweep() {
    auto period = std::chrono::nanoseconds(
        std::clamp<std::int64_t>(options_.idle_timeout.count() / 4, 50'000'000, 1'000'000'000));
    engine_->timeout(period, [this](std::error_code ec) {
      if (ec) return;
      std::int64_t now = now_ns();
      conns_.for_each_in_use([this, now](Conn* c) {
        std::size_t bytes = 0;
        if (c->ending || !c->relay || !transfers_->bytes_moved(c->relay, bytes)) return;
        if (bytes != c->last_bytes) {
          c->last_bytes = bytes;
          c->last_progress_ns = now;
        } else if (now - c->last_progress_ns > options_.idle_timeout.count()) {
          transfers_->cancel(c->relay);  // its handler ends the connection
        }
      });
      if (!stopped_) arm_sweep();
    });
  }

  void end(Conn* c) {
    if (c->ending) {
      release_if_done(c);
      return;
    }
    c->ending = true;
    if (c->relay) transfers_->cancel(c->relay);
    if (c->connect && !c->upstream.valid()) engine_->cancel(c->connect);
    for (Socket* s : {&c->client, &c->upstream}) {
      if (!s->valid()) continue;
      OpId id = engine_->close(*s, [this, c](std::error_code) {
        --c->ops;
        release_if_done(c);
      });
      if (id) ++c->ops;
    }
    release_if_done(c);
  }

  void release_if_done(Conn* c) {
    if (!c->ending || c->ops > 0 || !c->in_use) return;
    --counters_.connections_open;
    conns_.give_back(c);
    maybe_finished();
  }


  void maybe_finished() {
    if (draining_ && !accepting_ && counters_.connections_open == 0 && !stopped_) {
      stopped_ = true;
      context_->finished();
    }
  }

  ProxyOptions options_;
  WorkerContext* context_ = nullptr;
  Engine* engine_ = nullptr;
  std::unique_ptr<Transfers> transfers_;
  Listener listener_;
  bool accepting_ = false;
  bool draining_ = false;
  bool stopped_ = false;
  bool reported_connect_error_ = false;
  ConnPool<Conn> conns_;
  ToolCounters counters_;
};

}  // namespace

int proxy_command(std::span<const std::string_view> args) {
  CommonOptions common;
  ServerOptions server;
  ProxyOptions options;
  static const std::string usage =
      std::string(proxy_usage_head) + std::string(server_flags_usage) + std::string(common_flags_usage);
  FlagParser parser("proxy", usage);
  parser.option("--to", [&](std::string_view v) { return parse_address(v, options.to); });
  parser.require("--to");
  parser.option("--strategy", [&](std::string_view v) -> std::string {
    if (!parse_strategy(v, options.strategy) ||
        (options.strategy != Strategy::automatic && options.strategy != Strategy::splice &&
         options.strategy != Strategy::copy)) {
      return "expected auto, splice or copy";
    }
    return "";
  });
  auto positive_seconds = [](std::chrono::nanoseconds& out) {
    return [&out](std::string_view v) {
      std::string why = parse_seconds(v, out);
      if (why.empty() && out.count() <= 0) why = "expected a duration above 0";
      return why;
    };
  };
  parser.option("--connect-timeout", positive_seconds(options.connect_timeout));
  parser.option("--idle-timeout", positive_seconds(options.idle_timeout));
  parser.option("--pipe-size", [&](std::string_view v) {
    return parse_bytes(v, 4096, std::uint64_t(1) << 30, options.pipe_size_bytes);
  });
  parser.option("--max-connections",
                [&](std::string_view v) { return parse_uint(v, 1u, 1u << 24, options.max_connections); });
  add_server_flags(parser, server);
  add_common_flags(parser, common);
  if (int code = parser.parse(args); code >= 0) return code;

  ServerRun run;
  run.command = "proxy";
  run.listening_note = ", relaying to " + options.to.to_string();
  run.vocabulary = {"proxy", "relays", "Relays that ended (bytes in: client to upstream; out: back).",
                    "Time from accepting a client to its upstream connection being ready."};
  run.engine.pipe_size_bytes = std::size_t(options.pipe_size_bytes);
  run.make_worker = [&] { return std::make_unique<ProxyWorker>(options); };
  std::vector<std::unique_ptr<Worker>> workers;
  RunResult result;
  return run_server(run, common, server, workers, result);
}

}  // namespace ringxfer::cli
