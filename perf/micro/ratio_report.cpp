#include "ratio_report.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <string_view>
#include <utility>

#include "harness.hpp"

namespace ringxfer::perf {
namespace {

// Three significant digits (trailing zeros kept, so a column reads evenly),
// no exponent from 1e-4 up.
std::string number(double v) {
  char buf[32];
  const double a = v < 0 ? -v : v;
  if (a == 0) return "0";
  std::snprintf(buf, sizeof buf, a >= 100 ? "%.0f" : "%#.3g", v);
  return buf;
}

std::string throughput(double bytes_per_second) {
  const double gib = bytes_per_second / double(1ull << 30);
  if (gib >= 1) return number(gib) + " GiB/s";
  return number(bytes_per_second / double(1ull << 20)) + " MiB/s";
}

std::string duration(double seconds) {
  if (seconds >= 1) return number(seconds) + " s";
  if (seconds >= 1e-3) return number(seconds * 1e3) + " ms";
  if (seconds >= 1e-6) return number(seconds * 1e6) + " us";
  return number(seconds * 1e9) + " ns";
}

// Google Benchmark's reading of a boolean flag value (IsTruthyFlagValue).
bool truthy(std::string_view value) {
  if (value.empty()) return true;
  if (value.size() == 1) {
    const char c = value[0];
    return std::isalnum(static_cast<unsigned char>(c)) && std::strchr("0fFnN", c) == nullptr;
  }
  std::string lower(value);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower != "false" && lower != "no" && lower != "off";
}

// "--name=value" -> value; "--name" alone -> "" when `bare_ok`; else no match.
bool flag_value(std::string_view arg, std::string_view name, bool bare_ok, std::string_view& value) {
  if (!arg.starts_with("--")) return false;
  arg.remove_prefix(2);
  if (!arg.starts_with(name)) return false;
  arg.remove_prefix(name.size());
  if (arg.empty() && bare_ok) {
    value = arg;
    return true;
  }
  if (!arg.starts_with('=')) return false;
  value = arg.substr(1);
  return true;
}

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

}  // namespace

RatioReporter::RatioReporter(OutputOptions options, std::string first, std::string second)
    : ConsoleReporter(options), backend_{std::move(first), std::move(second)} {}

RatioReporter::Row* RatioReporter::row_for(const Run& run, int& side) {
  // The name without the time type: every benchmark here uses real time, and
  // "/real_time" on each row would be noise.
  benchmark::BenchmarkName parts = run.run_name;
  parts.time_type.clear();
  const std::string full = parts.str();

  std::string name;
  side = -1;
  std::size_t start = 0;
  while (start <= full.size()) {
    std::size_t end = full.find('/', start);
    if (end == std::string::npos) end = full.size();
    const std::string_view segment(full.data() + start, end - start);
    if (side < 0 && segment == backend_[0]) {
      side = 0;
    } else if (side < 0 && segment == backend_[1]) {
      side = 1;
    } else {
      if (!name.empty()) name += '/';
      name += segment;
    }
    start = end + 1;
  }
  if (side < 0) return nullptr;  // not a per-backend benchmark

  for (Row& row : rows_) {
    if (row.name == name) return &row;
  }
  rows_.push_back(Row{});
  rows_.back().name = std::move(name);
  return &rows_.back();
}

void RatioReporter::ReportRuns(const std::vector<Run>& reports) {
  ConsoleReporter::ReportRuns(reports);
  for (const Run& run : reports) {
    int side = -1;
    Row* row = row_for(run, side);
    if (row == nullptr) continue;
    if (run.error_occurred) {
      // Sticky: a row with a failed repetition is not a measurement to quote,
      // even if the other repetitions produced a median.
      if (row->error[side].empty()) row->error[side] = run.error_message.empty() ? "error" : run.error_message;
      continue;
    }
    const bool is_median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
    if (run.run_type == Run::RT_Aggregate && !is_median) continue;  // mean, stddev, cv, BigO ...
    Sample& sample = row->side[side];
    if (sample.median && !is_median) continue;  // a median beats any single run
    sample = Sample{};
    sample.present = true;
    sample.median = is_median;
    sample.repetitions = run.repetitions;
    sample.real_time_s = run.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(run.time_unit);
    for (const auto& [counter, value] : run.counters) sample.counters[counter] = value.value;
  }
}

void RatioReporter::Finalize() {
  ConsoleReporter::Finalize();
  print_table(GetOutputStream());
  GetOutputStream().flush();
}

void RatioReporter::print_table(std::ostream& out) const {
  if (rows_.empty()) return;

  // What the values are: medians of N repetitions, single runs, or a mix.
  std::int64_t reps = -1;
  bool all_median = true, any_median = false;
  for (const Row& row : rows_) {
    for (const Sample& s : row.side) {
      if (!s.present) continue;
      all_median = all_median && s.median;
      any_median = any_median || s.median;
      if (s.median) reps = (reps == -1 || reps == s.repetitions) ? s.repetitions : 0;
    }
  }
  std::string values;
  if (any_median && all_median && reps > 0) {
    values = "median of " + std::to_string(reps) + " repetitions";
  } else if (any_median) {
    values = "median where repeated, else one run";
  } else {
    values = "one run each, no medians";
  }

  static constexpr int columns = 8;
  using Line = std::array<std::string, columns>;
  std::vector<Line> lines;
  lines.push_back({"benchmark", "metric", backend_[0], backend_[1], "ratio", "syscalls " + backend_[0],
                   "syscalls " + backend_[1], "per"});

  for (const Row& row : rows_) {
    Line line;
    line[0] = row.name;
    const bool ok[2] = {row.side[0].present && row.error[0].empty(), row.side[1].present && row.error[1].empty()};

    // The metric comes from whichever side reported: throughput when there is
    // one, else the benchmark's own per-unit time counter, else time/iteration.
    const Sample& ref = ok[0] ? row.side[0] : row.side[1];
    std::string metric = "time/iter";
    bool is_rate = false;
    if (ref.counters.contains("bytes_per_second")) {
      metric = "bytes/s";
      is_rate = true;
    } else if (ref.counters.contains("rtt")) {
      metric = "rtt";
    } else if (ref.counters.contains("op_time")) {
      metric = "op_time";
    }
    auto value_of = [&](const Sample& s, double& v) {
      if (metric == "time/iter") {
        v = s.real_time_s;
        return v > 0;
      }
      const std::string key = is_rate ? "bytes_per_second" : metric;
      auto it = s.counters.find(key);
      if (it == s.counters.end()) return false;
      v = it->second;
      return v > 0;
    };
    line[1] = ok[0] || ok[1] ? metric : "-";

    double v[2] = {0, 0};
    bool have[2] = {false, false};
    for (int i = 0; i < 2; ++i) {
      have[i] = ok[i] && value_of(row.side[i], v[i]);
      line[2 + i] = have[i] ? (is_rate ? throughput(v[i]) : duration(v[i])) : "-";
    }
    // > 1 means the first backend is faster, either way round.
    line[4] = have[0] && have[1] ? number(is_rate ? v[0] / v[1] : v[1] / v[0]) : "-";

    std::string per;
    for (int i = 0; i < 2; ++i) {
      line[5 + i] = "-";
      if (!ok[i]) continue;
      for (const auto& [counter, value] : row.side[i].counters) {
        if (!counter.starts_with("syscalls_per_")) continue;
        line[5 + i] = number(value);
        per = counter.substr(std::strlen("syscalls_per_"));
        break;
      }
    }
    line[7] = per.empty() ? "-" : per;
    lines.push_back(std::move(line));
  }

  std::size_t width[columns] = {};
  for (const Line& line : lines) {
    for (int c = 0; c < columns; ++c) width[c] = std::max(width[c], line[c].size());
  }
  std::size_t total = 0;
  for (int c = 0; c < columns; ++c) total += width[c] + (c != 0 ? 2 : 0);

  out << "\n"
      << backend_[0] << " vs " << backend_[1] << ", measured side by side in this run (" << values << ")\n"
      << "ratio > 1 means " << backend_[0] << " is faster: " << backend_[0] << "/" << backend_[1]
      << " of bytes/s for throughput rows, " << backend_[1] << "/" << backend_[0] << " of the time for the others\n"
      << std::string(total, '-') << "\n";
  bool first_line = true;
  for (const Line& line : lines) {
    std::string text;
    for (int c = 0; c < columns; ++c) {
      if (c != 0) text += "  ";
      const std::size_t pad = width[c] - line[c].size();
      const bool left = c == 0 || c == 1 || c == 7;  // names left, numbers right
      if (left) {
        text += line[c];
        if (c != columns - 1) text.append(pad, ' ');
      } else {
        text.append(pad, ' ');
        text += line[c];
      }
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << "\n";
    if (first_line) out << std::string(total, '-') << "\n";
    first_line = false;
  }

  // Why a cell shows "-": missing partner (filtered out) or a failed run.
  std::vector<std::pair<std::string, int>> errors;  // "backend: message", rows
  for (const Row& row : rows_) {
    for (int i = 0; i < 2; ++i) {
      if (row.error[i].empty()) continue;
      std::string what = backend_[i] + ": " + row.error[i];
      auto it = std::find_if(errors.begin(), errors.end(), [&](const auto& e) { return e.first == what; });
      if (it == errors.end()) {
        errors.emplace_back(std::move(what), 1);
      } else {
        ++it->second;
      }
    }
  }
  for (const auto& [what, count] : errors) {
    out << "failed (" << count << (count == 1 ? " row" : " rows") << "): " << what << "\n";
  }
}

std::unique_ptr<benchmark::BenchmarkReporter> make_display_reporter(std::span<char* const> args) {
  // Defaults from the environment, as Google Benchmark takes them.
  std::string format = env_or("BENCHMARK_FORMAT", "console");
  std::string color = env_or("BENCHMARK_COLOR", "auto");
  bool tabular = truthy(env_or("BENCHMARK_COUNTERS_TABULAR", "false"));
  for (char* const arg : args) {
    if (arg == nullptr) continue;
    std::string_view value;
    if (flag_value(arg, "benchmark_format", false, value)) {
      format = value;
    } else if (flag_value(arg, "benchmark_color", true, value)) {
      color = value.empty() ? "true" : std::string(value);
    } else if (flag_value(arg, "benchmark_counters_tabular", true, value)) {
      tabular = truthy(value);
    }
  }
  if (format != "console") return nullptr;

  bool use_color;
  if (color == "auto") {
    const char* term = std::getenv("TERM");
    use_color = ::isatty(STDOUT_FILENO) != 0 && term != nullptr && *term != '\0' && std::strcmp(term, "dumb") != 0;
  } else {
    use_color = truthy(color);
  }
  int options = benchmark::ConsoleReporter::OO_None;
  if (use_color) options |= benchmark::ConsoleReporter::OO_Color;
  if (tabular) options |= benchmark::ConsoleReporter::OO_Tabular;
  static_assert(std::size(variants) == 2, "the table pairs exactly two backends");
  return std::make_unique<RatioReporter>(static_cast<benchmark::ConsoleReporter::OutputOptions>(options),
                                         variants[0].name, variants[1].name);
}

}  // namespace ringxfer::perf
