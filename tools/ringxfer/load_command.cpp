// `ringxfer load --to ADDR`: an echo load generator that checks every byte.
//
// Each connection sends messages cut from a fixed pseudo-random pattern, at a
// per-connection offset, so the byte expected at any stream offset is known
// without keeping what was sent; every echoed byte is compared. Message k of
// a connection is complete when byte (k+1)*size-1 has come back.
//
// Closed loop (default): each connection keeps --pipeline messages in flight;
// latency runs from the actual send. Open loop (--rate R): message k of a
// connection is due at t0 + k * connections / R; it is sent when due (or as
// soon as the pipeline has room, if late), and its latency runs from when it
// was due, not from when it went out: a stalled server shows up as latency
// instead of silently lowering the offered load (coordinated omission).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include "args.hpp"
#include "command.hpp"
#include "histogram.hpp"
#include "runner.hpp"
#include "text.hpp"

namespace ringxfer::cli {
namespace {

constexpr std::string_view load_usage_head =
    "usage: ringxfer load --to ADDR [options]\n"
    "\n"
    "Drives an echo server (`ringxfer echo` or any other) and checks every byte\n"
    "that comes back. Reports messages/s, MB/s (payload, each way), latency\n"
    "percentiles, errors and CPU seconds; exits 1 if a byte mismatched, a\n"
    "connection failed or a message went unanswered.\n"
    "\n"
    "options:\n"
    "  --connections N    connections in all (default 16), spread over the threads\n"
    "  --size BYTES       message size (default 64; suffixes k, m)\n"
    "  --pipeline K       messages in flight per connection (default 1)\n"
    "  --duration S       measure for S seconds (default 10)\n"
    "  --requests N       instead of --duration: measure N messages in all\n"
    "  --rate R           open loop: R messages per second in all; latency counts\n"
    "                     from each message's intended send time\n"
    "  --warmup S         run S seconds before measuring (default 0)\n"
    "  --json             print the result as JSON\n";

// The pattern repeats every pattern_period bytes: a prime, so it does not
// line up with power-of-two message or buffer sizes.
constexpr std::size_t pattern_period = 65521;
// No reply at all for this long with messages outstanding: the run fails.
constexpr std::int64_t stall_timeout_ns = 5'000'000'000;
constexpr std::chrono::milliseconds watchdog_period{250};

struct LoadPlan {
  Address to;
  std::uint32_t connections = 16;
  std::uint64_t size = 64;
  std::uint32_t pipeline = 1;
  std::optional<std::chrono::nanoseconds> duration;
  std::optional<std::uint64_t> requests;
  double rate = 0;  // 0: closed loop
  std::chrono::nanoseconds warmup{0};
  std::vector<std::byte> pattern;  // pattern_period + size bytes: any message is one slice
};

std::vector<std::byte> make_pattern(std::size_t size) {
  std::vector<std::byte> p(pattern_period + size);
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  for (std::size_t i = 0; i < pattern_period; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = std::byte(x >> 24);
  }
  for (std::size_t i = pattern_period; i < p.size(); ++i) p[i] = p[i % pattern_period];
  return p;
}

class LoadWorker final : public Worker {
 public:
  LoadWorker(const LoadPlan& plan, std::uint32_t thread, std::uint32_t threads) : plan_(plan) {
    for (std::uint32_t g = thread; g < plan.connections; g += threads) {
      auto c = std::make_unique<Conn>();
      c->index = g;
      c->shift = (std::uint64_t(g) * 7919) % pattern_period;
      if (plan.requests) c->quota = *plan.requests / plan.connections + (g < *plan.requests % plan.connections);
      if (plan.rate <= 0) c->send_ns.resize(plan.pipeline);
      conns_.push_back(std::move(c));
    }
  }

  std::error_code start(WorkerContext& context, std::string& what) override {
    context_ = &context;
    engine_ = &context.engine();
    backend_ = engine_->features().backend;
    pending_connects_ = conns_.size();
    if (conns_.empty()) {
      context.finished();
      return {};
    }
    for (auto& c : conns_) {
      Conn* p = c.get();
      OpId id = engine_->connect(plan_.to, [this, p](std::error_code ec, Socket s) { on_connect(p, ec, s); });
      if (!id) {
        what = "connect " + plan_.to.to_string();
        return id.error();
      }
      ++p->ops;
    }
    arm_watchdog();
    return {};
  }

