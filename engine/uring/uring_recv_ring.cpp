#include "uring/uring_recv_ring.hpp"

#include <sys/mman.h>

#include <cerrno>

#include "core/buffer_pool.hpp"
#include "uring/uring_setup.hpp"

namespace ringxfer::detail {

namespace {
constexpr unsigned buffer_group = 0;
constexpr std::uint32_t max_ring_entries = 32768;  // the kernel's limit is < 65536; ids are 16 bits
}  // namespace

RecvRing::~RecvRing() {
  // The ring's registration goes with the io_uring (destroyed first).
  if (br_ != nullptr) ::munmap(br_, br_bytes_);
}

bool RecvRing::setup(io_uring& ring, BufferPool& pool, bool want_inc, std::uint64_t& syscalls) noexcept {
  std::uint32_t count = pool.recv_count();
  if (count == 0 || count > max_ring_entries || pool.buffer_size() > 0xffffffffu) return false;
  unsigned entries = 1;
  while (entries < count) entries <<= 1;
  br_bytes_ = entries * sizeof(io_uring_buf);
  void* mem = ::mmap(nullptr, br_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return false;

  auto try_register = [&](unsigned flags) {
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(mem);
    reg.ring_entries = entries;
    reg.bgid = buffer_group;
    set_buf_reg_flags(reg, flags);
    ++syscalls;
    return io_uring_register_buf_ring(&ring, &reg, 0);
  };
  int r = -EINVAL;
  if (want_inc) {
    r = try_register(ringxfer_pbuf_ring_inc);
    inc_ = r == 0;
  }
  if (r != 0) r = try_register(0);  // EINVAL: a kernel before 6.12 does not know the flag
  if (r != 0) {
    ::munmap(mem, br_bytes_);
    br_bytes_ = 0;
    inc_ = false;
    return false;
  }
  br_ = static_cast<io_uring_buf_ring*>(mem);
  mask_ = io_uring_buf_ring_mask(entries);
  pool_ = &pool;
  buffer_bytes_ = std::uint32_t(pool.buffer_size());
  next_.assign(count, 0);
  offset_.assign(count, 0);
  io_uring_buf_ring_init(br_);
  for (std::uint32_t id = 0; id < count; ++id) add(id);
  return true;
}

void RecvRing::add(std::uint32_t id) noexcept {
  // No syscall: the ring is shared memory; the tail store publishes it.
  offset_[id] = 0;
  if (added_any_) next_[last_added_] = std::uint16_t(id);
  last_added_ = id;
  added_any_ = true;
  io_uring_buf_ring_add(br_, pool_->data(id), buffer_bytes_, std::uint16_t(id), int(mask_), 0);
  io_uring_buf_ring_advance(br_, 1);
}

std::uint32_t RecvRing::piece_count(std::uint32_t id, std::int32_t result) const noexcept {
  if (result <= 0) return 1;
  std::uint32_t start = inc_ ? offset_[id] : 0;
  std::uint32_t room = buffer_bytes_ - start;
  std::uint32_t bytes = std::uint32_t(result);
  if (bytes <= room) return 1;
  return 1 + (bytes - room + buffer_bytes_ - 1) / buffer_bytes_;
}

}  // namespace ringxfer::detail

namespace ringxfer::detail {

bool probe_buf_ring_inc(io_uring& ring) noexcept {
  constexpr unsigned probe_group = 1;
  constexpr unsigned entries = 1;
  void* mem = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return false;
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(mem);
  reg.ring_entries = entries;
  reg.bgid = probe_group;
  set_buf_reg_flags(reg, ringxfer_pbuf_ring_inc);
  bool ok = io_uring_register_buf_ring(&ring, &reg, 0) == 0;
  if (ok) io_uring_unregister_buf_ring(&ring, probe_group);
  ::munmap(mem, 4096);
  return ok;
}

}  // namespace ringxfer::detail
