#pragma once
// Shared pieces of the micro benchmarks: one Variant per backend, engine
// creation that turns "this backend cannot start here" into SkipWithError, a
// connected loopback TCP pair adopted into the engine, and a bounded run loop.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>

#include "ringxfer/engine.hpp"

namespace ringxfer::perf {

struct Variant {
  const char* name;  // printed in the benchmark name: stream_send/<name>/65536
  BackendKind backend;
};

// Backends in the order they print; each benchmark is registered once per entry.
inline constexpr Variant variants[] = {
    {"io_uring", BackendKind::io_uring},
    {"epoll", BackendKind::epoll},
};

// Features the user switched off with --disable=LIST (applied to every variant).
FeatureSet& disabled_features();

// Options every benchmark starts from: the variant's backend, set explicitly,
// and the environment ignored (so RINGXFER_BACKEND cannot silently turn an
// io_uring row into a second epoll row).
EngineOptions base_options(const Variant& variant);

// The engine, or nullptr after SkipWithError (backend unusable, or `auto`
// fell back to another backend than the one asked for).
std::unique_ptr<Engine> make_engine(benchmark::State& state, const EngineOptions& options);

// A connected TCP pair on 127.0.0.1 (TCP_NODELAY on both ends), adopted into
// `engine`. False after SkipWithError.
bool make_loopback_pair(benchmark::State& state, Engine& engine, Socket& client, Socket& server);

// Runs loop turns until done() is true. Every loop is bounded: fails (false)
// when no handler has run for `stall_limit`.
template <class Done>
bool run_until(Engine& engine, Done&& done,
               std::chrono::milliseconds stall_limit = std::chrono::milliseconds(10000)) {
  using clock = std::chrono::steady_clock;
  clock::time_point idle_since{};
  while (!done()) {
    if (engine.run_once(std::chrono::milliseconds(100)) != 0) {
      idle_since = {};
      continue;
    }
    // The clock is read only on idle turns, so the hot path does not pay for it.
    clock::time_point now = clock::now();
    if (idle_since == clock::time_point{}) {
      idle_since = now;
    } else if (now - idle_since > stall_limit) {
      return false;
    }
  }
  return true;
}

// Closes the handles and runs the engine until nothing is in flight (bounded),
// so every handler has run before the benchmark's state goes away.
void close_and_drain(Engine& engine, std::span<const FdRef> handles);
inline void close_and_drain(Engine& engine, std::initializer_list<FdRef> handles) {
  close_and_drain(engine, std::span<const FdRef>(handles.begin(), handles.size()));
}

// Stats after minus stats before, for the counters.
Stats stats_delta(const Stats& after, const Stats& before) noexcept;

std::string describe(const std::error_code& ec);

}  // namespace ringxfer::perf
