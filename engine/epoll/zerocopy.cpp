// MSG_ZEROCOPY for the epoll backend (docs: networking/msg_zerocopy).
//
// A zero-copy send gives two completions, like IORING_OP_SEND_ZC: the result
// (flag more) when send() returns, and the notification (flag notif, plus
// zc_copied if the kernel copied after all) once the kernel has released the
// pages. Notifications arrive on the socket's error queue, where EPOLLERR
// reports them, as ranges [lo, hi] of a per-socket 32-bit counter that grows
// by one for each send() that sent at least one byte with MSG_ZEROCOPY (a send
// that fails or returns EAGAIN gives its number back). So each socket keeps
// its zero-copy sends, in send order, with the number each one received.
//
// Assumption: the counter starts at 0 (a new or accepted socket) and only this
// backend sends MSG_ZEROCOPY on sockets it is given.
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "epoll/epoll_backend.hpp"

namespace ringxfer::detail {

// SO_ZEROCOPY is refused by sockets that cannot do it (AF_UNIX, for one, so a
// socketpair is no probe) and by kernels before 4.14.
bool EpollBackend::probe_zerocopy() noexcept {
  for (const int family : {AF_INET, AF_INET6}) {
    const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    const int one = 1;
    const bool ok = ::setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one) == 0;
    ::close(fd);
    return ok;
  }
  return false;
}

// Enabled on a socket's first send_zc rather than at attach: most sockets
// never send zero-copy, and the setsockopt would be one more syscall per
// connection.
bool EpollBackend::enable_zerocopy(FdState& s) noexcept {
  if (s.zc_setup == ZerocopySetup::unknown) {
    const int one = 1;
    const long rc =
        call([&] { return ::setsockopt(s.fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one); });
    s.zc_setup = rc == 0 ? ZerocopySetup::enabled : ZerocopySetup::unsupported;
  }
  return s.zc_setup == ZerocopySetup::enabled;
}

EpollBackend::Progress EpollBackend::attempt_send_zc(RequestNode& node, FdState* s) noexcept {
  const Request& r = node.request;
  // Without SO_ZEROCOPY the kernel ignores MSG_ZEROCOPY and never notifies.
  // Without an epoll registration we would never hear of the notification.
  if (!caps_.send_zc || s == nullptr || !s->is_socket || r.len == 0 || !enable_zerocopy(*s)) {
    return send_zc_by_copy(node, s);
  }
  const long sent = call([&] {
    return ::send(r.fd.fd, r.addr, r.len, r.flags | MSG_ZEROCOPY | MSG_NOSIGNAL | MSG_DONTWAIT);
  });
  if (sent == -EAGAIN) {
    s->write_full = true;  // as for send: SOCK_NOSPACE is set, EPOLLOUT will come
    return Progress::blocked;
  }
  if (sent == -ENOBUFS && !s->zc_wait.empty()) {
    // Over the socket's optmem or RLIMIT_MEMLOCK for pinned pages. The
    // notifications still due will free both: wait for them. With none due,
    // waiting would never end: the error goes to core, which copies instead
    // (the one place that fallback lives, counted in Stats::fallbacks).
    s->zc_nobufs = true;
    return Progress::blocked;
  }
  if (sent < 0) {
    emit(r, static_cast<std::int32_t>(sent));  // no more flag: no notification follows
    return Progress::done;
  }
  if (sent == 0) {  // nothing sent, no number consumed, nothing to wait for
    emit(r, 0, completion_more);
    emit(r, 0, completion_notif);
    return Progress::done;
  }
  // Not short-send hinted (unlike send): a short zero-copy send may stop on a
  // page-pinning limit, which raises no EPOLLOUT later.
  node.zc_seq = s->zc_next_seq++;
  node.zc_awaiting = true;  // retire() moves it to s->zc_wait
  node.owner = s;
  emit(r, static_cast<std::int32_t>(sent), completion_more);
  return Progress::done;
}

// The same two completions, by a plain send: the notification follows at once
// and says "copied", which is the truth.
EpollBackend::Progress EpollBackend::send_zc_by_copy(RequestNode& node, FdState* s) noexcept {
  const Request& r = node.request;
  const long sent = call([&] {
    return ::send(r.fd.fd, r.addr, r.len, r.flags | MSG_NOSIGNAL | MSG_DONTWAIT);
  });
  if (sent == -EAGAIN) {
    if (s != nullptr) s->write_full = true;
    return Progress::blocked;
  }
  if (sent < 0) {
    emit(r, static_cast<std::int32_t>(sent));
    return Progress::done;
  }
  emit(r, static_cast<std::int32_t>(sent), completion_more);
  emit(r, 0, completion_notif | flag_if(sent > 0, completion_zc_copied));
  return Progress::done;
}

