// The transfer and relay state machines (see transfer_machine.hpp).
#include "transfer/transfer_machine.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace ringxfer::detail {

namespace {

const std::error_code canceled = std::make_error_code(std::errc::operation_canceled);

// How long a pump with no buffer of its own waits before it tries the pool
// again (every send buffer is lent out to other transfers).
constexpr auto buffer_retry = std::chrono::milliseconds(1);

}  // namespace

TransferMachine::TransferMachine(Engine& engine, std::uint32_t capacity)
    : engine_(engine), xfers_(capacity != 0 ? capacity : std::max<std::uint32_t>(256, engine.slot_usage().op_slots_capacity / 4)) {
  features_ = engine.features();
  turns_ = relay_turns(features_);
}

TransferMachine::~TransferMachine() {
  // Stop what runs; its callbacks may still come from the loop, so they must
  // find this machine: the owner destroys it only after its work ended.
  destroying_ = true;
  if (active_ == 0) return;  // the usual case: nothing runs, the Engine may be gone already
  for (std::uint32_t i = 0; i < xfers_.size(); ++i) {
    Xfer& x = xfers_[i];
    if (x.in_use && !x.ended) {
      x.cancelled = true;
      stop_reader(x);
    }
  }
}

// ------------------------------------------------------------------ slots --

Xfer* TransferMachine::acquire() noexcept {
  if (free_ == nullptr) {
    std::uint32_t first = xfers_.size();
    if (!xfers_.grow()) return nullptr;
    for (std::uint32_t i = xfers_.size(); i > first; --i) {
      Xfer& x = xfers_[i - 1];
      x.index = i - 1;
      x.next_free = free_;
      free_ = &x;
    }
  }
  Xfer* x = free_;
  free_ = x->next_free;
  x->next_free = nullptr;
  x->in_use = true;
  ++active_;
  return x;
}

void TransferMachine::release(Xfer& x) noexcept {
  std::uint32_t index = x.index;
  std::uint32_t generation = x.generation + 1;
  x.~Xfer();
  new (&x) Xfer();
  x.index = index;
  x.generation = generation;
  x.next_free = free_;
  free_ = &x;
  --active_;
}

Xfer* TransferMachine::lookup(Ref r) noexcept {
  if (r.slot >= xfers_.size()) return nullptr;
  Xfer& x = xfers_[r.slot];
  return x.in_use && x.generation == r.generation ? &x : nullptr;
}

// ------------------------------------------------------------------ start --

TransferId TransferMachine::start(const Source& source, const Sink& sink, const TransferOptions& options,
                                  TransferHandler handler, ProgressHandler progress) noexcept {
  if (destroying_) return {};
  Xfer* x = acquire();
  if (x == nullptr) return {};
  x->source_kind = source.kind();
  x->sink_kind = sink.kind();
  x->source = source.handle();
  x->sink = sink.handle();
  x->source_offset = source.offset();
  x->sink_offset = sink.offset();
  x->length = source.length();
  x->piece_count = std::uint32_t(source.pieces().size());
  std::copy(source.pieces().begin(), source.pieces().end(), x->pieces);
  x->header = options.header;
  x->header_pending = !options.header.empty();
  x->step_bytes = options.progress_step_bytes;
  // Writes to a file at "the current position" must go one at a time.
  x->window = std::clamp<std::uint32_t>(sink.kind() == Sink::Kind::file && sink.offset() < 0 ? 1 : options.window_buffers,
                                        1, Xfer::max_window);
  x->strategy = choose_strategy(source.kind(), sink.kind(), source.length(), options.strategy, features_);
  x->poll_first = source.kind() == Source::Kind::socket && source.length() == until_eof && x->strategy == Strategy::copy;
  set_up_turns(*x, options.strategy);
  x->handler = std::move(handler);
  x->progress = std::move(progress);
  if (x->header_pending && sink.kind() != Sink::Kind::socket) {
    fail(*x, std::make_error_code(std::errc::invalid_argument));  // a header goes to sockets only
    retry_later(*x);  // ends from the loop, never inside start()
    return id_of(*x);
  }
  begin(*x);
  return id_of(*x);
}

