#pragma once
// Report pieces shared by the load subcommands: latency percentiles, the
// client's own CPU use, and the common text/JSON output.
#include <iosfwd>
#include <string>

#include "histogram.hpp"
#include "json.hpp"
#include "sys.hpp"

namespace ringxfer::perf {

// A client whose threads were on CPU for this share of the window or more
// was (or was close to being) the bottleneck: the figures measure it, not
// the server.
inline constexpr double saturated_busy_ratio = 0.9;

struct ClientCpu {
  CpuTimes cpu;
  double busy_ratio = 0;  // cpu seconds / (window seconds x threads)
  bool saturated() const { return busy_ratio >= saturated_busy_ratio; }
};
ClientCpu client_cpu(const CpuTimes& cpu, double window_s, unsigned threads);

void add_latency_fields(JsonObject& json, const LatencyHistogram& latency);
void add_cpu_fields(JsonObject& json, const ClientCpu& cpu);
void print_latency(std::ostream& out, const LatencyHistogram& latency);
void print_cpu(std::ostream& out, const ClientCpu& cpu, unsigned threads);

std::string format_rate(double per_s, const char* unit);  // "1.23 M msgs/s"

}  // namespace ringxfer::perf
