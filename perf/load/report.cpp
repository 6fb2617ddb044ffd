#include "report.hpp"

#include <cstdio>
#include <ostream>

namespace ringxfer::perf {
namespace {

double to_us(std::uint64_t ns) { return static_cast<double>(ns) / 1e3; }

}  // namespace

ClientCpu client_cpu(const CpuTimes& cpu, double window_s, unsigned threads) {
  ClientCpu out{cpu, 0};
  // A window cut to nothing (every connection failed at once) says nothing.
  if (window_s > 0.01 && threads > 0) out.busy_ratio = cpu.total_s() / (window_s * threads);
  return out;
}

void add_latency_fields(JsonObject& json, const LatencyHistogram& h) {
  json.field("latency_us_min", to_us(h.min_ns()))
      .field("latency_us_mean", h.mean_ns() / 1e3)
      .field("latency_us_p50", to_us(h.value_at_quantile_ns(0.50)))
      .field("latency_us_p90", to_us(h.value_at_quantile_ns(0.90)))
      .field("latency_us_p99", to_us(h.value_at_quantile_ns(0.99)))
      .field("latency_us_p999", to_us(h.value_at_quantile_ns(0.999)))
      .field("latency_us_max", to_us(h.max_ns()));
}

void add_cpu_fields(JsonObject& json, const ClientCpu& c) {
  json.field("cpu_user_s", c.cpu.user_s)
      .field("cpu_sys_s", c.cpu.sys_s)
      .field("cpu_s", c.cpu.total_s())
      .field("cpu_busy_ratio", c.busy_ratio)
      .field("client_saturated", c.saturated());
}

void print_latency(std::ostream& out, const LatencyHistogram& h) {
  char line[200];
  std::snprintf(line, sizeof line, "latency    p50 %.1f us  p90 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us  (%llu samples)\n",
                to_us(h.value_at_quantile_ns(0.50)), to_us(h.value_at_quantile_ns(0.90)),
                to_us(h.value_at_quantile_ns(0.99)), to_us(h.value_at_quantile_ns(0.999)), to_us(h.max_ns()),
                static_cast<unsigned long long>(h.count()));
  out << line;
}

void print_cpu(std::ostream& out, const ClientCpu& c, unsigned threads) {
  char line[200];
  std::snprintf(line, sizeof line, "client cpu %.2f s (user %.2f, sys %.2f), %.0f %% of %u thread(s)%s\n", c.cpu.total_s(),
                c.cpu.user_s, c.cpu.sys_s, c.busy_ratio * 100, threads,
                c.saturated() ? "  -- the load client was the bottleneck" : "");
  out << line;
}

std::string format_rate(double per_s, const char* unit) {
  char text[64];
  if (per_s >= 1e9) {
    std::snprintf(text, sizeof text, "%.2f G %s", per_s / 1e9, unit);
  } else if (per_s >= 1e6) {
    std::snprintf(text, sizeof text, "%.3f M %s", per_s / 1e6, unit);
  } else if (per_s >= 1e3) {
    std::snprintf(text, sizeof text, "%.2f k %s", per_s / 1e3, unit);
  } else {
    std::snprintf(text, sizeof text, "%.1f %s", per_s, unit);
  }
  return text;
}

}  // namespace ringxfer::perf