  void drain() override {
    stopping_ = true;
    if (stopped_ns_ == 0) stopped_ns_ = now_ns();
    for (auto& c : conns_) {
      if (c->socket.valid() && !c->closing) pump(c.get());
    }
    maybe_finished();
  }

  void abort() override {
    for (auto& c : conns_) {
      if (!c->closing && c->socket.valid()) {
        unanswered_ += c->sent - c->done;
        close_conn(c.get());
      }
    }
    if (unanswered_ > 0) note_error("no reply at the drain timeout: " + std::to_string(unanswered_) + " messages unanswered");
  }

  void read_counters(ToolCounters& out) const override { out = counters_; }

  // Results, read after the run (the thread has ended).
  const LogLinearHistogram& histogram() const { return histogram_; }
  std::uint64_t measured() const { return measured_; }
  std::uint64_t mismatches() const { return mismatches_; }
  std::uint64_t connect_failures() const { return connect_failures_; }
  std::uint64_t failed_connections() const { return failed_; }
  std::uint64_t unanswered() const { return unanswered_; }
  const std::string& first_error() const { return first_error_; }
  BackendKind backend() const { return backend_; }
  // The measured window: from the end of the warmup to the end of sending.
  std::int64_t window_begin_ns() const { return warmup_end_ns_; }
  std::int64_t window_end_ns() const {
    if (plan_.duration) return std::min(end_ns_, stopped_ns_ != 0 ? stopped_ns_ : end_ns_);
    return last_measured_ns_;
  }

 private:
  struct Conn {
    Socket socket;
    OpId recv;
    OpId timer;
    std::uint32_t index = 0;       // among all connections
    std::uint64_t shift = 0;       // where this connection's stream starts in the pattern
    std::uint64_t sent = 0;        // messages started
    std::uint64_t done = 0;        // messages echoed in full
    std::uint64_t received = 0;    // bytes received and verified
    std::uint64_t quota = ~std::uint64_t(0);  // measured messages to send (--requests)
    std::uint64_t measured_sent = 0;
    std::int64_t t0_ns = 0;        // open loop: when message 0 is due
    std::int64_t interval_ns = 0;  // open loop: between messages
    std::vector<std::int64_t> send_ns;  // closed loop: send time of message k at k % pipeline
    std::uint32_t ops = 0;
    bool recv_active = false;
    bool timer_armed = false;
    bool no_more = false;          // sends nothing more
    bool closing = false;
    bool released = false;
  };

  bool open_loop() const { return plan_.rate > 0; }

  void note_error(std::string text) {
    if (first_error_.empty()) first_error_ = std::move(text);
  }

