#include "uring/uring_setup.hpp"

#include "uring/direct_files.hpp"

#include <sys/mman.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#ifndef RINGXFER_LIBURING_VERSION
#define RINGXFER_LIBURING_VERSION "unknown"
#endif

namespace ringxfer::detail {

KernelVersion kernel_version() noexcept {
  KernelVersion v;
  utsname u{};
  if (::uname(&u) == 0) std::sscanf(u.release, "%d.%d", &v.major, &v.minor);
  return v;
}

namespace {

struct Attempt {
  const char* mode;
  unsigned flags;
};

int try_setup(io_uring& ring, const EngineOptions& options, unsigned flags) noexcept {
  io_uring_params p{};
  p.flags = flags | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
  p.cq_entries = options.ring_entries * options.cq_factor;
  if (flags & IORING_SETUP_SQPOLL) p.sq_thread_idle = 100;  // ms before the poller sleeps
  return io_uring_queue_init_params(options.ring_entries, &ring, &p);
}

}  // namespace

int setup_ring(io_uring& ring, const EngineOptions& options, std::string& mode) noexcept {
  if (options.simulate_uring_setup_errno != 0) return -options.simulate_uring_setup_errno;
  bool defer = !options.disabled.has(Feature::defer_taskrun);
  Attempt attempts[4];
  int n = 0;
  // SINGLE_ISSUER binds the ring to the task that creates it -- unless it
  // starts disabled: then to the task that enables it (IORING_REGISTER_
  // ENABLE_RINGS). The backend enables it on its first io_uring_enter, so an
  // Engine built on one thread can run on another. Registering files and
  // buffers before that is allowed from any thread.
  constexpr unsigned late_issuer = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_R_DISABLED;
  if (options.sqpoll) {
    attempts[n++] = {"sqpoll|single_issuer", IORING_SETUP_SQPOLL | late_issuer};
    attempts[n++] = {"sqpoll", IORING_SETUP_SQPOLL};
  } else if (defer) {
    attempts[n++] = {"single_issuer|defer_taskrun", late_issuer | IORING_SETUP_DEFER_TASKRUN};
  }
  attempts[n++] = {"coop_taskrun", IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG};
  attempts[n++] = {"plain", 0};
  int ret = -EINVAL;
  for (int i = 0; i < n; ++i) {
    ret = try_setup(ring, options, attempts[i].flags);
    if (ret == 0) {
      mode = attempts[i].mode;
      return 0;
    }
    // EINVAL: this kernel does not know a flag; try the next. Anything else
    // (EPERM, ENOSYS, ENOMEM) says io_uring itself is out of reach.
    if (ret != -EINVAL) return ret;
  }
  return ret;
}

Capabilities native_capabilities(io_uring& ring, const FeatureSet& off) noexcept {
  Capabilities caps;
  KernelVersion k = kernel_version();
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  auto has_op = [&](int op) { return probe != nullptr && io_uring_opcode_supported(probe, op); };
  caps.send_zc = has_op(IORING_OP_SEND_ZC) && !off.has(Feature::send_zc);
  caps.splice = has_op(IORING_OP_SPLICE) && !off.has(Feature::splice);
  caps.multishot_accept = k.at_least(5, 19) && !off.has(Feature::multishot_accept);
  caps.multishot_recv = k.at_least(6, 0) && !off.has(Feature::multishot_recv);
  caps.buf_ring = k.at_least(5, 19) && !off.has(Feature::buf_ring);
  // Bundles have a feature bit; incremental rings do not: the registration
  // with IOU_PBUF_RING_INC settles it (RecvRing::setup).
  caps.recv_bundle = caps.buf_ring && (ring.features & IORING_FEAT_RECVSEND_BUNDLE) && !off.has(Feature::recv_bundle);
  caps.buf_ring_inc = caps.buf_ring && k.at_least(6, 12) && !off.has(Feature::buf_ring_inc);
  caps.fixed_files = !off.has(Feature::fixed_files);
  caps.fixed_buffers = !off.has(Feature::fixed_buffers);
  // MSG_RING (5.18) into a SINGLE_ISSUER/DEFER_TASKRUN ring is posted by
  // the target's own task since 6.3 (io_uring/msg_ring remote posting);
  // older kernels get the eventfd doorbell.
  caps.msg_ring = has_op(IORING_OP_MSG_RING) && k.at_least(6, 3) && !off.has(Feature::msg_ring);
  caps.linked_ops = true;
  caps.sendfile = false;
  caps.nonblocking_fds = false;
  if (probe != nullptr) io_uring_free_probe(probe);
  return caps;
}

std::string describe_setup_error(int error) {
  std::string s = std::string("io_uring_setup: ") + std::strerror(error);
  std::ifstream sysctl("/proc/sys/kernel/io_uring_disabled");
  int disabled = 0;
  if (sysctl >> disabled && disabled != 0) s += " (kernel.io_uring_disabled=" + std::to_string(disabled) + ")";
  else if (error == EPERM) s += " (seccomp or container policy?)";
  else if (error == ENOSYS) s += " (kernel built without io_uring, or syscall filtered)";
  return s;
}

void list_opcodes(io_uring& ring, Features& f) {
  f.opcodes.clear();
  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring)) {
    struct Op {
      const char* name;
      int opcode;
    } used[] = {
        {"ACCEPT", IORING_OP_ACCEPT},       {"CONNECT", IORING_OP_CONNECT},
        {"RECV", IORING_OP_RECV},           {"SEND", IORING_OP_SEND},
        {"SENDMSG", IORING_OP_SENDMSG},
        {"SEND_ZC", IORING_OP_SEND_ZC},     {"SPLICE", IORING_OP_SPLICE},
        {"READ", IORING_OP_READ},           {"WRITE", IORING_OP_WRITE},
        {"READ_FIXED", IORING_OP_READ_FIXED}, {"WRITE_FIXED", IORING_OP_WRITE_FIXED},
        {"TIMEOUT", IORING_OP_TIMEOUT},     {"ASYNC_CANCEL", IORING_OP_ASYNC_CANCEL},
        {"SHUTDOWN", IORING_OP_SHUTDOWN},   {"CLOSE", IORING_OP_CLOSE},
        {"MSG_RING", IORING_OP_MSG_RING},
        {"FIXED_FD_INSTALL", op_fixed_fd_install},
    };
    for (const Op& op : used) f.opcodes.push_back({op.name, io_uring_opcode_supported(probe, op.opcode) != 0});
    io_uring_free_probe(probe);
  }
}

