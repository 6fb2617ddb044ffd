// Workers: the thread-per-engine set (include/ringxfer/workers.hpp). Written
// on the public Engine API; the MSG_RING doorbell is Engine::post_from /
// wake_from, the move is Engine::release + Engine::adopt.
#include "ringxfer/workers.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace ringxfer {

namespace {

// Which Workers and engine the calling thread runs; `quiet` once its loop has
// ended: from then on its ring sends no more messages (a MSG_RING queued now
// might reach a ring after it is gone), other engines get an eventfd write.
struct ThreadRole {
  const Workers* workers = nullptr;
  std::uint32_t index = Workers::npos;
  bool quiet = false;
};
thread_local ThreadRole this_thread_role;

std::error_code errno_code() noexcept { return {errno, std::system_category()}; }

int listening_socket(const Address& address, bool reuse_port, bool listen_now, int backlog, std::error_code& ec,
                     std::string& what) {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ec = errno_code();
    what = "socket";
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    what = "SO_REUSEPORT";
  } else if (::bind(fd, address.data(), address.size()) != 0) {
    what = "listen " + address.to_string();
  } else if (listen_now && ::listen(fd, backlog) != 0) {
    what = "listen " + address.to_string();
  } else {
    return fd;
  }
  ec = errno_code();
  ::close(fd);
  return -1;
}

}  // namespace

Workers::Workers(WorkersOptions options) : options_(std::move(options)) {
  if (options_.threads == 0) options_.threads = 1;
  for (std::uint32_t i = 0; i < options_.threads; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->engine = std::make_unique<Engine>(options_.engine);  // throws std::system_error
    slots_.push_back(std::move(slot));
  }
  std::uint32_t records = options_.moves_in_flight * options_.threads;
  moves_ = std::vector<Move>(records);
  for (Move& m : moves_) {
    m.next = free_moves_;
    free_moves_ = &m;
  }
  if (options_.listen) open_listeners();
}

Workers::~Workers() {
  stop();
  join();
}

void Workers::open_listeners() {
  std::error_code ec;
  std::string what;
  const Address& address = *options_.listen;
  bound_ = address;
  const bool reuse_port = slots_.size() > 1;
  if (reuse_port && address.port() != 0) {
    // Bound, never listening: EADDRINUSE here means another server has the port.
    int probe = listening_socket(address, false, false, 0, ec, what);
    if (probe < 0) throw std::system_error(ec, "ringxfer::Workers: " + what);
    ::close(probe);
  }
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    int fd = listening_socket(bound_, reuse_port, true, options_.backlog, ec, what);
    if (fd < 0) throw std::system_error(ec, "ringxfer::Workers: " + what);
    if (i == 0) {
      socklen_t len = sizeof(sockaddr_storage);
      if (::getsockname(fd, bound_.data(), &len) == 0) bound_.set_size(len);
    }
    if (auto adopt_ec = slots_[i]->engine->adopt(fd, slots_[i]->listener)) {
      ::close(fd);
      throw std::system_error(adopt_ec, "ringxfer::Workers: adopt listener");
    }
  }
}

std::error_code Workers::start(WorkerStart on_start) {
  if (started_) return std::make_error_code(std::errc::invalid_argument);
  started_ = true;
  on_start_ = std::move(on_start);
  for (std::uint32_t i = 0; i < size(); ++i) {
    slots_[i]->thread = std::thread([this, i] { thread_main(i, on_start_); });
  }
  return {};
}

void Workers::stop() noexcept {
  stop_.store(true, std::memory_order_release);
  for (auto& slot : slots_) {
    std::lock_guard lock(slot->mutex);
    if (slot->accepting) slot->engine->wake();
  }
}

std::error_code Workers::join() {
  if (!joined_) {
    joined_ = true;
    for (auto& slot : slots_) {
      if (slot->thread.joinable()) slot->thread.join();
    }
    if (!started_) {
      // Never run: destroy the engines here (nothing can message them).
      for (auto& slot : slots_) {
        std::lock_guard lock(slot->mutex);
        slot->accepting = false;
      }
      for (std::uint32_t i = 0; i < size(); ++i) {
        close_inbox(i);
        slots_[i]->final_stats = slots_[i]->engine->stats();
        slots_[i]->engine.reset();
      }
    }
  }
  for (auto& slot : slots_) {
    if (slot->error) return slot->error;
  }
  return {};
}

std::uint32_t Workers::current_index() const noexcept {
  return this_thread_role.workers == this ? this_thread_role.index : npos;
}

Engine* Workers::caller_engine() const noexcept {
  if (this_thread_role.workers != this || this_thread_role.quiet) return nullptr;
  return slots_[this_thread_role.index]->engine.get();
}

