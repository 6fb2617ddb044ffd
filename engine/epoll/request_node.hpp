#pragma once
// RequestNode: one Request the epoll backend is working on — a copy of the
// Request plus the little state needed to resume it after EAGAIN. Nodes live in
// a NodePool allocated at start-up and are linked intrusively (fd queues, the
// zero-copy wait list, the cross list), so parking a request never allocates.
// The backend never dereferences Request::op: it is only echoed back.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend.hpp"
#include "core/slab_array.hpp"

namespace ringxfer::detail {

struct FdState;

// Where a node is; cancel and retire use it to unlink the node.
enum class NodePlace : std::uint8_t {
  free,         // in the pool
  active,       // being attempted (not linked anywhere)
  read_queue,   // owner->queue[0]: waits for the fd to become readable
  write_queue,  // owner->queue[1]: waits for the fd to become writable
  timer,        // in the TimerHeap
  zc_wait,      // owner->zc_wait: send_zc result delivered, notification outstanding
};

struct RequestNode {
  Request request;
  RequestNode* prev = nullptr;  // fd queue or zero-copy wait list
  RequestNode* next = nullptr;
  RequestNode* cross_prev = nullptr;  // splice/sendfile parked on one end's queue: found by
  RequestNode* cross_next = nullptr;  // cancel_fd of the other end
  FdState* owner = nullptr;           // whose queue / zc_wait list holds it
  std::int64_t deadline_ns = 0;       // timeout: CLOCK_MONOTONIC
  std::uint32_t heap_index = 0;       // timeout: position in the TimerHeap
  std::uint32_t zc_seq = 0;           // send_zc: the socket's MSG_ZEROCOPY sequence number
  NodePlace place = NodePlace::free;
  bool indexed = false;          // in the OpIndex, i.e. cancellable
  bool cross_linked = false;     // in the cross list
  bool connect_started = false;  // connect: the first connect() returned EINPROGRESS
  bool zc_awaiting = false;      // send_zc: result emitted, notification still to come
};

// Up to 4 x op_slots of these exist: keep them small.
static_assert(sizeof(RequestNode) <= 192, "RequestNode grew: up to 4 x op_slots of them exist");

// A FIFO threaded through two link members of RequestNode.
template <RequestNode* RequestNode::*Prev, RequestNode* RequestNode::*Next>
class IntrusiveList {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  RequestNode* front() const noexcept { return head_; }
  static RequestNode* next(const RequestNode* node) noexcept { return node->*Next; }

  void push_back(RequestNode* node) noexcept {
    node->*Prev = tail_;
    node->*Next = nullptr;
    if (tail_ != nullptr) tail_->*Next = node; else head_ = node;
    tail_ = node;
  }
  void erase(RequestNode* node) noexcept {
    if (node->*Prev != nullptr) (node->*Prev)->*Next = node->*Next; else head_ = node->*Next;
    if (node->*Next != nullptr) (node->*Next)->*Prev = node->*Prev; else tail_ = node->*Prev;
    node->*Prev = nullptr;
    node->*Next = nullptr;
  }

 private:
  RequestNode* head_ = nullptr;
  RequestNode* tail_ = nullptr;
};

using RequestList = IntrusiveList<&RequestNode::prev, &RequestNode::next>;
using CrossList = IntrusiveList<&RequestNode::cross_prev, &RequestNode::cross_next>;

// Nodes with a free stack, allocated in slabs as they are needed, up to a
// fixed capacity (never one per request). Addresses are stable.
class NodePool {
 public:
  static constexpr std::uint32_t slab_nodes = 256;

  explicit NodePool(std::uint32_t max_nodes) : nodes_(max_nodes) {
    free_.reserve(max_nodes);  // pointers only: 8 bytes a node
  }
  NodePool(const NodePool&) = delete;
  NodePool& operator=(const NodePool&) = delete;

  // Nodes that exist now (the ring, index and timer heap are sized for them).
  std::size_t capacity() const noexcept { return nodes_.size(); }

  // nullptr when every node is in use.
  RequestNode* alloc() noexcept {
    if (free_.empty() && !grow()) return nullptr;
    RequestNode* node = free_.back();
    free_.pop_back();
    node->place = NodePlace::active;
    return node;
  }
  void release(RequestNode* node) noexcept {
    node->owner = nullptr;
    node->place = NodePlace::free;
    node->indexed = node->cross_linked = node->connect_started = node->zc_awaiting = false;
    free_.push_back(node);  // cannot reallocate: reserved for every node
  }

 private:
  bool grow() noexcept {
    std::uint32_t first = nodes_.size();
    if (!nodes_.grow()) return false;
    for (std::uint32_t i = nodes_.size(); i > first; --i) free_.push_back(&nodes_[i - 1]);
    return true;
  }

  SlabArray<RequestNode, slab_nodes> nodes_;
  std::vector<RequestNode*> free_;
};

}  // namespace ringxfer::detail