void probe_uring(const EngineOptions& options, Features& f) {
  f.liburing_version = RINGXFER_LIBURING_VERSION;
  io_uring ring;
  std::string mode;
  int ret = setup_ring(ring, options, mode);
  if (ret < 0) {
    f.io_uring_usable = false;
    f.io_uring_error = describe_setup_error(-ret);
    return;
  }
  f.io_uring_usable = true;
  f.setup_mode = mode;

  // Each setup flag on its own, on a tiny ring: the kernel says yes or EINVAL.
  struct Flag {
    const char* name;
    unsigned flags;
  } flags[] = {
      {"SUBMIT_ALL", IORING_SETUP_SUBMIT_ALL},
      {"COOP_TASKRUN", IORING_SETUP_COOP_TASKRUN},
      {"SINGLE_ISSUER", IORING_SETUP_SINGLE_ISSUER},
      {"DEFER_TASKRUN", IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN},
      {"CQSIZE", IORING_SETUP_CQSIZE},
      {"SQPOLL", IORING_SETUP_SQPOLL},
  };
  for (const Flag& flag : flags) {
    io_uring small;
    io_uring_params p{};
    p.flags = flag.flags;
    p.cq_entries = 8;
    bool ok = io_uring_queue_init_params(4, &small, &p) == 0;
    if (ok) io_uring_queue_exit(&small);
    f.setup_flags.push_back({flag.name, ok});
  }

  list_opcodes(ring, f);
  f.registered_ring_fd = io_uring_register_ring_fd(&ring) == 1;

  Capabilities caps = native_capabilities(ring, options.disabled);
  if (caps.fixed_files) caps.fixed_files = io_uring_register_files_sparse(&ring, 16) == 0;
  std::uint64_t syscalls = 0;
  setup_accept_direct(ring, 16, options.disabled, caps, syscalls);
  if (caps.accept_direct) f.active.add(Feature::accept_direct);
  if (caps.send_zc) f.active.add(Feature::send_zc);
  if (caps.multishot_accept) f.active.add(Feature::multishot_accept);
  if (caps.multishot_recv && caps.buf_ring) f.active.add(Feature::multishot_recv);
  if (caps.buf_ring) f.active.add(Feature::buf_ring);
  if (caps.recv_bundle) f.active.add(Feature::recv_bundle);
  if (caps.buf_ring_inc && probe_buf_ring_inc(ring)) f.active.add(Feature::buf_ring_inc);
  if (caps.fixed_files) f.active.add(Feature::fixed_files);
  if (caps.splice) f.active.add(Feature::splice);
  if (caps.msg_ring) f.active.add(Feature::msg_ring);
  if (mode.find("defer_taskrun") != std::string::npos) f.active.add(Feature::defer_taskrun);

  // Would the buffer pool register? Root has CAP_IPC_LOCK; others are held to
  // RLIMIT_MEMLOCK, and then the engine falls back to plain buffers.
  std::size_t bytes = std::size_t(options.buffer_count) * options.buffer_size_bytes;
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem != MAP_FAILED && !options.disabled.has(Feature::fixed_buffers)) {
    iovec iov{mem, bytes};
    int r = io_uring_register_buffers(&ring, &iov, 1);
    f.buffers_registered = r == 0;
    if (r == 0 && caps.fixed_buffers) f.active.add(Feature::fixed_buffers);
    if (r < 0) f.buffers_note = std::string("io_uring_register_buffers: ") + std::strerror(-r);
  } else if (options.disabled.has(Feature::fixed_buffers)) {
    f.buffers_note = "fixed_buffers disabled";
  }
  if (mem != MAP_FAILED) ::munmap(mem, bytes);
  io_uring_queue_exit(&ring);
}

}  // namespace ringxfer::detail
