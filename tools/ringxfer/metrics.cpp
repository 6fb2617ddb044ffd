#include "metrics.hpp"

#include <cstdio>

namespace ringxfer::cli {

void LatencyBuckets::add(const LatencyBuckets& other) noexcept {
  for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
  sum_ns += other.sum_ns;
  count += other.count;
}

void ToolCounters::add(const ToolCounters& other) noexcept {
  messages += other.messages;
  bytes_in += other.bytes_in;
  bytes_out += other.bytes_out;
  connections_accepted += other.connections_accepted;
  connections_open += other.connections_open;
  errors += other.errors;
  latency.add(other.latency);
  for (std::size_t i = 0; i < by_status.size(); ++i) by_status[i] += other.by_status[i];
  file_cache.hits += other.file_cache.hits;
  file_cache.misses += other.file_cache.misses;
  file_cache.stale += other.file_cache.stale;
  file_cache.memory_hits += other.file_cache.memory_hits;
  file_cache.memory_bytes += other.file_cache.memory_bytes;
}

namespace {

struct EngineCounter {
  const char* name;  // after ringxfer_engine_
  const char* help;
  std::uint64_t Stats::*field;
};

// Every Stats field; all are counters (they only grow).
constexpr EngineCounter engine_counters[] = {
    {"syscalls_total", "Syscalls the engine made on the I/O path (io_uring_enter included).", &Stats::syscalls},
    {"enter_calls_total", "io_uring_enter calls (0 on epoll).", &Stats::enter_calls},
    {"epoll_waits_total", "epoll_wait calls (0 on io_uring).", &Stats::epoll_waits},
    {"sqes_total", "io_uring submission queue entries submitted.", &Stats::sqes},
    {"cqes_total", "Completions reaped (CQEs, or imitated ones on epoll).", &Stats::cqes},
    {"ops_started_total", "Engine operations started.", &Stats::ops_started},
    {"ops_completed_total", "Engine operations completed.", &Stats::ops_completed},
    {"received_bytes_total", "Bytes received or read by the engine.", &Stats::bytes_in},
    {"sent_bytes_total", "Bytes sent, written or spliced out by the engine.", &Stats::bytes_out},
    {"zc_sends_total", "Zero-copy sends.", &Stats::zc_sends},
    {"zc_copied_total", "Zero-copy sends the kernel reported as copied.", &Stats::zc_copied},
    {"short_sends_total", "Sends or splices that moved less than asked and were continued.", &Stats::short_sends},
    {"fallbacks_total", "Operations that took a fallback path (feature missing or disabled).", &Stats::fallbacks},
    {"sq_full_total", "Times the submission queue was full and flushed.", &Stats::sq_full},
    {"cq_overflows_total", "Completion queue overflow events.", &Stats::cq_overflows},
    {"recv_starved_total", "Receives paused for want of a free receive buffer.", &Stats::recv_starved},
    {"pipe_waits_total", "Splices that waited for a free pipe.", &Stats::pipe_waits},
    {"accept_pauses_total", "Accepts paused after EMFILE/ENFILE/ENOBUFS/ENOMEM or no fd slot.", &Stats::accept_pauses},
    {"accepts_refused_total", "Connections closed at once for want of an fd slot.", &Stats::accepts_refused},
    {"start_failures_total", "Operations that could not start.", &Stats::start_failures},
};

void header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, std::string_view name, std::string_view labels, std::uint64_t value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

// Nanoseconds as decimal seconds without exponent or trailing zeros:
// 5000 -> "0.000005", 2500000000 -> "2.5".
std::string seconds_text(std::uint64_t ns) {
  std::string text = std::to_string(ns / 1'000'000'000) + ".";
  char fraction[16];
  std::snprintf(fraction, sizeof fraction, "%09llu", static_cast<unsigned long long>(ns % 1'000'000'000));
  text += fraction;
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

}  // namespace

std::string metrics_text(const MetricsVocabulary& v, const std::vector<ThreadSnapshot>& threads) {
  std::string out;
  out.reserve(8192);
  for (const EngineCounter& c : engine_counters) {
    std::string name = std::string("ringxfer_engine_") + c.name;
    header(out, name, c.help, "counter");
    for (std::size_t i = 0; i < threads.size(); ++i) {
      sample(out, name, "thread=\"" + std::to_string(i) + "\"", threads[i].engine.*c.field);
    }
  }

  ToolCounters sum;
  for (const ThreadSnapshot& t : threads) sum.add(t.tool);
  std::string prefix = "ringxfer_" + std::string(v.tool) + "_";

  auto counter = [&](std::string_view what, std::string_view help, std::uint64_t value) {
    std::string name = prefix + std::string(what) + "_total";
    header(out, name, help, "counter");
    sample(out, name, {}, value);
  };
  counter(v.message_noun, v.message_help, sum.messages);
  counter("received_bytes", "Payload bytes received from peers.", sum.bytes_in);
  counter("sent_bytes", "Payload bytes sent to peers.", sum.bytes_out);
  counter("connections", "Connections accepted.", sum.connections_accepted);
  counter("errors", "Connections that ended with an error.", sum.errors);

  // Messages by status, e.g. ringxfer_serve_requests_by_status_total{status="404"}.
  bool any_status = false;
  for (std::uint64_t n : sum.by_status) any_status = any_status || n != 0;
  if (any_status) {
    std::string name = prefix + std::string(v.message_noun) + "_by_status_total";
    header(out, name, "Messages answered, by status code.", "counter");
    for (std::size_t code = 0; code < sum.by_status.size(); ++code) {
      if (sum.by_status[code] != 0) sample(out, name, "status=\"" + std::to_string(code) + "\"", sum.by_status[code]);
    }
  }

  // serve's open-file cache, once it has been asked.
  const ToolCounters::FileCache& fc = sum.file_cache;
  if (fc.hits != 0 || fc.misses != 0) {
    counter("file_cache_hits", "Requests whose file was in the open-file cache, unchanged.", fc.hits);
    counter("file_cache_misses", "Requests whose file was opened (absent or changed).", fc.misses);
    counter("file_cache_stale", "Cache entries dropped because their file changed.", fc.stale);
    counter("file_cache_memory_hits", "Cache hits whose file's bytes were in memory.", fc.memory_hits);
    std::string held = prefix + "file_cache_memory_bytes";
    header(out, held, "Bytes of small files held in memory by the open-file cache.", "gauge");
    sample(out, held, {}, fc.memory_bytes);
  }

  std::string open = prefix + "open_connections";
  header(out, open, "Connections open now.", "gauge");
  sample(out, open, {}, sum.connections_open);

  std::string hist = prefix + "latency_seconds";
  header(out, hist, v.latency_help, "histogram");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < latency_bucket_bounds_ns.size(); ++i) {
    cumulative += sum.latency.counts[i];
    sample(out, hist + "_bucket", "le=\"" + seconds_text(latency_bucket_bounds_ns[i]) + "\"", cumulative);
  }
  cumulative += sum.latency.counts.back();
  sample(out, hist + "_bucket", "le=\"+Inf\"", cumulative);
  out += hist + "_sum " + seconds_text(sum.latency.sum_ns) + "\n";
  sample(out, hist + "_count", {}, sum.latency.count);
  return out;
}

}  // namespace ringxfer::cli
