#pragma once
// The console output of ringxfer-micro, plus a closing table that sets each
// io_uring row beside its epoll row:
//
//   stream_send/io_uring/65536  +  stream_send/epoll/65536  ->  stream_send/65536
//
// with the value of each, the ratio (> 1 always means io_uring is faster) and
// the syscalls per unit. Only console output gets the table; json and csv
// output stay exactly what Google Benchmark prints.
#include <benchmark/benchmark.h>

#include <iosfwd>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace ringxfer::perf {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  // `first` and `second` are the backend segments of the benchmark names; the
  // ratio favours `first` when it is > 1.
  RatioReporter(OutputOptions options, std::string first, std::string second);

  void ReportRuns(const std::vector<Run>& reports) override;
  void Finalize() override;  // the normal output is done: print the table

  // The table, or nothing when no run named either backend.
  void print_table(std::ostream& out) const;

 private:
  // One backend's result for one row: the median aggregate when repetitions
  // produced one, else the (last) plain run.
  struct Sample {
    bool present = false;
    bool median = false;
    std::int64_t repetitions = 1;
    double real_time_s = 0;  // per iteration
    std::map<std::string, double> counters;  // finished values: rates per second, kInvert as seconds
  };
  struct Row {
    std::string name;  // benchmark name without the backend segment
    Sample side[2];
    std::string error[2];  // any run of this side failed: the row shows "-"
  };

  Row* row_for(const Run& run, int& side);

  std::string backend_[2];
  std::vector<Row> rows_;  // in the order the benchmarks ran
};

// The display reporter for these command-line arguments (the flags that go to
// benchmark::Initialize, defaults first, later flags winning): a RatioReporter
// when the output format is console (--benchmark_format or BENCHMARK_FORMAT),
// nullptr otherwise, i.e. let Google Benchmark pick its own. Honours
// --benchmark_color and --benchmark_counters_tabular as the library does.
// Call before benchmark::Initialize, which removes the flags it knows.
std::unique_ptr<benchmark::BenchmarkReporter> make_display_reporter(std::span<char* const> args);

}  // namespace ringxfer::perf
