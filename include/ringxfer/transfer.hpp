#pragma once
/// @file
/// Transfers: whole byte movements built on the Engine's operations — a file
/// range, a socket or memory into a socket or a file, by the best strategy the
/// backend has — and Relays, socket <-> socket both ways at once for proxies.
///
///   ringxfer::Transfers transfers(engine);
///   ringxfer::TransferOptions o;
///   o.header = response_head;                       // goes out first, no extra round trip
///   transfers.start(Source::file(file, 0, size), Sink::socket(peer), o,
///                   [](std::error_code ec, const ringxfer::TransferResult& r) { ... });
///
/// Every transfer ends exactly once: with success and exactly the bytes asked
/// for (or up to end of stream for until_eof), or with an error and the bytes
/// moved so far (transfer_incomplete when a file shrank under it, broken_pipe
/// or connection_reset when the peer went away, operation_canceled after
/// cancel()). It never hangs on a dead peer: the engine reports every error.
///
/// Memory is bounded per transfer (a window of pool buffers, or one pipe); a
/// slow sink pauses its source. Nothing is allocated per transfer: states live
/// in slabs owned by the Transfers object. Threads: a Transfers object belongs
/// to its Engine's thread, like every handle. It must be destroyed before its
/// Engine; destroying it cancels what is running (handlers run from the loop
/// with operation_canceled only while the Transfers still exists, so destroy it
/// after its work has ended, e.g. after the server drained).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>

#include "ringxfer/engine.hpp"
#include "ringxfer/features.hpp"

namespace ringxfer {

/// How a transfer moves its bytes.
enum class Strategy : std::uint8_t {
  automatic,  ///< by source, sink and size: see choose_strategy() and its table
  copy,       ///< pool buffers: read/recv, then send/write (sendv for memory)
  splice,     ///< through a pipe of the engine's pool (zero copies in user space)
  sendfile,   ///< file -> socket in one syscall per chunk (epoll); io_uring: splice
  zerocopy,   ///< send_zc of pool buffers (the kernel copies on loopback: it says so)
};
/// The strategy's name, as parse_strategy() reads it.
std::string_view to_string(Strategy strategy) noexcept;
/// "auto", "copy", "splice", "sendfile", "zerocopy"; false for anything else.
bool parse_strategy(std::string_view text, Strategy& out) noexcept;

/// Where bytes come from.
class Source {
 public:
  /// What kind of source this is.
  enum class Kind : std::uint8_t { file, socket, memory };
  /// [offset, offset + length) of a file; length may be until_eof.
  static Source file(File file, std::int64_t offset, std::size_t length) noexcept;
  /// A socket until its peer shuts down (until_eof), or exactly `length` bytes
  /// (then the strategy is splice: a copy could read past the length).
  static Source socket(Socket socket, std::size_t length = until_eof) noexcept;
  /// Memory that stays valid until the handler runs; up to max_gather pieces.
  static Source memory(std::span<const std::byte> bytes) noexcept;
  /// Gathered memory: up to max_gather pieces, sent in order.
  static Source memory(std::span<const std::span<const std::byte>> pieces) noexcept;

  Kind kind() const noexcept { return kind_; }              ///< file, socket or memory
  std::size_t length() const noexcept { return length_; }   ///< bytes, or until_eof
  FdRef handle() const noexcept { return handle_; }         ///< the file or socket (not memory)
  std::int64_t offset() const noexcept { return offset_; }  ///< file offset, -1 for a stream

  /// The memory pieces (empty for a file or socket).
  std::span<const std::span<const std::byte>> pieces() const noexcept { return {pieces_, piece_count_}; }

 private:
  Kind kind_ = Kind::memory;
  FdRef handle_;
  std::int64_t offset_ = -1;
  std::size_t length_ = 0;
  std::span<const std::byte> pieces_[max_gather];
  std::uint32_t piece_count_ = 0;
};

/// Where bytes go.
class Sink {
 public:
  /// What kind of sink this is.
  enum class Kind : std::uint8_t { socket, file };
  /// A connected socket.
  static Sink socket(Socket socket) noexcept;
  /// At `offset` (advancing), or at the file position when offset is -1.
  static Sink file(File file, std::int64_t offset = -1) noexcept;
  Kind kind() const noexcept { return kind_; }              ///< socket or file
  FdRef handle() const noexcept { return handle_; }         ///< the socket or file
  std::int64_t offset() const noexcept { return offset_; }  ///< file offset, -1: file position

 private:
  Kind kind_ = Kind::socket;
  FdRef handle_;
  std::int64_t offset_ = -1;
};

/// How Transfers::start() moves the bytes.
struct TransferOptions {
  Strategy strategy = Strategy::automatic;  ///< automatic: by size band (choose_strategy)