TransferId TransferMachine::relay(Socket a, Socket b, const RelayOptions& options, RelayHandler handler) noexcept {
  if (destroying_) return {};
  Xfer* ab = acquire();
  if (ab == nullptr) return {};
  Xfer* ba = acquire();
  if (ba == nullptr) {
    release(*ab);
    return {};
  }
  Xfer* dirs[2] = {ab, ba};
  const Socket ends[2][2] = {{a, b}, {b, a}};
  for (int i = 0; i < 2; ++i) {
    Xfer& x = *dirs[i];
    x.source_kind = Source::Kind::socket;
    x.sink_kind = Sink::Kind::socket;
    x.source = ends[i][0];
    x.sink = ends[i][1];
    x.length = until_eof;
    x.window = std::clamp<std::uint32_t>(options.window_buffers, 1, Xfer::max_window);
    x.strategy = choose_strategy(Source::Kind::socket, Sink::Kind::socket, until_eof, options.strategy, features_);
    set_up_turns(x, options.strategy);
    x.pass_fin = true;
    x.relay_peer = dirs[1 - i]->index;
  }
  ab->relay_leader = true;
  ab->relay_handler = std::move(handler);
  begin(*ab);
  begin(*ba);
  return id_of(*ab);
}

bool TransferMachine::cancel(TransferId id) noexcept {
  Xfer* x = lookup({this, id.slot, id.generation});
  if (x == nullptr || x->ended || x->cancelled) return false;
  x->cancelled = true;
  stop_reader(*x);
  if (x->relay_peer != invalid_slot) {
    Xfer& peer = xfers_[x->relay_peer];
    peer.cancelled = true;
    stop_reader(peer);
    if (peer.starving) settle(peer);  // nothing in flight would settle it
  }
  settle(*x);
  return true;
}

bool TransferMachine::bytes_moved(TransferId id, std::size_t& out) noexcept {
  Xfer* x = lookup({this, id.slot, id.generation});
  if (x == nullptr || x->ended) return false;
  out = x->done;
  if (x->relay_peer != invalid_slot) out += xfers_[x->relay_peer].done;
  return true;
}

// ------------------------------------------------------------------- body --

void TransferMachine::begin(Xfer& x) noexcept {
  const bool small_file = x.source_kind == Source::Kind::file && x.length != until_eof &&
                          x.strategy == Strategy::copy;
  if (x.source_kind == Source::Kind::memory && x.strategy == Strategy::copy && x.sink_kind == Sink::Kind::socket) {
    gather_memory(x);  // the header rides in the same sendmsg
    settle(x);
    return;
  }
  if (x.header_pending && small_file && x.length > 0) {
    // Header and a body that fits one pool buffer: read the body first, then
    // one sendmsg carries both.
    Buffer b = engine_.acquire_buffer();
    if (b && x.length <= b.capacity()) {
      ++x.ops;
      x.reading = true;
      x.reader = engine_.read(x.source, x.source_offset, std::move(b), [r = ref_of(x)](std::error_code ec, Buffer got) {
        r.machine->on_read(r, ec, std::move(got));
      });
      if (!x.reader) --x.ops, x.reading = false, fail(x, x.reader.error());
      settle(x);
      return;
    }
  }
  if (x.header_pending) send_header(x);  // MSG_MORE: the body's first bytes join it
  if (!x.turns && (x.strategy == Strategy::splice || x.strategy == Strategy::sendfile)) splice_step(x);
  else pump(x);
  settle(x);
}

void TransferMachine::send_header(Xfer& x) noexcept {
  ++x.ops;
  const bool body_follows = x.length != 0;
  OpId id = engine_.send(Socket{x.sink}, x.header.subspan(x.header_done), [r = ref_of(x)](std::error_code ec, std::size_t n) {
    r.machine->on_header(r, ec, n);
  }, body_follows ? send_more : 0u);
  if (!id) {
    --x.ops;
    fail(x, id.error());
  }
}

void TransferMachine::gather_memory(Xfer& x) noexcept {
  // Pieces still to send after `done` body bytes (and the header, if unsent).
  std::span<const std::byte> out[max_gather];
  std::size_t n = 0;
  if (x.header_pending) out[n++] = x.header.subspan(x.header_done);
  std::size_t skip = x.done;
  for (std::uint32_t i = 0; i < x.piece_count && n < max_gather; ++i) {
    std::span<const std::byte> p = x.pieces[i];
    if (skip >= p.size()) {
      skip -= p.size();
      continue;
    }
    out[n++] = p.subspan(skip);
    skip = 0;
  }
  if (n == 0) return;  // nothing at all to send: settle() ends it
  ++x.ops;
  OpId id = engine_.sendv(Socket{x.sink}, std::span(out, n), [r = ref_of(x)](std::error_code ec, std::size_t sent) {
    r.machine->on_gather(r, ec, sent);
  });
  if (!id) {
    --x.ops;
    fail(x, id.error());
    return;
  }
  x.writes[x.write_seq++ % Xfer::max_window] = id;  // stop_reader() cancels it: a stalled peer must not hold us
}

