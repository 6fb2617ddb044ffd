// The cost of one operation, from start to handler.
//
//   op_timeout0/<backend>/<batch>  `batch` timeouts of 0 ns started per loop
//                                  turn, run until all their handlers ran.
//                                  io_uring arms a kernel hrtimer per timeout;
//                                  the epoll backend's timer heap sees a 0 ns
//                                  timeout as due at once, in user space.
//   op_write_devnull/<backend>/<batch>  the same with 64-byte writes of pool
//                                  buffers to /dev/null: a nop-like op that
//                                  goes through the backend on both
//   buffer_lease/<backend>         Engine::acquire_buffer() and dropping the
//                                  lease: the BufferPool's free list, no syscall
//   fd_slot/<backend>              adopt an fd into the FdTable and close it
//                                  (slot from the free list, fixed-table entry
//                                  or epoll registration, the close op)
//   pingpong_1B/<backend>/<pairs>  one 1-byte round trip on each of `pairs`
//                                  loopback TCP pairs per iteration: client
//                                  send -> server recv -> server send ->
//                                  client recv (4 completions per round trip)
//
// batch/pairs 1 shows the latency of a lone op; 64 shows what batching buys
// (one io_uring_enter or epoll_wait per turn for many completions).
// allocs_per_op counts global operator new calls per completion inside the
// timed loop: DESIGN invariant 5 wants 0.
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "harness.hpp"

