#pragma once
// The engine-thread half of `ringxfer serve`: one ServeWorker per thread,
// each with its own listener (SO_REUSEPORT), Engine, Transfers and
// connections. See serve_worker.cpp for the connection life cycle.
#include <chrono>
#include <cstdint>
#include <memory>

#include "http/mime.hpp"
#include "file_cache.hpp"
#include "http/request.hpp"
#include "runner.hpp"
#include "serve_support.hpp"

namespace ringxfer::cli::serve {

// What every thread shares, read-only after start-up (the log file locks).
struct ServeConfig {
  int root_fd = -1;
  const http::MimeTable* mime = nullptr;
  AccessLogFile* access_log = nullptr;  // nullptr or disabled: no log
  http::Limits limits;
  std::chrono::nanoseconds header_timeout = std::chrono::seconds(10);
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(60);
  std::chrono::nanoseconds send_timeout = std::chrono::seconds(60);
  // After an error response or Connection: close, read and discard for at
  // most this long before closing (so a close never RSTs a response away).
  std::chrono::nanoseconds linger_timeout = std::chrono::seconds(2);
  std::uint32_t max_connections = 0;  // this thread's share; 0: unlimited
  // Open files kept per thread (file_cache.hpp); 0: open every request's file.
  std::uint32_t open_file_cache = 1000;
  // An entry unused this long is closed.
  std::chrono::nanoseconds open_file_inactive = std::chrono::seconds(10);
  // Small files' bytes kept with their cache entries (file_cache.hpp).
  FileBytesOptions open_file_bytes;
};

std::unique_ptr<Worker> make_serve_worker(const ServeConfig& config);

// Writes what a worker still holds in its access-log buffer (after the run;
// the engine threads are joined by then).
void flush_serve_worker(Worker& worker);

}  // namespace ringxfer::cli::serve