void TransferMachine::splice_step(Xfer& x) noexcept {
  if (x.error || x.cancelled || body_complete(x) || x.source_eof) return;
  std::size_t chunk = remaining(x);
  if (x.step_bytes != 0 && x.length != until_eof) chunk = std::min(chunk, x.step_bytes);
  const std::int64_t in_at = x.source_offset >= 0 ? x.source_offset + std::int64_t(x.done) : -1;
  const std::int64_t out_at = x.sink_offset >= 0 ? x.sink_offset + std::int64_t(x.done) : -1;
  ++x.ops;
  x.reader = engine_.splice(x.source, in_at, x.sink, out_at, x.length == until_eof ? until_eof : chunk,
                            [r = ref_of(x)](std::error_code ec, std::size_t n) { r.machine->on_spliced(r, ec, n); },
                            x.strategy == Strategy::splice ? splice_pipe_only : 0u);
  if (!x.reader) {
    --x.ops;
    fail(x, x.reader.error());
  }
}

void TransferMachine::set_up_turns(Xfer& x, Strategy asked) noexcept {
  if (x.source_kind != Source::Kind::socket || x.sink_kind != Sink::Kind::socket || x.length != until_eof) return;
  if (x.strategy != Strategy::copy && x.strategy != Strategy::splice) return;  // zerocopy: its own path
  x.turns = true;
  x.poll_first = true;
  x.splicing = x.strategy == Strategy::splice;
  x.adaptive = asked == Strategy::automatic && turns_.splice;
}

void TransferMachine::splice_turn(Xfer& x) noexcept {
  ++x.ops;
  x.reading = true;  // one turn at a time, as one read at a time
  x.reader = engine_.splice(x.source, -1, x.sink, -1, until_eof,
                            [r = ref_of(x)](std::error_code ec, std::size_t n) { r.machine->on_turn_spliced(r, ec, n); },
                            splice_pipe_only | splice_until_idle | splice_no_wait);
  if (!x.reader) {
    --x.ops;
    x.reading = false;
    fail(x, x.reader.error());
  }
}

void TransferMachine::pump(Xfer& x) noexcept {
  while (!x.error && !x.cancelled && !x.source_eof && !x.reading && x.buffers_out < x.window && remaining(x) > 0) {
    if (x.poll_first && !x.readable) {
      ++x.ops;
      x.reading = true;  // stop_reader() cancels the wait as it would a read
      x.reader = engine_.wait_readable(Socket{x.source}, [r = ref_of(x)](std::error_code ec) {
        r.machine->on_readable(r, ec);
      });
      if (!x.reader) {
        --x.ops;
        x.reading = false;
        fail(x, x.reader.error());
      }
      return;
    }
    if (x.splicing && !x.copy_turn) {
      splice_turn(x);  // after the writes in flight: the engine keeps a socket's writes in order
      return;
    }
    // While others wait for a buffer, one in hand is enough (fair shares).
    if (starving_head_ != nullptr && !x.starving && x.buffers_out > 0) return;
    Buffer b = engine_.acquire_buffer();
    if (!b) {
      // Every send buffer is out. Ours come back with our writes; with none
      // out, queue for the next one that comes back rather than fail or spin.
      if (x.buffers_out == 0) starve(x);
      return;
    }
    unstarve(x);
    if (x.source_kind != Source::Kind::memory) {
      ++x.ops;
      x.reading = true;  // one read at a time: the writes must leave in order
      const std::int64_t at = x.source_offset >= 0 ? x.source_offset + std::int64_t(x.taken) : -1;
      x.reader = engine_.read(x.source, at, std::move(b), [r = ref_of(x)](std::error_code ec, Buffer got) {
        r.machine->on_read(r, ec, std::move(got));
        r.machine->wake_starving();  // the buffer may have come back (end of file, an error)
      });
      if (!x.reader) {
        --x.ops;
        x.reading = false;
        fail(x, x.reader.error());
      }
      return;
    }
    // Memory: copy the next chunk into the buffer.
    std::size_t n = std::min(b.capacity(), remaining(x));
    std::size_t filled = 0, skip = x.taken;
    for (std::uint32_t i = 0; i < x.piece_count && filled < n; ++i) {
      std::span<const std::byte> p = x.pieces[i];
      if (skip >= p.size()) {
        skip -= p.size();
        continue;
      }
      std::size_t k = std::min(p.size() - skip, n - filled);
      std::memcpy(b.data() + filled, p.data() + skip, k);
      filled += k;
      skip = 0;
    }
    b.resize(filled);
    x.taken += filled;
    write_out(x, std::move(b));
  }
}