// Reads notifications until the error queue is empty or nothing is owed.
bool EpollBackend::read_error_queue(FdState& s) noexcept {
  bool notified = false;
  while (!s.zc_wait.empty()) {
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(sock_extended_err) + sizeof(sockaddr_in6))];
    msghdr msg{};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (call([&] { return ::recvmsg(s.fd, &msg, MSG_ERRQUEUE); }) < 0) break;  // EAGAIN: empty
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      const bool recverr = (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                           (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR);
      if (!recverr || c->cmsg_len < CMSG_LEN(sizeof(sock_extended_err))) continue;
      sock_extended_err ee;
      std::memcpy(&ee, CMSG_DATA(c), sizeof ee);
      if (ee.ee_errno != 0 || ee.ee_origin != SO_EE_ORIGIN_ZEROCOPY) continue;
      notified = true;
      acknowledge(s, ee.ee_info, ee.ee_data, (ee.ee_code & SO_EE_CODE_ZEROCOPY_COPIED) != 0);
    }
  }
  return notified;
}

void EpollBackend::acknowledge(FdState& s, std::uint32_t lo, std::uint32_t hi, bool copied) noexcept {
  const std::uint32_t span = hi - lo;  // modular: ranges may wrap
  RequestNode* node = s.zc_wait.front();
  while (node != nullptr) {
    RequestNode* next = RequestList::next(node);
    if (node->zc_seq - lo <= span) {
      s.zc_wait.erase(node);
      emit(node->request, 0, completion_notif | flag_if(copied, completion_zc_copied));
      release(node);
    } else if (static_cast<std::int32_t>(node->zc_seq - hi) > 0) {
      break;  // the list is in send order: the rest come later still
    }
    node = next;
  }
}

// Detach with notifications outstanding. After close() the kernel keeps
// sending what is queued, from the user's pages, but notifications for a
// closed socket are lost. Reporting them now would let the user rewrite a
// buffer the NIC may still read: silent corruption on the wire. Aborting with
// SO_LINGER 0 would lose data the user was told was sent. So keep the socket
// alive through a dup (a "zombie" registered in epoll for EPOLLERR only),
// deliver each notification when it really comes, and close the dup after
// the last one. The user's close() does not send FIN while the dup lives, so
// on_user_close() shuts the write side down in its place.
void EpollBackend::flush_zerocopy(FdState& s) noexcept {
  read_error_queue(s);  // on loopback they are usually all here already
  if (s.zc_wait.empty() || become_zombie(s)) return;
  // No zombie possible (no free state, EMFILE for the dup): the degraded,
  // documented fallback is to report the notifications now.
  while (RequestNode* node = s.zc_wait.front()) {
    s.zc_wait.erase(node);
    emit(node->request, 0, completion_notif);
    release(node);
  }
}

bool EpollBackend::become_zombie(FdState& s) noexcept {
  FdState* z = alloc_state();
  if (z == nullptr) return false;
  const long dup_fd = call([&] { return ::fcntl(s.fd, F_DUPFD_CLOEXEC, 0); });
  if (dup_fd < 0) {
    free_state(*z);
    return false;
  }
  z->fd = static_cast<int>(dup_fd);
  z->zombie = true;
  z->is_socket = true;
  z->zombie_origin_fd = s.fd;
  epoll_event ev{};
  ev.events = EPOLLET;  // EPOLLERR (the error queue) and EPOLLHUP are always reported
  ev.data.u64 = key_of(*z);
  if (call([&] { return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, z->fd, &ev); }) < 0) {
    ::close(z->fd);
    free_state(*z);
    return false;
  }
  z->registered = true;
  const int fd = s.fd;
  call([&] { return ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); });
  s.registered = false;
  while (RequestNode* node = s.zc_wait.front()) {
    s.zc_wait.erase(node);
    node->owner = z;
    z->zc_wait.push_back(node);
  }
  ++zombies_;
  return true;
}

void EpollBackend::handle_zombie_event(FdState& z) noexcept {
  read_error_queue(z);
  if (!z.zc_wait.empty()) return;
  // Deregister before close: if the user's fd is still open (core closes it
  // right after detaching), the registration would otherwise live on.
  const int fd = z.fd;
  call([&] { return ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); });
  call([&] { return ::close(fd); });
  free_state(z);
  --zombies_;
}

void EpollBackend::on_user_close(int fd) noexcept {
  for (std::uint32_t i = 0; i < states_.size(); ++i) {
    FdState& z = states_[i];
    if (z.in_use && z.zombie && z.zombie_origin_fd == fd) {
      z.zombie_origin_fd = -1;
      const int zombie_fd = z.fd;
      call([&] { return ::shutdown(zombie_fd, SHUT_WR); });  // the FIN close() would have sent
    }
  }
}

// Engine destruction: nobody is left to receive the notifications. The kernel
// keeps the pages pinned until it is done with them, so closing is safe.
void EpollBackend::close_zombies() noexcept {
  for (std::uint32_t i = 0; i < states_.size(); ++i) {
    FdState& z = states_[i];
    if (z.in_use && z.zombie) {
      ::close(z.fd);
      free_state(z);
    }
  }
  zombies_ = 0;
}

}  // namespace ringxfer::detail
