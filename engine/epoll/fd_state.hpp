#pragma once
// FdState: what the epoll backend knows about one attached fd. States live in
// a pool allocated at start-up (one per FdTable slot, plus as many again for
// zero-copy "zombies", see zerocopy.cpp); epoll_event.data carries the pool
// index and a generation, so an event for a state that has since been freed
// and reused is recognised and ignored.
#include <cstdint>

#include "request_node.hpp"

namespace ringxfer::detail {

enum class ZerocopySetup : std::uint8_t { unknown, enabled, unsupported };

struct FdState {
  int fd = -1;
  std::uint32_t slot = 0;        // FdTable slot (meaningless for zombies)
  std::uint32_t index = 0;       // position in the state pool
  std::uint32_t generation = 0;  // bumped whenever the state is freed
  bool in_use = false;
  bool registered = false;  // in the epoll set; false for regular files (ops run synchronously)
  bool is_socket = false;
  bool zombie = false;      // a dup kept only to collect zero-copy notifications
  int zombie_origin_fd = -1;
  int socket_type = 0;      // SO_TYPE, asked lazily; -1 if unknown
  ZerocopySetup zc_setup = ZerocopySetup::unknown;

  // Readiness hints. Edge-triggered epoll reports a change only once, so the
  // backend may only skip a syscall when it knows the kernel will raise a new
  // edge: after EAGAIN, a short stream recv (the receive queue was emptied; new
  // data wakes us), or a short plain send (SOCK_NOSPACE is set; freed space
  // wakes us). Cleared by any event for that direction.
  bool read_drained = false;
  bool write_full = false;
  bool peer_closed = false;  // RDHUP/HUP/unexplained ERR seen: read until EOF, no hints
  bool zc_nobufs = false;    // a send_zc got ENOBUFS (optmem/memlock); retry after notifications

  // Multishot recv budget: completions this fd's recv produced in loop turn
  // recv_turn (see EpollBackend::recv_budget_).
  std::uint32_t recv_turn = 0;
  std::uint32_t recv_in_turn = 0;

  RequestList queue[2];          // [0] read direction, [1] write direction; FIFO each
  RequestList zc_wait;           // send_zc awaiting their notification, in send order
  std::uint32_t zc_next_seq = 0; // the sequence number the kernel gives the next zc send

  // Runnable list: states with work that stopped only because the completion
  // ring was getting full (an edge was consumed, so no new event will come).
  FdState* runnable_next = nullptr;
  bool runnable_linked = false;
  std::uint8_t runnable_dirs = 0;

  // Everything but the pool position, generation and runnable links (a freed
  // state may still be linked in the runnable list; it is skipped there).
  void reset() noexcept {
    fd = -1;
    slot = 0;
    in_use = registered = is_socket = zombie = false;
    zombie_origin_fd = -1;
    socket_type = 0;
    zc_setup = ZerocopySetup::unknown;
    read_drained = write_full = peer_closed = zc_nobufs = false;
    queue[0] = RequestList();
    queue[1] = RequestList();
    zc_wait = RequestList();
    zc_next_seq = 0;
    recv_turn = recv_in_turn = 0;
    runnable_dirs = 0;
  }
};

}  // namespace ringxfer::detail
