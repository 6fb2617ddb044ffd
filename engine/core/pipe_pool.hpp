#pragma once
// PipePool: pipes for splice, made when first needed (up to the pool's count)
// and sized with F_SETPIPE_SZ. A pipe is lent to one splice operation at a time; one that an
// operation left holding bytes (it ended in an error) is replaced, never lent
// out dirty.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ringxfer::detail {

struct Pipe {
  int read_fd = -1;
  int write_fd = -1;
};

class PipePool {
 public:
  PipePool(std::uint32_t count, std::size_t pipe_size_bytes, bool nonblocking);
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // Index of a free pipe, or -1.
  int acquire() noexcept;
  // `dirty`: the pipe may still hold bytes; it is closed and replaced.
  void release(int index, bool dirty) noexcept;
  const Pipe& at(int index) const noexcept { return pipes_[std::size_t(index)]; }
  std::size_t pipe_size() const noexcept { return pipe_size_; }
  // Pipes lent out now: a splice that found none free waits only if some will come back.
  std::size_t lent() const noexcept { return lent_; }

 private:
  bool make(Pipe& p) noexcept;
  std::vector<Pipe> pipes_;
  std::vector<int> free_;
  std::size_t made_ = 0;  // pipes_[0, made_) have been made
  std::size_t lent_ = 0;
  std::size_t pipe_size_;
  bool nonblocking_;
};

}  // namespace ringxfer::detail
