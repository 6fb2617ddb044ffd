#include "bulk_report.hpp"

#include <sys/resource.h>

#include <cstdio>

#include "text.hpp"

namespace ringxfer::cli {

namespace {

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

constexpr double gib = 1024.0 * 1024.0 * 1024.0;

double gbit_per_s(std::uint64_t bytes, double seconds) { return seconds > 0 ? double(bytes) * 8 / seconds / 1e9 : 0; }
double per_gib(std::uint64_t n, std::uint64_t bytes) { return bytes > 0 ? double(n) * gib / double(bytes) : 0; }
double copied_ratio(const Stats& s) { return s.zc_sends > 0 ? double(s.zc_copied) / double(s.zc_sends) : 0; }

}  // namespace

Stats sum_stats(const std::vector<ThreadSnapshot>& threads) {
  Stats sum;
  for (const ThreadSnapshot& t : threads) {
    sum.syscalls += t.engine.syscalls;
    sum.enter_calls += t.engine.enter_calls;
    sum.epoll_waits += t.engine.epoll_waits;
    sum.sqes += t.engine.sqes;
    sum.cqes += t.engine.cqes;
    sum.zc_sends += t.engine.zc_sends;
    sum.zc_copied += t.engine.zc_copied;
    sum.bytes_in += t.engine.bytes_in;
    sum.bytes_out += t.engine.bytes_out;
    sum.fallbacks += t.engine.fallbacks;
  }
  return sum;
}

std::string bulk_line(const BulkReport& r) {
  char line[512];
  std::snprintf(line, sizeof line,
                "%.*s: %llu bytes in %.3f s over %u connection%s: %.3f Gbit/s, cpu %.3f s, %.1f syscalls/GiB, "
                "zc copied %.2f (%s, strategy %.*s)%s\n",
                int(r.tool.size()), r.tool.data(), (unsigned long long)r.bytes, r.seconds, r.connections,
                r.connections == 1 ? "" : "s", gbit_per_s(r.bytes, r.seconds), cpu_seconds(),
                per_gib(r.engine.syscalls, r.bytes), copied_ratio(r.engine), std::string(r.backend).c_str(),
                int(r.strategy.size()), r.strategy.data(), r.errors > 0 ? ", with errors" : "");
  return line;
}

std::string bulk_json(const BulkReport& r) {
  JsonWriter j;
  j.key_string("tool", r.tool);
  j.key_string("backend", r.backend);
  j.key_string("strategy", r.strategy);
  j.key_uint("bytes", r.bytes);
  j.key_double("seconds", r.seconds);
  j.key_uint("connections", r.connections);
  j.key_double("gbit_per_s", gbit_per_s(r.bytes, r.seconds));
  j.key_double("cpu_s", cpu_seconds());
  j.key_double("syscalls_per_gib", per_gib(r.engine.syscalls, r.bytes));
  j.key_uint("syscalls", r.engine.syscalls);
  j.key_uint("zc_sends", r.engine.zc_sends);
  j.key_uint("zc_copied", r.engine.zc_copied);
  j.key_double("zc_copied_ratio", copied_ratio(r.engine));
  j.key_uint("errors", r.errors);
  return j.finish();
}

std::string bulk_progress(std::string_view tool, std::uint64_t bytes, double seconds) {
  char line[160];
  std::snprintf(line, sizeof line, "\r%.*s: %.2f GiB, %.2f Gbit/s   ", int(tool.size()), tool.data(),
                double(bytes) / gib, gbit_per_s(bytes, seconds));
  return line;
}

}  // namespace ringxfer::cli