void TransferMachine::write_out(Xfer& x, Buffer buffer) noexcept {
  if (buffer.size() == 0) return;
  ++x.ops;
  ++x.buffers_out;
  const std::int64_t at = x.sink_offset >= 0 ? x.sink_offset + std::int64_t(x.written) : -1;
  x.written += buffer.size();
  const Ref r = ref_of(x);
  OpId id;
  if (x.strategy == Strategy::zerocopy && x.sink_kind == Sink::Kind::socket) {
    id = engine_.send_zc(Socket{x.sink}, std::move(buffer), [r](std::error_code ec, std::size_t n) {
      r.machine->on_written(r, ec, n);
      r.machine->wake_starving();  // (the buffer itself comes back at the notification)
    });
  } else {
    id = engine_.write(x.sink, at, std::move(buffer), [r](std::error_code ec, Buffer b, std::size_t n) {
      b.release();  // back to the pool first: a queued pump gets it before ours takes more
      r.machine->wake_starving();
      r.machine->on_written(r, ec, n);
    });
  }
  if (!id) {
    --x.ops;
    --x.buffers_out;
    fail(x, id.error());
    return;
  }
  x.writes[x.write_seq++ % Xfer::max_window] = id;
}

// ------------------------------------------------------------- callbacks --

void TransferMachine::on_header(Ref r, std::error_code ec, std::size_t n) noexcept {
  Xfer* x = lookup(r);
  if (x == nullptr) return;
  --x->ops;
  x->header_done += n;
  if (ec) fail(*x, ec);
  else x->header_pending = false;
  settle(*x);
}

void TransferMachine::on_gather(Ref r, std::error_code ec, std::size_t n) noexcept {
  Xfer* x = lookup(r);
  if (x == nullptr) return;
  --x->ops;
  if (x->header_pending) {
    std::size_t h = std::min(n, x->header.size() - x->header_done);
    x->header_done += h;
    n -= h;
    if (x->header_done == x->header.size()) x->header_pending = false;
  }
  const bool gave_back = static_cast<bool>(x->held);
  if (x->held) {  // a file body read ahead of its header
    x->held.release();
    --x->buffers_out;
  }
  x->done += n;
  x->taken = x->done;
  report_progress(*x);
  if (ec) fail(*x, ec);
  else if (!body_complete(*x) && x->source_kind == Source::Kind::memory) gather_memory(*x);  // more than max_gather pieces
  settle(*x);
  if (gave_back) wake_starving();
}

void TransferMachine::on_spliced(Ref r, std::error_code ec, std::size_t n) noexcept {
  Xfer* x = lookup(r);
  if (x == nullptr) return;
  --x->ops;
  x->done += n;
  x->spliced += n;
  report_progress(*x);
  if (ec) {
    fail(*x, ec);
  } else if (x->length == until_eof) {
    x->source_eof = true;  // an until_eof splice ends at the source's end
  } else {
    splice_step(*x);
  }
  settle(*x);
}

void TransferMachine::on_turn_spliced(Ref r, std::error_code ec, std::size_t n) noexcept {
  Xfer* x = lookup(r);
  if (x == nullptr) return;
  --x->ops;
  x->reading = false;
  x->done += n;
  x->spliced += n;
  report_progress(*x);
  if (ec == error::no_free_pipe && n == 0) {
    x->copy_turn = true;  // every pipe is busy: this turn by copy (the source is still readable)
  } else if (ec) {
    fail(*x, ec);
  } else if (n == 0) {
    x->source_eof = true;  // a turn starts on a readable source: nothing at all is its end
  } else {
    x->readable = false;  // the turn ended when the source had no more
    if (x->adaptive) {
      if (n >= turns_.small_turn_bytes) {
        x->small_turns = 0;
      } else if (++x->small_turns >= turns_.small_turns_to_copy) {
        x->splicing = false;
        x->large_reads = 0;
      }
    }
  }
  pump(*x);
  settle(*x);
}

