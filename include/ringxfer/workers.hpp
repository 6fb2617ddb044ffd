#pragma once
/// @file
/// Workers: thread-per-core for embedders. N Engines, each run by its own
/// thread (optionally pinned to a CPU), each with its own SO_REUSEPORT
/// listener when asked, handing tasks and sockets to one another.
///
///     ringxfer::WorkersOptions o;
///     o.threads = 4;
///     o.pin = true;
///     o.listen = ringxfer::Address();
///     ringxfer::Address::parse("0.0.0.0:8080", *o.listen);
///     ringxfer::Workers workers(o);
///     workers.start([](ringxfer::Workers& w, std::uint32_t i) {
///       // On engine i's thread: start accepting on w.listener(i).
///       return std::error_code();
///     });
///     ...
///     workers.stop();
///     if (auto ec = workers.join()) ...;
///
/// Messages between engines: a task (post_to) or a socket (send_socket)
/// travels through the target engine's bounded queue; the wake-up that tells
/// the target is, from one io_uring engine's thread to another io_uring
/// engine, an IORING_OP_MSG_RING (IORING_MSG_DATA) queued on the sender's own
/// ring and sent with its next submission -- no syscall of its own. On epoll,
/// with Feature::msg_ring disabled (RINGXFER_DISABLE=msg_ring), or from a
/// thread that runs no engine of these Workers, it is a write(2) to the
/// target's eventfd. Stats::msg_ring_wakes counts the messages.
///
/// Moving a socket (send_socket) releases it from the sending engine
/// (Engine::release: operations in flight on it are cancelled first and end
/// before the move; see there for what each reports) and adopts it into the
/// receiving one, whose handler gets the new Socket. Bytes the kernel holds
/// for the socket stay in it: nothing is lost or reordered provided the
/// caller carries over what its cancelled recv() and send() reported.
///
/// Stopping: stop() (any thread, also from a handler) ends every loop. Each
/// thread then sends what its ring still has queued, waits until every
/// thread's loop has ended (so no engine is destroyed while another may
/// still message it), refuses new tasks and sockets (error::shutting_down),
/// and destroys its Engine on its own thread: operations still in flight
/// complete there with operation_canceled, and a socket moving to it is
/// closed, its handler called with error::shutting_down. join() waits for
/// all of that and returns the first error any engine met.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "ringxfer/address.hpp"
#include "ringxfer/engine.hpp"
#include "ringxfer/stats.hpp"

namespace ringxfer {

class Workers;

/// How a Workers set is built.
struct WorkersOptions {
  /// Engines, each on its own thread; at least 1.
  std::uint32_t threads = 1;
  /// Options of every Engine.
  EngineOptions engine;
  /// Pin thread i to cpus[i % cpus.size()]. Empty: see `pin`.
  std::vector<int> cpus;
  /// With `cpus` empty: pin thread i to the i-th CPU this process may run on
  /// (sched_getaffinity), round robin. False: no pinning. Pinning is best
  /// effort: a CPU outside the process's set leaves the thread unpinned.
  bool pin = false;
  /// Set: each engine gets its own listening TCP socket on this address, with
  /// SO_REUSEADDR and, with more than one thread, SO_REUSEPORT, so that the
  /// kernel spreads connections over the engines. With port 0 the first
  /// listener picks the port and the others share it. Because SO_REUSEPORT
  /// would let a second server quietly share a port in use by the same user,
  /// a fixed port is first bound once without it: EADDRINUSE means what it says.
  std::optional<Address> listen;
  /// listen(2) backlog of each listener.
  int backlog = 4096;
  /// Sockets on their way between engines at once, per engine (each waits in
  /// a preallocated record); more give error::post_queue_full.
  std::uint32_t moves_in_flight = 256;
  /// Called on engine `index`'s thread when its start callback or its loop
  /// (a backend error, Engine::run_once) failed, after stop() was called for
  /// every engine: for a supervisor that waits on something else than join().
  std::function<void(std::uint32_t index, std::error_code error)> on_error;
};

/// Runs on each engine's thread before its loop starts: start accepting,
/// connect, arm timers. An error stops every engine and is what join() returns.
using WorkerStart = std::function<std::error_code(Workers& workers, std::uint32_t index)>;

/// Called once per send_socket(): on the receiving engine's thread with {}
/// and the socket adopted there; or, when the move failed, with the error and
/// an empty Socket on the thread that found out (the fd is closed then).
using SocketHandler = InlineFunction<void(std::error_code, Socket), handler_capacity_bytes>;

/// N engines on N threads that hand tasks and sockets to one another.
/// Thread-safe: stop(), post_to(), current_index(); the rest from the thread
/// that owns the Workers, except send_socket() (from an engine's thread).
class Workers {
 public:
  /// Index returned by current_index() on a thread that runs none of these engines.
  static constexpr std::uint32_t npos = ~std::uint32_t(0);

