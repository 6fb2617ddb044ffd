#include "core/pipe_pool.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace ringxfer::detail {

PipePool::PipePool(std::uint32_t count, std::size_t pipe_size_bytes, bool nonblocking)
    : pipe_size_(pipe_size_bytes), nonblocking_(nonblocking) {
  // Pipes are made when first needed (each costs two fds and, once used,
  // up to pipe_size bytes of kernel memory); the vectors are sized now.
  pipes_.resize(count);
  free_.reserve(count);
}

PipePool::~PipePool() {
  for (Pipe& p : pipes_) {
    if (p.read_fd >= 0) ::close(p.read_fd);
    if (p.write_fd >= 0) ::close(p.write_fd);
  }
}

bool PipePool::make(Pipe& p) noexcept {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | (nonblocking_ ? O_NONBLOCK : 0)) != 0) return false;
  p.read_fd = fds[0];
  p.write_fd = fds[1];
  // The kernel may clamp to /proc/sys/fs/pipe-max-size; the real size is what
  // F_SETPIPE_SZ (or F_GETPIPE_SZ, if it refused) reports.
  int size = ::fcntl(p.write_fd, F_SETPIPE_SZ, int(pipe_size_));
  if (size < 0) size = ::fcntl(p.write_fd, F_GETPIPE_SZ);
  if (size > 0 && std::size_t(size) < pipe_size_) pipe_size_ = std::size_t(size);
  return true;
}

int PipePool::acquire() noexcept {
  if (free_.empty() && made_ < pipes_.size()) {
    // Out of fds or pipe memory: -1 now; the next acquire tries again.
    if (!make(pipes_[made_])) return -1;
    free_.push_back(int(made_++));
  }
  if (free_.empty()) return -1;
  int index = free_.back();
  free_.pop_back();
  ++lent_;
  return index;
}

void PipePool::release(int index, bool dirty) noexcept {
  --lent_;
  Pipe& p = pipes_[std::size_t(index)];
  if (dirty) {
    ::close(p.read_fd);
    ::close(p.write_fd);
    p = {};
    if (!make(p)) return;  // lost one pipe; the pool shrinks rather than lend a dirty one
  }
  free_.push_back(index);
}

}  // namespace ringxfer::detail