namespace ringxfer::perf {
namespace {

constexpr int batch_sizes[] = {1, 64};

// A per-op time as a counter: value per iteration, shown as seconds per unit.
benchmark::Counter per_op_time(double units_per_iteration) {
  return benchmark::Counter(units_per_iteration,
                            benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// The ops of one loop turn: how many are pending, and the first error.
struct Batch {
  int pending = 0;
  std::uint64_t handlers = 0;
  std::error_code error;
  void on_done(std::error_code ec) {
    --pending;
    ++handlers;
    if (ec && !error) error = ec;
  }
};

// Per iteration: `batch` ops started by start_one() (false: could not start),
// then the loop runs until every handler ran. Reports the time, syscalls and
// allocations per op.
template <class StartOne>
void run_batches(benchmark::State& state, Engine& engine, Batch& st, int batch, const char* what,
                 StartOne start_one) {
  const Stats before = engine.stats();
  const std::uint64_t allocs_before = allocation_count();
  for (auto _ : state) {
    for (int i = 0; i < batch && !st.error; ++i) {
      if (!start_one()) break;
      ++st.pending;
    }
    bool ok = run_until(engine, [&] { return st.pending == 0; });
    if (!ok || st.error) {
      std::string message = std::string(what) + (ok ? ": " + describe(st.error) : std::string(": stalled for 10 s"));
      state.SkipWithError(message.c_str());
      break;
    }
  }
  const std::uint64_t allocs = allocation_count() - allocs_before;
  const Stats d = stats_delta(engine.stats(), before);
  if (st.handlers != 0) {
    state.counters["op_time"] = per_op_time(batch);
    state.counters["syscalls_per_op"] = double(d.syscalls) / double(st.handlers);
    state.counters["allocs_per_op"] = double(allocs) / double(st.handlers);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(st.handlers));
}

void bm_timeout0(benchmark::State& state, Variant variant, int batch) {
  Batch st;  // outlives the engine: see stream_bench.cpp
  std::unique_ptr<Engine> engine = make_engine(state, base_options(variant));
  if (!engine) return;
  run_batches(state, *engine, st, batch, "timeout", [&] {
    if (engine->timeout(std::chrono::nanoseconds(0), [s = &st](std::error_code ec) { s->on_done(ec); })) return true;
    st.error = make_error_code(ringxfer::error::no_free_op_slot);
    return false;
  });
}

// A nop-like op that goes through the backend on both: a 64-byte write of a
// pool Buffer to /dev/null (IORING_OP_WRITE[_FIXED] completes inline; epoll
// calls write(2) at once, no readiness wait).
constexpr std::size_t devnull_write_bytes = 64;

void bm_write_devnull(benchmark::State& state, Variant variant, int batch) {
  Batch st;  // outlives the engine: see stream_bench.cpp
  std::unique_ptr<Engine> engine = make_engine(state, base_options(variant));
  if (!engine) return;
  File devnull;
  if (std::error_code ec = engine->open("/dev/null", O_WRONLY | O_CLOEXEC, devnull)) {
    state.SkipWithError(("open /dev/null: " + describe(ec)).c_str());
    return;
  }
  run_batches(state, *engine, st, batch, "write", [&] {
    Buffer buffer = engine->acquire_buffer();
    if (!buffer) {
      st.error = make_error_code(ringxfer::error::no_free_buffer);
      return false;
    }
    buffer.resize(devnull_write_bytes);
    // The handler gets the buffer back and drops it: back to the pool.
    if (engine->write(devnull, -1, std::move(buffer), [s = &st](std::error_code ec, Buffer) { s->on_done(ec); })) {
      return true;
    }
    st.error = make_error_code(ringxfer::error::no_free_op_slot);
    return false;
  });
  close_and_drain(*engine, {devnull});
}

struct PingPong;

struct Pair {
  PingPong* owner = nullptr;
  Socket client, server;
};

struct PingPong {
  Engine* engine = nullptr;
  std::vector<Pair> pairs;
  const std::byte ping{0x70};
  const std::byte pong{0x71};
  int pending_replies = 0;  // client recvs still due this iteration
  int sends_in_flight = 0;
  std::uint64_t handlers = 0;  // completions seen: sends and recv results
  bool stopping = false;
  std::error_code error;

  void fail(std::error_code ec) {
    if (!stopping && !error) error = ec;
  }

  bool send(Socket socket, const std::byte& byte) {
    OpId id = engine->send(socket, std::span<const std::byte>(&byte, 1),
                           [s = this](std::error_code ec, std::size_t) { s->on_sent(ec); });
    if (!id) {
      fail(make_error_code(ringxfer::error::no_free_op_slot));
      return false;
    }
    ++sends_in_flight;
    return true;
  }
  void on_sent(std::error_code ec) {
    --sends_in_flight;
    ++handlers;
    if (ec) fail(ec);
  }
  // Server side: every byte in is answered with one byte out.
  void on_server_recv(Pair& pair, std::error_code ec, const Buffer& buffer) {
    ++handlers;
    if (ec) return fail(ec);
    for (std::size_t i = 0; i < buffer.size(); ++i) send(pair.server, pong);
  }
  void on_client_recv(std::error_code ec, const Buffer& buffer) {
    ++handlers;
    if (ec) return fail(ec);
    pending_replies -= static_cast<int>(buffer.size());
  }
};

void bm_pingpong(benchmark::State& state, Variant variant, int pair_count) {
  PingPong st;  // outlives the engine: see stream_bench.cpp
  st.pairs.resize(static_cast<std::size_t>(pair_count));
  std::unique_ptr<Engine> engine = make_engine(state, base_options(variant));
  if (!engine) return;
  st.engine = engine.get();
  for (Pair& p : st.pairs) {
    p.owner = &st;
    if (!make_loopback_pair(state, *engine, p.client, p.server)) return;
    bool armed =
        engine->recv(p.server, [pp = &p](std::error_code ec, Buffer b) { pp->owner->on_server_recv(*pp, ec, b); }) &&
        engine->recv(p.client, [pp = &p](std::error_code ec, Buffer b) { pp->owner->on_client_recv(ec, b); });
    if (!armed) {
      state.SkipWithError("recv: no free op slot");
      return;
    }
  }

  // One untimed round trip per pair: connections warm, recvs armed.
  auto round_trip = [&]() -> bool {
    st.pending_replies = pair_count;
    for (Pair& p : st.pairs) st.send(p.client, st.ping);
    bool ok = run_until(*engine, [&] { return st.error || (st.pending_replies <= 0 && st.sends_in_flight == 0); });
    if (!ok || st.error) {
      std::string message = ok ? "pingpong: " + describe(st.error) : std::string("pingpong: stalled for 10 s");
      state.SkipWithError(message.c_str());
      return false;
    }
    return true;
  };
  bool warm = round_trip();

  const Stats before = engine->stats();
  const std::uint64_t allocs_before = allocation_count();
  const std::uint64_t handlers_before = st.handlers;
  if (warm) {
    for (auto _ : state) {
      if (!round_trip()) break;
    }
  }
  const std::uint64_t allocs = allocation_count() - allocs_before;
  const std::uint64_t handlers = st.handlers - handlers_before;
  const Stats d = stats_delta(engine->stats(), before);
  if (handlers != 0) {
    const double round_trips = double(state.iterations()) * pair_count;
    state.counters["rtt"] = per_op_time(pair_count);
    state.counters["op_time"] = per_op_time(double(handlers) / double(state.iterations()));
    state.counters["syscalls_per_rtt"] = double(d.syscalls) / round_trips;
    state.counters["allocs_per_op"] = double(allocs) / double(handlers);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * pair_count);

  st.stopping = true;
  // Close every pair first, drain once: in_flight() counts all pairs' recvs.
  std::vector<FdRef> handles;
  for (const Pair& p : st.pairs) {
    handles.push_back(p.client);
    handles.push_back(p.server);
  }
  close_and_drain(*engine, handles);
}

void bm_buffer_lease(benchmark::State& state, Variant variant) {
  std::unique_ptr<Engine> engine = make_engine(state, base_options(variant));
  if (!engine) return;
  const std::uint64_t allocs_before = allocation_count();
  std::uint64_t leases = 0;
  for (auto _ : state) {
    Buffer b = engine->acquire_buffer();
    benchmark::DoNotOptimize(b.data());
    if (!b) {
      state.SkipWithError("acquire_buffer: no free buffer");
      break;
    }
    ++leases;
  }  // each lease goes back to the pool here
  if (leases != 0) state.counters["allocs_per_op"] = double(allocation_count() - allocs_before) / double(leases);
  state.SetItemsProcessed(static_cast<std::int64_t>(leases));
}

void bm_fd_slot(benchmark::State& state, Variant variant) {
  Batch st;  // outlives the engine: see stream_bench.cpp
  std::unique_ptr<Engine> engine = make_engine(state, base_options(variant));
  if (!engine) return;
  // dup() of one pipe end: the fd is the engine's after adopt, and its close
  // op closes it; the slot comes back to the free list for the next adopt.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    state.SkipWithError("pipe2 failed");
    return;
  }
  run_batches(state, *engine, st, 1, "adopt+close", [&] {
    File f;
    int fd = ::dup(fds[0]);
    if (fd < 0 || engine->adopt(fd, f)) {
      if (fd >= 0) ::close(fd);
      st.error = std::make_error_code(std::errc::too_many_files_open);
      return false;
    }
    if (engine->close(f, [s = &st](std::error_code ec) { s->on_done(ec); })) return true;
    st.error = make_error_code(ringxfer::error::no_free_op_slot);
    return false;
  });
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace

void register_op_benchmarks() {
  for (const Variant& v : variants) {
    benchmark::RegisterBenchmark((std::string("buffer_lease/") + v.name).c_str(), bm_buffer_lease, v);
  }
  for (const Variant& v : variants) {
    benchmark::RegisterBenchmark((std::string("fd_slot/") + v.name).c_str(), bm_fd_slot, v)->UseRealTime();
  }
  for (int batch : batch_sizes) {
    for (const Variant& v : variants) {
      std::string name = std::string("op_timeout0/") + v.name + "/" + std::to_string(batch);
      benchmark::RegisterBenchmark(name.c_str(), bm_timeout0, v, batch)->UseRealTime();
    }
  }
  for (int batch : batch_sizes) {
    for (const Variant& v : variants) {
      std::string name = std::string("op_write_devnull/") + v.name + "/" + std::to_string(batch);
      benchmark::RegisterBenchmark(name.c_str(), bm_write_devnull, v, batch)->UseRealTime();
    }
  }
  for (int pairs : batch_sizes) {
    for (const Variant& v : variants) {
      std::string name = std::string("pingpong_1B/") + v.name + "/" + std::to_string(pairs);
      benchmark::RegisterBenchmark(name.c_str(), bm_pingpong, v, pairs)->UseRealTime();
    }
  }
}

}  // namespace ringxfer::perf