void TransferMachine::on_read(Ref r, std::error_code ec, Buffer b) noexcept {
  Xfer* x = lookup(r);
  if (x == nullptr) return;
  --x->ops;
  x->reading = false;
  if (ec) {
    fail(*x, ec);
  } else if (b.size() == 0) {
    x->source_eof = true;
    // The file ended before `length` (it shrank under us). The writes still
    // in flight carry bytes that were read: let them finish, then end with
    // transfer_incomplete. fail() would cancel them and drop those bytes.
    if (x->length != until_eof && x->taken < x->length && !x->error) {
      x->error = make_error_code(error::transfer_incomplete);
    }
  } else if (!x->error && !x->cancelled) {
    x->readable = b.size() == b.capacity();  // a full buffer: more is likely waiting
    if (x->adaptive && !x->splicing) {
      if (b.size() >= std::min(turns_.large_read_bytes, b.capacity())) {
        if (++x->large_reads >= turns_.large_reads_to_splice) x->splicing = true, x->small_turns = 0;
      } else {
        x->large_reads = 0;
      }
    }
    x->copy_turn = false;
    b.resize(std::min(b.size(), remaining(*x)));
    x->taken += b.size();
    if (x->header_pending && x->ops == 0 && x->buffers_out == 0 && x->taken == x->length) {
      // The whole small body is here: header and body in one sendmsg.
      x->held = std::move(b);
      ++x->buffers_out;
      const std::span<const std::byte> both[2] = {x->header, x->held.bytes()};
      ++x->ops;
      OpId id = engine_.sendv(Socket{x->sink}, both, [rr = r](std::error_code e, std::size_t n) {
        rr.machine->on_gather(rr, e, n);
      });
      if (!id) {
        --x->ops;
        fail(*x, id.error());
      } else {
        x->writes[x->write_seq++ % Xfer::max_window] = id;
      }
    } else {
      if (x->header_pending && x->header_done == 0 && x->ops == 0) send_header(*x);
      write_out(*x, std::move(b));
    }
  }
  pump(*x);
  settle(*x);
}

void TransferMachine::on_readable(Ref r, std::error_code ec) noexcept {
  Xfer* x = lookup(r);
  if (x == nullptr) return;
  --x->ops;
  x->reading = false;
  if (ec) fail(*x, ec);
  else x->readable = true;
  pump(*x);
  settle(*x);
}

void TransferMachine::on_written(Ref r, std::error_code ec, std::size_t n) noexcept {
  Xfer* x = lookup(r);
  if (x == nullptr) return;
  --x->ops;
  --x->buffers_out;
  x->done += n;
  report_progress(*x);
  if (ec) fail(*x, ec);
  pump(*x);
  settle(*x);
}

void TransferMachine::on_fin(Ref r, std::error_code ec) noexcept {
  Xfer* x = lookup(r);
  if (x == nullptr) return;
  --x->ops;
  // The peer may have gone already (ENOTCONN): the direction still ended.
  if (ec && ec != std::errc::not_connected) fail(*x, ec);
  x->pass_fin = false;
  settle(*x);
}

void TransferMachine::on_retry(Ref r) noexcept {
  Xfer* x = lookup(r);
  if (x == nullptr) return;
  --x->ops;
  x->retry_armed = false;
  if (x->starving) {
    wake_starving();  // x is the head: buffers held elsewhere may be back
    if (starving_head_ != nullptr && !starving_head_->retry_armed) retry_later(*starving_head_);
  } else {
    pump(*x);
  }
  settle(*x);
}

void TransferMachine::starve(Xfer& x) noexcept {
  if (x.starving) return;
  x.starving = true;
  x.next_starving = nullptr;
  if (starving_tail_ != nullptr) starving_tail_->next_starving = &x;
  else starving_head_ = &x;
  starving_tail_ = &x;
  if (starving_head_ == &x && !x.retry_armed) retry_later(x);
}

void TransferMachine::unstarve(Xfer& x) noexcept {
  if (!x.starving) return;
  Xfer* prev = nullptr;
  for (Xfer* cur = starving_head_; cur != nullptr; prev = cur, cur = cur->next_starving) {
    if (cur != &x) continue;
    if (prev != nullptr) prev->next_starving = cur->next_starving;
    else starving_head_ = cur->next_starving;
    if (starving_tail_ == cur) starving_tail_ = prev;
    break;
  }
  x.starving = false;
  x.next_starving = nullptr;
  // The new head polls by timer in its place.
  if (starving_head_ != nullptr && !starving_head_->retry_armed) retry_later(*starving_head_);
}

