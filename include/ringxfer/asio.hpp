#pragma once
/// @file ringxfer/asio.hpp
/// Boost.Asio integration: an Engine runs inside an `asio::io_context`, and
/// ringxfer operations take Asio completion tokens (callbacks,
/// `asio::use_awaitable`, `asio::use_future`, `asio::deferred`, ...) through
/// `asio::async_initiate`.
///
///     boost::asio::io_context io;
///     ringxfer::Engine engine;
///     ringxfer::AsioEngine rx(io, engine);
///     // in a coroutine started with co_spawn(io, ..., detached):
///     std::size_t n = co_await rx.async_send(socket, bytes, boost::asio::use_awaitable);
///
/// How it runs. The io_context watches Engine::event_fd() (a
/// `posix::stream_descriptor::async_wait`) and, when it is readable or
/// Engine::poll_timeout() says so, calls Engine::poll() from one of its
/// handlers; completions are collected during the poll and their Asio
/// handlers are dispatched after it returns, through each handler's
/// associated executor (inline when that is the io_context's own), so an
/// exception a handler throws leaves io_context::run() as Asio users expect,
/// never through the engine. The fd is watched only while the engine has
/// operations in flight: io_context::run() returns once they and everything
/// else of the io_context are done (a running multishot accept, e.g. an
/// AsioAcceptor's, keeps it running, as it keeps Engine::run()).
///
/// Threads. Run the io_context on one thread: the engine's handlers and the
/// io_uring ring belong to the thread that polls it first (see engine.hpp).
/// Every AsioEngine member, and emitting a cancellation signal bound to one
/// of its operations, happens on that thread.
///
/// Errors are `boost::system::error_code` (so `use_awaitable` throws and
/// `use_future` stores an exception): cancelled operations give
/// `asio::error::operation_aborted`, ringxfer::error::eof gives
/// `asio::error::eof`, kernel errors keep their errno in the system category,
/// other ringxfer errors are wrapped std::error_codes (compare them with
/// `ec == std::error_code(ringxfer::error::...)`).
///
/// Memory. Asio handlers are larger than the engine's 64-byte handler
/// capacity (handler_capacity_bytes): each operation keeps its handler in a
/// state allocated with the handler's associated allocator (by default
/// Asio's recycling allocator: a per-thread cache, no malloc per operation
/// in steady state), and the engine's handler captures only a pointer to it.
///
/// Order of destruction: the io_context first declared (destroyed last),
/// then the Engine, then Transfers and the AsioEngine, then AsioAcceptors.
/// Destroying an AsioEngine with operations pending cancels them; their
/// handlers are posted (never run inline) when the engine ends them.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <new>
#include <span>
#include <system_error>
#include <tuple>
#include <utility>

#include "ringxfer/engine.hpp"
#include "ringxfer/transfer.hpp"

namespace ringxfer {

/// A ringxfer std::error_code as Asio users compare it: ECANCELED becomes
/// `asio::error::operation_aborted`, ringxfer::error::eof
/// `asio::error::eof`, errno values stay in the system category, and
/// anything else is wrapped as it is.
inline boost::system::error_code to_asio_error(const std::error_code& ec) noexcept {
  if (!ec) return {};
  if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
    if (ec.value() == ECANCELED) return boost::asio::error::operation_aborted;
    return {ec.value(), boost::system::system_category()};
  }
  if (ec == error::eof) return boost::asio::error::eof;
  return boost::system::error_code(ec);
}

class AsioEngine;
class AsioAcceptor;

namespace asio_detail {

namespace net = boost::asio;
using asio_error = boost::system::error_code;
class Pump;

/// One Asio operation in flight: the part the pump knows. The handler and
/// results live in the derived AsioOp<Handler, Results...>.
struct OpBase {
  OpBase* prev = nullptr;  ///< in the pump's pending list, or an acceptor's waiters
  OpBase* next = nullptr;  ///< ... or in the ready list (singly linked there)
  Pump* pump = nullptr;    ///< nullptr once orphaned: the AsioEngine is gone

