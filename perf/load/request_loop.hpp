#pragma once
// The request/response driver behind `echo` and `get`: N connections spread
// over T threads, each thread one edge-triggered epoll loop over its own
// connections, K requests in flight per connection.
//
// Closed loop (default): a connection starts a new request as soon as one of
// its K completes; latency runs from the moment the request was started.
// Open loop (--rate R): request j of connection i is due at a fixed time
// (the connections are interleaved evenly at R/N per second each), it is
// sent as soon as it is due and fewer than K are in flight, and its latency
// runs from when it was due, not from when it was sent. A server that stalls
// therefore shows the wait of every request it held back (no coordinated
// omission).
//
// Warm-up: only responses that complete after the warm-up, and before the
// end, are counted; bytes likewise. Nothing on the per-request path
// allocates: connection state, the send-time rings and the histogram are
// sized up front, and sends come from the protocol's fixed buffers.
//
// A Protocol provides:
//   struct State;                                 per-connection parse/verify state
//   State make_state(std::uint32_t connection) const;
//   std::uint64_t request_size_bytes() const;
//   std::span<const char> send_window(const State&, std::uint64_t offset, std::uint64_t max) const;
//   bool consume(State&, const char* data, std::size_t size, F on_response) const;
//        calls on_response() once per complete response; false on a bad byte
//   const char* error_text(const State&) const;   why consume() returned false
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "histogram.hpp"
#include "sys.hpp"

namespace ringxfer::perf {

struct RequestLoopOptions {
  Endpoint target;
  std::uint32_t connections = 64;
  std::uint32_t in_flight = 1;
  std::uint32_t threads = 1;
  double duration_s = 5;
  double warmup_s = 1;
  std::uint64_t requests = 0;  // > 0: stop after this many measured responses
  double max_time_s = 60;      // with requests: give up after this long
  double rate_per_s = 0;       // > 0: open loop at this many requests per second
  double connect_timeout_s = 5;
};

struct RequestLoopResult {
  std::uint64_t responses = 0;  // completed inside the measured window
  std::uint64_t rx_bytes = 0;   // received inside the window
  std::uint64_t tx_bytes = 0;   // sent inside the window
  std::uint64_t errors_io = 0;        // reset, refused, other socket errors
  std::uint64_t errors_verify = 0;    // a wrong byte, status or length
  std::uint64_t errors_closed = 0;    // the server closed a connection
  std::uint32_t connections_open_at_end = 0;
  double measured_s = 0;
  double connect_s = 0;  // time to open all connections
  CpuTimes cpu;          // this process, over the measured window
  bool requests_reached = true;
  std::string first_error;
  LatencyHistogram latency;
  std::uint64_t errors() const { return errors_io + errors_verify + errors_closed; }
};

namespace detail {

struct LoopControl {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> measured_responses{0};
  std::atomic<std::uint64_t> stopped_at_ns{0};  // requests mode: when the count was reached
  std::atomic<std::uint32_t> workers_running{0};
  std::uint64_t start_ns = 0;
  std::uint64_t warmup_end_ns = 0;
  std::uint64_t end_ns = UINT64_MAX;  // duration mode: end of the window
  std::uint64_t requests = 0;
};

struct ConnectionSetup {
  int fd;
  std::uint32_t index;  // global connection number (seeds the protocol state)
};

template <class Protocol>
class RequestWorker {
 public:
  RequestWorker(const Protocol& protocol, const RequestLoopOptions& options, LoopControl& control,
                std::vector<ConnectionSetup> connections)
      : protocol_(protocol),
        control_(control),
        in_flight_(options.in_flight),
        request_size_(protocol.request_size_bytes()),
        ref_times_ns_(connections.size() * options.in_flight),
        receive_buffer_(receive_buffer_bytes) {
    conns_.reserve(connections.size());
    for (const auto& setup : connections) {
      conns_.push_back(Conn{setup.fd, protocol.make_state(setup.index)});
    }
    alive_ = static_cast<std::uint32_t>(conns_.size());
    if (options.rate_per_s > 0) {
      double thread_rate = options.rate_per_s * static_cast<double>(conns_.size()) / options.connections;
      slot_interval_ns_ = 1e9 / thread_rate;
    }
  }

