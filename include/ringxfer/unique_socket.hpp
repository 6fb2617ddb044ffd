#pragma once
/// @file
/// UniqueSocket: an owning handle for those who want RAII beside the plain
/// Socket values.
#include <utility>

#include "ringxfer/engine.hpp"

namespace ringxfer {

/// Owns one Socket of one Engine and closes it when destroyed, like a
/// std::unique_ptr with Engine::close() as its deleter. Move-only.
///
/// Closing is Engine::close() without a handler: the handle goes stale at
/// once, every operation still in flight on it completes with
/// operation_canceled (its handler still runs, from the loop), and the fd is
/// closed once no request names it. A UniqueSocket must not outlive its
/// Engine, and is used on the Engine's thread like any handle.
class UniqueSocket {
 public:
  /// Owns nothing.
  UniqueSocket() noexcept = default;
  /// Takes ownership of `socket` (a handle of `engine`).
  UniqueSocket(Engine& engine, Socket socket) noexcept : engine_(&engine), socket_(socket) {}
  /// Takes `other`'s socket; `other` owns nothing afterwards.
  UniqueSocket(UniqueSocket&& other) noexcept
      : engine_(std::exchange(other.engine_, nullptr)), socket_(std::exchange(other.socket_, Socket{})) {}
  /// Closes the socket owned now, then takes `other`'s.
  UniqueSocket& operator=(UniqueSocket&& other) noexcept {
    if (this != &other) {
      reset();
      engine_ = std::exchange(other.engine_, nullptr);
      socket_ = std::exchange(other.socket_, Socket{});
    }
    return *this;
  }
  UniqueSocket(const UniqueSocket&) = delete;
  UniqueSocket& operator=(const UniqueSocket&) = delete;
  /// Closes the socket (see the class comment).
  ~UniqueSocket() { reset(); }

  /// The handle, still owned: pass it to Engine operations.
  Socket get() const noexcept { return socket_; }
  /// The engine it belongs to, or nullptr when empty.
  Engine* engine() const noexcept { return engine_; }
  /// True while it owns a socket.
  explicit operator bool() const noexcept { return engine_ != nullptr && socket_.valid(); }
  /// Gives up ownership without closing: the caller closes the Socket.
  Socket release() noexcept {
    engine_ = nullptr;
    return std::exchange(socket_, Socket{});
  }
  /// Closes the owned socket now (if any) and owns nothing.
  void reset() noexcept {
    if (engine_ != nullptr && socket_.valid()) engine_->close(socket_, [](std::error_code) {});
    engine_ = nullptr;
    socket_ = Socket{};
  }

 private:
  Engine* engine_ = nullptr;
  Socket socket_;
};

}  // namespace ringxfer
