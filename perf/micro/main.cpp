// ringxfer-micro: micro benchmarks of the engine, each registered once per
// backend (io_uring, epoll) so the two print side by side.
//
//   ringxfer-micro [--disable=LIST] [Google Benchmark flags...]
//
// --disable=LIST switches io_uring features off (as RINGXFER_DISABLE would;
// the environment itself is ignored so every row names its backend honestly).
// Defaults: --benchmark_min_time=0.5 (later flags override it).
#include <benchmark/benchmark.h>

#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"
#include "ringxfer/probe.hpp"
#include "ringxfer/version.hpp"

namespace ringxfer::perf {
void register_stream_benchmarks();
void register_op_benchmarks();
}  // namespace ringxfer::perf

int main(int argc, char** argv) {
  using namespace ringxfer;
  static char default_min_time[] = "--benchmark_min_time=0.5";
  std::vector<char*> args;
  args.push_back(argv[0]);
  args.push_back(default_min_time);
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
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