  RequestWorker(const RequestWorker&) = delete;
  RequestWorker& operator=(const RequestWorker&) = delete;

  void run() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
      note_error("epoll_create1: " + errno_text(errno));
      ++result_.errors_io;
      finish();
      return;
    }
    for (std::uint32_t i = 0; i < conns_.size(); ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      ev.data.u32 = i;
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, conns_[i].fd, &ev);
    }
    std::uint64_t now = monotonic_ns();
    if (!open_loop()) {
      for (auto& c : conns_) {
        start_due(c, now);
        flush(c, now);
      }
    }
    epoll_event events[max_events];
    while (!control_.stop.load(std::memory_order_relaxed) && alive_ > 0) {
      std::uint64_t wait_ns = max_wait_ns;
      if (open_loop()) {
        std::uint64_t due = slot_due_ns(cursor_);
        wait_ns = due <= now ? 0 : std::min(due - now, max_wait_ns);
      }
      timespec timeout{static_cast<time_t>(wait_ns / 1'000'000'000u), static_cast<long>(wait_ns % 1'000'000'000u)};
      int ready = epoll_pwait2(epoll_fd_, events, max_events, &timeout, nullptr);
      if (ready < 0 && errno != EINTR) {
        note_error("epoll_pwait2: " + errno_text(errno));
        ++result_.errors_io;
        break;
      }
      now = monotonic_ns();
      batch_responses_ = 0;
      for (int e = 0; e < ready; ++e) handle_event(conns_[events[e].data.u32], events[e].events, now);
      if (open_loop()) release_due(now);
      if (control_.requests > 0 && batch_responses_ > 0) count_towards_requests(now);
    }
    finish();
  }

  RequestLoopResult& result() { return result_; }

 private:
  static constexpr std::size_t receive_buffer_bytes = 256 * 1024;
  static constexpr int max_events = 512;
  static constexpr std::uint64_t max_wait_ns = 10'000'000;  // notice stop within 10 ms

  struct Conn {
    int fd;
    typename Protocol::State state;
    std::uint64_t started = 0;       // requests started (their bytes queued)
    std::uint64_t done = 0;          // responses completed
    std::uint64_t sent_bytes = 0;    // request stream bytes written
    std::uint64_t target_bytes = 0;  // request stream bytes queued
    bool alive = true;
    bool overrun = false;  // a response arrived for a request never sent
  };
  enum class Failure { io, verify, closed };

  bool open_loop() const { return slot_interval_ns_ > 0; }
  bool in_window(std::uint64_t now) const { return now >= control_.warmup_end_ns && now < control_.end_ns; }
  std::uint32_t index_of(const Conn& c) const { return static_cast<std::uint32_t>(&c - conns_.data()); }

  // Open loop: slot s is request s / n of local connection s % n.
  std::uint64_t slot_due_ns(std::uint64_t slot) const {
    return control_.start_ns + static_cast<std::uint64_t>(static_cast<double>(slot) * slot_interval_ns_);
  }
  std::uint64_t request_due_ns(const Conn& c, std::uint64_t request) const {
    return slot_due_ns(request * conns_.size() + index_of(c));
  }

  void handle_event(Conn& c, std::uint32_t events, std::uint64_t now) {
    if (!c.alive) return;
    // Read first even on EPOLLERR: bytes that arrived before a reset are
    // still checked and counted, and recv() then reports the error itself.
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      if (!read_all(c, now)) return;
    }
    start_due(c, now);
    flush(c, now);
  }

  bool read_all(Conn& c, std::uint64_t now) {
    for (;;) {
      ssize_t n = ::recv(c.fd, receive_buffer_.data(), receive_buffer_.size(), 0);
      if (n > 0) {
        if (in_window(now)) result_.rx_bytes += static_cast<std::uint64_t>(n);
        bool ok = protocol_.consume(c.state, receive_buffer_.data(), static_cast<std::size_t>(n),
                                    [&] { complete(c, now); });
        if (!ok) {
          fail(c, Failure::verify, protocol_.error_text(c.state));
          return false;
        }
        if (c.overrun) {
          fail(c, Failure::verify, "a response arrived for a request that was never sent");
          return false;
        }
        // A short read drained the socket; the next byte brings a new edge.
        if (static_cast<std::size_t>(n) < receive_buffer_.size()) return true;
        continue;
      }
      if (n == 0) {
        fail(c, Failure::closed, "the server closed a connection");
        return false;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      fail(c, Failure::io, "recv: " + errno_text(errno));
      return false;
    }
  }

  void complete(Conn& c, std::uint64_t now) {
    if (c.done >= c.started) {
      c.overrun = true;
      return;
    }
    std::uint64_t ref = ref_times_ns_[index_of(c) * in_flight_ + c.done % in_flight_];
    ++c.done;
    if (in_window(now)) {
      result_.latency.record(now > ref ? now - ref : 0);
      ++result_.responses;
      ++batch_responses_;
    }
  }

  // Starts every request that may start now: closed loop, up to K in
  // flight; open loop, also only those already due.
  void start_due(Conn& c, std::uint64_t now) {
    if (!c.alive) return;
    while (c.started - c.done < in_flight_) {
      std::uint64_t ref = now;
      if (open_loop()) {
        ref = request_due_ns(c, c.started);
        if (ref > now) break;
      }
      ref_times_ns_[index_of(c) * in_flight_ + c.started % in_flight_] = ref;
      ++c.started;
      c.target_bytes += request_size_;
    }
  }

  void flush(Conn& c, std::uint64_t now) {
    while (c.alive && c.sent_bytes < c.target_bytes) {
      auto window = protocol_.send_window(c.state, c.sent_bytes, c.target_bytes - c.sent_bytes);
      ssize_t n = ::send(c.fd, window.data(), window.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.sent_bytes += static_cast<std::uint64_t>(n);
        if (in_window(now)) result_.tx_bytes += static_cast<std::uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT brings us back
      fail(c, Failure::io, "send: " + errno_text(errno));
    }
  }

  void release_due(std::uint64_t now) {
    const std::uint64_t n = conns_.size();
    while (slot_due_ns(cursor_) <= now) {
      Conn& c = conns_[cursor_ % n];
      if (c.alive && c.started <= cursor_ / n) {
        start_due(c, now);
        flush(c, now);
      }
      ++cursor_;
    }
  }

  void count_towards_requests(std::uint64_t now) {
    std::uint64_t total = control_.measured_responses.fetch_add(batch_responses_) + batch_responses_;
    if (total >= control_.requests && !control_.stop.exchange(true)) control_.stopped_at_ns.store(now);
  }

  void fail(Conn& c, Failure kind, std::string why) {
    if (!c.alive) return;
    c.alive = false;
    --alive_;
    ::close(c.fd);
    // Connections torn down after the stop are not the server's fault.
    if (control_.stop.load(std::memory_order_relaxed)) return;
    switch (kind) {
      case Failure::io: ++result_.errors_io; break;
      case Failure::verify: ++result_.errors_verify; break;
      case Failure::closed: ++result_.errors_closed; break;
    }
    note_error(std::move(why));
  }

  void note_error(std::string why) {
    if (result_.first_error.empty()) result_.first_error = std::move(why);
  }

  void finish() {
    for (auto& c : conns_) {
      if (c.alive) {
        ++result_.connections_open_at_end;
        ::close(c.fd);
        c.alive = false;
      }
    }
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
    epoll_fd_ = -1;
    control_.workers_running.fetch_sub(1);
  }

  const Protocol& protocol_;
  LoopControl& control_;
  const std::uint64_t in_flight_;
  const std::uint64_t request_size_;
  std::vector<Conn> conns_;
  std::vector<std::uint64_t> ref_times_ns_;  // per connection, a ring of K start (or due) times
  std::vector<char> receive_buffer_;
  std::uint32_t alive_ = 0;
  int epoll_fd_ = -1;
  double slot_interval_ns_ = 0;
  std::uint64_t cursor_ = 0;
  std::uint64_t batch_responses_ = 0;
  RequestLoopResult result_;
};

}  // namespace detail

