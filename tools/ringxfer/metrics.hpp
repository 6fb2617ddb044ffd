#pragma once
// The tool's own counters and their Prometheus text exposition (format 0.0.4).
//
// Each engine thread keeps a ToolCounters of its own, written only by that
// thread with plain (non-atomic) increments. The runner copies it, with the
// engine's Stats, on the engine's own thread (a task posted by whoever wants
// a snapshot), so no counter is shared between threads on the hot path.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ringxfer/stats.hpp"

namespace ringxfer::cli {

// Prometheus histogram buckets (upper bounds, nanoseconds; +Inf follows).
inline constexpr std::array<std::uint64_t, 18> latency_bucket_bounds_ns = {
    5'000,       10'000,      25'000,      50'000,        100'000,       250'000,
    500'000,     1'000'000,   2'500'000,   5'000'000,     10'000'000,    25'000'000,
    50'000'000,  100'000'000, 250'000'000, 1'000'000'000, 2'500'000'000, 10'000'000'000};

struct LatencyBuckets {
  std::array<std::uint64_t, latency_bucket_bounds_ns.size() + 1> counts{};  // per bucket (not cumulative); last: +Inf
  std::uint64_t sum_ns = 0;
  std::uint64_t count = 0;

  void record(std::uint64_t ns) noexcept {
    std::size_t i = 0;
    while (i < latency_bucket_bounds_ns.size() && ns > latency_bucket_bounds_ns[i]) ++i;
    ++counts[i];
    sum_ns += ns;
    ++count;
  }
  void add(const LatencyBuckets& other) noexcept;
};

// What a subcommand counts. `messages` is the unit of work: an echoed chunk,
// a load message, an HTTP request.
struct ToolCounters {
  std::uint64_t messages = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t connections_accepted = 0;  // or connected, for clients
  std::uint64_t connections_open = 0;      // a gauge
  std::uint64_t errors = 0;
  LatencyBuckets latency;
  // Messages by protocol status (serve: HTTP status codes 100..599; index =
  // the code); all zero for tools without one, and then not exported.
  std::array<std::uint64_t, 600> by_status{};
  // serve's open-file cache (all zero elsewhere, and then not exported).
  struct FileCache {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t stale = 0;
    std::uint64_t memory_hits = 0;
    std::uint64_t memory_bytes = 0;  // a gauge
  } file_cache;

  void add(const ToolCounters& other) noexcept;
};

// One engine thread's state at one moment.
struct ThreadSnapshot {
  Stats engine;
  ToolCounters tool;
};

// How the tool's metrics are named: ringxfer_<tool>_<what>.
struct MetricsVocabulary {
  std::string_view tool;           // "echo"
  std::string_view message_noun;   // "messages", "requests"
  std::string_view message_help;   // "# HELP" text of the message counter
  std::string_view latency_help;   // "# HELP" text of the latency histogram
};

// The whole exposition: engine Stats per thread (label thread="i"), then the
// tool's counters summed over the threads.
std::string metrics_text(const MetricsVocabulary& vocabulary, const std::vector<ThreadSnapshot>& threads);

}  // namespace ringxfer::cli
