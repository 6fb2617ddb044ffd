// The io_uring backend: Requests become SQEs, CQEs become Completions.
//   - one submit-and-wait per loop turn; a batch of CQEs is copied out and the
//     CQ advanced before core runs any handler (reap first, dispatch second);
//   - a full SQ is handled in get_sqe() and nowhere else; CQ overflow in
//     note_overflow() and nowhere else; every io_uring_enter/register result
//     goes through entered()/refused(): an error retrying cannot mend sets
//     the sticky fault instead of being looped on;
//   - the ring is enabled, and its fd registered, by the first thread that
//     enters the kernel for it (enable_on_this_thread()): SINGLE_ISSUER and
//     the registered ring fd both tie the ring to one thread;
//   - registered sockets go in with IOSQE_FIXED_FILE; the BufferPool is
//     registered as fixed buffers (one iovec per buffer, index == pool index)
//     and its receive part is a provided-buffer ring (group 0; RecvRing, with
//     receive bundles and incremental consumption where the kernel has them).
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "core/buffer_pool.hpp"
#include "core/op.hpp"
#include "ringxfer/error.hpp"
#include "uring/direct_files.hpp"
#include "uring/uring_recv_ring.hpp"
#include "uring/uring_setup.hpp"

namespace ringxfer::detail {

namespace {

constexpr std::uint64_t ignore_token = 0;  // cancel requests: no completion wanted
constexpr std::uint64_t wake_token = 1;    // the eventfd read that post()/wake() complete
constexpr std::uint64_t msg_token = 2;     // a wake-up another engine sent by IORING_OP_MSG_RING
// A refused MSG_RING (the source's CQE; successes are skipped): user_data is
// the target backend's address with these low bits, which no Op tag uses.
constexpr std::uint64_t msg_refused_tag = 63;
constexpr std::uint64_t install_token = 3; // install_fd()'s FIXED_FD_INSTALL, waited for in place
constexpr unsigned buffer_group = 0;  // RecvRing's
constexpr std::uint64_t tag_mask = op_alignment - 1;

// 64-byte aligned: a MSG_RING's user_data is the target's address with
// msg_refused_tag in its low bits.
class alignas(64) UringBackend final : public Backend {
 public:
  UringBackend(const EngineOptions& options, Features& features, Stats& stats)
      : options_(options), features_(features), stats_(stats) {}

  std::error_code init() noexcept;
  ~UringBackend() override;

  const Capabilities& capabilities() const noexcept override { return caps_; }
  std::error_code attach_fd(std::uint32_t slot, int fd, bool is_socket) noexcept override;
  void detach_fd(std::uint32_t slot, int fd) noexcept override;
  int install_fd(std::uint32_t slot) noexcept override;
  std::error_code attach_buffers(BufferPool& pool) noexcept override;
  void recycle_recv_buffer(std::uint32_t id) noexcept override;
  void submit(const Request& request) noexcept override;
  std::size_t wait(std::span<Completion> out, std::chrono::nanoseconds timeout) noexcept override;
  void wake() noexcept override {
    // One doorbell until the loop has seen it: later wakes ride on it.
    if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
    ring_eventfd();
  }
  int event_fd() noexcept override;
  std::chrono::nanoseconds poll_timeout() const noexcept override;
  bool wake_peer(Backend& peer) noexcept override;

 private:
  io_uring_sqe* get_sqe() noexcept;
  void reserve_sqes(unsigned n) noexcept;  // flush until n SQEs are free
  int flush() noexcept;  // submit what is queued, without waiting
  // Before any io_uring_enter: the first caller's thread enables the ring and
  // registers its fd. False once the backend is faulted.
  bool enable_on_this_thread() noexcept;
  // Classify an io_uring_enter result: true if the loop may go on (success,
  // EINTR, ETIME, EAGAIN/EBUSY), else the fault is set.
  bool entered(int result) noexcept;
  // An io_uring_register that had to work failed: set the fault.
  void refused(int result) noexcept;
  void note_overflow() noexcept;
  void park_completions() noexcept;
  void arm_wake() noexcept;
  static void use_fd(io_uring_sqe* sqe, Target t) noexcept {
    if (t.fixed_slot >= 0) {
      sqe->fd = t.fixed_slot;
      sqe->flags |= IOSQE_FIXED_FILE;
    }
  }
  bool translate(const io_uring_cqe& cqe, Completion& out) noexcept;
  void ring_eventfd() noexcept {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }
  // The loop saw a doorbell (eventfd read or MSG_RING): the next wake rings
  // again. Acquire pairs with the waker's exchange, so what it queued before
  // ringing (core's post queue) is visible.
  void doorbell_seen() noexcept { wake_pending_.exchange(false, std::memory_order_acq_rel); }
  // A CQE that names receive buffers: one Completion per buffer piece
  // (RecvRing::split), into out; what does not fit goes to parked_.
  std::size_t translate_received(const io_uring_cqe& cqe, std::span<Completion> out) noexcept;

