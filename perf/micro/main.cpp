// ringxfer-micro: micro benchmarks of the engine, each registered once per
// backend (io_uring, epoll) so the two print side by side.
//
//   ringxfer-micro [--disable=LIST] [Google Benchmark flags...]
//
// --disable=LIST switches io_uring features off (as RINGXFER_DISABLE would;
// the environment itself is ignored so every row names its backend honestly).
// The defaults of a run are set here and nowhere else (tools/dev bench passes
// only the user's flags): see default_flags below. A later flag wins.
//
// Console output ends with a table that sets every io_uring row beside its
// epoll row (ratio_report.hpp); json and csv output are left as they are.
#include <benchmark/benchmark.h>

#include <cstring>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"
#include "ratio_report.hpp"
#include "ringxfer/probe.hpp"
#include "ringxfer/version.hpp"

namespace ringxfer::perf {
void register_stream_benchmarks();
void register_op_benchmarks();
void register_transfer_benchmarks();
void register_accept_benchmarks();
}  // namespace ringxfer::perf

namespace {

// The machine is noisy (a 2-core VM), and a loopback stream settles into one
// of several throughput regimes per connection (each repetition is a new
// connection): the median of five short repetitions says more than one long
// run, or three longer ones, in the same time. The whole default run takes
// about 2-2.5 minutes. Only the aggregates are printed (mean, median, stddev,
// cv); the ratio table uses the medians.
char default_min_time[] = "--benchmark_min_time=0.5";
char default_repetitions[] = "--benchmark_repetitions=5";
char default_aggregates_only[] = "--benchmark_report_aggregates_only=true";
char* const default_flags[] = {default_min_time, default_repetitions, default_aggregates_only};

}  // namespace

int main(int argc, char** argv) {
  using namespace ringxfer;
  std::vector<char*> args;
  args.push_back(argv[0]);
  args.insert(args.end(), std::begin(default_flags), std::end(default_flags));
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.starts_with("--disable=")) {
      std::string bad;
      if (parse_features(arg.substr(std::strlen("--disable=")), perf::disabled_features(), &bad)) {
        std::cerr << "ringxfer-micro: --disable: unknown feature '" << bad << "'\n";
        return 2;
      }
      continue;
    }
    args.push_back(argv[i]);
  }
  args.push_back(nullptr);
  // Before Initialize, which removes the flags it knows from args.
  std::unique_ptr<benchmark::BenchmarkReporter> reporter = perf::make_display_reporter(args);
  int n = static_cast<int>(args.size()) - 1;
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;

  EngineOptions options;
  options.read_environment = false;
  options.disabled = perf::disabled_features();
  Features f = probe_features(options);
  benchmark::AddCustomContext("ringxfer", version_string);
  benchmark::AddCustomContext("kernel", f.kernel_release);
  benchmark::AddCustomContext("liburing", f.liburing_version);
  benchmark::AddCustomContext("io_uring", f.io_uring_usable ? "usable, setup " + f.setup_mode
                                                            : "not usable: " + f.io_uring_error);
  benchmark::AddCustomContext("disabled", perf::disabled_features().empty() ? "none"
                                                                            : to_string(perf::disabled_features()));

  perf::register_stream_benchmarks();
  perf::register_op_benchmarks();
  perf::register_transfer_benchmarks();
  perf::register_accept_benchmarks();
  // nullptr (json, csv): Google Benchmark's own reporter for that format.
  benchmark::RunSpecifiedBenchmarks(reporter.get());
  benchmark::Shutdown();
  return 0;
}
