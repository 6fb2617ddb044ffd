// Loopback stream throughput: one Engine, one connected TCP pair on 127.0.0.1.
// The sender keeps a window of sends in flight; the receiver is a multishot
// recv on the same engine that counts bytes and drops each buffer at once.
//
//   stream_send/<backend>/<bytes>     Engine::send from user memory
//   stream_send_zc/<backend>/<bytes>  Engine::send_zc of pool Buffers
//                                     (IORING_OP_SEND_ZC / MSG_ZEROCOPY)
//
// Over loopback the kernel copies zero-copy pages on delivery, so send_zc is
// not expected to win here; zc_copied reports how often that happened.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "harness.hpp"

namespace ringxfer::perf {
namespace {

constexpr std::uint64_t bytes_per_iteration = 64ull << 20;  // 64 MiB moved per benchmark iteration
constexpr std::uint64_t warmup_bytes = 128ull << 20;        // moved untimed before the first iteration
constexpr std::size_t window_bytes = 1 << 20;               // aim for ~1 MiB in flight ...
constexpr unsigned window_min = 4, window_max = 64;         // ... but 4..64 sends

constexpr std::size_t message_sizes[] = {4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20};

unsigned window_for(std::size_t message_bytes) {
  return static_cast<unsigned>(std::clamp<std::size_t>(window_bytes / message_bytes, window_min, window_max));
}

struct Stream {
  Engine* engine = nullptr;
  Socket tx, rx;
  bool zero_copy = false;
  std::size_t message_bytes = 0;
  unsigned window = 0;
  std::span<const std::byte> payload;  // send: user memory, one message long

  std::uint64_t target_bytes = 0;  // cumulative over iterations
  std::uint64_t started_bytes = 0;
  std::uint64_t sent_bytes = 0;
  std::uint64_t received_bytes = 0;
  unsigned in_flight = 0;
  std::uint64_t buffer_waits = 0;  // refill found no free pool buffer (zc notifications pending)
  bool stopping = false;
  std::error_code error;

  void refill() {
    while (!error && !stopping && in_flight < window && started_bytes < target_bytes) {
      OpId id;
      if (zero_copy) {
        Buffer buffer = engine->acquire_buffer();
        if (!buffer) {
          // Every send buffer is still owned by the kernel until its
          // notification; the next loop turn frees one and refills.
          ++buffer_waits;
          return;
        }
        buffer.resize(message_bytes);
        id = engine->send_zc(tx, std::move(buffer),
                             [s = this](std::error_code ec, std::size_t n) { s->on_sent(ec, n); });
      } else {
        id = engine->send(tx, payload, [s = this](std::error_code ec, std::size_t n) { s->on_sent(ec, n); });
      }
      if (!id) {
        error = make_error_code(ringxfer::error::no_free_op_slot);
        return;
      }
      ++in_flight;
      started_bytes += message_bytes;
    }
  }

  // For a stall report: where each side stopped.
  std::string progress(const Engine& e) const {
    const Stats& s = e.stats();
    return "target " + std::to_string(target_bytes) + " started " + std::to_string(started_bytes) + " sent " +
           std::to_string(sent_bytes) + " received " + std::to_string(received_bytes) + ", sends in flight " +
           std::to_string(in_flight) + ", engine in_flight " + std::to_string(e.in_flight()) + ", zc_sends " +
           std::to_string(s.zc_sends) + " short_sends " + std::to_string(s.short_sends) + " recv_starved " +
           std::to_string(s.recv_starved) + " cq_overflows " + std::to_string(s.cq_overflows);
  }

  void on_sent(std::error_code ec, std::size_t n) {
    --in_flight;
    sent_bytes += n;
    if (ec && !stopping && !error) error = ec;
    refill();
  }