  /// Bytes sent before the body (a socket sink only), e.g. an HTTP response
  /// head: gathered with a small body into one sendmsg, or sent with MSG_MORE
  /// ahead of a spliced body, so neither a round trip nor a Nagle/cork stall
  /// separates them. Must stay valid until the handler runs.
  std::span<const std::byte> header;
  /// Call the progress callback at least every this many body bytes (splice
  /// and sendfile then move the body in steps of this size); 0: once a chunk.
  std::size_t progress_step_bytes = 0;
  /// Pool buffers one copy/zerocopy transfer may hold at once (read-ahead).
  std::uint32_t window_buffers = 4;
};

/// What a transfer delivered (also on error: the bytes moved so far).
struct TransferResult {
  std::size_t bytes = 0;         ///< body bytes delivered to the sink
  std::size_t header_bytes = 0;  ///< of options.header
  Strategy strategy = Strategy::automatic;  ///< what carried the body
};

/// How Transfers::relay() moves the bytes.
struct RelayOptions {
  /// Each direction moves in turns: a turn waits until its source is readable
  /// (holding no buffer and no pipe), then moves what is there by copy or by
  /// splice (a pipe of the pool for that turn; none free: that turn copies).
  /// automatic: copy, switched to splice while reads come large and back
  /// when they are small (strategy.cpp); splice: every turn that gets a pipe.
  Strategy strategy = Strategy::automatic;
  std::uint32_t window_buffers = 4;         ///< copy: pool buffers per direction
};

/// Bytes a relay moved each way.
struct RelayResult {
  std::size_t a_to_b = 0;  ///< from socket a to socket b
  std::size_t b_to_a = 0;  ///< from socket b to socket a
  std::size_t spliced_bytes = 0;  ///< of both, bytes that went by splice (the rest by copy)
};

/// The strategy `automatic` picks (also what an explicit strategy becomes when
/// the backend cannot do it: sendfile on io_uring is splice, splice without
/// the feature is copy), for an engine with these Features.
Strategy choose_strategy(Source::Kind source, Sink::Kind sink, std::size_t length, Strategy asked,
                         const Features& features) noexcept;

/// Names a running transfer or relay, for cancel() and bytes_moved();
/// generation-checked like OpId.
struct TransferId {
  std::uint32_t slot = invalid_slot;  ///< the transfer state's slot
  std::uint32_t generation = 0;       ///< the slot's generation at start

  /// True if the transfer started.
  constexpr explicit operator bool() const noexcept { return slot != invalid_slot; }
  /// Same slot and generation.
  friend constexpr bool operator==(TransferId, TransferId) = default;
};

namespace detail {
class TransferMachine;
}

/// Runs once when a transfer ends: (error, result).
using TransferHandler = InlineFunction<void(std::error_code, const TransferResult&), handler_capacity_bytes>;
/// Runs once when a relay ends: (error, result).
using RelayHandler = InlineFunction<void(std::error_code, const RelayResult&), handler_capacity_bytes>;
/// Runs as a transfer moves bytes (TransferOptions::progress_step_bytes).
using ProgressHandler = InlineFunction<void(std::size_t bytes_so_far), 32>;

/// Runs transfers and relays on one Engine (see the file comment).
class Transfers {
 public:
  /// `capacity`: transfers running at once at most (a relay counts two); 0:
  /// the engine's op slots / 4. States are allocated in slabs as needed.
  explicit Transfers(Engine& engine, std::uint32_t capacity = 0);
  ~Transfers();
  Transfers(const Transfers&) = delete;
  Transfers& operator=(const Transfers&) = delete;

  /// handler(std::error_code, const TransferResult&), exactly once, from the
  /// loop. An empty TransferId: no free state (error::no_free_op_slot).
  TransferId start(const Source& source, const Sink& sink, const TransferOptions& options,
                   TransferHandler handler, ProgressHandler progress = {}) noexcept;
  /// Both ways at once until both peers have shut down their side: a FIN one
  /// way is passed on (shutdown(SHUT_WR) of the other socket) and does not end
  /// the other way; a slow side pauses the other (bounded memory). An error
  /// either way ends both. handler(std::error_code, const RelayResult&). The
  /// sockets stay the caller's to close.
  TransferId relay(Socket a, Socket b, const RelayOptions& options, RelayHandler handler) noexcept;
  /// Ends a transfer or relay early: its handler gets operation_canceled and
  /// the bytes moved. False if it already ended.
  bool cancel(TransferId id) noexcept;
  /// Body bytes a running transfer has delivered so far (a relay: both ways
  /// added up), for idle timeouts and progress lines; false once it ended.
  bool bytes_moved(TransferId id, std::size_t& out) const noexcept;
  /// Transfers and relays running now.
  std::size_t active() const noexcept;

 private:
  std::unique_ptr<detail::TransferMachine> machine_;
};

}  // namespace ringxfer