  void on_connect(Conn* c, std::error_code ec, Socket s) {
    --c->ops;
    --pending_connects_;
    if (ec) {
      ++connect_failures_;
      ++counters_.errors;
      note_error("connect " + plan_.to.to_string() + ": " + ec.message());
      c->closing = true;
      release_if_done(c);
    } else {
      c->socket = s;
      ++counters_.connections_accepted;
      ++counters_.connections_open;
      int one = 1;
      ::setsockopt(engine_->native_handle(s), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      c->recv = engine_->recv(s, [this, c](std::error_code rec, Buffer b) { on_recv(c, rec, std::move(b)); });
      if (c->recv) {
        c->recv_active = true;
        ++c->ops;
      } else {
        fail_conn(c, "recv: " + c->recv.error().message());
      }
    }
    if (pending_connects_ == 0) begin();
  }

  // Every connection of this thread is up (or failed): the clock starts.
  void begin() {
    begin_ns_ = now_ns();
    warmup_end_ns_ = begin_ns_ + plan_.warmup.count();
    end_ns_ = plan_.duration ? warmup_end_ns_ + plan_.duration->count() : INT64_MAX;
    last_progress_ns_ = begin_ns_;
    for (auto& c : conns_) {
      if (c->closing) continue;
      if (open_loop()) {
        c->interval_ns = std::int64_t(1e9 * plan_.connections / plan_.rate);
        if (c->interval_ns < 1) c->interval_ns = 1;
        // Staggered, so that the connections do not all send at one instant.
        c->t0_ns = begin_ns_ + std::int64_t(double(c->index) / plan_.connections * double(c->interval_ns));
      }
      pump(c.get());
    }
    maybe_finished();
  }

  // Sends what may be sent now; arms the open-loop timer for the next one.
  void pump(Conn* c) {
    if (c->closing) return;
    std::int64_t now = now_ns();
    while (!c->no_more && c->sent - c->done < plan_.pipeline) {
      std::int64_t intended = open_loop() ? c->t0_ns + std::int64_t(c->sent) * c->interval_ns : now;
      bool measured = intended >= warmup_end_ns_;
      if (stopping_ || intended >= end_ns_ || (measured && c->measured_sent >= c->quota)) {
        c->no_more = true;
        break;
      }
      if (intended > now) {
        arm_timer(c, intended - now);
        break;
      }
      if (!send_message(c, intended, measured)) return;
    }
    if (c->no_more && c->sent == c->done) close_conn(c);
  }

  bool send_message(Conn* c, std::int64_t intended, bool measured) {
    std::uint64_t k = c->sent;
    std::size_t start = (c->shift + k * plan_.size) % pattern_period;
    std::span<const std::byte> data(plan_.pattern.data() + start, plan_.size);
    OpId id = engine_->send(c->socket, data, [this, c](std::error_code ec, std::size_t n) {
      --c->ops;
      counters_.bytes_out += n;
      if (ec && !c->closing) fail_conn(c, "send: " + ec.message());
      release_if_done(c);
    });
    if (!id) {
      fail_conn(c, "send: " + id.error().message());
      return false;
    }
    ++c->ops;
    ++c->sent;
    if (measured) ++c->measured_sent;
    if (!open_loop()) c->send_ns[k % plan_.pipeline] = intended;
    return true;
  }

  void arm_timer(Conn* c, std::int64_t after_ns) {
    if (c->timer_armed) return;
    c->timer = engine_->timeout(std::chrono::nanoseconds(after_ns), [this, c](std::error_code ec) {
      --c->ops;
      c->timer_armed = false;
      if (!ec) pump(c);
      release_if_done(c);
    });
    if (c->timer) {
      c->timer_armed = true;
      ++c->ops;
    } else {
      fail_conn(c, "timer: " + c->timer.error().message());
    }
  }

  // Compares a received chunk with the pattern; false (and the reason noted)
  // at the first wrong byte.
  bool verify(Conn* c, const Buffer& b) {
    const std::byte* p = b.data();
    std::size_t n = b.size();
    std::uint64_t offset = c->received;
    if (offset + n > c->sent * plan_.size) {
      note_error("connection " + std::to_string(c->index) + ": received " + std::to_string(offset + n) +
                 " bytes, more than the " + std::to_string(c->sent * plan_.size) + " sent");
      return false;
    }
    while (n > 0) {
      std::size_t at = (c->shift + offset) % pattern_period;
      std::size_t m = std::min(n, pattern_period - at);
      const std::byte* want = plan_.pattern.data() + at;
      if (std::memcmp(p, want, m) != 0) {
        std::size_t i = 0;
        while (p[i] == want[i]) ++i;
        char text[160];
        std::snprintf(text, sizeof text, "connection %u: byte %" PRIu64 " is 0x%02x, expected 0x%02x", c->index,
                      offset + i, unsigned(p[i]), unsigned(want[i]));
        note_error(text);
        return false;
      }
      p += m;
      n -= m;
      offset += m;
    }
    return true;
  }

  void on_recv(Conn* c, std::error_code ec, Buffer b) {
    if (!ec) {
      if (c->closing) return;
      if (!verify(c, b)) {
        ++mismatches_;
        fail_conn(c, {});
        return;
      }
      c->received += b.size();
      counters_.bytes_in += b.size();
      std::uint64_t complete = c->received / plan_.size;
      if (complete == c->done) return;
      std::int64_t now = now_ns();
      last_progress_ns_ = now;
      for (std::uint64_t k = c->done; k < complete; ++k) {
        std::int64_t intended =
            open_loop() ? c->t0_ns + std::int64_t(k) * c->interval_ns : c->send_ns[k % plan_.pipeline];
        ++counters_.messages;
        if (intended < warmup_end_ns_) continue;
        std::uint64_t latency = std::uint64_t(std::max<std::int64_t>(0, now - intended));
        histogram_.record(latency);
        counters_.latency.record(latency);
        ++measured_;
        last_measured_ns_ = now;
      }
      c->done = complete;
      pump(c);
      return;
    }
    c->recv_active = false;
    --c->ops;
    if (!c->closing) {
      if (ec == error::eof) {
        fail_conn(c, "connection " + std::to_string(c->index) + ": closed by the server with " +
                         std::to_string(c->sent - c->done) + " messages unanswered");
      } else {
        fail_conn(c, "connection " + std::to_string(c->index) + ": recv: " + ec.message());
      }
    }
    release_if_done(c);
  }

  void fail_conn(Conn* c, std::string why) {
    if (c->closing) return;
    ++failed_;
    ++counters_.errors;
    if (!why.empty()) note_error(std::move(why));
    close_conn(c);
  }

  void close_conn(Conn* c) {
    if (c->closing) return;
    c->closing = true;
    c->no_more = true;
    if (c->timer_armed) engine_->cancel(c->timer);
    OpId id = engine_->close(c->socket, [this, c](std::error_code) {
      --c->ops;
      release_if_done(c);
    });
    if (id) ++c->ops;
    release_if_done(c);
  }

  void release_if_done(Conn* c) {
    if (!c->closing || c->ops > 0 || c->released) return;
    c->released = true;
    if (c->socket.valid()) --counters_.connections_open;
    ++released_;
    maybe_finished();
  }

  void maybe_finished() {
    if (released_ == conns_.size()) {
      if (watchdog_armed_) engine_->cancel(watchdog_);
      if (stopped_ns_ == 0) stopped_ns_ = now_ns();
      context_->finished();
    }
  }

  // Fails the run when nothing comes back for stall_timeout_ns while
  // messages are outstanding (a server that swallows bytes would otherwise
  // hang a --requests run forever).
  void arm_watchdog() {
    watchdog_ = engine_->timeout(watchdog_period, [this](std::error_code ec) {
      watchdog_armed_ = false;
      if (ec || released_ == conns_.size()) return;
      std::uint64_t outstanding = 0;
      for (auto& c : conns_) {
        if (!c->closing) outstanding += c->sent - c->done;
      }
      if (outstanding > 0 && last_progress_ns_ != 0 && now_ns() - last_progress_ns_ > stall_timeout_ns) {
        stopping_ = true;
        abort();
        note_error("no reply for 5 s");
        return;
      }
      arm_watchdog();
    });
    watchdog_armed_ = bool(watchdog_);
  }

  const LoadPlan& plan_;
  WorkerContext* context_ = nullptr;
  Engine* engine_ = nullptr;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::size_t pending_connects_ = 0;
  std::size_t released_ = 0;
  bool stopping_ = false;
  OpId watchdog_;
  bool watchdog_armed_ = false;
  std::int64_t begin_ns_ = 0;
  std::int64_t warmup_end_ns_ = 0;
  std::int64_t end_ns_ = INT64_MAX;
  std::int64_t stopped_ns_ = 0;
  std::int64_t last_progress_ns_ = 0;
  std::int64_t last_measured_ns_ = 0;
  ToolCounters counters_;
  LogLinearHistogram histogram_;
  std::uint64_t measured_ = 0;
  std::uint64_t mismatches_ = 0;
  std::uint64_t connect_failures_ = 0;
  std::uint64_t failed_ = 0;
  std::uint64_t unanswered_ = 0;
  std::string first_error_;
  BackendKind backend_ = BackendKind::automatic;
};

double cpu_seconds(const rusage& r) {
  return double(r.ru_utime.tv_sec + r.ru_stime.tv_sec) + double(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

std::string micros(std::uint64_t ns) {
  char text[32];
  if (ns >= 10'000'000) std::snprintf(text, sizeof text, "%.1f ms", double(ns) / 1e6);
  else std::snprintf(text, sizeof text, "%.1f us", double(ns) / 1e3);
  return text;
}

}  // namespace

int load_command(std::span<const std::string_view> args) {
  CommonOptions common;
  ClientOptions client;
  LoadPlan plan;
  bool json = false;
  static const std::string usage =
      std::string(load_usage_head) + std::string(client_flags_usage) + std::string(common_flags_usage);
  FlagParser parser("load", usage);
  add_client_flags(parser, client);
  add_common_flags(parser, common);
  parser.option("--connections", [&](std::string_view v) { return parse_uint(v, 1u, 1'000'000u, plan.connections); });
  parser.option("--size", [&](std::string_view v) { return parse_bytes(v, 1, 64ull << 20, plan.size); });
  parser.option("--pipeline", [&](std::string_view v) { return parse_uint(v, 1u, 65536u, plan.pipeline); });
  parser.option("--duration", [&](std::string_view v) {
    std::chrono::nanoseconds d{};
    std::string why = parse_seconds(v, d);
    if (why.empty() && d.count() <= 0) why = "expected a duration above 0";
    if (why.empty()) plan.duration = d;
    return why;
  });
  parser.option("--requests", [&](std::string_view v) {
    std::uint64_t n = 0;
    std::string why = parse_uint(v, std::uint64_t(1), std::uint64_t(1) << 50, n);
    if (why.empty()) plan.requests = n;
    return why;
  });
  parser.option("--rate", [&](std::string_view v) { return parse_positive_number(v, plan.rate); });
  parser.option("--warmup", [&](std::string_view v) { return parse_seconds(v, plan.warmup); });
  parser.flag("--json", json);
  if (int code = parser.parse(args); code >= 0) return code;
  if (plan.duration && plan.requests) return parser.fail("give --duration or --requests, not both");
  if (!plan.duration && !plan.requests) plan.duration = std::chrono::seconds(10);
  if (plan.requests && *plan.requests < plan.connections) {
    return parser.fail("--requests " + std::to_string(*plan.requests) + " is fewer than --connections " +
                       std::to_string(plan.connections));
  }
  plan.to = client.to;
  plan.pattern = make_pattern(plan.size);

  block_signals();
  raise_fd_limit();
  std::uint32_t threads = std::min(common.threads, plan.connections);
  common.threads = threads;
  std::vector<std::unique_ptr<LoadWorker>> workers;
  std::vector<Worker*> pointers;
  for (std::uint32_t t = 0; t < threads; ++t) {
    workers.push_back(std::make_unique<LoadWorker>(plan, t, threads));
    pointers.push_back(workers.back().get());
  }

  RunConfig config;
  config.command = "load";
  config.common = common;
  config.drain_timeout = std::chrono::seconds(2);
  bool progress_shown = false;
  if (::isatty(STDERR_FILENO)) {
    // At most 4 lines a second, rewritten in place; none when not a terminal.
    config.progress_interval = std::chrono::milliseconds(250);
    config.on_progress = [&progress_shown, last_messages = std::uint64_t(0), last_seconds = 0.0](
                             const std::vector<ThreadSnapshot>& snaps, double seconds) mutable {
      ToolCounters sum;
      for (const auto& s : snaps) sum.add(s.tool);
      double rate = seconds > last_seconds ? double(sum.messages - last_messages) / (seconds - last_seconds) : 0;
      last_messages = sum.messages;
      last_seconds = seconds;
      char line[200];
      std::snprintf(line, sizeof line, "\rload: %6.1f s  %12" PRIu64 " msgs  %10.0f msgs/s  %" PRIu64 " conns  %" PRIu64
                    " errors\033[K",
                    seconds, sum.messages, rate, sum.connections_open, sum.errors);
      std::cerr << line << std::flush;
      progress_shown = true;
    };
  }

  rusage usage_before{};
  ::getrusage(RUSAGE_SELF, &usage_before);
  RunResult result = run_workers(config, pointers);
  rusage usage_after{};
  ::getrusage(RUSAGE_SELF, &usage_after);
  if (progress_shown) std::cerr << "\r\033[K" << std::flush;

  LogLinearHistogram histogram;
  std::uint64_t measured = 0, mismatches = 0, connect_failures = 0, failed = 0, unanswered = 0;
  std::int64_t begin = INT64_MAX, end = INT64_MIN;
  std::string first_error;
  for (const auto& w : workers) {
    histogram.add(w->histogram());
    measured += w->measured();
    mismatches += w->mismatches();
    connect_failures += w->connect_failures();
    failed += w->failed_connections();
    unanswered += w->unanswered();
    if (first_error.empty()) first_error = w->first_error();
    if (w->window_begin_ns() == 0) continue;  // never began: every connect failed
    begin = std::min(begin, w->window_begin_ns());
    end = std::max(end, w->window_end_ns());
  }
  double seconds = end > begin ? double(end - begin) / 1e9 : 0;
  double msgs_per_s = seconds > 0 ? double(measured) / seconds : 0;
  double mb_per_s = msgs_per_s * double(plan.size) / 1e6;
  double cpu = cpu_seconds(usage_after) - cpu_seconds(usage_before);
  std::uint64_t syscalls = 0, all_messages = 0;
  for (const auto& s : result.final) {
    syscalls += s.engine.syscalls;
    all_messages += s.tool.messages;
  }
  double syscalls_per_msg = all_messages > 0 ? double(syscalls) / double(all_messages) : 0;
  std::uint64_t errors = mismatches + failed + connect_failures + unanswered;
  std::string mode = plan.rate > 0 ? "open loop at " + std::to_string(std::uint64_t(plan.rate)) + " msgs/s" : "closed loop";

  if (json) {
    JsonWriter j;
    j.key_string("to", plan.to.to_string());
    j.key_uint("connections", plan.connections);
    j.key_uint("threads", threads);
    j.key_uint("size_bytes", plan.size);
    j.key_uint("pipeline", plan.pipeline);
    j.key_double("rate", plan.rate);
    j.key_double("seconds", seconds);
    j.key_uint("messages", measured);
    j.key_double("msgs_per_s", msgs_per_s);
    j.key_double("mb_per_s", mb_per_s);
    j.key_double("latency_us_p50", double(histogram.quantile(0.50)) / 1e3);
    j.key_double("latency_us_p99", double(histogram.quantile(0.99)) / 1e3);
    j.key_double("latency_us_p999", double(histogram.quantile(0.999)) / 1e3);
    j.key_double("latency_us_max", double(histogram.max()) / 1e3);
    j.key_double("latency_us_mean", histogram.mean() / 1e3);
    j.key_uint("errors", errors);
    j.key_uint("mismatches", mismatches);
    j.key_uint("connect_failures", connect_failures);
    j.key_uint("failed_connections", failed);
    j.key_uint("unanswered", unanswered);
    j.key_double("cpu_seconds", cpu);
    j.key_double("syscalls_per_msg", syscalls_per_msg, 4);
    j.key_string("backend", to_string(workers.front()->backend()));  // the one in use, after auto
    if (first_error.empty()) j.key_null("first_error");
    else j.key_string("first_error", first_error);
    std::cout << j.finish();
  } else {
    char line[512];
    std::snprintf(line, sizeof line,
                  "load: %u conns x %" PRIu64 " B x %u in flight, %s, %.2f s: %.0f msgs/s, %.2f MB/s each way, "
                  "latency p50 %s p99 %s p99.9 %s max %s, %" PRIu64 " errors, cpu %.2f s\n",
                  plan.connections, plan.size, plan.pipeline, mode.c_str(), seconds, msgs_per_s, mb_per_s,
                  micros(histogram.quantile(0.50)).c_str(), micros(histogram.quantile(0.99)).c_str(),
                  micros(histogram.quantile(0.999)).c_str(), micros(histogram.max()).c_str(), errors, cpu);
    std::cout << line;
  }
  std::cout.flush();
  if (common.stats) {
    print_stats(result.final);
    std::fprintf(stderr, "syscalls per message: %.3f (%" PRIu64 " syscalls, %" PRIu64 " messages incl. warmup)\n",
                 syscalls_per_msg, syscalls, all_messages);
  }
  if (!first_error.empty()) std::cerr << "ringxfer load: " << first_error << '\n';
  if (result.exit_code != 0) return result.exit_code;
  return errors > 0 ? exit_failure : exit_ok;
}

}  // namespace ringxfer::cli