  void on_recv(std::error_code ec, const Buffer& buffer) {
    if (ec) {
      if (!stopping && !error) error = ec;
      return;
    }
    received_bytes += buffer.size();
  }
};

// Waits (bounded) until no send is in flight and every send buffer is back in
// the pool, i.e. every zero-copy notification has arrived. Untimed.
bool settle(Engine& engine, Stream& st, const EngineOptions& options) {
  if (!run_until(engine, [&] { return st.in_flight == 0; }, std::chrono::milliseconds(2000))) return false;
  if (!st.zero_copy) return true;
  const std::size_t send_buffers = options.buffer_count - options.recv_buffer_count;
  std::vector<Buffer> held;
  held.reserve(send_buffers);
  for (int turn = 0; turn < 2000; ++turn) {
    while (Buffer b = engine.acquire_buffer()) held.push_back(std::move(b));
    bool all_home = held.size() >= send_buffers;
    held.clear();  // back to the pool
    if (all_home) return true;
    engine.run_once(std::chrono::milliseconds(1));
  }
  return false;
}

void bm_stream(benchmark::State& state, Variant variant, bool zero_copy, std::size_t message_bytes) {
  const unsigned window = window_for(message_bytes);
  EngineOptions options = base_options(variant);
  // One pool buffer holds one message; never below 64 KiB, so that the
  // receive side (which also draws from this pool) is the same for every
  // message size up to 64 KiB and for both send flavours.
  options.buffer_size_bytes = std::max<std::size_t>(message_bytes, 64 << 10);
  options.recv_buffer_count =
      static_cast<std::uint32_t>(std::clamp<std::size_t>((16u << 20) / options.buffer_size_bytes, 16, 128));
  options.buffer_count = options.recv_buffer_count + window + 8;  // +8: notifications in flight

  // Declared before the engine so it outlives it: handlers may still run while
  // the engine is being destroyed (with operation_canceled).
  Stream st;
  std::vector<std::byte> payload(message_bytes, std::byte{0x5a});
  std::unique_ptr<Engine> engine = make_engine(state, options);
  if (!engine) return;
  if (!make_loopback_pair(state, *engine, st.tx, st.rx)) return;

  // Touch every send buffer once, outside the timing, so first-touch page
  // faults are not part of the first iterations.
  if (zero_copy) {
    std::vector<Buffer> all;
    all.reserve(options.buffer_count);
    while (Buffer b = engine->acquire_buffer()) {
      std::memset(b.data(), 0x5a, b.capacity());
      all.push_back(std::move(b));
    }
    if (all.size() < window) {
      state.SkipWithError("buffer pool smaller than the send window");
      return;
    }
  }

  st.engine = engine.get();
  st.zero_copy = zero_copy;
  st.message_bytes = message_bytes;
  st.window = window;
  st.payload = payload;
  if (!engine->recv(st.rx, [s = &st](std::error_code ec, Buffer b) { s->on_recv(ec, b); })) {
    state.SkipWithError("recv: no free op slot");
    return;
  }

  // Moves `bytes` more and waits until they have arrived.
  auto move = [&](std::uint64_t bytes) -> bool {
    st.target_bytes += bytes;
    st.refill();
    bool ok = run_until(*engine, [&] {
      if (st.zero_copy && st.in_flight < st.window) st.refill();  // buffers come back between handlers
      return st.error || st.received_bytes >= st.target_bytes;
    });
    if (!ok || st.error) {
      std::string message = ok ? "stream: " + describe(st.error) : "stream: stalled for 10 s: " + st.progress(*engine);
      state.SkipWithError(message.c_str());
      return false;
    }
    return true;
  };
  // Untimed warm-up: a fresh TCP connection needs some data before its socket
  // buffers have grown (autotuning); without this the first iterations of a
  // short run are several times slower and the rows are noise.
  bool warm = move(warmup_bytes);
  if (warm && !settle(*engine, st, options)) {
    state.SkipWithError(("stream: sends or zero-copy notifications still pending after warm-up: " +
                         st.progress(*engine)).c_str());
    warm = false;
  }

  const Stats before = engine->stats();
  const std::uint64_t allocs_before = allocation_count();
  if (warm) {
    for (auto _ : state) {
      if (!move(bytes_per_iteration)) break;
    }
  }
  const std::uint64_t allocs = allocation_count() - allocs_before;
  // Let the last sends and their zero-copy notifications finish, outside the
  // timing, so that zc_sends and zc_copied count the same sends.
  settle(*engine, st, options);
  const Stats d = stats_delta(engine->stats(), before);

  const double moved_bytes = double(state.iterations()) * double(bytes_per_iteration);
  const double mib = moved_bytes / double(1 << 20);
  const double messages = moved_bytes / double(message_bytes);
  state.SetBytesProcessed(static_cast<std::int64_t>(moved_bytes));
  if (mib > 0) {
    state.counters["syscalls_per_MiB"] = double(d.syscalls) / mib;
    state.counters["allocs_per_msg"] = double(allocs) / messages;
  }
  if (zero_copy) {
    state.counters["zc_sends"] = double(d.zc_sends);
    state.counters["zc_copied_ratio"] = d.zc_sends != 0 ? double(d.zc_copied) / double(d.zc_sends) : 0.0;
    state.counters["buf_waits"] = double(st.buffer_waits);
  }
  state.counters["fallbacks"] = double(d.fallbacks);
  state.counters["fixed_bufs"] = engine->features().buffers_registered ? 1 : 0;
  state.counters["window"] = window;

  st.stopping = true;
  close_and_drain(*engine, {st.tx, st.rx});
}

}  // namespace

void register_stream_benchmarks() {
  for (bool zero_copy : {false, true}) {
    for (std::size_t size : message_sizes) {
      for (const Variant& v : variants) {
        std::string name = std::string(zero_copy ? "stream_send_zc/" : "stream_send/") + v.name + "/" +
                           std::to_string(size);
        benchmark::RegisterBenchmark(name.c_str(), bm_stream, v, zero_copy, size)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
}

}  // namespace ringxfer::perf
