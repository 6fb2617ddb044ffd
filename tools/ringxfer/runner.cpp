#include "runner.hpp"

#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "command.hpp"
#include "metrics_server.hpp"
#include "ringxfer/workers.hpp"

namespace ringxfer::cli {

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void raise_fd_limit() noexcept {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

void print_stats(const std::vector<ThreadSnapshot>& threads) {
  for (std::size_t i = 0; i < threads.size(); ++i) std::cerr << "thread " << i << ": " << threads[i].engine << '\n';
}

// ------------------------------------------------------------------ listeners --

namespace {

std::error_code last_error() { return {errno, std::system_category()}; }

int listening_socket(const Address& address, bool reuse_port, bool listen_now, std::error_code& ec,
                     std::string& what) {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ec = last_error();
    what = "socket";
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    ec = last_error();
    what = "SO_REUSEPORT";
    ::close(fd);
    return -1;
  }
  if (::bind(fd, address.data(), address.size()) != 0) {
    ec = last_error();
    what = "listen " + address.to_string();
    ::close(fd);
    return -1;
  }
  if (listen_now && ::listen(fd, 4096) != 0) {
    ec = last_error();
    what = "listen " + address.to_string();
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::error_code open_listeners(const Address& address, std::uint32_t count, std::vector<int>& fds, Address& bound,
                               std::string& what) {
  fds.clear();
  std::error_code ec;
  bound = address;
  bool reuse_port = count > 1;
  if (reuse_port && address.port() != 0) {
    // A bound, never listening socket leaves nothing behind when closed.
    int probe = listening_socket(address, false, false, ec, what);
    if (probe < 0) return ec;
    ::close(probe);
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    int fd = listening_socket(bound, reuse_port, true, ec, what);
    if (fd < 0) {
      for (int f : fds) ::close(f);
      fds.clear();
      return ec;
    }
    if (i == 0) {
      socklen_t len = sizeof(sockaddr_storage);
      bound.set_size(len);
      if (::getsockname(fd, bound.data(), &len) == 0) bound.set_size(len);
      else bound = address;
    }
    fds.push_back(fd);
  }
  return {};
}

// --------------------------------------------------------------------- runner --

namespace {

class Run;

// One engine thread's view of the run: the WorkerContext its Worker sees. The
// engines, their threads, pinning and listeners are ringxfer::Workers'.
class Thread final : public WorkerContext {
 public:
  Thread(Run& run, Worker& worker, std::uint32_t index) : run_(run), worker_(worker), index_(index) {}

  Engine& engine() noexcept override;
  Socket listener() const noexcept override;
  std::uint32_t thread_index() const noexcept override { return index_; }
  void finished() noexcept override;
  bool draining() const noexcept override { return draining_; }

  // On the engine thread, before its loop (Workers' start callback).
  void start();
  // On the engine thread (posted): the first signal.
  void begin_drain();
  ThreadSnapshot snapshot() {
    ThreadSnapshot s;
    s.engine = engine().stats();
    worker_.read_counters(s.tool);
    return s;
  }

 private:
  Run& run_;
  Worker& worker_;
  std::uint32_t index_;
  bool finished_ = false;
  bool draining_ = false;
  OpId timer_;
};

// Snapshots of every engine thread, refreshed on demand: a reader posts a
// task to each engine that copies its counters on its own thread, and waits
// (bounded) for them.
class Run {
 public:
  Run(const RunConfig& config, Workers& set) : config_(config), set_(set), slots_(set.size()) {}

  const RunConfig& config() const { return config_; }
  Workers& set() { return set_; }
  std::atomic<bool> drain_requested{false};
  std::atomic<std::uint32_t> done{0};
  std::atomic<bool> start_failed{false};
  pthread_t main_thread{};

  void wake_main() { ::pthread_kill(main_thread, SIGUSR1); }

  // On thread i: its worker has finished. The last one stops the set.
  void finished(std::size_t i, const ThreadSnapshot& last) {
    {
      std::lock_guard lock(mutex_);
      slots_[i].snapshot = last;
      slots_[i].ended = true;
      ++slots_[i].generation;
      changed_.notify_all();
    }
    if (done.fetch_add(1) + 1 == slots_.size()) set_.stop();
    wake_main();
  }
  void publish(std::size_t i, const ThreadSnapshot& s) {
    std::lock_guard lock(mutex_);
    slots_[i].snapshot = s;
    ++slots_[i].generation;
    changed_.notify_all();
  }

  // Posts `make(index)` to every engine thread whose worker still runs.
  template <class F>
  void post_all(F make) {
    for (std::uint32_t i = 0; i < slots_.size(); ++i) set_.post_to(i, make(i));
  }
  void attach(std::size_t i, Thread* t) {
    std::lock_guard lock(mutex_);
    slots_[i].thread = t;
  }

  std::vector<ThreadSnapshot> collect(std::chrono::milliseconds wait) {
    std::unique_lock lock(mutex_);
    std::vector<std::uint64_t> want(slots_.size());
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      want[i] = s.generation;
      if (s.ended || s.thread == nullptr) continue;
      Thread* t = s.thread;
      std::size_t index = i;
      std::error_code posted = set_.post_to(std::uint32_t(i), [this, t, index] { publish(index, t->snapshot()); });
      if (!posted) want[i] = s.generation + 1;  // a full queue or a stopped engine: take the last snapshot
    }
    changed_.wait_for(lock, wait, [&] {
      for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].generation < want[i] && !slots_[i].ended) return false;
      }
      return true;
    });
    std::vector<ThreadSnapshot> out;
    out.reserve(slots_.size());
    for (const Slot& s : slots_) out.push_back(s.snapshot);
    return out;
  }

 private:
  struct Slot {
    Thread* thread = nullptr;
    ThreadSnapshot snapshot;
    std::uint64_t generation = 0;
    bool ended = false;
  };
  const RunConfig& config_;
  Workers& set_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Slot> slots_;
};

Engine& Thread::engine() noexcept { return run_.set().engine(index_); }
Socket Thread::listener() const noexcept { return run_.set().listener(index_); }

void Thread::finished() noexcept {
  if (finished_) return;
  finished_ = true;
  if (timer_) engine().cancel(timer_);
  // The engine runs on until every worker has finished (Workers stops them
  // together); what this worker leaves in flight is cancelled then.
  run_.finished(index_, snapshot());
}

void Thread::start() {
  run_.attach(index_, this);
  std::string what;
  if (std::error_code ec = worker_.start(*this, what)) {
    std::cerr << "ringxfer " << run_.config().command << ": " << what << ": " << ec.message() << '\n';
    run_.start_failed.store(true);
    finished();  // the main thread drains the others
    return;
  }
  if (run_.drain_requested.load()) begin_drain();
}

void Thread::begin_drain() {
  if (draining_ || finished_) return;
  draining_ = true;
  worker_.drain();
  if (finished_) return;
  auto timeout = run_.config().drain_timeout;
  timer_ = engine().timeout(timeout, [this](std::error_code ec) {
    timer_ = {};
    if (ec || finished_) return;
    worker_.abort();
    if (finished_) return;
    // Closes take a moment; past this, the Engine's destructor cancels the rest.
    timer_ = engine().timeout(std::chrono::seconds(1), [this](std::error_code ec2) {
      timer_ = {};
      if (!ec2) finished();
    });
  });
}

}  // namespace