void TransferMachine::wake_starving() noexcept {
  // Pumps the queue's head while it gets a buffer (pump() takes it off).
  while (Xfer* x = starving_head_) {
    const bool wants = !x->error && !x->cancelled && !x->source_eof && !x->reading && x->buffers_out < x->window &&
                       remaining(*x) > 0;
    if (wants) {
      pump(*x);
      if (x->starving) return;  // still none free
    } else {
      unstarve(*x);
    }
    settle(*x);
  }
}

// ---------------------------------------------------------------- ending --

void TransferMachine::retry_later(Xfer& x) noexcept {
  x.retry_armed = true;
  ++x.ops;
  OpId id = engine_.timeout(buffer_retry, [r = ref_of(x)](std::error_code) { r.machine->on_retry(r); });
  if (!id) --x.ops, x.retry_armed = false;  // no op slot: settle() ends it with the error recorded
}

void TransferMachine::fail(Xfer& x, std::error_code ec) noexcept {
  // An op that ended because we cancelled it is no error of its own: a relay
  // direction stopped by the other one's reset reports that reset.
  const bool own_cancel = x.cancelled && ec == canceled;
  if (!x.error && !own_cancel) x.error = ec ? ec : make_error_code(error::no_free_op_slot);
  stop_reader(x);
  // An error one way of a relay ends the other way too (a reset peer).
  if (x.relay_peer != invalid_slot) {
    Xfer& peer = xfers_[x.relay_peer];
    if (!peer.cancelled && !peer.ended) {
      peer.cancelled = true;
      stop_reader(peer);
      if (peer.starving) settle(peer);  // nothing in flight would settle it
    }
  }
}

void TransferMachine::stop_reader(Xfer& x) noexcept {
  if (x.reader) engine_.cancel(x.reader);
  for (OpId id : x.writes) {
    if (id) engine_.cancel(id);  // an id that already ended is a no-op
  }
}

std::size_t TransferMachine::remaining(const Xfer& x) const noexcept {
  if (x.length == until_eof) return ~std::size_t(0) >> 1;
  return x.length - std::min(x.length, x.taken);
}

bool TransferMachine::body_complete(const Xfer& x) const noexcept {
  if (x.length != until_eof) return x.done >= x.length;
  return x.source_eof && x.buffers_out == 0 && !x.reading;
}

void TransferMachine::report_progress(Xfer& x) noexcept {
  if (x.progress) x.progress(x.done);
}

void TransferMachine::settle(Xfer& x) noexcept {
  if (x.ended || x.ops != 0) return;
  const bool finished = x.error || x.cancelled || (body_complete(x) && !x.header_pending);
  if (!finished) {
    // Nothing in flight and not done: a path that stopped (no buffer, no op
    // slot) must not leave the transfer hanging.
    if (x.turns || (x.strategy != Strategy::splice && x.strategy != Strategy::sendfile)) pump(x);
    if (x.starving) return;  // queued for a buffer: woken when one comes back
    if (x.ops == 0) fail(x, make_error_code(error::no_free_op_slot));
    else return;
  }
  unstarve(x);
  if (x.pass_fin && !x.error && !x.cancelled) {
    // A relay direction reached its source's end: pass the FIN on.
    ++x.ops;
    OpId id = engine_.shutdown(Socket{x.sink}, SHUT_WR, [r = ref_of(x)](std::error_code ec) { r.machine->on_fin(r, ec); });
    if (id) return;
    --x.ops;
  }
  x.ended = true;
  if (x.relay_peer != invalid_slot) {
    end_relay_direction(x);
    return;
  }
  TransferResult result;
  result.bytes = x.done;
  result.header_bytes = x.header_done;
  result.strategy = x.strategy;
  std::error_code ec = x.error;
  if (!ec && x.cancelled) ec = canceled;
  TransferHandler handler = std::move(x.handler);
  release(x);
  handler(ec, result);
}

void TransferMachine::end_relay_direction(Xfer& x) noexcept {
  Xfer& peer = xfers_[x.relay_peer];
  if (!peer.ended) return;  // the other way still runs
  Xfer& lead = x.relay_leader ? x : peer;
  Xfer& other = x.relay_leader ? peer : x;
  RelayResult result;
  result.a_to_b = lead.done;
  result.b_to_a = other.done;
  result.spliced_bytes = lead.spliced + other.spliced;
  std::error_code ec = lead.error ? lead.error : other.error;
  if (!ec && (lead.cancelled || other.cancelled)) ec = canceled;
  RelayHandler handler = std::move(lead.relay_handler);
  release(lead);
  release(other);
  handler(ec, result);
}

}  // namespace ringxfer::detail
