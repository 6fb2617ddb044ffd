// One engine thread of `ringxfer serve`.
//
// A connection's life:
//   accept -> multishot recv (shared pool buffers) -> bytes copied into the
//   connection's input area -> parse -> one response in flight (busy) ->
//   next pipelined request, or idle -> ... -> close.
//
// Receive: every chunk is copied out of its pool buffer at once, into an
// input area the connection takes from the thread's free list when it has
// bytes to keep, and gives back when it is idle: an idle keep-alive
// connection holds no buffer, and no pool buffer stays lent to a slow
// client. The area holds one request head at its largest (the parser's URI
// and header limits), so a head that fills it is refused (431). While a
// response is in flight the request's bytes must stay where they are (the
// access-log line points into them); bytes that do not fit behind them are
// held, in their pool buffers, in a stash, and the recv is cancelled until
// the stash drains: a client that pipelines faster than it reads is paused
// by TCP, not buffered (the stash holds what arrived before the cancel
// landed: receive-ring buffers, so it is bounded by the ring).
//
// Send: the response head goes with its body through Transfers (one sendmsg
// for a small file, MSG_MORE ahead of a spliced one); status responses and
// HEAD are one send. Responses of one connection go one at a time, in order.
//
// Timeouts: four deadline lists (header, idle, send, linger) ticked by one
// engine timeout per thread; no timer operation per request.
//
// Closing: after an error response or Connection: close, shutdown(SHUT_WR)
// and read-and-discard until the peer closes or the linger timeout passes,
// so the response is not destroyed by a RST. A connection's memory is
// reused only when every operation it started has completed.
#include "serve_worker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <vector>

#include "http/access_log.hpp"
#include "http/conditional.hpp"
#include "http/date.hpp"
#include "http/response.hpp"
#include "file_cache.hpp"
#include "ringxfer/transfer.hpp"
#include "server_main.hpp"

namespace ringxfer::cli::serve {
namespace {

using http::Status;

// How often the deadline lists are checked: timeouts fire up to this late.
constexpr auto tick_interval = std::chrono::milliseconds(100);
constexpr std::int64_t log_flush_interval_ns = 1'000'000'000;
// Stash slots reserved per connection. More may arrive before a cancel
// lands (io_uring can have posted a CQE for every buffer of the ring by
// then); each is a pool receive buffer, so the total stays bounded by the
// receive ring, and the vector grows once per connection object, not per
// request.
constexpr std::uint32_t stash_reserve = 8;

std::int64_t wall_seconds() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return ts.tv_sec;
}

bool canceled(std::error_code ec) noexcept { return ec == std::errc::operation_canceled; }

struct Conn {
  DeadlineHook timer;
  Socket socket;
  OpId recv;
  TransferId transfer;
  File file;
  CachedFile* cached = nullptr;  // the response's file came from the cache
  std::uint32_t ops = 0;  // operations whose handler has yet to run for the last time
  bool in_use = false;
  bool closing = false;      // close started: nothing new starts
  bool lingering = false;    // shut down for writing; reading and discarding
  bool recv_active = false;
  bool recv_paused = false;  // recv cancelled until the stash drains
  bool peer_eof = false;
  bool busy = false;         // a response is in flight
  bool transfer_ended = false;

  // Input: [begin, end) of `area` are received bytes not yet answered.
  char* area = nullptr;
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
  http::RequestParser parser;
  std::vector<Buffer> stash;       // received, not yet copied: stash[stash_head] first
  std::uint32_t stash_head = 0;
  std::uint32_t stash_offset = 0;  // bytes of stash[stash_head] already taken
  bool stashed() const noexcept { return stash_head < stash.size(); }