  /// Makes the engines (on this thread; each runs on its own thread from
  /// start()) and the listeners. Throws std::system_error if an engine or a
  /// listener cannot be made (construction is not the I/O path).
  explicit Workers(WorkersOptions options);
  /// stop(), then join(); an engine never started is destroyed here.
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  /// Engines in the set.
  std::uint32_t size() const noexcept { return std::uint32_t(slots_.size()); }
  /// Engine `index`: use it only on its own thread (from start()'s callback,
  /// its handlers and tasks), or before start().
  Engine& engine(std::uint32_t index) noexcept { return *slots_[index]->engine; }
  /// Engine `index`'s listener (empty without WorkersOptions::listen).
  Socket listener(std::uint32_t index) const noexcept { return slots_[index]->listener; }
  /// The address the listeners are bound to (the port chosen for port 0).
  const Address& listen_address() const noexcept { return bound_; }

  /// Starts one thread per engine: it pins itself, runs `on_start` and then
  /// its engine's loop until stop(). Once only (a second call: invalid_argument).
  std::error_code start(WorkerStart on_start);
  /// Thread-safe: ends every engine's loop (see the file comment for the order).
  void stop() noexcept;
  /// Thread-safe: stop() was called, or an engine failed.
  bool stopping() const noexcept { return stop_.load(std::memory_order_acquire); }
  /// Waits for every thread to end (after stop(), or an error). Returns the
  /// first error an engine met: on_start's, or the backend error that ended
  /// its loop (Engine::run_once). Idempotent.
  std::error_code join();
  /// Engine `index`'s error (valid after join()).
  std::error_code error(std::uint32_t index) const noexcept { return slots_[index]->error; }
  /// Engine `index`'s Stats as they were when its loop ended (valid after join()).
  const Stats& final_stats(std::uint32_t index) const noexcept { return slots_[index]->final_stats; }

  /// The index of the engine the calling thread runs, or npos.
  std::uint32_t current_index() const noexcept;

  /// Thread-safe: runs `task` on engine `index`'s thread (Engine::post, or
  /// Engine::post_from the caller's engine: a MSG_RING wake-up). Errors:
  /// error::post_queue_full, error::shutting_down (the engine is stopping),
  /// invalid_argument (no such engine). The task is dropped (destroyed, not
  /// run) if its engine is destroyed before it runs.
  std::error_code post_to(std::uint32_t index, Task task) noexcept;

  /// On the thread of the engine that owns `socket`: moves it to engine `to`
  /// (which may be the same one). `on_arrival` runs once (see SocketHandler).
  /// Operations in flight on the socket are cancelled first (Engine::release).
  /// An error returned here (not on an engine thread: operation_not_permitted;
  /// no such engine: invalid_argument; too many moves: post_queue_full; the
  /// release could not start) means nothing happened and `on_arrival` is not
  /// called.
  std::error_code send_socket(std::uint32_t to, Socket socket, SocketHandler on_arrival) noexcept;

 private:
  struct Move {
    SocketHandler handler;
    int fd = -1;
    std::uint32_t to = 0;
    Move* next = nullptr;
  };
  struct Slot {
    std::unique_ptr<Engine> engine;
    Socket listener;
    std::thread thread;
    /// Guards `accepting` and `inbox`: post_to/send_socket/stop from other
    /// threads meet the engine's destruction here.
    std::mutex mutex;
    bool accepting = true;
    Move* inbox_head = nullptr;
    Move* inbox_tail = nullptr;
    std::atomic<bool> inbox_pending{false};
    std::error_code error;
    Stats final_stats;
  };

  void thread_main(std::uint32_t index, const WorkerStart& on_start);
  void pin(std::uint32_t index) noexcept;
  void open_listeners();
  void drain_inbox(std::uint32_t index) noexcept;
  void close_inbox(std::uint32_t index) noexcept;
  static Move* take_inbox(Slot& slot) noexcept;
  void on_released(Move* move, std::error_code ec, int fd) noexcept;
  void fail_move(Move* move, std::error_code ec) noexcept;
  Move* take_move() noexcept;
  void give_back(Move* move) noexcept;
  Engine* caller_engine() const noexcept;  ///< the calling thread's engine, while it may still message

  WorkersOptions options_;
  std::vector<std::unique_ptr<Slot>> slots_;
  Address bound_;
  WorkerStart on_start_;
  std::atomic<bool> stop_{false};
  bool started_ = false;
  bool joined_ = false;
  /// Threads whose loop has ended; each waits for all before destroying its engine.
  std::mutex phase_mutex_;
  std::condition_variable phase_changed_;
  std::uint32_t loops_ended_ = 0;
  /// Move records, allocated up front (no allocation per move).
  std::mutex moves_mutex_;
  std::vector<Move> moves_;
  Move* free_moves_ = nullptr;
};

}  // namespace ringxfer