  /// Hands the results to the handler: deallocates the state, then dispatches
  /// (post == false) or posts (post == true) the handler on its executor.
  void (*invoke)(OpBase*, bool post) = nullptr;
  /// Asks whatever runs the operation to end it early (a cancellation slot).
  void (*cancel)(OpBase*) noexcept = nullptr;
  OpId op_id;
  TransferId transfer_id;
  Transfers* transfers = nullptr;
  void* owner = nullptr;  ///< AsioAcceptor state, for a waiting async_accept

  /// A waiting async_accept's result: set_results, then to the ready list.
  void (*accept_result)(OpBase*, std::error_code, Socket) noexcept = nullptr;
  bool running = false;   ///< the engine (or acceptor) still holds it
};

/// An intrusive doubly linked list of OpBase (prev/next).
class OpChain {
 public:
  void push_back(OpBase* op) noexcept {
    op->next = nullptr;
    op->prev = tail_;
    if (tail_ != nullptr) tail_->next = op; else head_ = op;
    tail_ = op;
  }
  void remove(OpBase* op) noexcept {
    if (op->prev != nullptr) op->prev->next = op->next; else head_ = op->next;
    if (op->next != nullptr) op->next->prev = op->prev; else tail_ = op->prev;
    op->prev = op->next = nullptr;
  }
  OpBase* pop_front() noexcept {
    OpBase* op = head_;
    if (op != nullptr) remove(op);
    return op;
  }
  bool empty() const noexcept { return head_ == nullptr; }
  OpBase* front() const noexcept { return head_; }

 private:
  OpBase* head_ = nullptr;
  OpBase* tail_ = nullptr;
};

/// Drives the Engine from the io_context: watches its event fd (and, on
/// epoll, its next timer), polls it, then dispatches what completed. Shared
/// with the handlers of its own waits, which may outlive the AsioEngine.
class Pump : public std::enable_shared_from_this<Pump> {
 public:
  Pump(net::io_context& io, Engine& engine)
      : io_(io), engine_(engine), fd_(io), timer_(io) {
    const int fd = engine.event_fd();
    if (fd < 0) {
      throw std::system_error(std::make_error_code(std::errc::bad_file_descriptor),
                              "ringxfer::AsioEngine: the engine has no event fd (call it on the engine's thread)");
    }
    fd_.assign(fd);
  }
  Pump(const Pump&) = delete;
  Pump& operator=(const Pump&) = delete;

  net::io_context& io() noexcept { return io_; }
  Engine& engine() noexcept { return engine_; }
  bool alive() const noexcept { return alive_; }

  /// An engine operation started for `op`.
  void started(OpBase* op) noexcept {
    op->running = true;
    pending_.push_back(op);
    schedule();
  }
  /// Its engine handler ran (inside Engine::poll): dispatch it after the poll.
  void finished(OpBase* op) noexcept {
    op->running = false;
    pending_.remove(op);
    push_ready(op);
  }
  /// Complete `op` from the loop (never inside the initiating call).
  void push_ready(OpBase* op) noexcept {
    if (!alive_) {
      op->invoke(op, true);
      return;
    }
    op->next = nullptr;
    if (ready_tail_ != nullptr) ready_tail_->next = op; else ready_head_ = op;
    ready_tail_ = op;
    schedule();
  }

  /// Decide what the io_context should do next for the engine: poll now,
  /// wait for the fd (and timer), or nothing (no operation in flight).
  void schedule() noexcept {
    if (!alive_ || in_turn_) return;
    if (engine_.error()) {
      /// The engine failed for good (engine.hpp, "Errors of the loop"): poll()
      /// does nothing more, so stop watching it and let io_context::run()
      /// return. Its operations end with operation_aborted when the Engine is
      /// destroyed (their handlers are then posted).
      if (wait_armed_) fd_.cancel();
      disarm_timer();
      return;
    }
    if (ready_head_ != nullptr) {
      post_turn();
      return;
    }
    const std::chrono::nanoseconds t = engine_.poll_timeout();
    if (t.count() == 0) {
      post_turn();
      return;
    }
    if (engine_.in_flight() == 0) {
      /// Idle: nothing may keep io_context::run() from returning.
      if (wait_armed_) fd_.cancel();
      disarm_timer();
      return;
    }
    arm_wait();
    if (t.count() > 0) arm_timer(t); else disarm_timer();
  }