  // The response in flight.
  std::uint32_t consumed = 0;  // bytes of its request
  std::uint32_t head_bytes = 0;
  unsigned status = 0;
  bool keep_alive = true;
  bool head_only = false;
  std::int64_t started_ns = 0;
  std::uint64_t peer_acked = 0;  // peer_bytes_acked() at the last send deadline
  std::string_view log_line, log_referer, log_agent;
  char remote[INET6_ADDRSTRLEN] = {};
};

Conn* owner(DeadlineHook* h) noexcept { return static_cast<Conn*>(h->owner); }

// The file a response serves: a cache entry (a reference held), or an fd
// just opened that is ours to adopt or close.
struct ServedFile {
  std::uint64_t size = 0;
  std::int64_t mtime_seconds = 0;
  http::ETag etag;
  std::string_view content_type;
  int fd = -1;
  CachedFile* cached = nullptr;
};

class ServeWorker final : public Worker {
 public:
  explicit ServeWorker(const ServeConfig& config)
      : config_(config),
        input_bytes_(config.limits.max_uri_bytes + config.limits.max_head_bytes + 64),
        head_bytes_(config.limits.max_uri_bytes + 2048),
        path_scratch_(config.limits.max_uri_bytes + 32),
        location_scratch_(config.limits.max_uri_bytes + 8),
        log_(config.access_log) {
    header_.duration_ns = config.header_timeout.count();
    idle_.duration_ns = config.idle_timeout.count();
    send_.duration_ns = config.send_timeout.count();
    linger_.duration_ns = config.linger_timeout.count();
  }

  std::error_code start(WorkerContext& context, std::string& what) override {
    context_ = &context;
    engine_ = &context.engine();
    transfers_ = std::make_unique<Transfers>(*engine_);
    // Each entry holds an fd and a fixed-file slot: keep most slots for
    // connections.
    const std::uint32_t cache_capacity =
        std::min(config_.open_file_cache, engine_->slot_usage().fd_slots_capacity / 4);
    cache_ = std::make_unique<OpenFileCache>(*engine_, config_.root_fd, cache_capacity,
                                             config_.open_file_inactive.count(), config_.open_file_bytes);
    key_.reserve(config_.limits.max_uri_bytes + 2);
    what = "listener";
    if (auto ec = listener_.take(context)) return ec;
    if (auto ec = arm_accept()) return ec;
    last_flush_ns_ = now_ns();
    arm_tick();
    return {};
  }

  void drain() override {
    draining_ = true;
    listener_.close(*engine_);  // the accept ends with it
    close_waiting();            // as the kernel does with the backlog
    // Idle connections close now; the others after their current response
    // (which says Connection: close) or when their timeout passes.
    for (auto& c : conns_) {
      if (c->in_use && !c->closing && !c->lingering && !c->busy && c->begin == c->end && !c->stashed()) {
        close_now(c.get());
      }
    }
    maybe_finished();
  }

  void abort() override {
    close_waiting();
    for (auto& c : conns_) {
      if (c->in_use) close_now(c.get());
    }
  }

  void read_counters(ToolCounters& out) const override {
    out = counters_;
    if (cache_) {
      const OpenFileCache::Counters& k = cache_->counters();
      out.file_cache = {k.hits, k.misses, k.stale, k.memory_hits, k.memory_bytes};
    }
  }

  void flush_log() noexcept { log_.flush(); }

 private:
  // ------------------------------------------------------------ accept --

  std::error_code arm_accept() {
    OpId id = engine_->accept(listener_.socket(), [this](std::error_code ec, Socket s) { on_accept(ec, s); });
    if (!id) return id.error();
    accept_ = id;
    accepting_ = true;
    return {};
  }

  bool at_limit() const noexcept {
    return config_.max_connections != 0 && counters_.connections_open >= config_.max_connections;
  }