  EngineOptions options_;
  Features& features_;
  Stats& stats_;
  Capabilities caps_;
  io_uring ring_{};
  bool ring_ready_ = false;
  bool defer_taskrun_ = false;
  bool sqpoll_ = false;
  bool owned_ = false;          // a thread has entered the kernel for this ring
  std::thread::id owner_;       // ... this one
  bool overflow_seen_ = false;  // IORING_SQ_CQ_OVERFLOW was set at the last look
  // Where a request goes once the backend is faulted: nowhere (the ring is
  // dead; destroying it cancels what the kernel holds, core ends the ops).
  io_uring_sqe scratch_sqe_{};
  unsigned zc_flags_ = 0;
  int wake_fd_ = -1;
  std::uint64_t wake_value_ = 0;
  // Embedding: an eventfd registered with the ring (io_uring_register_eventfd),
  // which the kernel signals when it posts CQEs and -- with DEFER_TASKRUN --
  // when task work is queued for our next GETEVENTS. The ring fd itself is no
  // substitute there: polling it reports the queued task work, but nothing
  // wakes a poller when that work is queued (measured on 6.18: a poll()
  // on the ring fd slept its whole timeout with a recv's data in).
  int event_fd_ = -1;
  // DEFER_TASKRUN signals the eventfd only when its task-work list goes from
  // empty to non-empty, and one GETEVENTS runs a bounded batch of it. So
  // after a wait() that did not enter with GETEVENTS, or that reaped CQEs
  // (a batch may have been cut short), queued work may have no signal left
  // to announce it: poll_timeout() says "poll now" until a wait() enters and
  // finds nothing.
  bool getevents_owed_ = false;
  // The wake read completed: re-arm it once the CQ is advanced, never while a
  // batch is being reaped (a full SQ would park CQEs not yet consumed).
  bool wake_fired_ = false;
  // A wake-up (eventfd write or MSG_RING) is on its way and not yet seen.
  std::atomic<bool> wake_pending_{false};
  // The ring is enabled and takes IORING_OP_MSG_RING from other rings (a
  // disabled ring refuses them with EBADFD).
  std::atomic<bool> takes_messages_{false};
  // install_fd(): the FIXED_FD_INSTALL result once its CQE is seen.
  bool install_done_ = false;
  int install_result_ = 0;
  BufferPool* pool_ = nullptr;
  RecvRing recv_ring_;
  unsigned recv_ioprio_ = 0;  // IORING_RECVSEND_BUNDLE when bundles are on
  // Completions taken off the CQ while core was not reaping (a submit that
  // the kernel refused because the CQ was overflowing). Bounded by the CQ size.
  std::vector<Completion> parked_;
};

std::error_code UringBackend::init() noexcept {
  int ret = setup_ring(ring_, options_, features_.setup_mode);
  if (ret < 0) {
    features_.io_uring_usable = false;
    features_.io_uring_error = describe_setup_error(-ret);
    return {-ret, std::system_category()};
  }
  ring_ready_ = true;
  features_.io_uring_usable = true;
  defer_taskrun_ = features_.setup_mode.find("defer_taskrun") != std::string::npos;
  features_.sqpoll = features_.setup_mode.find("sqpoll") != std::string::npos;
  sqpoll_ = features_.sqpoll;
  // The ring fd is registered by the thread that first runs the ring
  // (enable_on_this_thread): a registered ring fd is valid in its own task only.
  parked_.reserve(ring_.cq.ring_entries);

  const FeatureSet& off = options_.disabled;
  caps_ = native_capabilities(ring_, off);
  // A linked pair must reach the kernel in one submit (a link ends at a
  // submit boundary): with a one-entry SQ it cannot, so core goes one
  // request at a time there.
  caps_.linked_ops = caps_.linked_ops && ring_.sq.ring_entries >= 2;
  caps_.poll_first_splice = caps_.linked_ops && caps_.splice && ring_.sq.ring_entries >= 3;
  list_opcodes(ring_, features_);
  // REPORT_USAGE (6.2) tells us when the kernel copied a zero-copy send.
  if (kernel_version().at_least(6, 2)) zc_flags_ = IORING_SEND_ZC_REPORT_USAGE;

  if (caps_.fixed_files) {
    int r = io_uring_register_files_sparse(&ring_, options_.fd_slots);
    ++stats_.syscalls;
    caps_.fixed_files = r == 0;
    if (caps_.fixed_files) setup_accept_direct(ring_, options_.fd_slots, off, caps_, stats_.syscalls);
  }

  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) return {errno, std::system_category()};
  arm_wake();
  return {};
}

UringBackend::~UringBackend() {
  if (ring_ready_) io_uring_queue_exit(&ring_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (event_fd_ >= 0) ::close(event_fd_);  // the ring (gone) held the registration
}

int UringBackend::event_fd() noexcept {
  if (event_fd_ >= 0 || fault_) return event_fd_;
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return -1;
  ++stats_.syscalls;
  // Allowed before the ring is enabled; after that only from its thread
  // (SINGLE_ISSUER answers EEXIST): then there is no event fd.
  if (io_uring_register_eventfd(&ring_, fd) < 0) {
    ::close(fd);
    return -1;
  }
  event_fd_ = fd;
  return event_fd_;
}

std::chrono::nanoseconds UringBackend::poll_timeout() const noexcept {
  using std::chrono::nanoseconds;
  if (fault_) return nanoseconds(-1);
  if (!parked_.empty() || io_uring_cq_ready(&ring_) > 0) return nanoseconds::zero();
  // SQEs got but not yet handed to the kernel (flush publishes them): only a
  // wait() submits them, and nothing signals before it does.
  if (ring_.sq.sqe_tail != ring_.sq.sqe_head) return nanoseconds::zero();
  if (getevents_owed_) return nanoseconds::zero();
  return nanoseconds(-1);
}

// ------------------------------------------------------------- resources --

std::error_code UringBackend::attach_fd(std::uint32_t slot, int fd, bool) noexcept {
  if (!caps_.fixed_files) return std::make_error_code(std::errc::not_supported);
  ++stats_.syscalls;
  int r = io_uring_register_files_update(&ring_, slot, &fd, 1);
  if (r == -EEXIST) refused(r);  // another thread owns the ring: not a per-fd matter
  return r < 0 ? std::error_code(-r, std::system_category()) : std::error_code();
}

void UringBackend::detach_fd(std::uint32_t slot, int) noexcept {
  if (!caps_.fixed_files) return;
  // Core detaches a slot only once no request in flight names it (invariant
  // 8), so nothing queued can still need the entry: no flush first.
  int none = -1;
  ++stats_.syscalls;
  // If the slot cannot be emptied it still names the old file: the ring can
  // no longer be trusted with this slot, so that is a fault, not a shrug.
  int r = io_uring_register_files_update(&ring_, slot, &none, 1);
  if (r < 0) refused(r);
}

int UringBackend::install_fd(std::uint32_t slot) noexcept {
  // Only the thread that runs the ring may enter it (SINGLE_ISSUER, the
  // registered ring fd), and a direct descriptor exists only once it ran:
  // anywhere else there is no fd to give.
  if (!owned_ || fault_ || std::this_thread::get_id() != owner_) return -1;
  io_uring_sqe* sqe = get_sqe();
  prep_fixed_fd_install(sqe, slot);
  io_uring_sqe_set_data64(sqe, install_token);
  ++stats_.sqes;
  install_done_ = false;
  // Submit (with whatever handlers queued before) and wait for this one CQE;
  // the others that come with it are parked for core's next wait(), in order.
  while (!install_done_ && !fault_) {
    ++stats_.syscalls;
    ++stats_.enter_calls;
    if (!entered(io_uring_submit_and_wait(&ring_, 1))) break;
    note_overflow();
    io_uring_cqe* cqe = nullptr;
    while (io_uring_cq_ready(&ring_) > 0 && io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe != nullptr) {
      Completion c;
      // Received bytes go through the receive ring's split (in order), as in wait().
      if ((cqe->flags & IORING_CQE_F_BUFFER) && recv_ring_.ready()) translate_received(*cqe, {});
      else if (translate(*cqe, c)) parked_.push_back(c);  // rare path; may grow past the reserve
      io_uring_cqe_seen(&ring_, cqe);
      ++stats_.cqes;
    }
  }
  return install_done_ && install_result_ >= 0 ? install_result_ : -1;
}

std::error_code UringBackend::attach_buffers(BufferPool& pool) noexcept {
  pool_ = &pool;
  if (caps_.fixed_buffers) {
    std::vector<iovec> iovecs(pool.count());
    for (std::uint32_t i = 0; i < pool.count(); ++i) iovecs[i] = {pool.data(i), pool.buffer_size()};
    ++stats_.syscalls;
    int r = io_uring_register_buffers(&ring_, iovecs.data(), unsigned(iovecs.size()));
    caps_.fixed_buffers = r == 0;
    if (r < 0) {
      features_.buffers_note = std::string("io_uring_register_buffers: ") + std::strerror(-r) +
                               (r == -ENOMEM ? " (RLIMIT_MEMLOCK too low, no CAP_IPC_LOCK): plain buffers" : "");
    }
  } else {
    features_.buffers_note = "fixed_buffers disabled";
  }

  caps_.buf_ring = caps_.buf_ring && recv_ring_.setup(ring_, pool, caps_.buf_ring_inc, stats_.syscalls);
  caps_.buf_ring_inc = caps_.buf_ring && recv_ring_.incremental();
  // Multishot recv and bundles need the kernel to pick buffers.
  if (!caps_.buf_ring) caps_.multishot_recv = caps_.recv_bundle = false;
  recv_ioprio_ = caps_.recv_bundle ? IORING_RECVSEND_BUNDLE : 0;
  return {};
}

void UringBackend::recycle_recv_buffer(std::uint32_t id) noexcept { recv_ring_.add(id); }

// ------------------------------------------------------------ submission --

io_uring_sqe* UringBackend::get_sqe() noexcept {
  reserve_sqes(1);
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {  // a faulted ring takes nothing more: the request goes nowhere
    scratch_sqe_ = {};
    return &scratch_sqe_;
  }
  return sqe;
}

void UringBackend::reserve_sqes(unsigned n) noexcept {
  // The one place that decides what a full SQ means: submit what is there
  // until n entries are free. If the kernel refuses (CQ overflowing), park
  // completions until it takes the batch. With SQPOLL the kernel thread
  // frees entries when it gets to them: sleep until it has (SQ_WAIT), do not
  // spin on the submit. A faulted ring takes nothing more.
  if (io_uring_sq_space_left(&ring_) >= n) return;
  ++stats_.sq_full;
  while (io_uring_sq_space_left(&ring_) < n && !fault_) {
    int r = flush();
    if (r == -EBUSY || r == -EAGAIN) {
      park_completions();
    } else if (sqpoll_ && io_uring_sq_space_left(&ring_) < n && enable_on_this_thread()) {
      ++stats_.syscalls;
      ++stats_.enter_calls;
      entered(io_uring_sqring_wait(&ring_));
    }
  }
}

int UringBackend::flush() noexcept {
  if (io_uring_sq_ready(&ring_) == 0) return 0;
  if (!enable_on_this_thread()) return -EBADFD;
  // With SQPOLL, submit only publishes the tail; it enters the kernel only
  // to wake a sleeping poller.
  if (!sqpoll_ || (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_NEED_WAKEUP)) {
    ++stats_.syscalls;
    ++stats_.enter_calls;
  }
  int r = io_uring_submit(&ring_);
  entered(r);
  return r;
}

bool UringBackend::enable_on_this_thread() noexcept {
  if (owned_) return !fault_;
  owned_ = true;
  owner_ = std::this_thread::get_id();
  if (ring_.flags & IORING_SETUP_R_DISABLED) {
    // liburing 2.3 declares io_uring_enable_rings() but does not export it.
    ++stats_.syscalls;
    if (::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) < 0) {
      refused(-errno);
      return false;
    }
  }
  // The registered ring fd spares io_uring_enter an fget/fput per call. If
  // the kernel lacks it (< 5.18) the plain fd serves.
  ++stats_.syscalls;
  features_.registered_ring_fd = io_uring_register_ring_fd(&ring_) == 1;
  takes_messages_.store(true, std::memory_order_release);
  return true;
}

bool UringBackend::wake_peer(Backend& peer) noexcept {
  if (!caps_.msg_ring || fault_) return false;
  auto* target = dynamic_cast<UringBackend*>(&peer);
  if (target == nullptr || !target->takes_messages_.load(std::memory_order_acquire)) return false;
  // Already rung and not yet seen: this wake rides on that one.
  if (target->wake_pending_.exchange(true, std::memory_order_acq_rel)) return true;
  io_uring_sqe* sqe = get_sqe();
  // IORING_MSG_DATA: a CQE with user_data msg_token appears on the target's
  // ring. Our own CQE only if it was refused (CQE_SKIP_SUCCESS): then the
  // target gets its eventfd instead (translate()).
  io_uring_prep_msg_ring(sqe, target->ring_.ring_fd, 0, msg_token, 0);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(target) | msg_refused_tag);
  ++stats_.sqes;
  return true;
}