  /// One turn: poll the engine, run the handlers that completed, and again
  /// (a few times at most, so the io_context's other handlers get their turn)
  /// while the engine has work no fd announces -- typically the requests
  /// those handlers just queued: submitting them here saves a round through
  /// the io_context's queue and its reactor.
  static constexpr int polls_per_turn = 4;
  void turn() {
    struct Reschedule {
      Pump* pump;
      ~Reschedule() {
        pump->in_turn_ = false;
        pump->schedule();  ///< also when a handler throws: nothing ready is lost
      }
    };
    in_turn_ = true;
    Reschedule reschedule{this};
    for (int i = 0; i < polls_per_turn; ++i) {
      std::error_code ec;
      engine_.poll(ec);
      while (OpBase* op = ready_head_) {
        ready_head_ = op->next;
        if (ready_head_ == nullptr) ready_tail_ = nullptr;
        op->next = nullptr;
        op->invoke(op, false);
      }
      if (ec || !alive_ || engine_.poll_timeout().count() != 0) break;
    }
  }

  /// ~AsioEngine: cancel what is pending and let it complete on its own
  /// (orphaned: posted to its executor when the engine ends it).
  void shutdown() noexcept {
    alive_ = false;
    while (OpBase* op = pending_.pop_front()) {
      op->cancel(op);
      op->pump = nullptr;
    }
    while (OpBase* op = ready_head_) {
      ready_head_ = op->next;
      if (ready_head_ == nullptr) ready_tail_ = nullptr;
      op->invoke(op, true);
    }
    timer_.cancel();
    fd_.release();  ///< the engine owns the fd; release() also cancels the wait
  }

 private:
  void post_turn() {
    if (post_queued_) return;
    post_queued_ = true;
    net::post(io_, [self = shared_from_this()] {
      self->post_queued_ = false;
      if (self->alive_) self->turn();
    });
  }
  void arm_wait() {
    if (wait_armed_) return;
    wait_armed_ = true;
    fd_.async_wait(net::posix::stream_descriptor::wait_read, [self = shared_from_this()](asio_error ec) {
      self->wait_armed_ = false;
      if (!self->alive_) return;
      if (ec) {
        self->schedule();  ///< cancelled while idle, or re-armed meanwhile
        return;
      }
      self->turn();
    });
  }
  void arm_timer(std::chrono::nanoseconds after) {
    const auto at = std::chrono::steady_clock::now() + after;
    if (timer_armed_ && timer_at_ <= at) return;
    timer_armed_ = true;
    timer_at_ = at;
    timer_.expires_at(at);  ///< cancels an earlier wait (its handler sees a stale generation)
    timer_.async_wait([self = shared_from_this(), generation = ++timer_generation_](asio_error ec) {
      if (generation != self->timer_generation_) return;
      self->timer_armed_ = false;
      if (!self->alive_ || ec) return;
      self->turn();
    });
  }
  void disarm_timer() {
    if (!timer_armed_) return;
    timer_armed_ = false;
    ++timer_generation_;
    timer_.cancel();
  }

  net::io_context& io_;
  Engine& engine_;
  net::posix::stream_descriptor fd_;
  net::steady_timer timer_;
  OpChain pending_;
  OpBase* ready_head_ = nullptr;
  OpBase* ready_tail_ = nullptr;
  bool alive_ = true;
  bool in_turn_ = false;
  bool post_queued_ = false;
  bool wait_armed_ = false;
  bool timer_armed_ = false;
  std::chrono::steady_clock::time_point timer_at_{};
  std::uint64_t timer_generation_ = 0;
};

/// The state of one Asio operation: its handler (allocated with the
/// handler's associated allocator), a work guard on the handler's executor,
/// and the results waiting for dispatch.
template <class Handler, class... Results>
class AsioOp final : public OpBase {
 public:
  using executor_type = net::associated_executor_t<Handler, net::io_context::executor_type>;
  using allocator_type = typename std::allocator_traits<
      net::associated_allocator_t<Handler, net::recycling_allocator<void>>>::template rebind_alloc<AsioOp>;

