#pragma once
// The thread-per-engine runner every subcommand stands on.
//
//   std::vector<std::unique_ptr<MyWorker>> workers = ...;   // one per --threads
//   RunConfig config{...};
//   RunResult result = run_workers(config, worker_pointers);
//
// run_workers() runs one Engine per Worker on its own thread, with
// ringxfer::Workers (the public thread-per-core API: pinning as
// CommonOptions::cpus says, SO_REUSEPORT listeners for servers, MSG_RING
// between engines); each thread calls Worker::start() and runs its engine
// until every worker has called WorkerContext::finished(). The calling
// thread handles signals: SIGINT and SIGTERM are blocked in
// every thread and taken with sigwait, so handlers never run in signal
// context. The first signal drains: Worker::drain() on every engine thread
// (posted), then Worker::abort() when the drain timeout passes, and the run
// ends once every worker has finished. A second signal exits at once (exit 1).
//
// Workers outlive the run (the caller owns them) so that a command can read
// its results after run_workers() returns; the engine threads are joined by
// then. With RunConfig::metrics, a separate thread with its own Engine serves
// GET /metrics from snapshots of every engine thread.
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "args.hpp"
#include "metrics.hpp"
#include "ringxfer/engine.hpp"
#include "ringxfer/workers.hpp"

namespace ringxfer::cli {

class WorkerContext {
 public:
  virtual Engine& engine() noexcept = 0;
  // The engine's own listening socket (servers: run_server's Workers made one
  // per engine with SO_REUSEPORT); empty for clients.
  virtual Socket listener() const noexcept = 0;
  virtual std::uint32_t thread_index() const noexcept = 0;
  // The worker has nothing left to do. Once every worker has, the engines
  // stop (operations still in flight are cancelled when each Engine is
  // destroyed). Call it on the engine thread.
  virtual void finished() noexcept = 0;
  // True after the first SIGINT/SIGTERM (or a failure in another thread).
  virtual bool draining() const noexcept = 0;

 protected:
  ~WorkerContext() = default;
};

class Worker {
 public:
  virtual ~Worker() = default;
  // On the engine thread, before the loop: adopt listeners, connect, arm
  // timers. An error ends the run with exit 1; `what` names what failed
  // ("listen 127.0.0.1:8080"), the runner adds the error's message.
  virtual std::error_code start(WorkerContext& context, std::string& what) = 0;
  // On the engine thread, at the first signal: take no new work (close
  // listeners, send no more), finish what is in flight, then call finished().
  virtual void drain() = 0;
  // On the engine thread, when the drain timeout has passed: close every
  // connection now, then call finished().
  virtual void abort() = 0;
  // On the engine thread: a copy of the tool's counters.
  virtual void read_counters(ToolCounters& out) const = 0;
  // After the run: the first error the worker met, for the exit message.
  virtual std::error_code worker_error() const { return {}; }
};

// The first error any worker met (after the run), or none.
template <class Workers>
std::error_code first_worker_error(const Workers& workers) {
  for (const auto& w : workers) {
    if (std::error_code ec = w->worker_error()) return ec;
  }
  return {};
}

struct RunConfig {
  std::string_view command;  // for messages: "ringxfer <command>: ..."
  CommonOptions common;
  EngineOptions engine;      // backend is taken from common
  std::chrono::nanoseconds drain_timeout = std::chrono::seconds(5);
  // A listening socket (from open_listeners) for the metrics endpoint; -1: none.
  int metrics_fd = -1;
  MetricsVocabulary vocabulary;
  // Called on the signal-handling thread about every progress_interval with
  // fresh snapshots and the seconds since start (for a progress line).
  std::function<void(const std::vector<ThreadSnapshot>&, double seconds)> on_progress;
  std::chrono::milliseconds progress_interval{250};
};

struct RunResult {
  int exit_code = 0;                 // 0, or 1 if a thread could not start
  bool interrupted = false;          // a signal asked the run to drain
  std::vector<ThreadSnapshot> final; // each thread's last snapshot, at its end
};

// WorkersOptions for a run of `threads` engines: config.engine with the
// backend from config.common, pinned as config.common.cpus says.
WorkersOptions engine_set_options(const RunConfig& config, std::uint32_t threads);
// Runs `workers` on their own engine set (clients).
RunResult run_workers(const RunConfig& config, std::span<Worker* const> workers);
// Runs `workers` on `set` (one engine per worker, not started yet): servers
// make the set first, with listeners, to say where they listen.
RunResult run_workers(const RunConfig& config, Workers& set, std::span<Worker* const> workers);

// Blocks SIGINT, SIGTERM (and SIGUSR1, the runner's own wake-up) in the
// calling thread and ignores SIGPIPE. Call it before saying "listening": a
// signal that comes between that line and run_workers() is then taken by the
// runner (it drains) instead of killing the process. run_workers() calls it
// too; the signals stay blocked afterwards (pending ones are consumed).
sigset_t block_signals() noexcept;

// Prints each thread's Stats on stderr (for --stats).
void print_stats(const std::vector<ThreadSnapshot>& threads);

// Raises the RLIMIT_NOFILE soft limit to the hard limit (servers call it at
// start: the engine sizes its fd table from it).
void raise_fd_limit() noexcept;

// Opens `count` listening sockets on `address`, each with SO_REUSEADDR and
// (when count > 1) SO_REUSEPORT, so that the kernel spreads connections over
// the engine threads. With port 0 they all share the port the first one got;
// `bound` is the address actually bound. Because SO_REUSEPORT would let a
// second server quietly share a port already in use by the same user, the
// port is first bound once without it: EADDRINUSE then means what it says.
// On error no fd is left open and `what` names the step.
std::error_code open_listeners(const Address& address, std::uint32_t count, std::vector<int>& fds,
                               Address& bound, std::string& what);

// Monotonic nanoseconds (steady clock), for latencies.
std::int64_t now_ns() noexcept;

}  // namespace ringxfer::cli