bool UringBackend::entered(int r) noexcept {
  // EINTR: a signal, go round again. ETIME: the wait timed out. EAGAIN and
  // EBUSY: the CQ is overflowing or the kernel is short of memory; reaping
  // makes room (get_sqe and park_completions handle it at submit).
  if (r >= 0 || r == -EINTR || r == -ETIME || r == -EAGAIN || r == -EBUSY) return true;
  refused(r);
  return false;
}

void UringBackend::refused(int r) noexcept {
  if (fault_) return;
  // SINGLE_ISSUER answers another task with EEXIST; another thread's
  // registered ring fd index is EINVAL or EBADF in this one. Name the cause.
  bool foreign = owned_ && std::this_thread::get_id() != owner_;
  bool ring_fd_index = features_.registered_ring_fd && (r == -EINVAL || r == -EBADF);
  if (foreign && (r == -EEXIST || ring_fd_index)) fault_ = make_error_code(error::wrong_thread);
  else fault_ = std::error_code(-r, std::system_category());
}

void UringBackend::park_completions() noexcept {
  io_uring_cqe* cqe = nullptr;
  if (!enable_on_this_thread()) return;
  ++stats_.syscalls;
  ++stats_.enter_calls;
  if (!entered(io_uring_get_events(&ring_))) return;
  note_overflow();
  // cq_ready first: peeking an empty CQ lets liburing enter the kernel
  // itself (uncounted, unchecked) when the overflow flag is up.
  while (io_uring_cq_ready(&ring_) > 0 && io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe != nullptr) {
    Completion c;
    if ((cqe->flags & IORING_CQE_F_BUFFER) && recv_ring_.ready()) translate_received(*cqe, {});
    else if (translate(*cqe, c)) parked_.push_back(c);  // rare path; may grow past the reserve
    io_uring_cqe_seen(&ring_, cqe);
  }
}