  static AsioOp* create(Handler&& handler, Pump& pump) {
    allocator_type alloc(net::get_associated_allocator(handler, net::recycling_allocator<void>()));
    AsioOp* op = std::allocator_traits<allocator_type>::allocate(alloc, 1);
    try {
      ::new (static_cast<void*>(op)) AsioOp(std::move(handler), pump);
    } catch (...) {
      std::allocator_traits<allocator_type>::deallocate(alloc, op, 1);
      throw;
    }
    return op;
  }

  /// The engine's handler for this op: one pointer, whatever the signature.
  auto engine_handler() noexcept {
    return [op = this](std::error_code ec, const auto&... results) { op->complete(ec, results...); };
  }

  /// Results from the engine (inside Engine::poll) or from an acceptor.
  template <class... Values>
  void complete(std::error_code ec, const Values&... values) noexcept {
    set_results(to_asio_error(ec), values...);
    if (pump != nullptr) pump->finished(this);
    else invoke(this, true);  ///< orphaned: the AsioEngine is gone
  }
  template <class... Values>
  void set_results(asio_error ec, const Values&... values) noexcept {
    running = false;  ///< a cancellation from now on finds nothing to cancel
    results_ = std::tuple<asio_error, Results...>(ec, values...);
  }

  /// Connects the handler's cancellation slot (if any) to `cancel`.
  void hook_cancellation() {
    auto slot = net::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) slot.template emplace<CancelHook>(this);
  }

 private:
  struct CancelHook {
    OpBase* op;
    void operator()(net::cancellation_type_t type) noexcept {
      if (!!(type & (net::cancellation_type::terminal | net::cancellation_type::partial |
                     net::cancellation_type::total)) &&
          op->running) {
        op->cancel(op);
      }
    }
  };

  AsioOp(Handler&& handler, Pump& p)
      : handler_(std::move(handler)),
        work_(net::get_associated_executor(handler_, p.io().get_executor())) {
    pump = &p;
    invoke = &AsioOp::do_invoke;
  }

  static void do_invoke(OpBase* base, bool post) {
    AsioOp* op = static_cast<AsioOp*>(base);
    /// The cancellation hook points at this state: it goes first. (Not at
    /// set_results: that may run inside the hook, which must not destroy
    /// itself.)
    auto slot = net::get_associated_cancellation_slot(op->handler_);
    if (slot.is_connected()) slot.clear();
    /// Move everything out and free the state before the upcall (a handler
    /// may start the next operation, which can reuse this memory).
    Handler handler(std::move(op->handler_));
    net::executor_work_guard<executor_type> work(std::move(op->work_));
    std::tuple<asio_error, Results...> results(std::move(op->results_));
    allocator_type alloc(net::get_associated_allocator(handler, net::recycling_allocator<void>()));
    op->~AsioOp();
    std::allocator_traits<allocator_type>::deallocate(alloc, op, 1);
    auto call = [h = std::move(handler), r = std::move(results)]() mutable { std::apply(std::move(h), std::move(r)); };
    if (post) net::post(work.get_executor(), std::move(call));
    else net::dispatch(work.get_executor(), std::move(call));
    work.reset();
  }

  Handler handler_;
  net::executor_work_guard<executor_type> work_;
  std::tuple<asio_error, Results...> results_;
};

/// A cancellation from outside a turn (a signal emitted by another handler)
/// leaves work no fd announces (epoll completes in the process, io_uring
/// queues an ASYNC_CANCEL SQE): schedule() sees it through poll_timeout().
inline void cancel_engine_op(OpBase* op) noexcept {
  if (op->pump == nullptr) return;
  op->pump->engine().cancel(op->op_id);
  op->pump->schedule();
}

}  // namespace asio_detail

/// An Engine driven by a Boost.Asio io_context, with Asio-style asynchronous
/// operations. Every `async_*` function takes a completion token and has the
/// completion signature named beside it; the handler runs from the
/// io_context (never inside the call that starts the operation), exactly
/// once. A handler's associated cancellation slot, when connected, cancels
/// the operation (Engine::cancel or Transfers::cancel): it completes with
/// `asio::error::operation_aborted` (a send or transfer reports the bytes
/// moved until then). An operation that cannot start (no free op slot)
/// completes with that error from the io_context.
class AsioEngine {
 public:
  /// The io_context's executor: handlers without an associated executor run there.
  using executor_type = boost::asio::io_context::executor_type;

