#pragma once
// TransferMachine: the state machines behind ringxfer::Transfers, written on
// the public Engine operations only (no engine/core internals but SlabArray).
//
// One Xfer moves one body from a source to a sink by one of three paths:
//   - splice: Engine::splice (pipe, sendfile on epoll, or core's exact copy
//     fallback), in steps of progress_step_bytes or all at once;
//   - gather: memory -> socket in sendv calls (the header rides along);
//   - pump: pool buffers, one read at a time (file, or a socket: a single
//     read per buffer, never a multishot burst), then write/send_zc, with at
//     most `window` buffers out at once: a slow sink pauses the source, and
//     memory per transfer is `window` buffers, exactly.
// Every engine operation an Xfer starts is counted in `ops`; the Xfer ends,
// and its slot is reused, only when that count is back to zero, so no late
// callback ever meets the next transfer in the slot.
#include <cstdint>

#include "core/slab_array.hpp"
#include "ringxfer/transfer.hpp"

namespace ringxfer::detail {

// When `auto` moves a socket -> socket direction by splice (strategy.cpp's
// table): from copy to splice after `large_reads_to_splice` reads in a row of
// at least `large_read_bytes` (or a full pool buffer, if smaller); back to
// copy after `small_turns_to_copy` splice turns in a row that moved less
// than `small_turn_bytes`.
struct RelayTurns {
  bool splice = false;
  std::size_t large_read_bytes = 0;
  std::uint32_t large_reads_to_splice = 0;
  std::size_t small_turn_bytes = 0;
  std::uint32_t small_turns_to_copy = 0;
};
RelayTurns relay_turns(const Features& features) noexcept;

struct Xfer {
  // ---- identity
  std::uint32_t index = 0;
  std::uint32_t generation = 1;
  bool in_use = false;
  Xfer* next_free = nullptr;

  // ---- what to move
  Source::Kind source_kind = Source::Kind::memory;
  Sink::Kind sink_kind = Sink::Kind::socket;
  FdRef source;
  FdRef sink;
  std::int64_t source_offset = -1;
  std::int64_t sink_offset = -1;
  std::size_t length = 0;  // or until_eof
  std::span<const std::byte> pieces[max_gather];
  std::uint32_t piece_count = 0;
  std::span<const std::byte> header;
  Strategy strategy = Strategy::copy;
  std::size_t step_bytes = 0;
  std::uint32_t window = 4;

  // ---- progress
  std::size_t taken = 0;         // source bytes read (or copied out of memory) so far
  std::size_t written = 0;       // sink offset advance for writes issued so far
  std::size_t done = 0;          // body bytes the sink has confirmed
  std::size_t header_done = 0;
  std::size_t spliced = 0;       // of `done`, bytes moved by splice (a relay reports it)
  std::uint32_t ops = 0;         // engine operations in flight
  std::uint32_t buffers_out = 0; // pump: writes in flight, each holding a buffer
  bool reading = false;          // pump: a read is in flight (reads go one at a time: order)
  bool source_eof = false;
  bool header_pending = false;   // header still to send (or in flight)
  bool cancelled = false;
  bool ended = false;            // the handler ran
  // A socket until its end by copy: wait until it is readable before taking
  // a buffer for the read, so an idle relay direction holds no buffer (a
  // read holds one while it waits: 128 idle relays held every send buffer
  // and the next relay never moved a byte). After a read that filled its
  // buffer more is likely waiting: the next read goes without the wait.
  bool poll_first = false;
  bool readable = false;
  bool starving = false;         // pump: in the machine's queue for a pool buffer
  bool retry_armed = false;      // pump: a buffer_retry timer is pending
  Xfer* next_starving = nullptr;
  std::error_code error;
  OpId reader;                   // the op cancel() stops: read or splice
  // Pump writes in flight (at most `window`, and window <= max_window), so
  // that cancel() and an error stop them too: a stalled peer must not hold
  // the transfer open.
  static constexpr std::uint32_t max_window = 16;
  OpId writes[max_window];
  std::uint32_t write_seq = 0;
  Buffer held;                   // gather: a small file body read ahead of its header

