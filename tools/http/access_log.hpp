#pragma once
// One access-log line in the combined log format (Apache/nginx "combined"):
//   127.0.0.1 - - [01/Dec/2026:14:42:39 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/7.88.1"
// appended to a caller buffer; the caller writes the buffer out when it fills
// or on a timer (no syscall per request). Times are UTC. Bytes a client could
// choose (request line, Referer, User-Agent) are escaped as nginx does: '"',
// '\' and bytes outside 0x20-0x7E become \xHH, so a line cannot be forged or
// broken. An empty or absent field is "-".
#include <cstdint>
#include <span>
#include <string_view>

namespace ringxfer::http {

struct AccessLogEntry {
  std::string_view remote;        // client address without port, e.g. "127.0.0.1", "::1"
  std::int64_t time_seconds = 0;  // unix seconds
  std::string_view request_line;  // Request::request_line; empty if none was parsed
  unsigned status = 0;
  std::uint64_t body_bytes = 0;   // body bytes sent (not counting the head)
  std::string_view referer;
  std::string_view user_agent;
};

// Appends the line (with its '\n') at out; returns the bytes written, or 0
// if it does not fit (flush, then try again).
std::size_t append_access_log(const AccessLogEntry& entry, std::span<char> out) noexcept;

}  // namespace ringxfer::http
