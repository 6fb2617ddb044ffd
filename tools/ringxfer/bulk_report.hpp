#pragma once
// What `send` and `recv` report: throughput, CPU, syscalls per GiB and the
// zero-copy copied ratio — as one line, or as JSON with --json — and the
// progress line both print on a terminal (at most 4 updates a second).
#include <cstdint>
#include <string>
#include <vector>

#include "metrics.hpp"

namespace ringxfer::cli {

struct BulkReport {
  std::string_view tool;        // "send" / "recv"
  std::string_view backend;     // in use
  std::string_view strategy;    // what was asked
  std::uint64_t bytes = 0;
  double seconds = 0;
  std::uint32_t connections = 0;
  std::uint64_t errors = 0;
  Stats engine;                 // summed over threads
};

// Sums each thread's engine Stats.
Stats sum_stats(const std::vector<ThreadSnapshot>& threads);
// Gbit/s, CPU seconds (getrusage of the whole process), syscalls per GiB,
// zc copied ratio: a line, or a JSON object.
std::string bulk_line(const BulkReport& r);
std::string bulk_json(const BulkReport& r);
// "\r<tool>: 1.23 GiB, 9.87 Gbit/s" for a terminal.
std::string bulk_progress(std::string_view tool, std::uint64_t bytes, double seconds);

}  // namespace ringxfer::cli