  void on_accept(std::error_code ec, Socket s) {
    if (ec) {
      accepting_ = false;
      if (!canceled(ec) && !draining_) {
        // The multishot ended on an error (the engine already pauses on
        // EMFILE and friends): count it and go on accepting.
        ++counters_.errors;
        if (auto again = arm_accept()) {
          std::cerr << "ringxfer serve: accept stopped: " << ec.message() << "; " << again.message() << '\n';
        }
      }
      maybe_resume_accept();
      maybe_finished();
      return;
    }
    if (draining_) {
      engine_->close(s, [](std::error_code) {});
      return;
    }
    if (at_limit() || waiting_head_ < waiting_.size()) {
      // Accepted after the limit was reached, before the paused accept's
      // cancel took effect (a multishot accept takes the whole backlog in one
      // go on epoll, a CQ batch on io_uring). Closing it would reset a client
      // that did nothing wrong; it waits here, unread, as it would have in
      // the backlog, and is served first when a connection closes.
      waiting_.push_back(s);
      pause_accept();
      return;
    }
    start_connection(s);
  }

  void pause_accept() {
    if (accepting_ && !accept_paused_) {
      // Leave further connections in the kernel's backlog until one closes.
      accept_paused_ = true;
      engine_->cancel(accept_);
    }
  }

  // A connection freed its place: the longest-waiting accepted one takes it.
  void admit_waiting() {
    while (waiting_head_ < waiting_.size() && !at_limit() && !draining_) {
      start_connection(waiting_[waiting_head_++]);
    }
    if (waiting_head_ == waiting_.size()) {
      waiting_.clear();  // keeps its capacity: it grows once, to the largest burst
      waiting_head_ = 0;
    }
  }

  void close_waiting() {
    for (std::size_t i = waiting_head_; i < waiting_.size(); ++i) engine_->close(waiting_[i], [](std::error_code) {});
    waiting_.clear();
    waiting_head_ = 0;
  }

  void start_connection(Socket s) {
    Conn* c = take_conn();
    c->socket = s;
    ++counters_.connections_accepted;
    ++counters_.connections_open;
    // Pipelined and keep-alive responses must not wait for the previous
    // segment's ACK (Nagle + delayed ACK): TCP_NODELAY comes from the
    // listener (Listener::adopt); a head still joins its body (one sendmsg,
    // or MSG_MORE). The fd is asked for only when the log names the peer.
    if (log_.enabled()) peer_name(engine_->native_handle(s), c->remote);
    header_.push(c->timer, now_ns());
    arm_recv(c);
    if (at_limit()) pause_accept();
  }

  void maybe_resume_accept() {
    if (!accept_paused_ || accepting_ || draining_ || at_limit() || waiting_head_ < waiting_.size() ||
        !listener_.open()) {
      return;
    }
    accept_paused_ = false;
    if (auto ec = arm_accept()) {
      std::cerr << "ringxfer serve: accept: " << ec.message() << '\n';
    }
  }