  // ---- socket -> socket until the end (a relay direction): in turns. A turn
  // waits until the source is readable (poll_first: holding nothing), then
  // moves what is there by copy (pool buffers, one read at a time) or by
  // splice (a pipe taken for this turn only: splice_until_idle ends the turn
  // once the source has no more, splice_no_wait makes "no free pipe" a copy
  // turn). Under `auto`, `splicing` follows the size of the reads
  // (RelayTurns in strategy.cpp).
  bool turns = false;
  bool splicing = false;         // turns: the next turn goes by splice
  bool adaptive = false;         // turns: auto, switch by the size of reads
  bool copy_turn = false;        // splicing, but no pipe was free: this turn by copy
  std::uint8_t large_reads = 0;  // copy turns in a row that read at least large_read_bytes
  std::uint8_t small_turns = 0;  // splice turns in a row that moved less than small_turn_bytes

  // ---- relay: two Xfers, one per direction
  std::uint32_t relay_peer = invalid_slot;
  bool relay_leader = false;     // holds the relay handler; its id is the relay's
  bool pass_fin = false;         // at source eof: shutdown(SHUT_WR) the sink

  TransferHandler handler;
  RelayHandler relay_handler;
  ProgressHandler progress;
};

class TransferMachine {
 public:
  TransferMachine(Engine& engine, std::uint32_t capacity);
  ~TransferMachine();

  TransferId start(const Source& source, const Sink& sink, const TransferOptions& options,
                   TransferHandler handler, ProgressHandler progress) noexcept;
  TransferId relay(Socket a, Socket b, const RelayOptions& options, RelayHandler handler) noexcept;
  bool cancel(TransferId id) noexcept;
  bool bytes_moved(TransferId id, std::size_t& out) noexcept;
  std::size_t active() const noexcept { return active_; }

  // What a callback carries: 16 bytes, well inside the handler capacity.
  struct Ref {
    TransferMachine* machine;
    std::uint32_t slot;
    std::uint32_t generation;
  };

 private:
  Xfer* acquire() noexcept;
  void release(Xfer& x) noexcept;
  Xfer* lookup(Ref ref) noexcept;
  Ref ref_of(const Xfer& x) noexcept { return {this, x.index, x.generation}; }
  static TransferId id_of(const Xfer& x) noexcept { return {x.index, x.generation}; }

  void begin(Xfer& x) noexcept;
  void send_header(Xfer& x) noexcept;
  void gather_memory(Xfer& x) noexcept;
  void read_then_gather(Xfer& x) noexcept;
  void splice_step(Xfer& x) noexcept;
  void set_up_turns(Xfer& x, Strategy asked) noexcept;
  void splice_turn(Xfer& x) noexcept;
  void pump(Xfer& x) noexcept;
  void write_out(Xfer& x, Buffer buffer) noexcept;
  void fail(Xfer& x, std::error_code ec) noexcept;
  void stop_reader(Xfer& x) noexcept;
  void settle(Xfer& x) noexcept;  // ends the Xfer once nothing is in flight
  void retry_later(Xfer& x) noexcept;
  // Pool buffers: a pump that finds none, holding none itself, queues here
  // (FIFO) and is pumped again as soon as one of this machine's buffers comes
  // back; only the head of the queue also polls by timer (for buffers held
  // outside the machine).
  void starve(Xfer& x) noexcept;
  void unstarve(Xfer& x) noexcept;
 public:
  void wake_starving() noexcept;
 private:
  std::size_t remaining(const Xfer& x) const noexcept;
  bool body_complete(const Xfer& x) const noexcept;
  void report_progress(Xfer& x) noexcept;
  void end_relay_direction(Xfer& x) noexcept;

  // callbacks
  void on_header(Ref r, std::error_code ec, std::size_t n) noexcept;
  void on_gather(Ref r, std::error_code ec, std::size_t n) noexcept;
  void on_spliced(Ref r, std::error_code ec, std::size_t n) noexcept;
  void on_turn_spliced(Ref r, std::error_code ec, std::size_t n) noexcept;
  void on_read(Ref r, std::error_code ec, Buffer b) noexcept;
  void on_readable(Ref r, std::error_code ec) noexcept;
  void on_written(Ref r, std::error_code ec, std::size_t n) noexcept;
  void on_fin(Ref r, std::error_code ec) noexcept;
  void on_retry(Ref r) noexcept;

  Engine& engine_;
  SlabArray<Xfer, 256> xfers_;
  Xfer* free_ = nullptr;
  Xfer* starving_head_ = nullptr;
  Xfer* starving_tail_ = nullptr;
  std::size_t active_ = 0;
  Features features_;  // the engine's: which strategies it can run
  RelayTurns turns_;   // auto's switch points for socket -> socket
  bool destroying_ = false;
};

}  // namespace ringxfer::detail