  /// Binds `engine` to `io`. Calls Engine::event_fd(), so construct it on the
  /// thread that runs (or will run) `io`, or before the engine ran anywhere.
  /// Throws std::system_error if the engine has no event fd.
  AsioEngine(boost::asio::io_context& io, Engine& engine)
      : pump_(std::make_shared<asio_detail::Pump>(io, engine)) {}
  /// Cancels the operations still pending (their handlers are posted once
  /// the engine ends them) and stops watching the engine's fd.
  ~AsioEngine() { pump_->shutdown(); }
  AsioEngine(const AsioEngine&) = delete;
  AsioEngine& operator=(const AsioEngine&) = delete;

  /// The engine, for setup calls (listen, adopt, open) and its own operations.
  Engine& engine() noexcept { return pump_->engine(); }
  /// The io_context's executor.
  executor_type get_executor() noexcept { return pump_->io().get_executor(); }
  /// Call after starting Engine operations directly (not through this class)
  /// from outside an engine handler, so the io_context starts polling for them.
  void kick() noexcept { pump_->schedule(); }

  /// Connects a new TCP socket to `address`. Signature: void(error_code, Socket).
  template <class Token>
  auto async_connect(const Address& address, Token&& token) {
    return start<Socket>(std::forward<Token>(token), [address](Engine& e, auto handler) {
      return e.connect(address, std::move(handler));
    });
  }

  /// Sends all of `data` (which must stay valid until the handler runs).
  /// Signature: void(error_code, std::size_t bytes_sent).
  template <class Token>
  auto async_send(Socket socket, std::span<const std::byte> data, Token&& token) {
    return start<std::size_t>(std::forward<Token>(token), [socket, data](Engine& e, auto handler) {
      return e.send(socket, data, std::move(handler));
    });
  }

  /// Receives what the socket has, at most into.size() bytes (at least 1),
  /// into the caller's memory, which stays valid until the handler runs.
  /// The end of the stream is `asio::error::eof`. Signature:
  /// void(error_code, std::size_t bytes).
  template <class Token>
  auto async_recv_some(Socket socket, std::span<std::byte> into, Token&& token) {
    return start<std::size_t>(std::forward<Token>(token), [socket, into](Engine& e, auto handler) {
      return e.recv_some(socket, into, std::move(handler));
    });
  }

  /// Receives until `into` is full. A stream that ends first gives
  /// `asio::error::eof` with the bytes received (as asio::async_read does);
  /// an error or cancel also reports the bytes already in `into`.
  /// Signature: void(error_code, std::size_t bytes).
  template <class Token>
  auto async_read_exactly(Socket socket, std::span<std::byte> into, Token&& token) {
    return start<std::size_t>(std::forward<Token>(token), [socket, into](Engine& e, auto handler) {
      return e.recv_exactly(socket, into, [h = std::move(handler)](std::error_code ec, std::size_t n) mutable {
        h(ec == error::transfer_incomplete ? make_error_code(error::eof) : ec, n);
      });
    });
  }

  /// Gather send of up to max_gather pieces: their bytes stay valid until
  /// the handler runs, the list of pieces until the operation is launched
  /// (the engine copies it then; with `asio::deferred`, that is when the
  /// deferred operation is invoked). Signature: void(error_code, std::size_t).
  template <class Token>
  auto async_sendv(Socket socket, std::span<const std::span<const std::byte>> pieces, Token&& token) {
    return start<std::size_t>(std::forward<Token>(token), [socket, pieces](Engine& e, auto handler) {
      return e.sendv(socket, pieces, std::move(handler));
    });
  }

  /// shutdown(2) of a socket (SHUT_WR: the peer reads end of stream once
  /// what was sent before has arrived). Signature: void(error_code).
  template <class Token>
  auto async_shutdown(Socket socket, int how, Token&& token) {
    return start<>(std::forward<Token>(token), [socket, how](Engine& e, auto handler) {
      return e.shutdown(socket, how, std::move(handler));
    });
  }