void UringBackend::arm_wake() noexcept {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
  io_uring_sqe_set_data64(sqe, wake_token);
  ++stats_.sqes;
}

void UringBackend::submit(const Request& r) noexcept {
  // A linked request and its successor (core submits it next) take their
  // SQEs together: were the SQ to fill between them, the first would reach
  // the kernel alone and the link would end at that submit.
  if (r.chain_length > 2) reserve_sqes(r.chain_length);
  else if (r.link || r.hardlink) reserve_sqes(2);
  io_uring_sqe* sqe = get_sqe();
  int fd = r.fd.fd;
  switch (r.opcode) {
    case Opcode::accept:
      if (r.direct) prep_accept_direct(sqe, fd, r.multishot, r.flags);
      else if (r.multishot) io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, r.flags);
      else io_uring_prep_accept(sqe, fd, nullptr, nullptr, r.flags);
      use_fd(sqe, r.fd);
      break;
    case Opcode::connect:
      io_uring_prep_connect(sqe, fd, static_cast<const sockaddr*>(r.addr), r.len);
      use_fd(sqe, r.fd);
      break;
    case Opcode::poll_in:
      io_uring_prep_poll_add(sqe, fd, POLLIN);
      use_fd(sqe, r.fd);
      break;
    case Opcode::recv:
      if (r.use_buf_ring) {
        if (r.multishot) io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, r.flags);
        else io_uring_prep_recv(sqe, fd, nullptr, recv_ioprio_ != 0 ? 0 : r.len, r.flags);  // bundle: no cap
        sqe->ioprio |= recv_ioprio_;
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = buffer_group;
      } else {
        io_uring_prep_recv(sqe, fd, r.addr, r.len, r.flags);
      }
      use_fd(sqe, r.fd);
      break;
    case Opcode::send:
      io_uring_prep_send(sqe, fd, r.addr, r.len, r.flags);
      use_fd(sqe, r.fd);
      break;
    case Opcode::sendmsg:
      io_uring_prep_sendmsg(sqe, fd, static_cast<const msghdr*>(r.addr), unsigned(r.flags));
      use_fd(sqe, r.fd);
      break;
    case Opcode::send_zc:
      if (r.buf_index >= 0) {
        io_uring_prep_send_zc_fixed(sqe, fd, r.addr, r.len, r.flags, zc_flags_, unsigned(r.buf_index));
      } else {
        io_uring_prep_send_zc(sqe, fd, r.addr, r.len, r.flags, zc_flags_);
      }
      use_fd(sqe, r.fd);
      break;
    case Opcode::splice: {
      unsigned flags = unsigned(r.flags);
      int fd_in = r.fd.fd;
      if (r.fd.fixed_slot >= 0) {
        fd_in = r.fd.fixed_slot;
        flags |= SPLICE_F_FD_IN_FIXED;
      }
      io_uring_prep_splice(sqe, fd_in, r.offset, r.fd_out.fd, r.offset_out, r.len, flags);
      use_fd(sqe, r.fd_out);
      break;
    }
    case Opcode::read:
      if (r.buf_index >= 0) io_uring_prep_read_fixed(sqe, fd, r.addr, r.len, std::uint64_t(r.offset), r.buf_index);
      else io_uring_prep_read(sqe, fd, r.addr, r.len, std::uint64_t(r.offset));
      use_fd(sqe, r.fd);
      break;
    case Opcode::write:
      if (r.buf_index >= 0) io_uring_prep_write_fixed(sqe, fd, r.addr, r.len, std::uint64_t(r.offset), r.buf_index);
      else io_uring_prep_write(sqe, fd, r.addr, r.len, std::uint64_t(r.offset));
      use_fd(sqe, r.fd);
      break;
    case Opcode::timeout:
      io_uring_prep_timeout(sqe, reinterpret_cast<__kernel_timespec*>(const_cast<Timespec*>(r.timespec)), 0, 0);
      break;
    case Opcode::link_timeout:
      io_uring_prep_link_timeout(sqe, reinterpret_cast<__kernel_timespec*>(const_cast<Timespec*>(r.timespec)), 0);
      break;
    case Opcode::cancel:
      io_uring_prep_cancel64(sqe, encode_user_data(r.target_op, r.target_tag), 0);
      break;
    case Opcode::cancel_fd:
      // By the raw fd even for a registered slot: cancel matches requests by
      // their struct file, which the slot and the fd share. Under SQPOLL the
      // kernel thread may issue this SQE only after detach_fd() emptied the
      // slot (a register call takes effect at once); a slot-keyed cancel
      // then finds nothing and the requests it should end wait forever. The
      // raw fd stays open until the close SQE queued after this one.
      // A direct descriptor without an installed fd has only its slot;
      // its slot is emptied by a close SQE queued after this one.
      if (fd < 0 && r.fd.fixed_slot >= 0) {
        io_uring_prep_cancel_fd(sqe, r.fd.fixed_slot, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
      } else {
        io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
      }
      break;
    case Opcode::shutdown:
      io_uring_prep_shutdown(sqe, fd, r.flags);
      use_fd(sqe, r.fd);
      break;
    case Opcode::close:
      if (fd < 0 && r.fd.fixed_slot >= 0) io_uring_prep_close_direct(sqe, unsigned(r.fd.fixed_slot));
      else io_uring_prep_close(sqe, fd);
      break;
    case Opcode::sendfile:  // caps.sendfile is false: core never asks
      io_uring_prep_nop(sqe);
      break;
  }
  if (r.link) sqe->flags |= IOSQE_IO_LINK;
  if (r.hardlink) sqe->flags |= IOSQE_IO_HARDLINK;
  // A write into a FIFO whose reader is gone raises SIGPIPE in whichever
  // thread issues it: inline that is the engine's thread, from io-wq it is a
  // kernel worker that ignores it.
  if (r.fifo) sqe->flags |= IOSQE_ASYNC;
  io_uring_sqe_set_data64(sqe, r.op != nullptr ? encode_user_data(r.op, r.tag) : ignore_token);
  ++stats_.sqes;
}