  static void peer_name(int fd, char* out) noexcept {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    std::strcpy(out, "-");
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return;
    if (ss.ss_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, out, INET6_ADDRSTRLEN);
    } else if (ss.ss_family == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, out, INET6_ADDRSTRLEN);
    }
  }

  // ----------------------------------------------------------- receive --

  void arm_recv(Conn* c) {
    c->recv = engine_->recv(c->socket, [this, c](std::error_code ec, Buffer b) { on_recv(c, ec, std::move(b)); });
    if (!c->recv) {
      ++counters_.errors;
      close_now(c);
      return;
    }
    c->recv_active = true;
    ++c->ops;
  }

  void on_recv(Conn* c, std::error_code ec, Buffer b) {
    if (!ec) {
      if (c->closing || c->lingering) return;  // read and discard
      counters_.bytes_in += b.size();
      if (c->stashed()) {
        stash_push(c, std::move(b), 0);  // behind what waits already
        return;
      }
      if (c->timer.list == &idle_) header_.push(c->timer, now_ns());  // a new request begins
      append(c, std::move(b));
      process(c);
      return;
    }
    // The recv's last call.
    c->recv_active = false;
    --c->ops;
    if (c->closing) {
      release_if_done(c);
    } else if (c->lingering) {
      if (canceled(ec) && c->recv_paused) {
        c->recv_paused = false;  // a pause's cancel landed: go on discarding
        arm_recv(c);
      } else {
        close_now(c);  // the peer closed (or reset): the linger is over
      }
    } else if (canceled(ec) && c->recv_paused) {
      maybe_resume_recv(c);
    } else if (ec == error::eof) {
      c->peer_eof = true;  // answer what is complete, then close
      process(c);
    } else {
      if (!canceled(ec)) ++counters_.errors;
      close_now(c);
    }
  }

  void take_area(Conn* c) {
    if (c->area != nullptr) return;
    if (free_areas_.empty()) {
      // Grows with the connections that have bytes at once, never per request.
      areas_.push_back(std::make_unique<char[]>(input_bytes_ + head_bytes_));
      c->area = areas_.back().get();
    } else {
      c->area = free_areas_.back();
      free_areas_.pop_back();
    }
    c->begin = c->end = 0;
  }

  void give_back_area(Conn* c) {
    if (c->area != nullptr) free_areas_.push_back(c->area);
    c->area = nullptr;
    c->begin = c->end = 0;
  }

  // Moves the unanswered bytes to the front when `want` more do not fit
  // behind them; only between responses (a response's request must stay).
  void make_room(Conn* c, std::size_t want) {
    if (c->busy || c->begin == 0 || input_bytes_ - c->end >= want) return;
    std::memmove(c->area, c->area + c->begin, c->end - c->begin);
    c->end -= c->begin;
    c->begin = 0;
  }

  void append(Conn* c, Buffer b) {
    take_area(c);
    make_room(c, b.size());
    std::size_t n = std::min<std::size_t>(input_bytes_ - c->end, b.size());
    std::memcpy(c->area + c->end, b.data(), n);
    c->end += std::uint32_t(n);
    if (n < b.size()) stash_push(c, std::move(b), std::uint32_t(n));
  }

  void stash_push(Conn* c, Buffer b, std::uint32_t offset) {
    if (!c->stashed()) {
      c->stash.clear();
      c->stash_head = 0;
      c->stash_offset = offset;
    }
    c->stash.push_back(std::move(b));
    if (c->recv_active && !c->recv_paused) {
      c->recv_paused = true;
      engine_->cancel(c->recv);
    }
  }

  void drop_stash(Conn* c) {
    c->stash.clear();  // the buffers go back to the receive ring
    c->stash_head = 0;
    c->stash_offset = 0;
  }

  // Stashed bytes into the area, as far as they fit.
  void absorb(Conn* c) {
    while (c->stashed()) {
      Buffer& b = c->stash[c->stash_head];
      std::size_t left = b.size() - c->stash_offset;
      take_area(c);
      make_room(c, left);
      std::size_t n = std::min<std::size_t>(input_bytes_ - c->end, left);
      if (n == 0) return;
      std::memcpy(c->area + c->end, b.data() + c->stash_offset, n);
      c->end += std::uint32_t(n);
      c->stash_offset += std::uint32_t(n);
      if (c->stash_offset < b.size()) return;
      b.release();
      ++c->stash_head;
      c->stash_offset = 0;
    }
  }

  void maybe_resume_recv(Conn* c) {
    if (!c->recv_paused || c->recv_active || c->stashed() || c->closing || c->lingering || c->peer_eof) return;
    c->recv_paused = false;
    arm_recv(c);
  }

  // Answers the next complete request, if the connection is free to.
  void process(Conn* c) {
    while (!c->closing && !c->lingering && !c->busy) {
      absorb(c);
      if (c->begin == c->end) {
        if (!c->stashed()) give_back_area(c);  // idle connections hold no buffer
        if (c->peer_eof || draining_) {
          close_now(c);
          return;
        }
        break;
      }
      std::string_view input(c->area + c->begin, c->end - c->begin);
      http::ParseResult r = c->parser.parse(input, request_);
      if (r.state == http::ParseState::need_more) {
        if (c->begin == 0 && c->end == input_bytes_) {
          respond_error(c, Status::header_fields_too_large);  // a head larger than every limit allows
        } else if (c->peer_eof && !c->stashed()) {
          close_now(c);  // the rest of this request will never come
          return;
        }
        break;
      }
      if (r.state == http::ParseState::error) {
        respond_error(c, r.status);
        break;
      }
      c->consumed = std::uint32_t(r.consumed);
      handle_request(c);
    }
    if (!c->closing) maybe_resume_recv(c);
  }

  // ---------------------------------------------------------- requests --

  void begin_response(Conn* c) {
    c->busy = true;
    c->started_ns = now_ns();
    c->head_bytes = 0;
    send_.push(c->timer, c->started_ns);
  }

  // Whether the peer acknowledged bytes since the last send deadline. Asked
  // only when a deadline expires (with accept_direct, native_handle() may
  // install an fd for the socket: rare, and kept until the close).
  bool peer_took_bytes(Conn* c) noexcept {
    std::uint64_t acked = 0;
    if (!peer_bytes_acked(engine_->native_handle(c->socket), acked) || acked <= c->peer_acked) return false;
    c->peer_acked = acked;
    return true;
  }

  void handle_request(Conn* c) {
    const http::Request& q = request_;
    begin_response(c);
    c->head_only = q.method == http::Method::head;
    // A peer that has shut down its side still gets every request it sent
    // answered; process() closes once none is left.
    c->keep_alive = q.keep_alive && !draining_;
    c->log_line = q.request_line;
    c->log_referer = q.referer;
    c->log_agent = q.user_agent;

    http::PathResult path = http::normalize_path(q.path, path_scratch_);
    if (path.status != Status::ok) {
      respond_status(c, path.status);
      return;
    }
    if (cache_->enabled()) {
      key_.assign(path.relative);  // before open_file() moves the bytes
      if (path.directory) key_.push_back('/');
      if (CachedFile* e = cache_->find(key_, c->started_ns)) {
        respond_file(c, served(e));
        return;
      }
    }
    OpenedFile file;
    Status status = Status::ok;
    switch (open_file(config_.root_fd, path, path_scratch_, file, status)) {
      case Lookup::refused:
        respond_status(c, status);
        return;
      case Lookup::redirect: {
        std::string_view location = http::directory_location(q.path, q.query, location_scratch_);
        respond_status(c, location.empty() ? Status::uri_too_long : Status::moved_permanently, location);
        return;
      }
      case Lookup::file: {
        std::string_view type = config_.mime->lookup(file.name);
        if (CachedFile* e = cache_->enabled() ? cache_->insert(key_, file, type, c->started_ns) : nullptr) {
          respond_file(c, served(e));
          return;
        }
        ServedFile f;
        f.size = file.size;
        f.mtime_seconds = file.mtime_seconds;
        f.etag = http::ETag::from(file.size, file.mtime_seconds);
        f.content_type = type;
        f.fd = file.fd;
        respond_file(c, f);
        return;
      }
    }
  }

  std::span<char> head_area(Conn* c) {
    take_area(c);
    return {c->area + input_bytes_, head_bytes_};
  }

  // A parse error or a timeout: answer, then close (the bytes after a bad
  // head frame nothing we can trust).
  void respond_error(Conn* c, Status s) {
    begin_response(c);
    c->head_only = false;
    c->keep_alive = false;
    c->log_line = c->log_referer = c->log_agent = {};
    respond_status(c, s);
  }

  void respond_status(Conn* c, Status s, std::string_view location = {}, std::uint64_t complete_length = 0) {
    http::ResponseHead h;
    h.status = s;
    h.keep_alive = c->keep_alive;
    h.date = dates_.at(wall_seconds());
    h.location = location;
    h.complete_length = complete_length;
    std::span<char> out = head_area(c);
    std::size_t n = http::write_status_response(h, c->head_only, out);
    if (n == 0) {
      h.status = s = Status::internal_server_error;
      h.location = {};
      n = http::write_status_response(h, c->head_only, out);
    }
    std::string_view text(out.data(), n);
    std::size_t head_end = text.find("\r\n\r\n");
    c->head_bytes = std::uint32_t(head_end == std::string_view::npos ? n : head_end + 4);
    c->status = http::code(s);
    send_head(c, n);
  }

  void send_head(Conn* c, std::size_t n) {
    ++c->ops;
    OpId id = engine_->send(c->socket, std::as_bytes(std::span<const char>(c->area + input_bytes_, n)),
                            [this, c](std::error_code ec, std::size_t sent) {
                              --c->ops;
                              std::size_t body = sent > c->head_bytes ? sent - c->head_bytes : 0;
                              finish_response(c, ec, body, sent);
                            });
    if (!id) {
      --c->ops;
      finish_response(c, id.error(), 0, 0);
    }
  }

  static ServedFile served(CachedFile* e) noexcept {
    ServedFile f;
    f.size = e->size;
    f.mtime_seconds = e->mtime_seconds;
    f.etag = e->etag;
    f.content_type = e->content_type;
    f.cached = e;
    return f;
  }

  // A response that will not use its file after all.
  void put_back(const ServedFile& f) noexcept {
    if (f.cached != nullptr) cache_->release(f.cached);
    else ::close(f.fd);
  }

  void respond_file(Conn* c, const ServedFile& f) {
    const http::Request& q = request_;
    http::Selection sel = http::select_response(q, {f.size, f.mtime_seconds, f.etag.view()});
    if (sel.status == Status::range_not_satisfiable) {
      put_back(f);
      respond_status(c, sel.status, {}, f.size);
      return;
    }
    http::ResponseHead h;
    h.status = sel.status;
    h.keep_alive = c->keep_alive;
    h.date = dates_.at(wall_seconds());
    h.last_modified = f.mtime_seconds;
    h.etag = f.etag.view();
    std::uint64_t first = 0;
    std::uint64_t length = 0;
    if (sel.status != Status::not_modified) {
      length = f.size;
      if (sel.status == Status::partial_content) {
        first = sel.range.first;
        length = sel.range.length();
      }
      h.content_type = f.content_type;
      h.content_length = length;
      h.range = sel.range;
      h.complete_length = f.size;
      h.accept_ranges = true;
    }
    std::span<char> out = head_area(c);
    std::size_t n = http::write_response_head(h, out);
    if (n == 0) {
      put_back(f);
      respond_status(c, Status::internal_server_error);
      return;
    }
    c->status = http::code(sel.status);
    c->head_bytes = std::uint32_t(n);
    if (c->head_only || length == 0) {
      put_back(f);
      send_head(c, n);
      return;
    }
    if (f.cached != nullptr && !f.cached->bytes().empty()) {
      send_from_memory(c, f.cached, out.first(n), f.cached->bytes().subspan(first, length));
      return;
    }
    File file;
    if (f.cached != nullptr) {
      file = f.cached->file;
    } else if (engine_->adopt(f.fd, file)) {
      ::close(f.fd);
      respond_status(c, Status::service_unavailable);
      return;
    }
    c->file = file;
    c->cached = f.cached;
    c->transfer_ended = false;
    TransferOptions options;
    options.header = std::as_bytes(std::span<const char>(out.data(), n));
    ++c->ops;
    TransferId id = transfers_->start(
        Source::file(file, std::int64_t(first), std::size_t(length)), Sink::socket(c->socket), options,
        [this, c](std::error_code ec, const TransferResult& r) {
          --c->ops;
          c->transfer_ended = true;
          c->transfer = {};
          let_go_of_file(c);
          finish_response(c, ec, r.bytes, r.bytes + r.header_bytes);
        },
        [this, c](std::size_t) {
          if (c->timer.list == &send_) send_.push(c->timer, now_ns());  // still moving: not stalled
        });
    if (!id) {
      --c->ops;
      let_go_of_file(c);
      respond_status(c, Status::service_unavailable);
      return;
    }
    if (!c->transfer_ended) c->transfer = id;
  }

  // Head and body (a cached file's bytes, which the entry's reference keeps)
  // in one sendmsg: no read, no transfer.
  void send_from_memory(Conn* c, CachedFile* e, std::span<const char> head, std::span<const std::byte> body) {
    const std::span<const std::byte> pieces[2] = {std::as_bytes(head), body};
    ++c->ops;
    OpId id = engine_->sendv(c->socket, pieces, [this, c, e](std::error_code ec, std::size_t sent) {
      --c->ops;
      cache_->release(e);
      std::size_t body_sent = sent > c->head_bytes ? sent - c->head_bytes : 0;
      finish_response(c, ec, body_sent, sent);
    });
    if (!id) {
      --c->ops;
      cache_->release(e);
      finish_response(c, id.error(), 0, 0);
    }
  }

  void let_go_of_file(Conn* c) noexcept {
    if (c->cached != nullptr) cache_->release(c->cached);
    else engine_->close(c->file, [](std::error_code) {});
    c->cached = nullptr;
    c->file = {};
  }

  void finish_response(Conn* c, std::error_code ec, std::uint64_t body_bytes, std::uint64_t bytes_out) {
    c->busy = false;
    ++counters_.messages;
    if (c->status < counters_.by_status.size()) ++counters_.by_status[c->status];
    counters_.bytes_out += bytes_out;
    const std::int64_t now = now_ns();  // one clock read for the latency and the next deadline
    counters_.latency.record(std::uint64_t(now - c->started_ns));
    log_access(c, body_bytes);
    if (ec) {
      if (!c->closing && !canceled(ec)) ++counters_.errors;
      close_now(c);
      return;
    }
    if (c->closing) {
      release_if_done(c);
      return;
    }
    if (!c->keep_alive) {
      graceful_close(c);
      return;
    }
    c->begin += c->consumed;
    c->consumed = 0;
    if (c->begin == c->end) c->begin = c->end = 0;
    if (c->begin < c->end || c->stashed()) header_.push(c->timer, now);  // the next request has begun
    else idle_.push(c->timer, now);
    process(c);
  }

  void log_access(Conn* c, std::uint64_t body_bytes) {
    if (!log_.enabled()) return;
    http::AccessLogEntry e{c->remote, wall_seconds(), c->log_line, c->status, body_bytes, c->log_referer,
                           c->log_agent};
    std::size_t n = http::append_access_log(e, log_.tail());
    if (n == 0) {
      log_.flush();
      n = http::append_access_log(e, log_.tail());
    }
    log_.commit(n);  // 0: a line longer than the whole buffer is dropped
  }

  // ----------------------------------------------------------- closing --

  void graceful_close(Conn* c) {
    drop_stash(c);
    give_back_area(c);
    if (c->peer_eof) {
      close_now(c);  // nothing more will arrive to be discarded
      return;
    }
    c->lingering = true;
    linger_.push(c->timer, now_ns());
    ++c->ops;
    OpId id = engine_->shutdown(c->socket, SHUT_WR, [this, c](std::error_code) {
      --c->ops;
      release_if_done(c);
    });
    if (!id) {
      --c->ops;
      close_now(c);
      return;
    }
    if (!c->recv_active) {
      c->recv_paused = false;
      arm_recv(c);
    }
  }

  void close_now(Conn* c) {
    if (c->closing || !c->in_use) return;
    c->closing = true;
    DeadlineList::unlink(c->timer);
    drop_stash(c);
    ++c->ops;
    OpId id = engine_->close(c->socket, [this, c](std::error_code) {
      --c->ops;
      release_if_done(c);
    });
    if (!id) --c->ops;  // the socket is still closed; only the handler cannot run
    // After the close has started: a transfer that ends at once finds the
    // connection closing, not released.
    if (c->transfer) transfers_->cancel(c->transfer);
    release_if_done(c);
  }

  void release_if_done(Conn* c) {
    if (!c->in_use || !c->closing || c->ops > 0) return;
    drop_stash(c);
    give_back_area(c);
    DeadlineList::unlink(c->timer);
    c->in_use = false;
    --counters_.connections_open;
    free_.push_back(c);
    admit_waiting();
    maybe_resume_accept();
    maybe_finished();
  }

  Conn* take_conn() {
    Conn* c = nullptr;
    if (free_.empty()) {
      conns_.push_back(std::make_unique<Conn>());  // per connection, never per request
      c = conns_.back().get();
    } else {
      c = free_.back();
      free_.pop_back();
    }
    std::vector<Buffer> stash = std::move(c->stash);  // keeps its capacity
    c->~Conn();
    new (c) Conn();
    c->stash = std::move(stash);
    c->stash.clear();
    if (c->stash.capacity() < stash_reserve) c->stash.reserve(stash_reserve);
    c->parser = http::RequestParser(config_.limits);
    c->timer.owner = c;
    c->in_use = true;
    return c;
  }

  void maybe_finished() {
    if (!draining_ || accepting_ || counters_.connections_open != 0 || finished_) return;
    finished_ = true;
    log_.flush();
    cache_->clear();
    if (tick_) engine_->cancel(tick_);
    context_->finished();
  }

  // ------------------------------------------------------------ timers --

  void arm_tick() {
    tick_ = engine_->timeout(tick_interval, [this](std::error_code ec) { on_tick(ec); });
  }

  void on_tick(std::error_code ec) {
    tick_ = {};
    if (ec || finished_) return;
    const std::int64_t now = now_ns();
    while (DeadlineHook* h = header_.expired(now)) {
      DeadlineList::unlink(*h);
      Conn* c = owner(h);
      // A request begun and not finished in time gets 408; a connection that
      // never sent a byte is just closed.
      if (c->begin < c->end || c->stashed()) respond_error(c, Status::request_timeout);
      else close_now(c);
    }
    while (DeadlineHook* h = idle_.expired(now)) {
      DeadlineList::unlink(*h);
      close_now(owner(h));
    }
    while (DeadlineHook* h = send_.expired(now)) {
      Conn* c = owner(h);
      if (peer_took_bytes(c)) {
        send_.push(c->timer, now);  // slow, not stalled: it acknowledged more since the last deadline
        continue;
      }
      DeadlineList::unlink(*h);
      ++counters_.errors;  // a client that stopped reading
      close_now(c);
    }
    while (DeadlineHook* h = linger_.expired(now)) {
      DeadlineList::unlink(*h);
      close_now(owner(h));
    }
    cache_->expire(now);
    if (now - last_flush_ns_ >= log_flush_interval_ns) {
      log_.flush();
      last_flush_ns_ = now;
    }
    arm_tick();
  }

  // -------------------------------------------------------------- state --

  const ServeConfig& config_;
  Listener listener_;
  const std::size_t input_bytes_;
  const std::size_t head_bytes_;
  WorkerContext* context_ = nullptr;
  Engine* engine_ = nullptr;
  std::unique_ptr<Transfers> transfers_;
  std::unique_ptr<OpenFileCache> cache_;
  std::string key_;  // the cache key of the request being handled
  OpId accept_;
  OpId tick_;
  bool accepting_ = false;
  bool accept_paused_ = false;
  bool draining_ = false;
  bool finished_ = false;

  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> free_;
  // Accepted over --max-connections (see on_accept): waiting_[waiting_head_...]
  std::vector<Socket> waiting_;
  std::size_t waiting_head_ = 0;
  std::vector<std::unique_ptr<char[]>> areas_;
  std::vector<char*> free_areas_;

  // Scratch for the one request being handled (handling is synchronous up
  // to the first send).
  http::Request request_;
  std::vector<char> path_scratch_;
  std::vector<char> location_scratch_;
  http::DateCache dates_;

  DeadlineList header_;
  DeadlineList idle_;
  DeadlineList send_;
  DeadlineList linger_;

  LogBuffer log_;
  std::int64_t last_flush_ns_ = 0;
  ToolCounters counters_;
};

}  // namespace

std::unique_ptr<Worker> make_serve_worker(const ServeConfig& config) {
  return std::make_unique<ServeWorker>(config);
}

void flush_serve_worker(Worker& worker) { static_cast<ServeWorker&>(worker).flush_log(); }

}  // namespace ringxfer::cli::serve
