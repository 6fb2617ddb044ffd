#pragma once
/// @file
/// The whole public API of ringxfer: include this one header.
///
/// @mainpage ringxfer API reference
///
/// ringxfer moves bytes between sockets, files and memory on Linux with
/// io_uring (zero-copy send, splice, fixed buffers, a registered-fd table),
/// with an epoll backend behind the same interface as the fallback.
///
/// Where to start:
/// - ringxfer::Engine (engine.hpp): one per thread; the loop, handles and
///   every operation (accept, connect, recv, send, sendv, send_zc, splice,
///   read, write, timeout, shutdown, close). Its file comment states the
///   rules: threads, errors, completion exactly once, write order, SIGPIPE.
/// - ringxfer::Transfers (transfer.hpp): whole transfers (file or memory to a
///   socket, socket to file) and relays, by the strategy the backend does best.
/// - ringxfer::EngineOptions (options.hpp), ringxfer::Features and
///   ringxfer::probe_features() (features.hpp, probe.hpp): sizes, the backend
///   choice, and the io_uring features with their `RINGXFER_DISABLE` words.
/// - ringxfer::Buffer (buffer.hpp): leases on the engine's buffer pool.
/// - ringxfer::Stats (stats.hpp): counters, syscalls included.
///
/// Layers: the public headers (include/ringxfer) over engine/core (op slots,
/// fd table, buffer and pipe pools, per-socket write order) over the backend
/// seam (engine/backend.hpp) with engine/uring and engine/epoll; engine/transfer
/// builds Transfers on the public operations. The README shows the tools built
/// on top (`ringxfer serve`, `proxy`, `send`, `recv`, `echo`, `load`, `probe`).
#include "ringxfer/address.hpp"
#include "ringxfer/buffer.hpp"
#include "ringxfer/engine.hpp"
#include "ringxfer/error.hpp"
#include "ringxfer/features.hpp"
#include "ringxfer/handles.hpp"
#include "ringxfer/options.hpp"
#include "ringxfer/probe.hpp"
#include "ringxfer/stats.hpp"
#include "ringxfer/transfer.hpp"
#include "ringxfer/unique_socket.hpp"
#include "ringxfer/version.hpp"
#include "ringxfer/workers.hpp"