// -------------------------------------------------------------- reaping --

void UringBackend::note_overflow() noexcept {
  // The one place for CQ overflow. With IORING_FEAT_NODROP the kernel keeps
  // the overflowed CQEs and flushes them back as we make room; we count it so
  // the operator can size the CQ.
  // Count events, not loop turns: the flag stays set while the kernel's
  // backlog drains, which can take many turns.
  bool overflowing = (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_CQ_OVERFLOW) != 0;
  if (overflowing && !overflow_seen_) ++stats_.cq_overflows;
  overflow_seen_ = overflowing;
}

bool UringBackend::translate(const io_uring_cqe& cqe, Completion& c) noexcept {
  std::uint64_t ud = cqe.user_data;
  // liburing's own timeout SQE (kernels without EXT_ARG) is not ours either.
  if (ud == ignore_token || ud == LIBURING_UDATA_TIMEOUT) return false;
  if (ud == wake_token) {
    wake_fired_ = true;
    doorbell_seen();
    return false;
  }
  if (ud == msg_token) {
    doorbell_seen();
    return false;
  }
  if ((ud & tag_mask) == msg_refused_tag) {
    // Our MSG_RING to another engine was refused (its CQ overflowing, its
    // ring gone disabled): ring its eventfd, unconditionally -- its pending
    // flag is ours, set when the message was queued.
    reinterpret_cast<UringBackend*>(ud & ~tag_mask)->ring_eventfd();
    return false;
  }
  if (ud == install_token) {
    install_done_ = true;
    install_result_ = cqe.res;
    return false;
  }
  c.op = reinterpret_cast<Op*>(ud & ~tag_mask);
  c.tag = std::uint8_t(ud & tag_mask);
  c.result = cqe.res;
  // An io-wq worker interrupted by a cancel can leak the kernel's internal
  // restart codes (ERESTARTSYS = 512 ... ERESTART_RESTARTBLOCK = 516).
  if (c.result <= -512 && c.result >= -516) c.result = -EINTR;
  c.flags = 0;
  c.buffer_id = 0;
  if (cqe.flags & IORING_CQE_F_MORE) c.flags |= completion_more;
  if (cqe.flags & IORING_CQE_F_NOTIF) {
    c.flags |= completion_notif;
    if (std::uint32_t(cqe.res) & IORING_NOTIF_USAGE_ZC_COPIED) c.flags |= completion_zc_copied;
    c.result = 0;
  }
  if (cqe.flags & IORING_CQE_F_BUFFER) {
    c.flags |= completion_buffer;
    c.buffer_id = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
  }
  return true;
}