  /// Closes a handle: its pending operations end with operation_aborted, the
  /// handle goes stale at once, the handler runs once the fd is closed.
  /// Signature: void(error_code).
  template <class Token>
  auto async_close(FdRef handle, Token&& token) {
    return start<>(std::forward<Token>(token), [handle](Engine& e, auto handler) {
      return e.close(handle, std::move(handler));
    });
  }

  /// An engine timer (io_uring: IORING_OP_TIMEOUT; epoll: the engine's
  /// heap): completes after `duration`, or with operation_aborted when
  /// cancelled. Signature: void(error_code).
  template <class Token>
  auto async_wait_for(std::chrono::nanoseconds duration, Token&& token) {
    return start<>(std::forward<Token>(token), [duration](Engine& e, auto handler) {
      return e.timeout(duration, std::move(handler));
    });
  }

  /// Starts a transfer (transfer.hpp) on `transfers`, which must belong to
  /// this engine and outlive the operation. Signature:
  /// void(error_code, TransferResult) -- the result also after an error
  /// (the bytes moved until then).
  template <class Token>
  auto async_transfer(Transfers& transfers, const Source& source, const Sink& sink, const TransferOptions& options,
                      Token&& token) {
    using Signature = void(boost::system::error_code, TransferResult);
    return boost::asio::async_initiate<Token, Signature>(
        [this, &transfers, source, sink, options](auto handler) {
          using Op = asio_detail::AsioOp<std::decay_t<decltype(handler)>, TransferResult>;
          Op* op = Op::create(std::move(handler), *pump_);
          op->transfers = &transfers;
          op->cancel = [](asio_detail::OpBase* o) noexcept {
            if (o->pump == nullptr) return;
            o->transfers->cancel(o->transfer_id);
            o->pump->schedule();
          };
          op->transfer_id = transfers.start(source, sink, options, op->engine_handler());
          if (!op->transfer_id) {
            op->set_results(to_asio_error(make_error_code(error::no_free_op_slot)), TransferResult{});
            pump_->push_ready(op);
            return;
          }
          op->hook_cancellation();
          pump_->started(op);
        },
        token);
  }

 private:
  friend class AsioAcceptor;

  /// Initiates an engine operation whose handler gets (ec, Results...).
  template <class... Results, class Token, class StartFn>
  auto start(Token&& token, StartFn start_fn) {
    using Signature = void(boost::system::error_code, Results...);
    return boost::asio::async_initiate<Token, Signature>(
        [this, start_fn](auto handler) mutable {
          using Op = asio_detail::AsioOp<std::decay_t<decltype(handler)>, Results...>;
          Op* op = Op::create(std::move(handler), *pump_);
          op->cancel = &asio_detail::cancel_engine_op;
          op->op_id = start_fn(pump_->engine(), op->engine_handler());
          if (!op->op_id) {
            op->set_results(to_asio_error(op->op_id.error()), Results{}...);
            pump_->push_ready(op);
            return;
          }
          op->hook_cancellation();
          pump_->started(op);
        },
        token);
  }

  std::shared_ptr<asio_detail::Pump> pump_;
};

namespace asio_detail {

/// An AsioAcceptor's queue and its multishot accept. Lives until both the
/// acceptor is gone and the multishot made its last call.
struct AcceptState {
  std::shared_ptr<Pump> pump;
  Socket listener;
  std::size_t backlog;
  std::deque<Socket> queue;  ///< accepted, not yet taken (at most backlog + what a cancel lets through)
  OpChain waiters;           ///< async_accept calls waiting for a connection
  OpId multishot;
  bool running = false;      ///< the multishot has not made its last call
  bool pausing = false;      ///< cancelled by us because the queue is full
  bool closed = false;
  bool orphaned = false;     ///< the AsioAcceptor is gone

  Engine& engine() noexcept { return pump->engine(); }

  void ensure_running() noexcept {
    if (running || closed || queue.size() >= backlog) return;
    running = true;
    pausing = false;
    multishot = engine().accept(listener, [st = this](std::error_code ec, Socket s) { st->on_accept(ec, s); });
    if (!multishot) {
      running = false;
      fail_waiters(multishot.error());
      return;
    }
    pump->schedule();
  }

