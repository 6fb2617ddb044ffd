// Engine: the public face of EngineCore.
#include "ringxfer/engine.hpp"

#include "core/engine_core.hpp"

namespace ringxfer {

Engine::Engine(EngineOptions options) : core_(std::make_unique<detail::EngineCore>(std::move(options))) {}
Engine::~Engine() = default;

std::error_code Engine::run() { return core_->run(); }
std::size_t Engine::run_once(std::chrono::milliseconds timeout, std::error_code& error) {
  std::size_t n = core_->run_once(timeout);
  error = core_->fault();
  return n;
}
std::size_t Engine::run_once(std::chrono::milliseconds timeout) { return core_->run_once(timeout); }
std::size_t Engine::poll(std::error_code& error) { return run_once(std::chrono::milliseconds::zero(), error); }
std::size_t Engine::poll() { return core_->run_once(std::chrono::nanoseconds::zero()); }
void Engine::stop() noexcept { core_->stop(); }
bool Engine::stopped() const noexcept { return core_->stopped(); }
std::error_code Engine::error() const noexcept { return core_->fault(); }
std::error_code Engine::post(Task task) noexcept { return core_->post(std::move(task)); }
void Engine::wake() noexcept { core_->wake(); }
int Engine::event_fd() noexcept { return core_->event_fd(); }
std::chrono::nanoseconds Engine::poll_timeout() const noexcept { return core_->poll_timeout(); }
std::error_code Engine::post_from(Engine& from, Task task) noexcept {
  return core_->post(std::move(task), from.core_.get());
}
void Engine::wake_from(Engine& from) noexcept { core_->wake_from(from.core_.get()); }
std::size_t Engine::in_flight() const noexcept { return core_->in_flight(); }
SlotUsage Engine::slot_usage() const noexcept { return core_->slot_usage(); }

std::error_code Engine::adopt(int fd, Socket& out) noexcept { return core_->adopt(fd, true, out); }
std::error_code Engine::adopt(int fd, File& out) noexcept { return core_->adopt(fd, false, out); }
std::error_code Engine::open(const char* path, int flags, File& out, unsigned mode) noexcept {
  return core_->open(path, flags, mode, out);
}
std::error_code Engine::listen(const Address& address, Socket& out, int backlog) noexcept {
  ListenOptions options;
  options.backlog = backlog;
  return core_->listen(address, options, out);
}
std::error_code Engine::listen(const Address& address, Socket& out, const ListenOptions& options) noexcept {
  return core_->listen(address, options, out);
}
std::error_code Engine::local_address(FdRef handle, Address& out) const noexcept {
  return core_->local_address(handle, out);
}
int Engine::native_handle(FdRef handle) const noexcept { return core_->native_handle(handle); }
Buffer Engine::acquire_buffer() noexcept { return core_->acquire_buffer(); }

OpId Engine::start_accept(Socket listener, Handler handler) noexcept {
  return core_->start_accept(listener, std::move(handler));
}
OpId Engine::start_connect(const Address& address, ConnectOptions& options, Handler handler) noexcept {
  return core_->start_connect(address, options, std::move(handler));
}
OpId Engine::start_recv(Socket socket, Handler handler) noexcept {
  return core_->start_recv(socket, std::move(handler));
}
OpId Engine::start_recv_into(Socket socket, std::span<std::byte> into, Handler handler, bool exactly) noexcept {
  return core_->start_recv_into(socket, into, std::move(handler), exactly);
}
OpId Engine::start_signals(std::span<const int> signos, Handler handler) noexcept {
  return core_->start_signals(signos, std::move(handler));
}
OpId Engine::start_send(Socket socket, std::span<const std::byte> data, Handler handler, unsigned flags) noexcept {
  return core_->start_send(socket, data, std::move(handler), flags);
}
OpId Engine::start_sendv(Socket socket, std::span<const std::span<const std::byte>> pieces, Handler handler,
                         unsigned flags) noexcept {
  return core_->start_sendv(socket, pieces, std::move(handler), flags);
}
OpId Engine::start_send_zc(Socket socket, Buffer buffer, Handler handler) noexcept {
  return core_->start_send_zc(socket, std::move(buffer), std::move(handler));
}
OpId Engine::start_splice(FdRef src, std::int64_t src_offset, FdRef dst, std::int64_t dst_offset,
                          std::size_t length, Handler handler, unsigned flags) noexcept {
  return core_->start_splice(src, src_offset, dst, dst_offset, length, std::move(handler), flags);
}
OpId Engine::start_read(FdRef handle, std::int64_t offset, Buffer buffer, Handler handler) noexcept {
  return core_->start_read(handle, offset, std::move(buffer), std::move(handler));
}
OpId Engine::start_write(FdRef handle, std::int64_t offset, Buffer buffer, Handler handler) noexcept {
  return core_->start_write(handle, offset, std::move(buffer), std::move(handler));
}
OpId Engine::start_timeout(std::chrono::nanoseconds after, Handler handler) noexcept {
  return core_->start_timeout(after, std::move(handler));
}
OpId Engine::start_wait_readable(Socket socket, Handler handler) noexcept {
  return core_->start_wait_readable(socket, std::move(handler));
}

OpId Engine::start_shutdown(Socket socket, int how, Handler handler) noexcept {
  return core_->start_shutdown(socket, how, std::move(handler));
}
OpId Engine::start_close(FdRef handle, Handler handler) noexcept {
  return core_->start_close(handle, std::move(handler));
}
OpId Engine::start_release(Socket socket, Handler handler) noexcept {
  return core_->start_release(socket, std::move(handler));
}
bool Engine::cancel(OpId id) noexcept { return core_->cancel(id); }
bool Engine::pause(OpId recv) noexcept { return core_->pause_recv(recv); }
bool Engine::resume(OpId recv) noexcept { return core_->resume_recv(recv); }

const Stats& Engine::stats() const noexcept { return core_->stats(); }
const Features& Engine::features() const noexcept { return core_->features(); }

}  // namespace ringxfer