// Opens the connections, runs the loop and returns the merged result.
// Throws RuntimeError if a connection cannot be opened.
template <class Protocol>
RequestLoopResult run_request_loop(const Protocol& protocol, const RequestLoopOptions& options) {
  std::uint64_t fd_limit = raise_fd_limit();
  if (options.connections + 64 > fd_limit) {
    throw RuntimeError("--connections " + std::to_string(options.connections) + " needs more file descriptors than RLIMIT_NOFILE allows (" +
                       std::to_string(fd_limit) + ")");
  }
  SocketAddress address = resolve(options.target);
  std::uint32_t threads = std::max<std::uint32_t>(1, std::min(options.threads, options.connections));

  std::vector<std::vector<detail::ConnectionSetup>> per_thread(threads);
  std::uint64_t connect_start_ns = monotonic_ns();
  try {
    for (std::uint32_t i = 0; i < options.connections; ++i) {
      int fd = connect_tcp(address, options.target, options.connect_timeout_s);
      per_thread[i % threads].push_back({fd, i});
    }
  } catch (...) {
    for (auto& list : per_thread) for (auto& c : list) ::close(c.fd);
    throw;
  }
  double connect_s = static_cast<double>(monotonic_ns() - connect_start_ns) / 1e9;

  detail::LoopControl control;
  control.start_ns = monotonic_ns();
  control.warmup_end_ns = control.start_ns + static_cast<std::uint64_t>(options.warmup_s * 1e9);
  control.requests = options.requests;
  if (options.requests == 0) {
    control.end_ns = control.warmup_end_ns + static_cast<std::uint64_t>(options.duration_s * 1e9);
  }
  std::uint64_t give_up_ns = options.requests == 0 ? control.end_ns
                                                   : control.warmup_end_ns + static_cast<std::uint64_t>(options.max_time_s * 1e9);

  std::vector<std::unique_ptr<detail::RequestWorker<Protocol>>> workers;
  for (auto& list : per_thread) {
    workers.push_back(std::make_unique<detail::RequestWorker<Protocol>>(protocol, options, control, std::move(list)));
  }
  control.workers_running.store(threads);
  std::vector<std::thread> running;
  for (auto& w : workers) running.emplace_back([&worker = *w] { worker.run(); });

  // The main thread only keeps time: CPU at the start and end of the window.
  sleep_until_ns(control.warmup_end_ns);
  CpuTimes cpu_start = process_cpu_times();
  std::uint64_t window_start_ns = monotonic_ns();
  while (!control.stop.load() && control.workers_running.load() > 0 && monotonic_ns() < give_up_ns) {
    sleep_until_ns(std::min(give_up_ns, monotonic_ns() + 2'000'000));
  }
  std::uint64_t window_end_ns = monotonic_ns();
  CpuTimes cpu_end = process_cpu_times();
  control.stop.store(true);
  for (auto& t : running) t.join();

  RequestLoopResult merged;
  for (auto& w : workers) {
    auto& r = w->result();
    merged.responses += r.responses;
    merged.rx_bytes += r.rx_bytes;
    merged.tx_bytes += r.tx_bytes;
    merged.errors_io += r.errors_io;
    merged.errors_verify += r.errors_verify;
    merged.errors_closed += r.errors_closed;
    merged.connections_open_at_end += r.connections_open_at_end;
    merged.latency.merge(r.latency);
    if (merged.first_error.empty()) merged.first_error = r.first_error;
  }
  if (options.requests == 0) {
    window_end_ns = std::min(window_end_ns, control.end_ns);
  } else if (std::uint64_t at = control.stopped_at_ns.load(); at != 0) {
    window_end_ns = at;
  } else {
    merged.requests_reached = false;
  }
  merged.measured_s = window_end_ns > window_start_ns ? static_cast<double>(window_end_ns - window_start_ns) / 1e9 : 0.0;
  merged.connect_s = connect_s;
  merged.cpu = cpu_end - cpu_start;
  return merged;
}

}  // namespace ringxfer::perf