std::size_t UringBackend::translate_received(const io_uring_cqe& cqe, std::span<Completion> out) noexcept {
  Completion base;
  if (!translate(cqe, base)) return 0;
  const bool request_more = base.flags & completion_more;
  std::size_t n = 0;
  recv_ring_.split(base.buffer_id, base.result, (cqe.flags & IORING_CQE_F_BUF_MORE) != 0, [&](const RecvPiece& p) {
    Completion c = base;
    c.result = p.result;
    c.buffer_id = p.buffer_id;
    c.buffer_offset = p.offset;
    // Every piece but the last keeps the request alive for core: it is
    // one CQE, and the request ends (if at all) with its last piece.
    if (!p.last) c.flags |= completion_more;
    else if (!request_more) c.flags &= ~std::uint32_t(completion_more);
    if (p.kernel_keeps) c.flags |= completion_buffer_more;
    if (n < out.size()) out[n++] = c;
    else parked_.push_back(c);  // rare: only a bundle larger than a whole batch
  });
  return n;
}

std::size_t UringBackend::wait(std::span<Completion> out, std::chrono::nanoseconds timeout) noexcept {
  std::size_t n = 0;
  while (!parked_.empty() && n < out.size()) {
    out[n++] = parked_.front();
    parked_.erase(parked_.begin());
  }
  // A faulted ring is not entered again, nor read: core stops, and what the
  // kernel still holds is cancelled when the ring is destroyed.
  if (!enable_on_this_thread()) return n;
  if (event_fd_ >= 0) {
    // Clear the event fd before reaping: a signal from here on stays, and
    // the embedding loop polls again for it. Clearing it after the reap
    // could swallow the only signal for task work queued meanwhile.
    std::uint64_t count = 0;
    ++stats_.syscalls;
    [[maybe_unused]] auto r = ::read(event_fd_, &count, sizeof count);
  }
  const std::size_t parked_n = n;
  bool have = n > 0 || io_uring_cq_ready(&ring_) > 0;
  bool got_events = true;  // entered the kernel with GETEVENTS
  if (have || timeout.count() == 0) {
    // Nothing to wait for. With DEFER_TASKRUN completions are only posted
    // when we enter the kernel, so a poll must enter even with an empty SQ.
    got_events = io_uring_sq_ready(&ring_) > 0 || (defer_taskrun_ && !have);
    if (got_events) {
      ++stats_.syscalls;
      ++stats_.enter_calls;
      entered(io_uring_submit_and_get_events(&ring_));
    }
  } else if (timeout.count() < 0) {
    ++stats_.syscalls;
    ++stats_.enter_calls;
    entered(io_uring_submit_and_wait(&ring_, 1));
  } else {
    __kernel_timespec ts;
    ts.tv_sec = timeout.count() / 1'000'000'000;
    ts.tv_nsec = timeout.count() % 1'000'000'000;
    io_uring_cqe* cqe = nullptr;
    ++stats_.syscalls;
    ++stats_.enter_calls;
    entered(io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr));
  }
  if (fault_) return n;
  note_overflow();

  io_uring_cqe* cqes[256];
  std::size_t reaped_cqes = 0;
  while (n < out.size()) {
    if (io_uring_cq_ready(&ring_) == 0) {
      // The CQ is empty but the kernel may hold more in its overflow list.
      // Flush it here, counted: liburing's peek would enter the kernel
      // itself, uncounted and unchecked.
      if (!(IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_CQ_OVERFLOW)) break;
      ++stats_.syscalls;
      ++stats_.enter_calls;
      if (!entered(io_uring_get_events(&ring_))) break;
      note_overflow();
      if (io_uring_cq_ready(&ring_) == 0) break;
    }
    unsigned want = unsigned(std::min<std::size_t>(out.size() - n, std::size(cqes)));
    unsigned got = io_uring_peek_batch_cqe(&ring_, cqes, want);
    if (got == 0) break;
    unsigned used = 0;
    bool full = false;
    for (; used < got; ++used) {
      const io_uring_cqe& cqe = *cqes[used];
      if (n == out.size()) {
        full = true;
        break;
      }
      if ((cqe.flags & IORING_CQE_F_BUFFER) && recv_ring_.ready()) {
        // A bundle may name many buffers: take it whole in a later batch
        // rather than split across two (its pieces must stay together and
        // in order). Only one larger than a whole batch is split, the rest
        // parked, and the batch ends after it (parked_ goes first next time).
        std::uint32_t need = recv_ring_.piece_count(cqe.flags >> IORING_CQE_BUFFER_SHIFT, cqe.res);
        if (need > out.size() - n && n > 0) {
          full = true;
          break;
        }
        n += translate_received(cqe, out.subspan(n));
        if (!parked_.empty()) {
          ++used;
          full = true;
          break;
        }
        continue;
      }
      if (translate(cqe, out[n])) ++n;
    }
    io_uring_cq_advance(&ring_, used);
    stats_.cqes += used;
    reaped_cqes += used;
    if (full) break;
  }
  if (wake_fired_) {
    wake_fired_ = false;
    arm_wake();
  }
  getevents_owed_ = defer_taskrun_ && (!got_events || reaped_cqes > 0 || parked_n > 0);
  return n;
}

}  // namespace

std::unique_ptr<Backend> make_uring_backend(const EngineOptions& options, Features& features, Stats& stats,
                                            std::error_code& error) {
  features.liburing_version = RINGXFER_LIBURING_VERSION;
  auto backend = std::make_unique<UringBackend>(options, features, stats);
  error = backend->init();
  if (error) return nullptr;
  return backend;
}

}  // namespace ringxfer::detail
