#include "request_loop_cli.hpp"

#include <cstdio>
#include <iostream>
#include <string>

#include "report.hpp"

namespace ringxfer::perf {

bool take_request_loop_flag(ArgReader& reader, RequestLoopOptions& o, bool& json) {
  std::string_view f = reader.flag();
  if (f == "--target") {
    o.target = parse_endpoint(f, reader.value(), false);
  } else if (f == "--connections") {
    o.connections = static_cast<std::uint32_t>(std::min<std::uint64_t>(parse_count(f, reader.value()), UINT32_MAX));
  } else if (f == "--in-flight") {
    o.in_flight = static_cast<std::uint32_t>(std::min<std::uint64_t>(parse_count(f, reader.value()), UINT32_MAX));
  } else if (f == "--duration") {
    o.duration_s = parse_duration_s(f, reader.value());
  } else if (f == "--requests") {
    o.requests = parse_count(f, reader.value());
    if (o.requests == 0) throw UsageError("--requests: must be at least 1");
  } else if (f == "--max-time") {
    o.max_time_s = parse_duration_s(f, reader.value());
  } else if (f == "--warmup") {
    o.warmup_s = parse_duration_s(f, reader.value());
  } else if (f == "--rate") {
    o.rate_per_s = parse_number(f, reader.value());
  } else if (f == "--threads") {
    o.threads = static_cast<std::uint32_t>(std::min<std::uint64_t>(parse_count(f, reader.value()), UINT32_MAX));
  } else if (f == "--connect-timeout") {
    o.connect_timeout_s = parse_duration_s(f, reader.value());
  } else if (f == "--json") {
    reader.no_value();
    json = true;
  } else {
    return false;
  }
  return true;
}

void check_request_loop_options(const RequestLoopOptions& o, bool target_given) {
  if (!target_given) throw UsageError("--target HOST:PORT is required");
  if (o.connections < 1 || o.connections > 100000) throw UsageError("--connections: must be 1 .. 100000");
  if (o.in_flight < 1 || o.in_flight > 1024) throw UsageError("--in-flight: must be 1 .. 1024");
  if (o.threads < 1 || o.threads > 256) throw UsageError("--threads: must be 1 .. 256");
  if (o.requests == 0 && o.duration_s <= 0) throw UsageError("--duration: must be more than 0");
  if (o.duration_s > 3600 || o.warmup_s > 3600 || o.max_time_s > 3600) {
    throw UsageError("--duration, --warmup and --max-time are capped at 1 hour");
  }
  if (o.max_time_s <= 0) throw UsageError("--max-time: must be more than 0");
  if (o.connect_timeout_s <= 0) throw UsageError("--connect-timeout: must be more than 0");
}

void add_request_loop_fields(JsonObject& json, const RequestLoopOptions& o, const RequestLoopResult& r,
                             double bytes_per_response) {
  double per_s = r.measured_s > 0 ? static_cast<double>(r.responses) / r.measured_s : 0.0;
  std::uint32_t threads = std::min(o.threads, o.connections);
  json.field("target", o.target.text())
      .field("connections", o.connections)
      .field("in_flight", o.in_flight)
      .field("threads", threads)
      .field("loop", o.rate_per_s > 0 ? "open" : "closed")
      .field("rate_target_per_s", o.rate_per_s)
      .field("warmup_s", o.warmup_s)
      .field("measured_s", r.measured_s)
      .field("connect_s", r.connect_s)
      .field("requests", r.responses)
      .field("requests_per_s", per_s)
      .field("rx_bytes", r.rx_bytes)
      .field("tx_bytes", r.tx_bytes)
      .field("rx_bytes_per_s", r.measured_s > 0 ? static_cast<double>(r.rx_bytes) / r.measured_s : 0.0)
      .field("tx_bytes_per_s", r.measured_s > 0 ? static_cast<double>(r.tx_bytes) / r.measured_s : 0.0)
      .field("response_bytes", bytes_per_response);
  add_latency_fields(json, r.latency);
  json.field("errors", r.errors())
      .field("errors_io", r.errors_io)
      .field("errors_verify", r.errors_verify)
      .field("errors_closed", r.errors_closed)
      .field("connections_open_at_end", r.connections_open_at_end)
      .field("requests_reached", r.requests_reached)
      .field("first_error", r.first_error);
  add_cpu_fields(json, client_cpu(r.cpu, r.measured_s, threads));
}

void print_request_loop(std::ostream& out, const char* what, const RequestLoopOptions& o, const RequestLoopResult& r) {
  std::uint32_t threads = std::min(o.threads, o.connections);
  double per_s = r.measured_s > 0 ? static_cast<double>(r.responses) / r.measured_s : 0.0;
  char line[256];
  std::snprintf(line, sizeof line, "%s %s: %u connections x %u in flight, %s loop, %u thread(s), %.2f s measured\n", what,
                o.target.text().c_str(), o.connections, o.in_flight, o.rate_per_s > 0 ? "open" : "closed", threads,
                r.measured_s);
  out << line;
  out << "rate       " << format_rate(per_s, what[0] == 'e' ? "msgs/s" : "req/s") << "  "
      << format_rate(r.measured_s > 0 ? static_cast<double>(r.rx_bytes) / r.measured_s : 0.0, "B/s received") << '\n';
  print_latency(out, r.latency);
  std::snprintf(line, sizeof line, "errors     %llu (io %llu, verify %llu, closed by server %llu)%s%s\n",
                static_cast<unsigned long long>(r.errors()), static_cast<unsigned long long>(r.errors_io),
                static_cast<unsigned long long>(r.errors_verify), static_cast<unsigned long long>(r.errors_closed),
                r.first_error.empty() ? "" : "; first: ", r.first_error.c_str());
  out << line;
  print_cpu(out, client_cpu(r.cpu, r.measured_s, threads), threads);
}

int request_loop_exit_code(const char* program, const RequestLoopResult& r) {
  if (r.errors() > 0) {
    std::cerr << program << ": " << r.errors() << " error(s) during the run; first: " << r.first_error << '\n';
    return exit_failure;
  }
  if (!r.requests_reached) {
    std::cerr << program << ": --requests not reached within --max-time\n";
    return exit_failure;
  }
  if (r.responses == 0) {
    std::cerr << program << ": no response completed inside the measured window\n";
    return exit_failure;
  }
  return exit_ok;
}

}  // namespace ringxfer::perf
