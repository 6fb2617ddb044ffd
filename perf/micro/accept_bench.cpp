// The engine's cost of one accepted connection, from the kernel's backlog to
// the close of the accepted socket.
//
//   accept_close/<backend>/<batch>  `batch` loopback clients connect (their
//                                   handshakes complete into the listen
//                                   backlog), the engine's multishot accept
//                                   takes them, and the engine closes each
//                                   accepted socket; the client fds are closed
//                                   by plain close(2), outside the counters.
//
// syscalls_per_conn counts the engine's own syscalls (Stats): with
// Feature::accept_direct an accepted socket goes straight into io_uring's
// fixed-file table and its close is an IORING_OP_CLOSE, so only
// io_uring_enter remains; without it (--disable=accept_direct) each
// connection adds an IORING_REGISTER_FILES_UPDATE at accept and at close.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "harness.hpp"

namespace ringxfer::perf {
namespace {

struct AcceptChurn {
  std::vector<Socket> accepted;
  int closes_pending = 0;
  std::error_code error;
};

void bm_accept_close(benchmark::State& state, Variant variant, int batch) {
  AcceptChurn st;  // outlives the engine: see stream_bench.cpp
  std::unique_ptr<Engine> engine = make_engine(state, base_options(variant));
  if (!engine) return;
  Socket listener;
  Address bound;
  if (engine->listen(Address::loopback_v4(0), listener) || engine->local_address(listener, bound)) {
    state.SkipWithError("listen on 127.0.0.1 failed");
    return;
  }
  OpId accept = engine->accept(listener, [s = &st](std::error_code ec, Socket sock) {
    if (ec) s->error = ec;
    else s->accepted.push_back(sock);
  });
  st.accepted.reserve(std::size_t(batch));
  std::vector<int> clients;
  clients.reserve(std::size_t(batch));
  const Stats before = engine->stats();
  std::uint64_t conns = 0;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0 || ::connect(fd, bound.data(), bound.size()) != 0) {
        if (fd >= 0) ::close(fd);
        st.error = std::make_error_code(std::errc::connection_refused);
        break;
      }
      clients.push_back(fd);
    }
    bool ok = run_until(*engine, [&] { return st.accepted.size() >= clients.size() || st.error; });
    for (Socket s : st.accepted) {
      if (engine->close(s, [s = &st](std::error_code ec) {
            --s->closes_pending;
            if (ec && !s->error) s->error = ec;
          })) {
        ++st.closes_pending;
      }
    }
    conns += st.accepted.size();
    st.accepted.clear();
    ok = ok && run_until(*engine, [&] { return st.closes_pending == 0; });
    for (int fd : clients) ::close(fd);
    clients.clear();
    if (!ok || st.error) {
      std::string message = "accept+close: " + (ok ? describe(st.error) : std::string("stalled for 10 s"));
      state.SkipWithError(message.c_str());
      break;
    }
  }
  const Stats d = stats_delta(engine->stats(), before);
  if (conns != 0) {
    state.counters["syscalls_per_conn"] = double(d.syscalls) / double(conns);
    state.counters["enters_per_conn"] = double(d.enter_calls) / double(conns);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(conns));
  engine->cancel(accept);
  close_and_drain(*engine, {listener});
}

}  // namespace

void register_accept_benchmarks() {
  for (int batch : {1, 32}) {
    for (const Variant& v : variants) {
      std::string name = std::string("accept_close/") + v.name + "/" + std::to_string(batch);
      benchmark::RegisterBenchmark(name.c_str(), bm_accept_close, v, batch)->UseRealTime();
    }
  }
}

}  // namespace ringxfer::perf
