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

void pin_thread(const CommonOptions& common, std::uint32_t index) {
  std::vector<int> cpus;
  if (common.cpus) {
    cpus = *common.cpus;
  } else if (common.threads > 1) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
    }
  }
  if (cpus.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpus[index % cpus.size()], &set);
  // Best effort: a CPU outside our cgroup's set just leaves the thread free.
  ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
}

class Run;

// One engine thread: the WorkerContext its Worker sees.
class Thread final : public WorkerContext {
 public:
  Thread(Run& run, Worker& worker, std::uint32_t index) : run_(run), worker_(worker), index_(index) {}

  Engine& engine() noexcept override { return *engine_; }
  std::uint32_t thread_index() const noexcept override { return index_; }
  void finished() noexcept override {
    finished_ = true;
    if (timer_) engine_->cancel(timer_);
  }
  bool draining() const noexcept override { return draining_; }

  void main();
  // On the engine thread (posted): the first signal.
  void begin_drain();
  ThreadSnapshot snapshot() const {
    ThreadSnapshot s;
    s.engine = engine_->stats();
    worker_.read_counters(s.tool);
    return s;
  }

 private:
  Run& run_;
  Worker& worker_;
  std::uint32_t index_;
  std::unique_ptr<Engine> engine_;
  bool finished_ = false;
  bool draining_ = false;
  OpId timer_;
};

// Snapshots of every engine thread, refreshed on demand: a reader posts a
// task to each engine that copies its counters on its own thread, and waits
// (bounded) for them.
class Run {
 public:
  Run(const RunConfig& config, std::size_t threads) : config_(config), slots_(threads) {}

  const RunConfig& config() const { return config_; }
  std::atomic<bool> drain_requested{false};
  std::atomic<std::uint32_t> done{0};
  std::atomic<bool> start_failed{false};
  pthread_t main_thread{};

  void attach(std::size_t i, Thread* t) {
    std::lock_guard lock(mutex_);
    slots_[i].thread = t;
  }
  // At the thread's end: the last snapshot stays for readers and the result.
  void detach(std::size_t i, const ThreadSnapshot* last) {
    std::lock_guard lock(mutex_);
    slots_[i].thread = nullptr;
    if (last != nullptr) slots_[i].snapshot = *last;
    slots_[i].ended = true;
    ++slots_[i].generation;
    changed_.notify_all();
  }
  void publish(std::size_t i, const ThreadSnapshot& s) {
    std::lock_guard lock(mutex_);
    slots_[i].snapshot = s;
    ++slots_[i].generation;
    changed_.notify_all();
  }

  // Posts `make(thread)` to every running engine thread.
  template <class F>
  void post_all(F make) {
    std::lock_guard lock(mutex_);
    for (Slot& s : slots_) {
      if (s.thread != nullptr) s.thread->engine().post(make(s.thread));
    }
  }

  std::vector<ThreadSnapshot> collect(std::chrono::milliseconds wait) {
    std::unique_lock lock(mutex_);
    std::vector<std::uint64_t> want(slots_.size());
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      want[i] = s.generation;
      if (s.thread == nullptr) continue;
      Thread* t = s.thread;
      std::size_t index = i;
      std::error_code posted = t->engine().post([this, t, index] { publish(index, t->snapshot()); });
      if (!posted) want[i] = s.generation + 1;  // a full queue: take the last snapshot
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
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Slot> slots_;
};

void Thread::main() {
  const RunConfig& config = run_.config();
  pin_thread(config.common, index_);
  EngineOptions options = config.engine;
  options.backend = config.common.backend;
  std::string what;
  std::error_code ec;
  try {
    engine_ = std::make_unique<Engine>(options);
  } catch (const std::system_error& e) {  // setup, not the I/O path: say what broke
    ec = e.code();
    std::cerr << "ringxfer " << config.command << ": " << e.what() << '\n';
  } catch (const std::exception& e) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    std::cerr << "ringxfer " << config.command << ": engine: " << e.what() << '\n';
  }
  if (engine_) {
    run_.attach(index_, this);
    ec = worker_.start(*this, what);
    if (ec) {
      std::cerr << "ringxfer " << config.command << ": " << what << ": " << ec.message() << '\n';
    } else {
      if (run_.drain_requested.load()) begin_drain();
      while (!finished_) engine_->run_once(std::chrono::milliseconds(-1));
    }
    ThreadSnapshot last = snapshot();
    run_.detach(index_, &last);
    engine_.reset();  // cancels what is left; the worker's handlers still run
  } else {
    run_.detach(index_, nullptr);
  }
  if (ec) run_.start_failed.store(true);
  run_.done.fetch_add(1);
  ::pthread_kill(run_.main_thread, SIGUSR1);  // wakes the signal loop
}

void Thread::begin_drain() {
  if (draining_ || finished_) return;
  draining_ = true;
  worker_.drain();
  if (finished_) return;
  auto timeout = run_.config().drain_timeout;
  timer_ = engine_->timeout(timeout, [this](std::error_code ec) {
    timer_ = {};
    if (ec || finished_) return;
    worker_.abort();
    if (finished_) return;
    // Closes take a moment; past this, the Engine's destructor cancels the rest.
    timer_ = engine_->timeout(std::chrono::seconds(1), [this](std::error_code ec2) {
      timer_ = {};
      if (!ec2) finished_ = true;
    });
  });
}

}  // namespace

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
  RunResult result;
  Run run(config, workers.size());
  run.main_thread = ::pthread_self();

  // Every thread made from here on inherits this mask: signals reach only the
  // sigtimedwait below, never an engine thread in the middle of a handler.
  sigset_t set = block_signals();

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
  std::vector<std::thread> joins;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    threads.push_back(std::make_unique<Thread>(run, *workers[i], std::uint32_t(i)));
  }
  for (auto& t : threads) joins.emplace_back([p = t.get()] { p->main(); });

  auto request_drain = [&run] {
    run.drain_requested.store(true);
    run.post_all([](Thread* t) { return [t] { t->begin_drain(); }; });
  };

  const auto started = std::chrono::steady_clock::now();
  bool failed_seen = false;
  int signals = 0;
  while (run.done.load() < workers.size()) {
    timespec tick{};
    auto ms = config.progress_interval.count();
    tick.tv_sec = ms / 1000;
    tick.tv_nsec = (ms % 1000) * 1'000'000;
    siginfo_t info{};
    int sig = config.on_progress ? ::sigtimedwait(&set, &info, &tick) : ::sigwaitinfo(&set, &info);
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
  for (auto& j : joins) j.join();
  metrics.reset();
  result.final = run.collect(std::chrono::milliseconds(0));
  if (run.start_failed.load()) result.exit_code = exit_failure;

  // A signal that came after the last thread ended is consumed, not left to
  // kill the process on unblock.
  timespec zero{};
  while (::sigtimedwait(&set, nullptr, &zero) > 0) {
  }
  return result;
}

}  // namespace ringxfer::cli