  void on_accept(std::error_code ec, Socket s) noexcept {
    if (!ec) {
      if (closed) {
        engine().close(s, [](std::error_code) {});
      } else if (OpBase* w = waiters.pop_front()) {
        give(w, {}, s);
      } else {
        queue.push_back(s);
        if (queue.size() >= backlog && !pausing) {
          pausing = true;  ///< the kernel's backlog holds the rest meanwhile
          engine().cancel(multishot);
        }
      }
      return;
    }
    running = false;  ///< the last call
    if (orphaned) {
      delete this;
      return;
    }
    if (closed) return;
    if (pausing && ec == std::errc::operation_canceled) {
      pausing = false;
      if (!waiters.empty()) ensure_running();
      return;
    }
    fail_waiters(ec);  ///< a listener error ends the waiting accepts; the next one starts again
  }

  void give(OpBase* w, std::error_code ec, Socket s) noexcept { w->accept_result(w, ec, s); }

  void fail_waiters(std::error_code ec) noexcept {
    while (OpBase* w = waiters.pop_front()) give(w, ec, Socket{});
  }
};

}  // namespace asio_detail

/// Accepts connections on a listening socket for Asio code: a multishot
/// accept runs while connections are wanted and queues up to `backlog`
/// accepted sockets (then pauses, leaving the rest in the kernel's backlog);
/// each async_accept takes one. Like an Asio acceptor, it keeps the
/// io_context running while it accepts: close() it (or destroy it) to let
/// io_context::run() return.
class AsioAcceptor {
 public:
  /// Accepts on `listener` (from Engine::listen). The listener stays the
  /// caller's to close.
  AsioAcceptor(AsioEngine& rx, Socket listener, std::size_t backlog = 64)
      : state_(new asio_detail::AcceptState{rx.pump_, listener, backlog == 0 ? 1 : backlog}) {}
  /// close(), then leaves the multishot to end on its own.
  ~AsioAcceptor() {
    close();
    state_->orphaned = true;
    if (!state_->running) delete state_;
  }
  AsioAcceptor(const AsioAcceptor&) = delete;
  AsioAcceptor& operator=(const AsioAcceptor&) = delete;

  /// Takes the next accepted connection. Signature: void(error_code, Socket).
  /// A listener error completes every waiting accept with it.
  template <class Token>
  auto async_accept(Token&& token) {
    using Signature = void(boost::system::error_code, Socket);
    return boost::asio::async_initiate<Token, Signature>(
        [this](auto handler) {
          using Op = asio_detail::AsioOp<std::decay_t<decltype(handler)>, Socket>;
          asio_detail::AcceptState& st = *state_;
          Op* op = Op::create(std::move(handler), *st.pump);
          op->accept_result = [](asio_detail::OpBase* w, std::error_code ec, Socket s) noexcept {
            static_cast<Op*>(w)->set_results(to_asio_error(ec), s);
            w->pump->push_ready(w);  ///< the Pump outlives every AcceptState (shared)
          };
          op->owner = state_;
          if (st.closed) {
            op->set_results(boost::asio::error::operation_aborted, Socket{});
            st.pump->push_ready(op);
            return;
          }
          if (!st.queue.empty()) {
            Socket s = st.queue.front();
            st.queue.pop_front();
            op->set_results({}, s);
            st.pump->push_ready(op);
            return;
          }
          op->cancel = [](asio_detail::OpBase* w) noexcept {
            auto* s = static_cast<asio_detail::AcceptState*>(w->owner);
            s->waiters.remove(w);
            s->give(w, std::make_error_code(std::errc::operation_canceled), Socket{});
          };
          op->running = true;
          st.waiters.push_back(op);
          op->hook_cancellation();
          st.ensure_running();
        },
        token);
  }

  /// Stops accepting: the multishot is cancelled, waiting async_accepts end
  /// with operation_aborted, queued connections are closed.
  void close() noexcept {
    asio_detail::AcceptState& st = *state_;
    if (st.closed) return;
    st.closed = true;
    if (st.running) st.engine().cancel(st.multishot);
    for (Socket s : st.queue) st.engine().close(s, [](std::error_code) {});
    st.queue.clear();
    st.fail_waiters(std::make_error_code(std::errc::operation_canceled));
    st.pump->schedule();
  }

 private:
  asio_detail::AcceptState* state_;
};

}  // namespace ringxfer
