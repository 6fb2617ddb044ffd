// File -> socket transfers by strategy and size, one input to the
// `automatic` size bands (engine/transfer/strategy.cpp, which also has the
// `ringxfer serve` under wrk figures that set them: with the receiver on
// this thread, copy looks better from 1 MiB than it is under a real client).
//
//   file_transfer/<backend>/<strategy>/<bytes>
//
// One Engine, `lanes` loopback TCP pairs; on each, one Transfers::start of
// the whole file (page cache warm) with a 200-byte head ahead of it, as
// `ringxfer serve` sends a response, then the next as soon as it ended. The
// receiving ends are multishot recvs on the same engine that count bytes. So
// a row is the whole cost of moving file bytes to a socket and taking them
// in, on one thread — plus whatever io_uring ran on io-wq worker threads
// (splice): cpu_s_per_GB counts the process's CPU (getrusage, all threads),
// which is what a server pays.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "harness.hpp"
#include "ringxfer/transfer.hpp"

namespace ringxfer::perf {
namespace {

constexpr std::uint64_t bytes_per_iteration = 64ull << 20;
constexpr int lanes = 4;
constexpr std::size_t head_bytes = 200;
constexpr std::size_t file_sizes[] = {4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20};
constexpr Strategy strategies[] = {Strategy::copy, Strategy::splice, Strategy::sendfile, Strategy::zerocopy,
                                   Strategy::automatic};

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Lane {
  Socket tx, rx;
  std::uint64_t received = 0;
};

struct Bench {
  Transfers* transfers = nullptr;
  File file;
  std::size_t file_bytes = 0;
  Strategy strategy = Strategy::automatic;
  std::vector<std::byte> head = std::vector<std::byte>(head_bytes, std::byte{'h'});
  Lane lanes_[lanes];
  std::uint64_t started = 0;  // transfers started, cumulative
  std::uint64_t target = 0;   // transfers to start, cumulative
  std::uint64_t ended = 0;
  std::uint64_t received_bytes = 0;
  std::error_code error;
  Strategy used = Strategy::automatic;

  void start(int lane) {
    if (error || started >= target) return;
    ++started;
    TransferOptions o;
    o.strategy = strategy;
    o.header = head;
    TransferId id = transfers->start(Source::file(file, 0, file_bytes), Sink::socket(lanes_[lane].tx), o,
                                     [this, lane](std::error_code ec, const TransferResult& r) {
                                       ++ended;
                                       used = r.strategy;
                                       if (ec && !error) error = ec;
                                       start(lane);
                                     });
    if (!id && !error) error = make_error_code(ringxfer::error::no_free_op_slot);
  }
};

void bm_transfer(benchmark::State& state, Variant variant, Strategy strategy, std::size_t file_bytes) {
  EngineOptions options = base_options(variant);
  Bench b;
  b.strategy = strategy;
  b.file_bytes = file_bytes;
  std::unique_ptr<Engine> engine = make_engine(state, options);
  if (!engine) return;

  // The file, written once and kept in the page cache.
  std::string path = "/tmp/ringxfer-micro-transfer-" + std::to_string(::getpid()) + "-" + std::to_string(file_bytes);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    state.SkipWithError("open the temporary file");
    return;
  }
  ::unlink(path.c_str());
  std::vector<char> block(1 << 20, 'f');
  for (std::size_t left = file_bytes; left > 0;) {
    std::size_t n = std::min(left, block.size());
    if (::write(fd, block.data(), n) != ssize_t(n)) {
      ::close(fd);
      state.SkipWithError("write the temporary file");
      return;
    }
    left -= n;
  }
  if (engine->adopt(fd, b.file)) {
    ::close(fd);
    state.SkipWithError("adopt the file");
    return;
  }
  for (Lane& l : b.lanes_) {
    if (!make_loopback_pair(state, *engine, l.tx, l.rx)) return;
    if (!engine->recv(l.rx, [bb = &b](std::error_code, Buffer buf) { bb->received_bytes += buf.size(); })) {
      state.SkipWithError("recv: no free op slot");
      return;
    }
  }
  Transfers transfers(*engine);
  b.transfers = &transfers;
  const std::uint64_t per_iteration = std::max<std::uint64_t>(lanes, bytes_per_iteration / file_bytes);
  const std::uint64_t wire_bytes = file_bytes + head_bytes;

  auto move = [&](std::uint64_t count) -> bool {
    b.target += count;
    for (int i = 0; i < lanes; ++i) b.start(i);
    bool ok = run_until(*engine, [&] { return b.error || (b.ended >= b.target && b.received_bytes >= b.target * wire_bytes); });
    if (!ok || b.error) {
      state.SkipWithError(ok ? ("transfer: " + describe(b.error)).c_str() : "transfer: stalled for 10 s");
      return false;
    }
    return true;
  };
  bool warm = move(std::max<std::uint64_t>(lanes, (16ull << 20) / file_bytes));  // untimed: socket buffers grow
  const Stats before = engine->stats();
  const double cpu_before = cpu_seconds();
  if (warm) {
    for (auto _ : state) {
      if (!move(per_iteration)) break;
    }
  }
  const double cpu = cpu_seconds() - cpu_before;
  const Stats d = stats_delta(engine->stats(), before);
  const double moved = double(state.iterations()) * double(per_iteration) * double(file_bytes);
  state.SetBytesProcessed(static_cast<std::int64_t>(moved));
  if (moved > 0) {
    state.counters["cpu_s_per_GB"] = cpu / (moved / 1e9);
    state.counters["syscalls_per_xfer"] = double(d.syscalls) / (double(state.iterations()) * double(per_iteration));
  }
  state.counters["strategy"] = double(static_cast<int>(b.used));  // what carried the body (0 auto .. 4 zerocopy)
  // All at once: close_and_drain waits until nothing at all is in flight.
  std::vector<FdRef> handles{b.file};
  for (Lane& l : b.lanes_) handles.insert(handles.end(), {l.tx, l.rx});
  close_and_drain(*engine, handles);
}

}  // namespace

void register_transfer_benchmarks() {
  for (std::size_t size : file_sizes) {
    for (Strategy s : strategies) {
      for (const Variant& v : variants) {
        // On epoll, splice and zerocopy of a file are what sendfile and copy
        // already measure... but splice_pipe_only makes splice a pipe there:
        // keep every row, the names say what ran (counter `strategy`).
        std::string name = std::string("file_transfer/") + v.name + "/" + std::string(to_string(s)) + "/" +
                           std::to_string(size);
        benchmark::RegisterBenchmark(name.c_str(), bm_transfer, v, s, size)->UseRealTime()->Unit(benchmark::kMillisecond);
      }
    }
  }
}

}  // namespace ringxfer::perf
