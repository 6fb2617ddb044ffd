#pragma once
// What every server subcommand (echo, proxy, recv, serve) does after parsing
// its flags: block the signals, raise the fd limit, open one listener per
// thread and the metrics endpoint, say where it listens, build one Worker per
// listener, run them, print --stats.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "args.hpp"
#include "runner.hpp"

namespace ringxfer::cli {

struct ServerRun {
  std::string_view command;    // "echo"
  std::string listening_note;  // added to "listening on ADDR": ", relaying to ..."
  MetricsVocabulary vocabulary;
  std::function<void(const std::vector<ThreadSnapshot>&, double seconds)> on_progress;
  EngineOptions engine;  // each thread's engine (backend: from --backend)
  // Builds one thread's worker (its listener comes with WorkerContext).
  std::function<std::unique_ptr<Worker>()> make_worker;
};

// The engines of a server run: one per thread (config.common.threads), each
// with its own listener on `listen` (SO_REUSEPORT with more than one). On
// error prints "ringxfer COMMAND: listen ADDR: why" and returns nullptr.
std::unique_ptr<Workers> make_server_engines(const RunConfig& config, const Address& listen);

// Returns the exit code (1 if a listener or a thread could not start). The
// workers stay alive in `workers` for the caller to read after the run;
// `result` gets the run's result.
int run_server(const ServerRun& run, const CommonOptions& common, const ServerOptions& server,
               std::vector<std::unique_ptr<Worker>>& workers, RunResult& result);

// A server thread's listening socket, made and adopted by the run's Workers
// (one per engine, SO_REUSEPORT); close() ends the accept that runs on it.
class Listener {
 public:
  // Takes the engine's listener from the context at the worker's start.
  // Accepted sockets inherit TCP_NODELAY from their listener (Linux): set
  // once here, it costs no syscall per connection -- and no fd, where the
  // engine accepts into io_uring's fixed-file table (Feature::accept_direct).
  // Small echoes, pipelined responses and relayed messages go out at once
  // instead of waiting for the previous segment's ACK.
  std::error_code take(WorkerContext& context) noexcept {
    socket_ = context.listener();
    if (!socket_.valid()) return std::make_error_code(std::errc::bad_file_descriptor);
    const int one = 1;
    ::setsockopt(context.engine().native_handle(socket_), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return {};
  }
  Socket socket() const noexcept { return socket_; }
  bool open() const noexcept { return socket_.valid(); }
  void close(Engine& engine) noexcept {
    if (!socket_.valid()) return;
    engine.close(socket_, [](std::error_code) {});
    socket_ = {};
  }

 private:
  Socket socket_;
};

// A pool of per-connection states with stable addresses: grown one state per
// connection when it runs out (never per operation), reused after release.
template <class Conn>
class ConnPool {
 public:
  Conn* take() {
    Conn* c = nullptr;
    if (free_.empty()) {
      all_.push_back(std::make_unique<Conn>());
      c = all_.back().get();
    } else {
      c = free_.back();
      free_.pop_back();
    }
    *c = Conn{};
    c->in_use = true;
    return c;
  }
  void give_back(Conn* c) {
    c->in_use = false;
    free_.push_back(c);
  }
  template <class F>
  void for_each_in_use(F&& f) {
    for (auto& c : all_) {
      if (c->in_use) f(c.get());
    }
  }

 private:
  std::vector<std::unique_ptr<Conn>> all_;
  std::vector<Conn*> free_;
};

}  // namespace ringxfer::cli
