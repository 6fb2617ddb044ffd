// One attempt at a request, per opcode. Each attempt runs the syscall (retried
// on EINTR), emits the completion(s) and says whether the request finished,
// must wait for the next edge, or paused because the completion ring is
// filling up. Attempts never block: sockets and pool pipes are non-blocking.
#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/buffer_pool.hpp"
#include "epoll/epoll_backend.hpp"

namespace ringxfer::detail {

EpollBackend::Progress EpollBackend::attempt(RequestNode& node, FdState* state) noexcept {
  switch (node.request.opcode) {
    case Opcode::accept: return attempt_accept(node, state);
    case Opcode::connect: return attempt_connect(node, state);
    case Opcode::recv: return attempt_recv(node, state);
    case Opcode::poll_in: return attempt_poll_in(node, state);
    case Opcode::send:
    case Opcode::sendmsg: return attempt_send(node, state);
    case Opcode::send_zc: return attempt_send_zc(node, state);
    case Opcode::splice: return attempt_splice(node);
    case Opcode::sendfile: return attempt_sendfile(node);
    case Opcode::read: return attempt_read(node);
    case Opcode::write: return attempt_write(node);
    default:
      emit(node.request, -EINVAL);  // not an fd operation: submit() handles those itself
      return Progress::done;
  }
}

// Readiness hints (FdState::read_drained/write_full) rely on stream semantics:
// a short read empties the receive queue. For datagrams it means one datagram.
bool EpollBackend::is_stream(FdState& s) noexcept {
  if (!s.is_socket) return false;
  if (s.socket_type == 0) {  // asked once per socket, and only when a hint is at stake
    int type = 0;
    socklen_t len = sizeof type;
    const long rc = call([&] { return ::getsockopt(s.fd, SOL_SOCKET, SO_TYPE, &type, &len); });
    s.socket_type = rc == 0 ? type : -1;
  }
  return s.socket_type == SOCK_STREAM;
}

EpollBackend::Progress EpollBackend::attempt_accept(RequestNode& node, FdState* s) noexcept {
  const Request& r = node.request;
  for (;;) {
    if (r.multishot && s != nullptr && !room_for_burst()) return Progress::throttled;
    const long fd =
        call([&] { return ::accept4(r.fd.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC); });
    if (fd >= 0) {
      emit(r, static_cast<std::int32_t>(fd), flag_if(r.multishot, completion_more));
      if (!r.multishot) return Progress::done;
      continue;  // edge-triggered: accept until EAGAIN
    }
    switch (-fd) {
      case EAGAIN:
        if (s != nullptr) s->read_drained = true;
        return Progress::blocked;
      // The connection died in the backlog, or (accept(2), "Error handling")
      // a network error already pending on the new socket: that connection
      // is lost, the listener is fine. Take the next one.
      case ECONNABORTED:
      case EPROTO:
      case ENETDOWN:
      case ENOPROTOOPT:
      case EHOSTDOWN:
      case ENONET:
      case EHOSTUNREACH:
      case EOPNOTSUPP:
      case ENETUNREACH:
      case EPERM:  // a firewall rule refused this connection
        continue;
      default:  // EMFILE, ENFILE, ENOBUFS, ENOMEM, EBADF...: ends a multishot accept
        emit(r, static_cast<std::int32_t>(fd));
        return Progress::done;
    }
  }
}

// A non-blocking connect is finished by calling connect() again rather than by
// reading SO_ERROR: SO_ERROR is 0 both on success and while the handshake is
// still running, so a spurious wake-up would report a connection that is not
// there. A second connect() answers exactly: EALREADY (still running), 0 or
// EISCONN (connected), or the error that ended the attempt.
EpollBackend::Progress EpollBackend::attempt_connect(RequestNode& node, FdState*) noexcept {
  const Request& r = node.request;
  const auto* addr = static_cast<const sockaddr*>(r.addr);
  ++stats_.syscalls;
  const int rc = ::connect(r.fd.fd, addr, r.len);
  const int e = rc == 0 ? 0 : errno;
  if (!node.connect_started) {
    if (e == 0) {
      emit(r, 0);
      return Progress::done;
    }
    // EINTR: the handshake goes on in the background (connect(2)).
    if (e == EINPROGRESS || e == EINTR) {
      node.connect_started = true;
      return Progress::blocked;
    }
    // EAGAIN (a full AF_UNIX backlog) raises no edge when space appears:
    // report it rather than wait forever.
    emit(r, -e);
    return Progress::done;
  }
  if (e == 0 || e == EISCONN) {
    emit(r, 0);
    return Progress::done;
  }
  if (e == EALREADY || e == EINPROGRESS || e == EINTR) return Progress::blocked;
  emit(r, -e);
  return Progress::done;
}

EpollBackend::Progress EpollBackend::attempt_poll_in(RequestNode& node, FdState* s) noexcept {
  if (s != nullptr && !s->is_socket) {
    // Not a socket (a signalfd, a pipe): no peek; ask poll(2) without waiting.
    pollfd p{node.request.fd.fd, POLLIN, 0};
    const long ready = call([&] { return ::poll(&p, 1, 0); });
    if (ready == 0) {
      s->read_drained = true;
      return Progress::blocked;
    }
    emit(node.request, ready < 0 ? static_cast<std::int32_t>(ready) : 1);
    return Progress::done;
  }
  // Readable, at eof or failed: a one-byte peek tells without consuming.
  char byte;
  const long got = call([&] { return ::recv(node.request.fd.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT); });
  if (got == -EAGAIN) {
    if (s != nullptr) s->read_drained = true;
    return Progress::blocked;
  }
  emit(node.request, 1);  // the recv that follows reports data, eof or the error
  return Progress::done;
}

EpollBackend::Progress EpollBackend::attempt_recv(RequestNode& node, FdState* s) noexcept {
  const Request& r = node.request;
  const bool buf_ring = r.use_buf_ring;
  const bool multishot = r.multishot && buf_ring;  // multishot needs buffers we pick
  const int flags = r.flags | MSG_DONTWAIT;
  for (;;) {
    void* data = r.addr;
    std::size_t len = r.len;
    std::uint32_t id = 0;
    if (buf_ring) {
      if (multishot && s != nullptr) {
        if (!room_for_burst()) return Progress::throttled;
        if (s->recv_turn != turn_) {
          s->recv_turn = turn_;
          s->recv_in_turn = 0;
        }
        if (s->recv_in_turn >= recv_budget_) return Progress::throttled;  // next turn
      }
      if (pool_ == nullptr || free_recv_ids_.empty()) {
        // Like io_uring with an empty provided-buffer ring: -ENOBUFS ends the
        // request (no more flag); core re-arms once buffers come back.
        emit(r, -ENOBUFS);
        return Progress::done;
      }
      id = free_recv_ids_.back();
      free_recv_ids_.pop_back();
      data = pool_->data(id);
      len = pool_->buffer_size();
    }
    const long got = call([&] { return ::recv(r.fd.fd, data, len, flags); });
    if (got <= 0) {
      if (buf_ring) free_recv_ids_.push_back(id);  // unused: back to the free list
      if (got == -EAGAIN) {
        if (s != nullptr) s->read_drained = true;
        return Progress::blocked;
      }
      // 0 is end of stream: no buffer flag, the buffer went back above.
      emit(r, static_cast<std::int32_t>(got));
      return Progress::done;
    }
    if (buf_ring) {
      emit(r, static_cast<std::int32_t>(got), completion_buffer | flag_if(multishot, completion_more), id);
      if (multishot && s != nullptr) ++s->recv_in_turn;
    } else {
      emit(r, static_cast<std::int32_t>(got));  // core's own buffer: core remembers which
    }
    // A short read on a stream socket emptied the receive queue: anything
    // arriving later raises a new edge, so skip the recv that would only say
    // EAGAIN. Not after RDHUP: the FIN may already be queued behind the data.
    const bool drained = s != nullptr && static_cast<std::size_t>(got) < len &&
                         !s->peer_closed && is_stream(*s);
    if (drained) s->read_drained = true;
    if (!multishot) return Progress::done;
    if (drained) return Progress::blocked;
  }
}

EpollBackend::Progress EpollBackend::attempt_send(RequestNode& node, FdState* s) noexcept {
  const Request& r = node.request;
  const int flags = r.flags | MSG_NOSIGNAL | MSG_DONTWAIT;
  const long sent = call([&] {
    return r.opcode == Opcode::sendmsg ? ::sendmsg(r.fd.fd, static_cast<const msghdr*>(r.addr), flags)
                                       : ::send(r.fd.fd, r.addr, r.len, flags);
  });
  if (sent == -EAGAIN) {
    if (s != nullptr) s->write_full = true;
    return Progress::blocked;
  }
  emit(r, static_cast<std::int32_t>(sent));  // a short send as is: core continues it
  // A short stream send ran out of send buffer (the kernel set SOCK_NOSPACE
  // and will raise EPOLLOUT when space frees): core's continuation can wait
  // for that edge instead of spending a send on EAGAIN.
  if (sent >= 0 && static_cast<std::size_t>(sent) < r.len && s != nullptr && is_stream(*s)) {
    s->write_full = true;
  }
  return Progress::done;
}

// Neither splice nor sendfile sets readiness hints: a short result or EAGAIN
// may come from the pipe or the file rather than the socket.
EpollBackend::Progress EpollBackend::attempt_splice(RequestNode& node) noexcept {
  const Request& r = node.request;
  loff_t off_in = r.offset;
  loff_t off_out = r.offset_out;
  const bool shielded = needs_shield(r);
  if (shielded) shield_.before();
  const long moved = call([&] {
    return ::splice(r.fd.fd, r.offset >= 0 ? &off_in : nullptr, r.fd_out.fd,
                    r.offset_out >= 0 ? &off_out : nullptr, r.len,
                    static_cast<unsigned>(r.flags) | SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
  });
  if (shielded) shield_.after(moved);
  if (moved == -EAGAIN) return Progress::blocked;
  emit(r, static_cast<std::int32_t>(moved));
  return Progress::done;
}

EpollBackend::Progress EpollBackend::attempt_sendfile(RequestNode& node) noexcept {
  const Request& r = node.request;
  off_t offset = r.offset;
  shield_.before();  // sendfile writes through splice: same SIGPIPE
  const long moved = call([&] {
    return ::sendfile(r.fd_out.fd, r.fd.fd, r.offset >= 0 ? &offset : nullptr, r.len);
  });
  shield_.after(moved);
  if (moved == -EAGAIN) return Progress::blocked;
  emit(r, static_cast<std::int32_t>(moved));
  return Progress::done;
}

// Regular files never return EAGAIN (the call runs synchronously, as any
// epoll server's file I/O does); sockets and pipes may, and then wait.
EpollBackend::Progress EpollBackend::attempt_read(RequestNode& node) noexcept {
  const Request& r = node.request;
  const long got = call([&] {
    return r.offset >= 0 ? ::pread(r.fd.fd, r.addr, r.len, r.offset) : ::read(r.fd.fd, r.addr, r.len);
  });
  if (got == -EAGAIN) return Progress::blocked;
  emit(r, static_cast<std::int32_t>(got));
  return Progress::done;
}

EpollBackend::Progress EpollBackend::attempt_write(RequestNode& node) noexcept {
  const Request& r = node.request;
  const bool shielded = needs_shield(r);  // a pipe or FIFO; never a regular file
  if (shielded) shield_.before();
  const long put = call([&] {
    return r.offset >= 0 ? ::pwrite(r.fd.fd, r.addr, r.len, r.offset) : ::write(r.fd.fd, r.addr, r.len);
  });
  if (shielded) shield_.after(put);
  if (put == -EAGAIN) return Progress::blocked;
  emit(r, static_cast<std::int32_t>(put));
  return Progress::done;
}

}  // namespace ringxfer::detail