WorkersOptions engine_set_options(const RunConfig& config, std::uint32_t threads) {
  WorkersOptions o;
  o.threads = threads;
  o.engine = config.engine;
  o.engine.backend = config.common.backend;
  if (config.common.cpus) o.cpus = *config.common.cpus;  // "none": empty, no pinning
  // Pinning a lone thread would put two single-threaded tools on one core.
  else o.pin = threads > 1;
  return o;
}

sigset_t block_signals() noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return set;
}

RunResult run_workers(const RunConfig& config, std::span<Worker* const> workers) {
  std::unique_ptr<Workers> set;
  try {
    set = std::make_unique<Workers>(engine_set_options(config, std::uint32_t(workers.size())));
  } catch (const std::exception& e) {  // setup, not the I/O path: say what broke
    std::cerr << "ringxfer " << config.command << ": " << e.what() << '\n';
    RunResult failed;
    failed.exit_code = exit_failure;
    return failed;
  }
  return run_workers(config, *set, workers);
}

RunResult run_workers(const RunConfig& config, Workers& set, std::span<Worker* const> workers) {
  RunResult result;
  Run run(config, set);
  run.main_thread = ::pthread_self();

  // Every thread made from here on inherits this mask: signals reach only the
  // sigtimedwait below, never an engine thread in the middle of a handler.
  sigset_t set_mask = block_signals();

  // The metrics engine is built before the worker threads start accepting:
  // a flood of clients that takes every fd (EMFILE) must not find it unbuilt.
  std::unique_ptr<MetricsServer> metrics;
  if (config.metrics_fd >= 0) {
    EngineOptions options;
    options.backend = config.common.backend;
    options.buffer_count = 16;
    options.recv_buffer_count = 8;
    options.buffer_size_bytes = 16 * 1024;
    options.fd_slots = 256;
    MetricsVocabulary vocabulary = config.vocabulary;
    metrics = std::make_unique<MetricsServer>(config.metrics_fd, options, [&run, vocabulary] {
      return metrics_text(vocabulary, run.collect(std::chrono::milliseconds(200)));
    });
  }

  std::vector<std::unique_ptr<Thread>> threads;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    threads.push_back(std::make_unique<Thread>(run, *workers[i], std::uint32_t(i)));
  }
  set.start([&threads](Workers&, std::uint32_t i) {
    threads[i]->start();
    return std::error_code();
  });

  auto request_drain = [&run, &threads] {
    run.drain_requested.store(true);
    run.post_all([&threads](std::uint32_t i) {
      Thread* t = threads[i].get();
      return [t] { t->begin_drain(); };
    });
  };

  const auto started = std::chrono::steady_clock::now();
  bool failed_seen = false;
  int signals = 0;
  // Until every worker has finished, or an engine failed (Workers stopped
  // them all; join() says why).
  while (run.done.load() < workers.size() && !set.stopping()) {
    timespec tick{};
    // Without a progress line, still look at the set now and then: an engine
    // that fails stops the set without a signal to this thread.
    auto ms = config.on_progress ? config.progress_interval.count() : 200;
    tick.tv_sec = ms / 1000;
    tick.tv_nsec = (ms % 1000) * 1'000'000;
    siginfo_t info{};
    int sig = ::sigtimedwait(&set_mask, &info, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      if (++signals > 1) {
        std::cerr << "ringxfer " << config.command << ": second signal: exiting now\n";
        std::_Exit(exit_failure);
      }
      result.interrupted = true;
      std::cerr << "ringxfer " << config.command << ": " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
                << ": draining (up to " << std::chrono::duration<double>(config.drain_timeout).count()
                << " s; a second signal exits at once)\n";
      request_drain();
    }
    if (run.start_failed.load() && !failed_seen) {
      // One thread could not start: the others stop too, at once.
      failed_seen = true;
      request_drain();
    }
    if (sig < 0 && errno == EAGAIN && config.on_progress) {
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      config.on_progress(run.collect(std::chrono::milliseconds(50)), seconds);
    }
  }
  set.stop();
  std::error_code engine_error = set.join();
  if (engine_error) {
    std::cerr << "ringxfer " << config.command << ": engine: " << engine_error.message() << '\n';
  }
  metrics.reset();
  // The engine threads are joined: read what they left.
  for (std::size_t i = 0; i < workers.size(); ++i) {
    ThreadSnapshot s;
    s.engine = set.final_stats(std::uint32_t(i));
    workers[i]->read_counters(s.tool);
    result.final.push_back(s);
  }
  if (run.start_failed.load() || engine_error) result.exit_code = exit_failure;

  // A signal that came after the last thread ended is consumed, not left to
  // kill the process on unblock.
  timespec zero{};
  while (::sigtimedwait(&set_mask, nullptr, &zero) > 0) {
  }
  return result;
}

}  // namespace ringxfer::cli