void Workers::pin(std::uint32_t index) noexcept {
  std::vector<int> cpus = options_.cpus;
  if (cpus.empty() && options_.pin) {
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
  ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
}

void Workers::thread_main(std::uint32_t index, const WorkerStart& on_start) {
  Slot& slot = *slots_[index];
  Engine& engine = *slot.engine;
  this_thread_role = {this, index, false};
  pin(index);

  std::error_code ec;
  if (on_start) ec = on_start(*this, index);
  while (!ec && !stop_.load(std::memory_order_acquire)) {
    engine.run_once(std::chrono::milliseconds(-1), ec);
    if (slot.inbox_pending.load(std::memory_order_acquire)) drain_inbox(index);
  }
  if (ec) {
    slot.error = ec;
    stop();  // one engine failed: the set stops (join() reports it)
    if (options_.on_error) options_.on_error(index, ec);
  }

  // From here this ring sends no MSG_RING: one last turn submits what it has
  // queued (and takes back a refused message, falling back to the eventfd)
  // while every engine is still alive.
  this_thread_role.quiet = true;
  std::error_code ignored;
  engine.poll(ignored);
  {
    std::unique_lock lock(phase_mutex_);
    ++loops_ended_;
    phase_changed_.notify_all();
    phase_changed_.wait(lock, [this] { return loops_ended_ == size(); });
  }
  {
    std::lock_guard lock(slot.mutex);
    slot.accepting = false;  // post_to, send_socket and stop leave this engine alone now
  }
  close_inbox(index);
  slot.final_stats = engine.stats();
  // On its own thread: what the ring still holds is drained, every handler runs.
  slot.engine.reset();
  this_thread_role = {};
}

// ------------------------------------------------------------------ tasks --

std::error_code Workers::post_to(std::uint32_t index, Task task) noexcept {
  if (index >= size()) return std::make_error_code(std::errc::invalid_argument);
  Slot& slot = *slots_[index];
  Engine* from = caller_engine();
  std::lock_guard lock(slot.mutex);
  if (!slot.accepting) return make_error_code(error::shutting_down);
  return from != nullptr ? slot.engine->post_from(*from, std::move(task)) : slot.engine->post(std::move(task));
}

// ---------------------------------------------------------------- sockets --

Workers::Move* Workers::take_move() noexcept {
  std::lock_guard lock(moves_mutex_);
  Move* m = free_moves_;
  if (m != nullptr) free_moves_ = m->next;
  return m;
}

void Workers::give_back(Move* move) noexcept {
  move->handler.reset();
  move->fd = -1;
  std::lock_guard lock(moves_mutex_);
  move->next = free_moves_;
  free_moves_ = move;
}

std::error_code Workers::send_socket(std::uint32_t to, Socket socket, SocketHandler on_arrival) noexcept {
  const std::uint32_t from = current_index();
  if (from == npos) return std::make_error_code(std::errc::operation_not_permitted);
  if (this_thread_role.quiet) return make_error_code(error::shutting_down);  // the loop has ended
  if (to >= size()) return std::make_error_code(std::errc::invalid_argument);
  Move* move = take_move();
  if (move == nullptr) return make_error_code(error::post_queue_full);
  move->handler = std::move(on_arrival);
  move->to = to;
  move->next = nullptr;
  OpId id = slots_[from]->engine->release(socket, [this, move](std::error_code ec, int fd) {
    on_released(move, ec, fd);
  });
  if (!id) {
    give_back(move);
    return id.error();
  }
  return {};
}

void Workers::fail_move(Move* move, std::error_code ec) noexcept {
  if (move->fd >= 0) ::close(move->fd);
  SocketHandler handler = std::move(move->handler);
  give_back(move);
  if (handler) handler(ec, Socket{});
}

// On the sending engine's thread: the fd is out of its engine.
void Workers::on_released(Move* move, std::error_code ec, int fd) noexcept {
  move->fd = fd;
  if (ec) {
    fail_move(move, ec);
    return;
  }
  Slot& target = *slots_[move->to];
  Engine* from = caller_engine();
  std::unique_lock lock(target.mutex);
  if (!target.accepting) {
    lock.unlock();
    fail_move(move, make_error_code(error::shutting_down));
    return;
  }
  if (target.inbox_tail != nullptr) target.inbox_tail->next = move; else target.inbox_head = move;
  target.inbox_tail = move;
  target.inbox_pending.store(true, std::memory_order_release);
  if (from != nullptr) target.engine->wake_from(*from); else target.engine->wake();
}

// Empties a slot's inbox under its lock; the moves are then the caller's.
Workers::Move* Workers::take_inbox(Slot& slot) noexcept {
  std::lock_guard lock(slot.mutex);
  Move* list = slot.inbox_head;
  slot.inbox_head = slot.inbox_tail = nullptr;
  slot.inbox_pending.store(false, std::memory_order_relaxed);
  return list;
}

// On the receiving engine's thread, after a loop turn.
void Workers::drain_inbox(std::uint32_t index) noexcept {
  Slot& slot = *slots_[index];
  Move* list = take_inbox(slot);
  while (list != nullptr) {
    Move* move = list;
    list = move->next;
    Socket socket;
    if (std::error_code ec = slot.engine->adopt(move->fd, socket)) {
      fail_move(move, ec);  // closes the fd
      continue;
    }
    move->fd = -1;
    SocketHandler handler = std::move(move->handler);
    give_back(move);
    handler(std::error_code(), socket);
  }
}

// The engine takes no more sockets (accepting is false): the ones that
// arrived too late are closed, their handlers told.
void Workers::close_inbox(std::uint32_t index) noexcept {
  Move* list = take_inbox(*slots_[index]);
  while (list != nullptr) {
    Move* move = list;
    list = move->next;
    fail_move(move, make_error_code(error::shutting_down));
  }
}

}  // namespace ringxfer
